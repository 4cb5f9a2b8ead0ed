package workerapp

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestOwnMetricsKeepTheirLabels emits every irflow metric the way workflows
// and activities do (tags plus the SDK's own) and reads it back under the
// name the code emits with and only the labels docs/metrics.md lists.
func TestOwnMetricsKeepTheirLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewMetricsHandler(reg)
	tags := map[string]string{
		"severity": "high", "category": "waf", "how": "auto", "rule": "sqli-burst",
		"method": "chat.postMessage", "error": "channel_not_found", "notifier": "slack",
		"workflow_type": "IncidentWorkflow", "namespace": "default", // the SDK's, dropped
	}
	tagged := h.WithTags(tags)
	for name, m := range ownMetrics() {
		switch {
		case m.counter != nil:
			tagged.Counter(name).Inc(2)
		case m.gauge != nil:
			tagged.Gauge(name).Update(7)
		default:
			tagged.Timer(name).Record(3 * time.Second)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()] = labels
		}
	}
	want := map[string][]string{
		"irflow_incidents_opened_total":      {"category=waf", "severity=high"},
		"irflow_incidents_resolved_total":    {"how=auto"},
		"irflow_alert_to_notify_seconds":     nil,
		"irflow_mtta_seconds":                nil,
		"irflow_mttr_seconds":                nil,
		"irflow_rule_sweep_duration_seconds": {"rule=sqli-burst"},
		"irflow_rule_sweep_errors_total":     {"rule=sqli-burst"},
		"irflow_rule_sweep_lag_seconds":      {"rule=sqli-burst"},
		"irflow_rule_rescan_drift_total":     {"rule=sqli-burst"},
		"irflow_slack_api_errors_total":      {"error=channel_not_found", "method=chat.postMessage"},
		"irflow_notify_failures_total":       {"notifier=slack"},
		"irflow_archive_failures_total":      nil,
	}
	for name := range ownMetrics() {
		if _, ok := want[name]; !ok {
			t.Errorf("code emits %s, which is registered under another name", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("gathered %d families, want %d: %v", len(got), len(want), got)
	}
	for name, labels := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s not gathered (emitted under another name?)", name)
			continue
		}
		if !slices.Equal(g, labels) {
			t.Errorf("%s labels = %v, want %v", name, g, labels)
		}
	}
}

// TestSDKMetricsStillGeneric holds that a Temporal SDK metric keeps the SDK labels.
func TestSDKMetricsStillGeneric(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetricsHandler(reg).WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "temporal_request" && len(f.GetMetric()[0].GetLabel()) == len(sdkLabels) {
			return
		}
	}
	t.Errorf("temporal_request not gathered with the SDK labels")
}

// TestOwnMetricsDocumented: every metric the worker emits has its row in docs/metrics.md.
func TestOwnMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range ownMetrics() {
		if !strings.Contains(string(b), "| `"+name+"` |") {
			t.Errorf("docs/metrics.md has no row for %s", name)
		}
	}
}
