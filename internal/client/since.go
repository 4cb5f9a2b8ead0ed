package client

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// queryTimeout bounds the status query of one running incident, so one
// stuck run cannot hold a digest.
const queryTimeout = 10 * time.Second

// IncidentsSince returns the state of every incident run that started
// before until and is running now or started at or after since (the
// digest's collector), and how many such runs it could not read. Runs that
// started after until cannot change a digest of the window ending then. Each run is read the cheapest way that gives
// its final state:
//
//   - a running run answers the status query (served from the worker's cache);
//   - a completed run's result is its final state: one history event
//     (the close event) is fetched, not the history;
//   - a run that continued as new after resolving (an alert re-fired it
//     into a new incident) carries its final state in the close event's
//     input; one that continued as new mid-life is skipped, as the next run
//     holds the same incident;
//   - terminated, failed, timed-out and cancelled runs hold no final state:
//     they are counted as unread, not replayed.
//
// Runs gone from visibility (past the namespace's retention) are not
// listed; the digest reads their archived records instead.
func (c *Client) IncidentsSince(ctx context.Context, since, until time.Time) (incs []incident.Incident, unread int, err error) {
	query := fmt.Sprintf("WorkflowType = %q AND StartTime < %q AND (ExecutionStatus = 'Running' OR StartTime >= %q)",
		workflows.IncidentWorkflowName, until.UTC().Format(time.RFC3339Nano), since.UTC().Format(time.RFC3339Nano))
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, PageSize: 1000, NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, 0, c.wrap("", "list incidents", err)
		}
		for _, e := range resp.GetExecutions() {
			id, run := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			inc, ok, err := c.runState(ctx, id, run, e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
			switch {
			case ctx.Err() != nil:
				return nil, 0, c.wrap(id, "read incident", ctx.Err())
			case err != nil:
				unread++
			case ok:
				incs = append(incs, inc)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return incs, unread, nil
		}
	}
}

// runState reads one run's incident; ok is false for a run that continued
// as new mid-life (the next run holds its incident).
func (c *Client) runState(ctx context.Context, id, run string, running bool) (inc incident.Incident, ok bool, err error) {
	if running {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		v, qerr := c.Temporal.QueryWorkflow(qctx, id, run, workflows.QueryStatus)
		if qerr == nil {
			if err := v.Get(&inc); err != nil {
				return inc, false, fmt.Errorf("decode %s status: %w", id, err)
			}
			return inc, true, nil
		}
		// It may have closed since it was listed: read it as closed.
		err = qerr
	}
	ev, herr := c.closeEvent(ctx, id, run)
	if herr != nil || ev == nil {
		if err == nil {
			err = herr
		}
		if err == nil {
			err = fmt.Errorf("%s run %s has not closed", id, run)
		}
		return inc, false, err
	}
	switch {
	case ev.GetWorkflowExecutionCompletedEventAttributes() != nil:
		var res workflows.IncidentResult
		if err := dataConverter.FromPayloads(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res); err != nil {
			return inc, false, fmt.Errorf("decode %s result: %w", id, err)
		}
		return res.Incident, res.Incident.ID != "", nil
	case ev.GetWorkflowExecutionContinuedAsNewEventAttributes() != nil:
		var next workflows.IncidentInput
		if err := dataConverter.FromPayloads(ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput(), &next); err != nil {
			return inc, false, fmt.Errorf("decode %s continue-as-new input: %w", id, err)
		}
		if next.Carried == nil || next.Carried.Refire == 0 {
			return inc, false, nil
		}
		return next.Carried.Incident, true, nil
	}
	return inc, false, fmt.Errorf("%s run %s closed as %s: no final state", id, run, ev.GetEventType())
}

// closeEvent is the run's close event, or nil while it runs.
func (c *Client) closeEvent(ctx context.Context, id, run string) (*historypb.HistoryEvent, error) {
	it := c.Temporal.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, c.wrap(id, "read close event", err)
		}
		return ev, nil
	}
	return nil, nil
}
