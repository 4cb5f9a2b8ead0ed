package incident

import "time"

// Policy is how an incident is run: who is escalated to, how often the source is
// re-scanned, how often a storm may edit the announcement. It comes from the
// worker's config and is recorded in each incident's history when it opens.
type Policy struct {
	Escalation EscalationPolicy `json:"escalation"`
	// RescanInterval is how often the source is re-checked; 0 turns re-scans off.
	RescanInterval time.Duration `json:"rescan_interval"`
	// CleanScansToResolve consecutive clean re-scans auto-resolve; 0 never auto-resolves.
	CleanScansToResolve int `json:"clean_scans_to_resolve"`
	// NotifyInterval is the least time between two edits caused by new occurrences.
	NotifyInterval time.Duration `json:"notify_interval"`
	// MaxSignalsPerRun and MaxHistoryEvents bound one workflow run; past either,
	// the incident continues as new with its state. Temporal's own limits are
	// 2,000 signals (well, pending) and 51,200 events.
	MaxSignalsPerRun int `json:"max_signals_per_run"`
	MaxHistoryEvents int `json:"max_history_events"`
	// Silences: check silences and maintenance windows before announcing
	// and before each escalation. Histories recorded before silences
	// existed decode it as false.
	Silences bool `json:"silences,omitempty"`
	// Correlation says whether and to which correlator the incident reports;
	// runs recorded without it decode as disabled.
	Correlation CorrelationPolicy `json:"correlation,omitzero"`
}

// DefaultPolicy is used where config says nothing.
func DefaultPolicy() Policy {
	return Policy{
		RescanInterval:      5 * time.Minute,
		CleanScansToResolve: 3,
		NotifyInterval:      5 * time.Second,
		MaxSignalsPerRun:    1500,
		MaxHistoryEvents:    20000,
		Silences:            true,
	}
}

// Validate checks the policy, naming the field.
func (p Policy) Validate() error {
	if err := p.Escalation.Validate(); err != nil {
		return Errorf(EINVALID, "escalation.%s", ErrorMessage(err))
	}
	switch {
	case p.RescanInterval < 0:
		return Errorf(EINVALID, "rescan_interval: must not be negative")
	case p.RescanInterval > 0 && p.RescanInterval < time.Second:
		return Errorf(EINVALID, "rescan_interval: must be at least 1s, got %s", p.RescanInterval)
	case p.CleanScansToResolve < 0:
		return Errorf(EINVALID, "clean_scans_to_resolve: must not be negative")
	case p.NotifyInterval < 0:
		return Errorf(EINVALID, "notify_interval: must not be negative")
	case p.MaxSignalsPerRun < 10 || p.MaxSignalsPerRun > 1900:
		return Errorf(EINVALID, "max_signals_per_run: must be between 10 and 1900, got %d", p.MaxSignalsPerRun)
	case p.MaxHistoryEvents < 100 || p.MaxHistoryEvents > 40000:
		return Errorf(EINVALID, "max_history_events: must be between 100 and 40000, got %d", p.MaxHistoryEvents)
	}
	return nil
}
