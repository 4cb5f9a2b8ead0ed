package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// Rule sweeps: why one long-running workflow per rule.
//
// A rule's state (last run end, per-key windows, realert silences, the
// documents processed within buffer_time) must survive worker restarts and
// carry from sweep to sweep (new_term's vocabulary lives in OpenSearch,
// activities/terms.go). A
// Temporal Schedule starts a NEW workflow each time, so state kept in those
// runs would have to be dug out of the previous run's result (which is gone
// when that run failed or was skipped). Instead each rule has ONE sweep
// workflow, ID rulesweep-<rule>, whose variables are the state; Temporal
// persists them as workflow history, and continue-as-new carries them into the
// next run as RuleSweepInput.State. The Schedule (one per rule, at run_every,
// overlap skip) starts RuleKickWorkflow, which SignalWithStarts the sweep
// workflow: the kick starts it when it is not running and wakes it otherwise.
// Kicks that arrive while a sweep is running coalesce into one sweep, which
// covers everything since the last end anyway.

const (
	defaultMaxSweepsPerRun = 500
	// maxHistoryBytes is well under Temporal's 50 MB history limit (and its 10 MB warning).
	maxHistoryBytes = 4 << 20
)

// RuleSweepInput is the sweep workflow's argument, and what continue-as-new carries.
type RuleSweepInput struct {
	Rule  rules.Ref   `json:"rule"`
	State rules.State `json:"state"`
	// Sweeps counts sweeps over all runs, for the status query.
	Sweeps int `json:"sweeps"`
	// Pending is set when a kick arrived just before continue-as-new: the new
	// run sweeps at once instead of waiting for the next kick.
	Pending bool `json:"pending,omitempty"`
	// MaxSweepsPerRun bounds a run's history (default 500 sweeps); a run also
	// continues as new once its history passes 4 MB or Temporal suggests it.
	MaxSweepsPerRun int `json:"max_sweeps_per_run,omitempty"`
}

// SweepRequest is the payload of SignalRuleSweep and the argument of
// RuleKickWorkflow. A non-empty Rule replaces the rule the workflow sweeps
// (schedules apply changed it).
type SweepRequest struct {
	Rule rules.Ref `json:"rule"`
}

// RuleSweepStatus is what QueryRuleSweep returns.
type RuleSweepStatus struct {
	Rule      string      `json:"rule"`
	Sweeps    int         `json:"sweeps"`
	LastStart time.Time   `json:"last_start,omitzero"`
	LastEnd   time.Time   `json:"last_end,omitzero"`
	Alerts    int         `json:"alerts"`
	LastError string      `json:"last_error,omitempty"`
	Queries   int         `json:"queries"`
	Bytes     int64       `json:"bytes"`
	State     rules.State `json:"state"`
}

// Activity options.
var (
	// A sweep that keeps failing is dropped: the state stays as it was, so
	// the next kick's sweep covers the missed span (up to buffer_time).
	sweepOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 20 * time.Second, MaximumAttempts: 5},
	}
	// Alerts are never dropped: retry until Temporal takes them.
	raiseOptions = workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	}
)

// Activities the rule workflows call; nil pointers only name the methods.
var (
	searchActs    *activities.Search
	ruleSweepActs *activities.RuleSweeps
)

// ruleSweep is one run of a rule's sweep workflow: the status the query
// returns, which holds the rule's state, plus the run's bookkeeping.
type ruleSweep struct {
	RuleSweepStatus

	ref       rules.Ref               // the rule swept; RuleSweepStatus.Rule is its name
	kicks     workflow.ReceiveChannel // SignalRuleSweep
	pending   bool                    // a kick arrived that no sweep has covered yet
	maxPerRun int                     // MaxSweepsPerRun as given, carried to the next run
}

func newRuleSweep(ctx workflow.Context, in RuleSweepInput) *ruleSweep {
	return &ruleSweep{
		RuleSweepStatus: RuleSweepStatus{Rule: in.Rule.Name, Sweeps: in.Sweeps, State: in.State, LastEnd: in.State.LastRunEnd},
		ref:             in.Rule,
		kicks:           workflow.GetSignalChannel(ctx, SignalRuleSweep),
		pending:         in.Pending,
		maxPerRun:       in.MaxSweepsPerRun,
	}
}

func (w *ruleSweep) status() (RuleSweepStatus, error) { return w.RuleSweepStatus, nil }

