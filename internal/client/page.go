package client

import (
	"context"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// summaryOf reads one visibility row: the search attributes only, no query.
func summaryOf(e *workflowpb.WorkflowExecutionInfo) workflows.Summary {
	s := workflows.Summary{
		ID:        e.GetExecution().GetWorkflowId(),
		RunID:     e.GetExecution().GetRunId(),
		Running:   e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartedAt: e.GetStartTime().AsTime(),
	}
	for k, p := range e.GetSearchAttributes().GetIndexedFields() {
		var v string
		if dataConverter.FromPayload(p, &v) != nil {
			continue
		}
		switch k {
		case workflows.SearchAttrStatus.GetName():
			s.Status = v
		case workflows.SearchAttrSeverity.GetName():
			s.Severity = v
		case workflows.SearchAttrRule.GetName():
			s.Rule = v
		case workflows.SearchAttrEnv.GetName():
			s.Env = v
		case workflows.SearchAttrCategory.GetName():
			s.Category = v
		case workflows.SearchAttrService.GetName():
			s.Service = v
		}
	}
	return s
}

// ListPage returns one visibility page of incidents (f.Limit rows, 100 when
// 0, at most 1000), each incident as its latest run, in visibility's order,
// and the token of the next page. One call to Temporal, search attributes
// only, so a page costs the same with 10 or 10,000 incidents.
func (c *Client) ListPage(ctx context.Context, f workflows.ListFilter) (workflows.ListPage, error) {
	size := f.Limit
	if size <= 0 {
		size = 100
	}
	resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: c.Namespace, PageSize: int32(min(size, 1000)), NextPageToken: f.PageToken, Query: f.LatestRunsQuery(),
	})
	if err != nil {
		return workflows.ListPage{}, c.wrap("", "list incidents", err)
	}
	page := workflows.ListPage{Incidents: make([]workflows.Summary, 0, len(resp.GetExecutions())), NextPageToken: resp.GetNextPageToken()}
	for _, e := range resp.GetExecutions() {
		page.Incidents = append(page.Incidents, summaryOf(e))
	}
	return page, nil
}

// CountBySeverity counts the incidents f matches (latest runs; f.Severity
// is ignored) for each severity: one CountWorkflow per severity, in
// parallel, as visibility groups counts by ExecutionStatus only.
func (c *Client) CountBySeverity(ctx context.Context, f workflows.ListFilter) (map[incident.Severity]int64, error) {
	counts := make([]int64, len(incident.Severities))
	errs := make([]error, len(incident.Severities))
	var wg sync.WaitGroup
	for i, sev := range incident.Severities {
		q := f
		q.Severity = sev
		wg.Go(func() {
			resp, err := c.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
				Namespace: c.Namespace, Query: q.LatestRunsQuery(),
			})
			if err != nil {
				errs[i] = c.wrap("", "count incidents", err)
				return
			}
			counts[i] = resp.GetCount()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first: the others are most likely the same outage
		}
	}
	out := make(map[incident.Severity]int64, len(counts))
	for i, sev := range incident.Severities {
		out[sev] = counts[i]
	}
	return out, nil
}
