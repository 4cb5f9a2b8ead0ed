package activities

import (
	"context"
	"fmt"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
)

// PolicyInput is the argument of Policy.IncidentPolicy.
type PolicyInput struct {
	IncidentID string         `json:"incident_id"`
	RunID      string         `json:"run_id"`
	Alert      incident.Alert `json:"alert"`
}

// PolicyResult is the policy for a new incident, and the earlier run it re-fires, if any.
type PolicyResult struct {
	Policy   incident.Policy  `json:"policy"`
	Previous *incident.RunRef `json:"previous,omitempty"`
}

// Policy hands each new incident the worker's configured policy. It runs as a
// local activity so the policy is recorded in history (replays stay deterministic
// when config changes) without a round trip through the task queue.
type Policy struct {
	Policy incident.Policy
	// Temporal, when set, is used to find the previous run of a re-fired incident.
	Temporal client.Client
}

// IncidentPolicy returns the policy and the latest closed run of the same incident.
func (p *Policy) IncidentPolicy(ctx context.Context, in PolicyInput) (PolicyResult, error) {
	res := PolicyResult{Policy: p.Policy}
	if p.Temporal == nil {
		return res, nil
	}
	resp, err := p.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 1,
		Query:    fmt.Sprintf("WorkflowId = %q AND ExecutionStatus != 'Running'", in.IncidentID),
	})
	if err != nil {
		// Linking is a courtesy; an incident must open even if visibility is slow.
		return res, nil
	}
	for _, e := range resp.GetExecutions() {
		if e.GetExecution().GetRunId() == in.RunID {
			continue
		}
		res.Previous = &incident.RunRef{ID: in.IncidentID, RunID: e.GetExecution().GetRunId()}
		if ct := e.GetCloseTime(); ct != nil {
			res.Previous.ResolvedAt = ct.AsTime()
		}
		break
	}
	return res, nil
}
