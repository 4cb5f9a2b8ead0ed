package incident

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// IDPrefix starts every incident ID; the rest is the fingerprint.
const IDPrefix = "incident-"

// ID returns the incident (and workflow) ID for a fingerprint.
func ID(fingerprint string) string { return IDPrefix + fingerprint }

// NormalizeID accepts an incident ID with or without its "incident-" prefix.
func NormalizeID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(EINVALID, "incident id: required")
	}
	if !strings.HasPrefix(s, IDPrefix) {
		s = IDPrefix + s
	}
	return s, nil
}

// Incident is the state of one incident: what fired, how often, who did what.
// The incident workflow owns it and its status query returns it.
type Incident struct {
	ID          string `json:"id"`
	RunID       string `json:"run_id,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// Alert is the first alert; Sample is the latest one seen.
	Alert    Alert    `json:"alert"`
	Sample   *Alert   `json:"sample,omitempty"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`

	Occurrences int       `json:"occurrences"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	OpenedAt    time.Time `json:"opened_at"`

	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	ResolvedBy     string    `json:"resolved_by,omitempty"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	ResolveNote    string    `json:"resolve_note,omitempty"`
	SnoozedBy      string    `json:"snoozed_by,omitempty"`
	SnoozedUntil   time.Time `json:"snoozed_until,omitzero"`

	// EscalationLevel counts the escalation levels already notified.
	EscalationLevel int `json:"escalation_level"`
	// Message is where the incident was announced, so later notifications edit it.
	Message *MessageRef `json:"message,omitempty"`
	// CleanScans counts consecutive re-scans (or source clears) that found nothing.
	CleanScans int     `json:"clean_scans"`
	LastScan   *Scan   `json:"last_scan,omitempty"`
	Previous   *RunRef `json:"previous,omitempty"`
	// Enrichment and CloudWatch are the context added after the announcement.
	Enrichment *Enrichment     `json:"enrichment,omitempty"`
	CloudWatch []MetricSummary `json:"cloudwatch,omitempty"`
	// SilencedBy is the silence or maintenance window holding the
	// incident back: counted, not announced, not escalated.
	SilencedBy string `json:"silenced_by,omitempty"`
	// HeldBy lists every silence or window that held the incident back at
	// some point, in order (the digest's "what silences held back").
	HeldBy []string `json:"held_by,omitempty"`
	// ParentID is the parent incident a correlation opened over this one;
	// Children are the incidents a parent groups. Related are incidents
	// correlated with this one (WAF blocks and 5xx on one service).
	ParentID   string    `json:"parent_id,omitempty"`
	Children   []string  `json:"children,omitempty"`
	Related    []string  `json:"related,omitempty"`
	Timeline   []Entry   `json:"timeline"`
	ArchiveURL string    `json:"archive_url,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// MessageRef points at the notification that announced an incident (a Slack
// channel and message ts, or the console's own reference).
type MessageRef struct {
	Notifier string `json:"notifier"`
	Channel  string `json:"channel,omitempty"`
	ID       string `json:"id"`
}

// RunRef points at an earlier run of the same incident, for re-fires after resolution.
type RunRef struct {
	ID         string    `json:"id"`
	RunID      string    `json:"run_id"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// ScanState is what a re-scan of the source found.
type ScanState string

const (
	ScanClean   ScanState = "clean"
	ScanFiring  ScanState = "firing"
	ScanUnknown ScanState = "unknown"
)

// Scan is the result of one re-scan.
type Scan struct {
	State  ScanState `json:"state"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Entry is one line of an incident's timeline.
type Entry struct {
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	Kind  EntryKind `json:"kind"`
	Text  string    `json:"text"`
}

// EntryKind says what happened in a timeline entry.
type EntryKind string

const (
	EntryOpened       EntryKind = "opened"
	EntryOccurrence   EntryKind = "occurrence"
	EntryNotified     EntryKind = "notified"
	EntryNotifyFailed EntryKind = "notify_failed"
	EntryEscalated    EntryKind = "escalated"
	EntryPaged        EntryKind = "paged"
	EntryPageFailed   EntryKind = "page_failed"
	EntryAcknowledged EntryKind = "acknowledged"
	EntrySnoozed      EntryKind = "snoozed"
	EntryUnsnoozed    EntryKind = "unsnoozed"
	EntryRescan       EntryKind = "rescan"
	EntrySourceClear  EntryKind = "source_clear"
	EntryResolved     EntryKind = "resolved"
	EntryArchived     EntryKind = "archived"
	EntryArchiveFail  EntryKind = "archive_failed"
	// EntryContext records the enrichment or CloudWatch summary, or why it failed.
	EntryContext EntryKind = "context"
	// EntrySilenced and EntryUnsilenced: a silence or maintenance window
	// began or stopped holding the incident back.
	EntrySilenced   EntryKind = "silenced"
	EntryUnsilenced EntryKind = "unsilenced"
	// EntryCorrelated: the correlator linked the incident to others or
	// raised its severity.
	EntryCorrelated EntryKind = "correlated"
)

// SystemActor is the actor of entries irflow makes by itself (auto-resolve, escalation).
const SystemActor = "irflow"

// Title is the one line people see for the incident.
func (inc *Incident) Title() string {
	a := inc.Alert
	if a.Title != "" {
		return a.Title
	}
	var b strings.Builder
	b.WriteString(a.Rule)
	if a.Env != "" {
		fmt.Fprintf(&b, " [%s]", a.Env)
	}
	for _, k := range slices.Sorted(maps.Keys(a.QueryKey)) {
		fmt.Fprintf(&b, " %s=%s", k, a.QueryKey[k])
	}
	return b.String()
}

// Record appends a timeline entry.
func (inc *Incident) Record(at time.Time, actor string, kind EntryKind, format string, args ...any) {
	inc.Timeline = append(inc.Timeline, Entry{Time: at, Actor: actor, Kind: kind, Text: fmt.Sprintf(format, args...)})
	inc.UpdatedAt = at
}

// MTTA is the time from opening to the first acknowledgement (or to resolution if
// nobody acknowledged first). ok is false while neither happened.
func (inc *Incident) MTTA() (d time.Duration, ok bool) {
	switch {
	case !inc.AcknowledgedAt.IsZero():
		return inc.AcknowledgedAt.Sub(inc.OpenedAt), true
	case !inc.ResolvedAt.IsZero():
		return inc.ResolvedAt.Sub(inc.OpenedAt), true
	}
	return 0, false
}

// MTTR is the time from opening to resolution. ok is false until resolved.
func (inc *Incident) MTTR() (d time.Duration, ok bool) {
	if inc.ResolvedAt.IsZero() {
		return 0, false
	}
	return inc.ResolvedAt.Sub(inc.OpenedAt), true
}
