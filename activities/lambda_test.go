package activities_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"go.temporal.io/sdk/testsuite"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
)

// A re-scan hook decides for the incidents it matches; a failing or
// malformed hook is unknown (never clean), and other incidents keep their
// source's check.
func TestLambdaRescanHook(t *testing.T) {
	fake := testenv.NewLambda(t)
	client := lambda.NewFromConfig(testenv.AWSConfig(fake.URL), func(o *lambda.Options) { o.BaseEndpoint = aws.String(fake.URL) })
	const fn = "irflow-rescan-waf"
	clear := false
	fake.Handle(fn, func(p []byte) ([]byte, string) {
		var req activities.LambdaRescanRequest
		if err := json.Unmarshal(p, &req); err != nil || req.IncidentID != "incident-abc" || req.Alert.Rule != "waf sqli burst" {
			return []byte(`{"errorMessage":"bad payload"}`), "Unhandled"
		}
		b, _ := json.Marshal(map[string]any{"clear": clear, "detail": "203.0.113.200 seen 3 times in 5m"})
		return b, ""
	})
	fake.Handle("broken", func([]byte) ([]byte, string) { return []byte(`{"errorMessage":"boom"}`), "Unhandled" })
	fake.Handle("mute", func([]byte) ([]byte, string) { return []byte(`null`), "" })
	hooks := &activities.LambdaHooks{Client: client, Hooks: []config.LambdaHook{
		{Match: config.MetricMatch{Category: "waf"}, Function: fn},
		{Match: config.MetricMatch{Rule: "broken*"}, Function: "broken"},
		{Match: config.MetricMatch{Rule: "mute*"}, Function: "mute"},
	}}
	source := activities.CheckerFunc(func(context.Context, incident.Alert) (incident.Scan, error) {
		return incident.Scan{State: incident.ScanFiring, Detail: "source check"}, nil
	})
	r := &activities.Rescan{Checkers: map[string]activities.Checker{"rules": source}, Hooks: hooks}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(r)
	run := func(a incident.Alert) (incident.Scan, error) {
		var s incident.Scan
		v, err := env.ExecuteActivity(r.RescanIncident, activities.RescanInput{IncidentID: "incident-abc", Alert: a})
		if err == nil {
			err = v.Get(&s)
		}
		return s, err
	}
	scan := func(a incident.Alert) incident.Scan {
		t.Helper()
		s, err := run(a)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waf := incident.Alert{Source: "rules", Rule: "waf sqli burst", Category: "waf"}
	if s := scan(waf); s.State != incident.ScanFiring || s.Detail != "203.0.113.200 seen 3 times in 5m" {
		t.Fatalf("hook says not clear: %+v", s)
	}
	clear = true
	if s := scan(waf); s.State != incident.ScanClean {
		t.Fatalf("hook says clear: %+v", s)
	}
	if len(fake.Calls(fn)) != 2 {
		t.Fatalf("hook invoked %d times, want 2", len(fake.Calls(fn)))
	}
	if s := scan(incident.Alert{Source: "rules", Rule: "broken rule"}); s.State != incident.ScanUnknown || !strings.Contains(s.Detail, "lambda hook broken failed (Unhandled)") {
		t.Fatalf("failing hook: %+v", s)
	}
	if s := scan(incident.Alert{Source: "rules", Rule: "mute rule"}); s.State != incident.ScanUnknown || !strings.Contains(s.Detail, `want {"clear": true|false`) {
		t.Fatalf("hook without an answer: %+v", s)
	}
	if s := scan(incident.Alert{Source: "rules", Rule: "5xx spike", Category: "5xx"}); s.Detail != "source check" {
		t.Fatalf("unmatched incident: %+v, want the source's check", s)
	}
	hooks.Hooks = append(hooks.Hooks, config.LambdaHook{Match: config.MetricMatch{Category: "gone"}, Function: "no-such-function"})
	if _, err := run(incident.Alert{Source: "rules", Rule: "r", Category: "gone"}); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing function: %v, want an error to retry (and report)", err)
	}
}
