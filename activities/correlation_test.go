package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// signalWithStart records the SignalWithStart calls a client makes.
type signalWithStart struct {
	client.Client
	mu    sync.Mutex
	calls []swsCall
	err   error
}

type swsCall struct {
	id, signal, queue, workflowType string
	signalArg, startArg             any
}

func (c *signalWithStart) SignalWithStartWorkflow(_ context.Context, id, signal string, signalArg any,
	opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := swsCall{id: id, signal: signal, queue: opts.TaskQueue, signalArg: signalArg}
	call.workflowType, _ = wf.(string)
	if len(args) == 1 {
		call.startArg = args[0]
	}
	c.calls = append(c.calls, call)
	return nil, c.err
}

var corrRules = incident.CorrelationRules{
	MaxTracked: 50,
	Bursts: []incident.BurstRule{{Name: "b", MinIncidents: 3, Within: 300e9,
		Keys: []incident.RelationKey{{Name: "source_ip", Fields: []string{"source_ip"}}}}},
}

// The activity adds the configured rules to the report and the start input,
// keeping what the incident sent.
func TestReportIncidentAddsRules(t *testing.T) {
	fake := &signalWithStart{}
	c := &activities.Correlation{Temporal: fake, Rules: corrRules}
	err := c.ReportIncident(context.Background(), activities.ReportInput{
		WorkflowID: "correlator-env-prod", WorkflowType: "CorrelatorWorkflow", TaskQueue: "irflow", Signal: "report",
		Report: map[string]any{"incident_id": "incident-a", "severity": "high"},
		Start:  map[string]any{"scope": "env-prod"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 {
		t.Fatalf("%d SignalWithStart calls, want 1", len(fake.calls))
	}
	call := fake.calls[0]
	if call.id != "correlator-env-prod" || call.signal != "report" || call.queue != "irflow" || call.workflowType != "CorrelatorWorkflow" {
		t.Errorf("call = %+v", call)
	}
	rep, _ := call.signalArg.(map[string]any)
	start, _ := call.startArg.(map[string]any)
	if rep["incident_id"] != "incident-a" || rep["severity"] != "high" || start["scope"] != "env-prod" {
		t.Errorf("report %v, start %v: lost what the incident sent", rep, start)
	}
	for name, m := range map[string]map[string]any{"report": rep, "start": start} {
		if r, ok := m[activities.RulesField].(incident.CorrelationRules); !ok || r.MaxTracked != 50 || len(r.Bursts) != 1 {
			t.Errorf("%s rules = %#v, want the configured rules", name, m[activities.RulesField])
		}
	}
}

func TestReportIncidentErrors(t *testing.T) {
	in := activities.ReportInput{WorkflowID: "correlator-global", Report: map[string]any{}, Start: map[string]any{}}
	var appErr *temporal.ApplicationError
	err := (&activities.Correlation{}).ReportIncident(context.Background(), in)
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Message() != "report to correlator: no Temporal client" {
		t.Errorf("without a client: %v, want a non-retryable error", err)
	}
	fake := &signalWithStart{err: errors.New("unavailable")}
	err = (&activities.Correlation{Temporal: fake}).ReportIncident(context.Background(), in)
	if err == nil || err.Error() != "signal-with-start correlator-global: unavailable" {
		t.Errorf("client error: %v", err)
	}
	bad := in
	bad.Report = []string{"not", "an", "object"}
	err = (&activities.Correlation{Temporal: fake}).ReportIncident(context.Background(), bad)
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), "report to correlator-global: report: want a JSON object") {
		t.Errorf("a report that is no object: %v, want a non-retryable error", err)
	}
}

func TestOpenParent(t *testing.T) {
	parent := incident.Alert{Source: "irflow", Rule: "correlation:related-burst", Env: "prod", Severity: incident.SeverityHigh,
		Title: "3 related incidents: source_ip=203.0.113.7", QueryKey: map[string]string{"source_ip": "203.0.113.7"}}
	id := incident.ID(incident.Fingerprint(parent))
	var sent []incident.Alert
	c := &activities.Correlation{Send: func(_ context.Context, a incident.Alert) error {
		sent = append(sent, a)
		return nil
	}}
	if err := c.OpenParent(context.Background(), parent); err != nil || len(sent) != 1 || sent[0].Title != parent.Title {
		t.Fatalf("OpenParent: %v, sent %+v; want the parent sent once", err, sent)
	}

	bad := parent
	bad.Rule = ""
	err := c.OpenParent(context.Background(), bad)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || len(sent) != 1 {
		t.Errorf("invalid parent: %v (sent %d), want a non-retryable error and nothing sent", err, len(sent))
	}

	c.Send = func(context.Context, incident.Alert) error { return errors.New("temporal unavailable") }
	if err := c.OpenParent(context.Background(), parent); err == nil || err.Error() != "open parent incident "+id+": temporal unavailable" {
		t.Errorf("send error: %v", err)
	}
	if err := (&activities.Correlation{}).OpenParent(context.Background(), parent); !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Errorf("OpenParent without a sender: %v, want a non-retryable error", err)
	}
}
