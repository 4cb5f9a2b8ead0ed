package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

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

// ListFilter narrows List and ListPage.
type ListFilter struct {
	Status   incident.Status
	Severity incident.Severity
	Rule     string
	Env      string
	Category string
	// Service matches the IncidentService search attribute, which only
	// incidents started since it exists carry.
	Service string
	// Since and Until bound the start time of the incident's current run
	// (StartTime): Since <= StartTime < Until. Zero means unbounded.
	Since, Until time.Time
	// Limit caps the result (List) or is the page size (ListPage); 0 means 100.
	Limit int
	// PageToken continues a ListPage where the previous page ended.
	PageToken []byte
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
	for _, kv := range []struct {
		key   temporal.SearchAttributeKeyKeyword
		value string
	}{{SearchAttrRule, f.Rule}, {SearchAttrEnv, f.Env}, {SearchAttrCategory, f.Category}, {SearchAttrService, f.Service}} {
		if kv.value != "" {
			clauses = append(clauses, fmt.Sprintf("%s = %q", kv.key.GetName(), kv.value))
		}
	}
	if !f.Since.IsZero() {
		clauses = append(clauses, fmt.Sprintf("StartTime >= %q", f.Since.UTC().Format(time.RFC3339Nano)))
	}
	if !f.Until.IsZero() {
		clauses = append(clauses, fmt.Sprintf("StartTime < %q", f.Until.UTC().Format(time.RFC3339Nano)))
	}
	return strings.Join(clauses, " AND ")
}

// LatestRunsQuery is Query without the runs that continued as new: each
// incident once, as its latest run (a page of visibility cannot fold runs
// it does not hold, so ListPage and counts ask for latest runs only).
func (f ListFilter) LatestRunsQuery() string {
	return f.Query() + " AND ExecutionStatus != 'ContinuedAsNew'"
}

// ListPage is one page of visibility: rows in visibility's order (running
// runs first, newest first; then closed runs, last closed first) and the
// token of the next page, empty on the last.
type ListPage struct {
	Incidents     []Summary `json:"incidents"`
	NextPageToken []byte    `json:"next_page_token,omitempty"`
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
	Service   string    `json:"service,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Running   bool      `json:"running"`
}