// runOver says the run should continue as new: it swept its share, or its
// history is full.
func (w *ruleSweep) runOver(ctx workflow.Context, swept int) bool {
	limit := w.maxPerRun
	if limit <= 0 {
		limit = defaultMaxSweepsPerRun
	}
	return swept >= limit || historyFull(ctx)
}

// take applies one kick. A non-empty rule replaces the one swept (schedules
// apply changed it).
func (w *ruleSweep) take(req SweepRequest) {
	if req.Rule.Path != "" || req.Rule.YAML != "" {
		w.ref = req.Rule
		w.Rule = req.Rule.Name
	}
}

// takeDelivered takes every kick already delivered, without blocking, and
// says whether there was one.
func (w *ruleSweep) takeDelivered() bool {
	took := false
	for {
		var req SweepRequest
		if !w.kicks.ReceiveAsync(&req) {
			return took
		}
		w.take(req)
		took = true
	}
}

// awaitKick blocks until a kick, unless one is pending, then takes the kicks
// already delivered too: kicks that arrive while a sweep runs coalesce into
// one sweep, which covers everything since the last end anyway.
func (w *ruleSweep) awaitKick(ctx workflow.Context) {
	if !w.pending {
		var req SweepRequest
		w.kicks.Receive(ctx, &req)
		w.take(req)
	}
	w.pending = false
	w.takeDelivered()
}

// sweep runs the rule's queries once, from the state carried so far.
func (w *ruleSweep) sweep(ctx workflow.Context) (activities.SweepResult, error) {
	actx := workflow.WithActivityOptions(ctx, sweepOptions)
	var res activities.SweepResult
	err := workflow.ExecuteActivity(actx, searchActs.SweepRule, activities.SweepInput{
		Rule: w.ref, State: w.State, Now: workflow.Now(ctx),
	}).Get(ctx, &res)
	return res, err
}

// sweepFailed counts a failed sweep. The state stays as it was, so the next
// sweep covers its span.
func (w *ruleSweep) sweepFailed(ctx workflow.Context, err error) {
	workflow.GetLogger(ctx).Warn("rule sweep failed; the next sweep covers its span", "rule", w.ref.Name, "error", err)
	w.LastError = err.Error()
	w.Sweeps++
}

// record keeps a sweep's new state and cost.
func (w *ruleSweep) record(res activities.SweepResult) {
	w.State, w.LastStart, w.LastEnd, w.LastError = res.State, res.Start, res.End, ""
	w.Queries += res.Queries
	w.Bytes += res.Bytes
}

// raise sends a sweep's alerts to their incidents. It retries until it
// succeeds, so only cancellation makes it fail.
func (w *ruleSweep) raise(ctx workflow.Context, alerts []incident.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	actx := workflow.WithActivityOptions(ctx, raiseOptions)
	var res activities.RaiseResult
	if err := workflow.ExecuteActivity(actx, ruleSweepActs.RaiseRuleAlerts, activities.RaiseInput{Alerts: alerts}).Get(ctx, &res); err != nil {
		return err
	}
	w.Alerts += len(alerts)
	return nil
}

// continueAsNew hands the rule, its state and the sweep count to the next run.
// Kicks not yet received would be lost with this run: they only note that a
// sweep is due (a request itself only matters for its rule).
func (w *ruleSweep) continueAsNew(ctx workflow.Context) error {
	if w.takeDelivered() {
		w.pending = true
	}
	return workflow.NewContinueAsNewError(ctx, RuleSweepWorkflowName, RuleSweepInput{
		Rule: w.ref, State: w.State, Sweeps: w.Sweeps, Pending: w.pending, MaxSweepsPerRun: w.maxPerRun,
	})
}

// historyFull says the run should continue as new: every sweep records the
// state twice (activity input and result), so a rule with a large state fills
// history long before MaxSweepsPerRun.
func historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistorySize() > maxHistoryBytes
}

// RuleSweepWorkflow sweeps one rule each time it is kicked, carrying the
// rule's state; see the comment above for the design.
func RuleSweepWorkflow(ctx workflow.Context, in RuleSweepInput) error {
	w := newRuleSweep(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryRuleSweep, w.status); err != nil {
		return err
	}
	for swept := 0; !w.runOver(ctx, swept); swept++ {
		w.awaitKick(ctx)
		res, err := w.sweep(ctx)
		if err != nil {
			w.sweepFailed(ctx, err)
			continue
		}
		w.record(res)
		if err := w.raise(ctx, res.Alerts); err != nil {
			return err // only cancellation ends the retries
		}
		w.Sweeps++ // last, so a query seeing it sees the whole sweep
	}
	return w.continueAsNew(ctx)
}
