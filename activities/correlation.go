package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// Correlation holds the activities of the cross-incident correlator that talk
// to Temporal: an incident's report to its correlator, and the parent
// incident a burst opens.
type Correlation struct {
	Temporal client.Client
	// Send delivers one alert to its incident (SignalWithStart on
	// incident-<fingerprint>); workerapp wires it to client.Client.Send.
	Send func(ctx context.Context, a incident.Alert) error
	// Rules are the configured correlation rules. The activity adds them to
	// the correlator's start input and to every report, so incidents never
	// carry them and a running correlator takes a config change with the
	// next report.
	Rules incident.CorrelationRules
}

// RulesField is the JSON field of the correlator's input and report that
// ReportIncident sets to the configured rules.
const RulesField = "rules"

// ReportInput is the argument of ReportIncident: a SignalWithStart of the
// incident's correlator, spelled out because this package cannot import the
// workflow names (see KickInput). Report and Start must encode as JSON
// objects; the activity sets their RulesField.
type ReportInput struct {
	WorkflowID   string `json:"workflow_id"`
	WorkflowType string `json:"workflow_type"`
	TaskQueue    string `json:"task_queue"`
	Signal       string `json:"signal"`
	Report       any    `json:"report"`
	Start        any    `json:"start"`
}

// ReportIncident signals an incident's report to its correlator, starting the
// correlator when it is not running.
func (c *Correlation) ReportIncident(ctx context.Context, in ReportInput) error {
	if c.Temporal == nil {
		// Wiring, not weather: retrying will not help.
		return temporal.NewNonRetryableApplicationError("report to correlator: no Temporal client", "NotConfigured", nil)
	}
	report, err := c.withRules(in.Report)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("report to %s: report: %v", in.WorkflowID, err), "InvalidReport", err)
	}
	start, err := c.withRules(in.Start)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("report to %s: start input: %v", in.WorkflowID, err), "InvalidReport", err)
	}
	_, err = c.Temporal.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, report,
		client.StartWorkflowOptions{ID: in.WorkflowID, TaskQueue: in.TaskQueue}, in.WorkflowType, start)
	if err != nil {
		return fmt.Errorf("signal-with-start %s: %w", in.WorkflowID, err)
	}
	return nil
}

// withRules is v, a JSON object, with RulesField set to the configured rules.
func (c *Correlation) withRules(v any) (map[string]any, error) {
	m := map[string]any{}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // as they came: no float64 rounding on the way
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("want a JSON object: %w", err)
		}
		if m == nil { // v encoded as null
			m = map[string]any{}
		}
	}
	m[RulesField] = c.Rules
	return m, nil
}

// OpenParent opens (or, when it is already open, adds an occurrence to) the
// parent incident the correlator computed for a burst.
func (c *Correlation) OpenParent(ctx context.Context, a incident.Alert) error {
	if c.Send == nil {
		return temporal.NewNonRetryableApplicationError("open parent incident: no incident sender", "NotConfigured", nil)
	}
	id := incident.ID(incident.Fingerprint(a))
	if err := a.Validate(); err != nil {
		// The correlator built it; another try builds the same alert.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("open parent incident %s: %v", id, err), "InvalidAlert", err)
	}
	if err := c.Send(ctx, a); err != nil {
		return fmt.Errorf("open parent incident %s: %w", id, err)
	}
	return nil
}
