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
// A rule's state (last run end, per-key windows, realert silences, new_term's
// known terms) must survive worker restarts and carry from sweep to sweep. A
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

const defaultMaxSweepsPerRun = 500

// RuleSweepWorkflow sweeps one rule each time it is kicked, carrying the
// rule's state; see the comment above for the design.
func RuleSweepWorkflow(ctx workflow.Context, in RuleSweepInput) error {
	logger := workflow.GetLogger(ctx)
	maxSweeps := in.MaxSweepsPerRun
	if maxSweeps <= 0 {
		maxSweeps = defaultMaxSweepsPerRun
	}
	status := RuleSweepStatus{Rule: in.Rule.Name, Sweeps: in.Sweeps, State: in.State, LastEnd: in.State.LastRunEnd}
	if err := workflow.SetQueryHandler(ctx, QueryRuleSweep, func() (RuleSweepStatus, error) { return status, nil }); err != nil {
		return err
	}
	sweepCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		// A sweep that keeps failing is dropped: the state stays as it was, so
		// the next kick's sweep covers the missed span (up to buffer_time).
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 20 * time.Second, MaximumAttempts: 5},
	})
	raiseCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		// Alerts are never dropped: retry until Temporal takes them.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	ch := workflow.GetSignalChannel(ctx, SignalRuleSweep)
	rule := in.Rule
	take := func(req SweepRequest) {
		if req.Rule.Path != "" || req.Rule.YAML != "" {
			rule = req.Rule
			status.Rule = rule.Name
		}
	}
	pending := in.Pending
	for run := 0; run < maxSweeps && !historyFull(ctx); run++ {
		if !pending {
			var req SweepRequest
			ch.Receive(ctx, &req)
			take(req)
		}
		pending = false
		for {
			var req SweepRequest
			if !ch.ReceiveAsync(&req) {
				break
			}
			take(req)
		}
		var res activities.SweepResult
		err := workflow.ExecuteActivity(sweepCtx, SweepRuleActivityName, activities.SweepInput{
			Rule: rule, State: status.State, Now: workflow.Now(ctx),
		}).Get(ctx, &res)
		if err != nil {
			logger.Warn("rule sweep failed; the next sweep covers its span", "rule", rule.Name, "error", err)
			status.LastError = err.Error()
			status.Sweeps++
			continue
		}
		status.State, status.LastStart, status.LastEnd, status.LastError = res.State, res.Start, res.End, ""
		status.Queries += res.Queries
		status.Bytes += res.Bytes
		if len(res.Alerts) > 0 {
			if err := raiseAlerts(raiseCtx, res.Alerts); err != nil {
				return err // only cancellation ends the retries
			}
			status.Alerts += len(res.Alerts)
		}
		status.Sweeps++ // last, so a query seeing it sees the whole sweep
	}
	// Signals not yet received would be lost with this run: note that a sweep
	// is due (the request itself only matters for its rule).
	for {
		var req SweepRequest
		if !ch.ReceiveAsync(&req) {
			break
		}
		take(req)
		pending = true
	}
	return workflow.NewContinueAsNewError(ctx, RuleSweepWorkflowName, RuleSweepInput{
		Rule: rule, State: status.State, Sweeps: status.Sweeps, Pending: pending, MaxSweepsPerRun: in.MaxSweepsPerRun,
	})
}

// historyFull says the run should continue as new: every sweep records the
// state twice (activity input and result), so a rule with a large state fills
// history long before MaxSweepsPerRun.
func historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistorySize() > maxHistoryBytes
}

// maxHistoryBytes is well under Temporal's 50 MB history limit (and its 10 MB warning).
const maxHistoryBytes = 4 << 20

func raiseAlerts(ctx workflow.Context, alerts []incident.Alert) error {
	var n int
	return workflow.ExecuteActivity(ctx, RaiseRuleAlertsActivityName, alerts).Get(ctx, &n)
}

// RuleKickWorkflow is what a rule's Schedule starts: it wakes the rule's sweep
// workflow (starting it if needed) and ends.
func RuleKickWorkflow(ctx workflow.Context, req SweepRequest) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	return workflow.ExecuteActivity(ctx, KickRuleSweepActivityName, activities.KickInput{
		WorkflowID:   RuleSweepWorkflowID(req.Rule.Name),
		WorkflowType: RuleSweepWorkflowName,
		TaskQueue:    TaskQueue,
		Signal:       SignalRuleSweep,
		SignalArg:    req,
		StartArg:     RuleSweepInput{Rule: req.Rule},
	}).Get(ctx, nil)
}
