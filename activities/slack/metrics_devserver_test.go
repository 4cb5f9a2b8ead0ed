package slack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// TestDevServerSlackFailureIsCounted: Slack refuses the announcement once;
// the worker's /metrics says which method failed with which Slack error, and
// that one notify attempt failed, and the incident is still announced.
func TestDevServerSlackFailureIsCounted(t *testing.T) {
	fake := testenv.NewSlack(t)
	fake.AddChannel("#alerts")
	scfg := config.Default().Slack
	scfg.Token, scfg.APIURL = "xoxb-test", fake.URL()
	n, err := slack.New(scfg, slack.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.Client(t)
	w := testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Config.Slack = scfg
		m.Notifier = n
		m.Config.Incident.NotifyInterval = config.Duration(200 * time.Millisecond)
	})
	ic := client.New(c, "default")
	fake.FailNext("chat.postMessage", "internal_error")

	alert := incident.Alert{Source: "alertmanager", Rule: "slack metrics " + t.Name(), Env: "prod", Severity: incident.SeverityHigh}
	res, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), res.IncidentID, "", "test over") })
	testenv.Eventually(t, 20*time.Second, "the announcement after the failure", func() bool {
		return len(fake.OKCalls("chat.postMessage")) >= 1
	})

	resp, err := http.Get(w.MetricsURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`irflow_slack_api_errors_total{error="internal_error",method="chat.postMessage"} 1`,
		`irflow_notify_failures_total{notifier="slack"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			var lines []string
			for _, l := range strings.Split(text, "\n") {
				if strings.HasPrefix(l, "irflow_") {
					lines = append(lines, l)
				}
			}
			t.Errorf("/metrics lacks %q; irflow lines:\n%s", want, strings.Join(lines, "\n"))
		}
	}
}
