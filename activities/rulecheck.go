package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// MetricRuleRescanDrift counts rule re-scans whose rule file in the worker's
// search.rules_dir differs from the rule's Schedule (the Schedule's copy is
// used), label rule.
const MetricRuleRescanDrift = "irflow_rule_rescan_drift_total"

// RuleCheck re-scans incidents raised by rule sweeps (source "rules"): it runs
// the rule's query again over the last timeframe (run_every without one) from
// a blank state, and answers firing when the incident's key still matches,
// clean when it does not. Types whose answer depends on history the check
// does not have (new_term, change, spike, spike_aggregation, flatline) answer
// unknown, which neither counts as clean nor resets the count.
//
// The rule comes from Rule, which the worker points at the rule's Schedule
// (internal/schedules.RuleSource): the copy the rule's sweeps use, never a
// file of the worker's own. A rule Rule cannot find (its Schedule was
// deleted) answers unknown, saying why, in the incident's timeline.
type RuleCheck struct {
	Search *Search
	// Rule finds a rule by name.
	Rule func(ctx context.Context, name string) (*rules.Rule, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Check implements Checker.
func (c *RuleCheck) Check(ctx context.Context, a incident.Alert) (incident.Scan, error) {
	r, err := c.Rule(ctx, a.Rule)
	if err != nil {
		return incident.Scan{State: incident.ScanUnknown, Detail: err.Error()}, nil
	}
	switch r.Type {
	case rules.TypeNewTerm, rules.TypeChange, rules.TypeSpike, rules.TypeSpikeAggregation, rules.TypeFlatline,
		rules.TypeAnomaly, rules.TypeRare:
		return incident.Scan{State: incident.ScanUnknown, Detail: fmt.Sprintf("rule type %s has no stateless re-check", r.Type)}, nil
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	lookback := r.Timeframe
	if lookback <= 0 {
		lookback = r.RunEvery
	}
	// A state whose last run ended one lookback ago makes the sweep cover
	// exactly that lookback (SweepWindow never goes back past buffer_time).
	st := rules.State{LastRunEnd: now.Add(-r.QueryDelay - lookback)}
	rc := *r
	rc.Realert = 0
	_, ms, err := c.Search.Sweep(ctx, &rc, &st, now)
	if err != nil {
		return incident.Scan{}, err
	}
	key := make([]string, len(r.QueryKey))
	for i, f := range r.QueryKey {
		key[i] = a.QueryKey[f]
	}
	want := strings.Join(key, ", ")
	for _, m := range ms {
		if m.Key == want {
			return incident.Scan{State: incident.ScanFiring, Detail: fmt.Sprintf("rule %s still matches %q over the last %s", r.Name, want, lookback), At: now}, nil
		}
	}
	return incident.Scan{State: incident.ScanClean, Detail: fmt.Sprintf("rule %s: no match for %q over the last %s", r.Name, want, lookback), At: now}, nil
}
