package workflows_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// scrape returns the worker's /metrics text.
func scrape(t *testing.T, w *workerapp.Main) string {
	t.Helper()
	resp, err := http.Get(w.MetricsURL() + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// TestDevServerMetricsOfOneIncident runs an incident through open, announce,
// ack and resolve on the real worker and reads exactly one of each on its
// /metrics: what an operator's dashboard counts for that incident.
func TestDevServerMetricsOfOneIncident(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	w := testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = rec })
	ic := client.New(c, "default")
	alert := alertFor(t)
	alert.Category = "metrics-test"

	res, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	id := res.IncidentID
	cleanupIncident(t, c, id)
	testenv.Eventually(t, 10*time.Second, "the announcement", func() bool { return len(rec.For(id, "Post")) == 1 })
	if _, err := ic.Acknowledge(context.Background(), id, workflows.AcknowledgeRequest{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Resolve(context.Background(), id, workflows.ResolveRequest{By: "alice", Note: "fixed"}); err != nil {
		t.Fatal(err)
	}
	var out workflows.IncidentResult
	if err := waitClosed(t, c, id, &out); err != nil {
		t.Fatal(err)
	}

	text := scrape(t, w)
	for _, want := range []string{
		`irflow_incidents_opened_total{category="metrics-test",severity="high"} 1`,
		`irflow_incidents_resolved_total{how="operator"} 1`,
		`irflow_alert_to_notify_seconds_count 1`,
		`irflow_mtta_seconds_count 1`,
		`irflow_mttr_seconds_count 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q; irflow lines:\n%s", want, irflowLines(text))
		}
	}
	if strings.Contains(text, `irflow_incidents_resolved_total{how="auto"}`) {
		t.Errorf("a person's resolve counted as auto:\n%s", irflowLines(text))
	}
}

func irflowLines(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "irflow_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
