package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
)

// Messages the incident client (internal/client) returns and its callers —
// the ingress, the Slack app and the CLI — share, so adapters depend on this
// package instead of the client.

// SendResult says which incident an occurrence went to.
type SendResult struct {
	IncidentID string `json:"incident_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// New is true when this send opened the incident.
	New bool `json:"new"`
}

// ListFilter narrows List.
type ListFilter struct {
	Status   incident.Status
	Severity incident.Severity
	Rule     string
	Env      string
	// Limit caps the result; 0 means 100.
	Limit int
}

// Query is the visibility query for f, exported so `incident list` can print it.
func (f ListFilter) Query() string {
	clauses := []string{fmt.Sprintf("WorkflowType = %q", IncidentWorkflowName)}
	if f.Status != "" {
		clauses = append(clauses, fmt.Sprintf("%s = %q", SearchAttrStatus.GetName(), f.Status))
	}
	if f.Severity.Valid() {
		clauses = append(clauses, fmt.Sprintf("%s = %q", SearchAttrSeverity.GetName(), f.Severity))
	}
	if f.Rule != "" {
		clauses = append(clauses, fmt.Sprintf("%s = %q", SearchAttrRule.GetName(), f.Rule))
	}
	if f.Env != "" {
		clauses = append(clauses, fmt.Sprintf("%s = %q", SearchAttrEnv.GetName(), f.Env))
	}
	return strings.Join(clauses, " AND ")
}

// Summary is one row of List: what visibility knows without asking the workflow.
type Summary struct {
	ID        string    `json:"id"`
	RunID     string    `json:"run_id"`
	Status    string    `json:"status"`
	Severity  string    `json:"severity"`
	Rule      string    `json:"rule"`
	Env       string    `json:"env,omitempty"`
	Category  string    `json:"category,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Running   bool      `json:"running"`
}
