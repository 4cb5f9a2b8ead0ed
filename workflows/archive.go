package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
)

// The record is the audit trail, so the archive workflow has no deadline: the
// activity retries every 10 minutes at most for as long as S3 is down.
var archiveRecordOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
}

// archiveRetryPause is the wait after a failure retries cannot fix (no bucket,
// access denied): someone has to fix the grant, then the next try writes it.
const archiveRetryPause = time.Hour

// IncidentArchiveWorkflow writes the record of one resolved incident run and
// returns where it went. The incident run starts it as a child that outlives
// the run (ParentClosePolicy ABANDON): once it has started, the record is
// durable whatever the incident does next, so a re-fire opens the linked
// incident at once while the record waits out an S3 outage here.
func IncidentArchiveWorkflow(ctx workflow.Context, in activities.ArchiveInput) (activities.ArchiveResult, error) {
	actx := workflow.WithActivityOptions(ctx, archiveRecordOptions)
	for {
		var res activities.ArchiveResult
		err := workflow.ExecuteActivity(actx, archiveActs.ArchiveIncident, in).Get(ctx, &res)
		if err == nil {
			return res, nil
		}
		workflow.GetLogger(ctx).Error("archive failed; trying again later", "incident", in.Incident.ID,
			"retry_in", archiveRetryPause, "error", err)
		if err := workflow.Sleep(ctx, archiveRetryPause); err != nil {
			return res, fmt.Errorf("wait to retry the archive of %s: %w", in.Incident.ID, err)
		}
		// Months of hourly failures would fill the history; start afresh instead.
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return res, workflow.NewContinueAsNewError(ctx, IncidentArchiveWorkflowName, in)
		}
	}
}
