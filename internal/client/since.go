package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// closeAfterQueryTimeout bounds the close-event read of a run listed as
// running whose status query failed (it may have just closed).
const closeAfterQueryTimeout = 2 * time.Second

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
	c.closed.forget(since)
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, PageSize: 1000, NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, 0, c.wrap("", "list incidents", err)
		}
		runs := resp.GetExecutions()
		read := make([]runRead, len(runs))
		// Runs are read a few at a time: each is one round trip, and a
		// week of a busy namespace holds thousands.
		sem := make(chan struct{}, readConcurrency)
		var wg sync.WaitGroup
		for i, e := range runs {
			id, run := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			running := e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			if !running {
				if r, ok := c.closed.get(run); ok {
					read[i] = r
					continue
				}
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				r := runRead{id: id}
				r.inc, r.ok, r.err = c.runState(ctx, id, run, running)
				read[i] = r
				// A closed run never changes: remember what it held (or
				// that it holds nothing), but not a failed read.
				if !running && ctx.Err() == nil && (r.err == nil || errors.Is(r.err, errNoFinalState)) {
					c.closed.put(run, e.GetStartTime().AsTime(), r)
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, 0, c.wrap("", "read incidents", ctx.Err())
		}
		for _, r := range read {
			switch {
			case r.err != nil:
				unread++
			case r.ok:
				incs = append(incs, r.inc)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return incs, unread, nil
		}
	}
}

// readConcurrency is how many runs IncidentsSince reads at once.
const readConcurrency = 8

// errNoFinalState marks a closed run that holds no incident state
// (terminated, failed, timed out, cancelled): counted as unread, for good.
var errNoFinalState = errors.New("no final state")

type runRead struct {
	id  string
	inc incident.Incident
	ok  bool
	err error
}

// closedRuns remembers what closed runs held, for a process that asks
// IncidentsSince again and again (the console's overview): a closed run
// never changes, so each is read once. Off until CacheClosedRuns; bounded.
type closedRuns struct {
	mu   sync.Mutex
	max  int
	runs map[string]closedRun
}

type closedRun struct {
	started time.Time
	read    runRead
}

// CacheClosedRuns makes IncidentsSince remember up to max closed runs
// (their final incident), so asking for the same week again reads only
// runs that are new or still running. Runs that started before the window
// asked for are forgotten first. For a long-lived reader; the digest,
// which asks once a day, does not need it.
func (c *Client) CacheClosedRuns(max int) {
	c.closed.mu.Lock()
	defer c.closed.mu.Unlock()
	c.closed.max = max
	c.closed.runs = map[string]closedRun{}
}

func (cr *closedRuns) get(run string) (runRead, bool) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	r, ok := cr.runs[run]
	return r.read, ok
}

func (cr *closedRuns) put(run string, started time.Time, r runRead) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.runs == nil || len(cr.runs) >= cr.max {
		return
	}
	cr.runs[run] = closedRun{started: started, read: r}
}

// forget drops runs that started before since: no window from here on reads them.
func (cr *closedRuns) forget(since time.Time) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for run, r := range cr.runs {
		if r.started.Before(since) {
			delete(cr.runs, run)
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
		// It may have closed since it was listed: read it as closed. A run
		// still running has no close event, and the server holds that
		// read for seconds, so it gets little time.
		err = qerr
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, closeAfterQueryTimeout)
		defer stop()
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
	return inc, false, fmt.Errorf("%s run %s closed as %s: %w", id, run, ev.GetEventType(), errNoFinalState)
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
