package activities_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/testsuite"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/rules"
)

// TestSweepMetrics: a sweep against an OpenSearch that refuses the query
// counts one error for its rule, observes its duration, and reports how far
// behind now - query_delay the rule's covered span ends (here 10 minutes).
func TestSweepMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"type":"index_not_found_exception"},"status":400}`))
	}))
	defer srv.Close()
	client, err := activities.NewSearchClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(workerapp.NewMetricsHandler(reg))
	env := s.NewTestActivityEnvironment()
	search := &activities.Search{Client: client}
	env.RegisterActivity(search.SweepRule)

	now := time.Now()
	ref := rules.Ref{Name: "metrics-burst", YAML: `
name: metrics-burst
type: frequency
index: logs-*
num_events: 5
timeframe: {minutes: 5}
filter:
- query_string:
    query: "status:500"
`}
	_, err = env.ExecuteActivity(search.SweepRule, activities.SweepInput{
		Rule: ref, State: rules.State{LastRunEnd: now.Add(-10 * time.Minute)}, Now: now,
	})
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("err = %v, want the refused query", err)
	}
	if got := ruleValue(t, reg, "irflow_rule_sweep_errors_total"); got != 1 {
		t.Errorf("irflow_rule_sweep_errors_total{rule=metrics-burst} = %v, want 1", got)
	}
	if lag := ruleValue(t, reg, "irflow_rule_sweep_lag_seconds"); lag < 600 || lag > 660 {
		t.Errorf("irflow_rule_sweep_lag_seconds{rule=metrics-burst} = %v, want about 600", lag)
	}
	if n := ruleValue(t, reg, "irflow_rule_sweep_duration_seconds"); n != 1 {
		t.Errorf("irflow_rule_sweep_duration_seconds observed %v sweeps, want 1", n)
	}
}

// ruleValue is the value (a histogram's count) of name{rule="metrics-burst"}.
func ruleValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" && l.GetValue() == "metrics-burst" {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	t.Fatalf("no %s{rule=\"metrics-burst\"}", name)
	return 0
}
