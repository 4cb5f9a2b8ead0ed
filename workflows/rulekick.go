package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
)

// A kick is one SignalWithStart; a stuck one must not hold the next run back.
var kickOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
}

// RuleKickWorkflow is what a rule's Schedule starts: it wakes the rule's sweep
// workflow (starting it if needed) and ends.
func RuleKickWorkflow(ctx workflow.Context, req SweepRequest) error {
	ctx = workflow.WithActivityOptions(ctx, kickOptions)
	return workflow.ExecuteActivity(ctx, ruleSweepActs.KickRuleSweep, activities.KickInput{
		WorkflowID:   RuleSweepWorkflowID(req.Rule.Name),
		WorkflowType: RuleSweepWorkflowName,
		TaskQueue:    TaskQueue,
		Signal:       SignalRuleSweep,
		SignalArg:    req,
		StartArg:     RuleSweepInput{Rule: req.Rule},
	}).Get(ctx, nil)
}
