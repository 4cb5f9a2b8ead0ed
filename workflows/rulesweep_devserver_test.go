package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// mustOpenSearch starts (or reuses) the shared node and creates a fresh index
// with ip as a keyword.
func mustOpenSearch(t *testing.T) (*opensearchgo.Client, string, string) {
	t.Helper()
	node := testenv.OpenSearch(t)
	os, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-rulesweep-%d", time.Now().UnixNano())
	res, err := os.Indices.Create(index, os.Indices.Create.WithBody(strings.NewReader(
		`{"mappings":{"properties":{"@timestamp":{"type":"date"},"ip":{"type":"keyword"}}}}`)))
	mustOK(t, res, err)
	t.Cleanup(func() { _, _ = os.Indices.Delete([]string{index}) })
	return os, node.URL(), index
}

func mustOK(t *testing.T, res *opensearchapi.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s: %s", res.Status(), b)
	}
}

// index writes events {"@timestamp": at, "ip": ip} and refreshes.
func indexEvents(t *testing.T, os *opensearchgo.Client, index, ip string, at ...time.Time) {
	t.Helper()
	var b strings.Builder
	for _, ts := range at {
		doc, _ := json.Marshal(map[string]any{"@timestamp": ts.UTC().Format(time.RFC3339Nano), "ip": ip})
		fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
	}
	res, err := os.Bulk(strings.NewReader(b.String()), os.Bulk.WithIndex(index), os.Bulk.WithRefresh("true"))
	mustOK(t, res, err)
}

// kick runs the workflow a rule's Schedule starts, and waits for the sweep
// workflow to count sweep n.
func kick(t *testing.T, c temporalclient.Client, rule rules.Ref, n int) workflows.RuleSweepStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{TaskQueue: workflows.TaskQueue},
		workflows.RuleKickWorkflowName, workflows.SweepRequest{Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("kick: %v", err)
	}
	var st workflows.RuleSweepStatus
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("sweep %d", n), func() bool {
		v, err := c.QueryWorkflow(ctx, workflows.RuleSweepWorkflowID(rule.Name), "", workflows.QueryRuleSweep)
		return err == nil && v.Get(&st) == nil && st.Sweeps >= n
	})
	if st.LastError != "" {
		t.Fatalf("sweep %d failed: %s", n, st.LastError)
	}
	return st
}

// TestRuleSweepSurvivesWorkerRestart sweeps a frequency rule against a real
// OpenSearch node through the real worker; the worker is closed between the
// two sweeps that together fill the window, and a new one takes over. The
// window is only complete if its state survived: the rule must fire exactly once.
func TestRuleSweepSurvivesWorkerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and OpenSearch")
	}
	c := testenv.Client(t)
	os, url, index := mustOpenSearch(t)
	name := fmt.Sprintf("restart-burst-%d", time.Now().UnixNano())
	rule := rules.Ref{Name: name, Path: "restart-burst.yaml", YAML: fmt.Sprintf(`name: %s
type: frequency
index: %s
num_events: 5
timeframe: {minutes: 10}
query_key: ip
realert: {minutes: 0}
`, name, index)}
	t.Cleanup(func() {
		_ = c.TerminateWorkflow(context.Background(), workflows.RuleSweepWorkflowID(name), "", "test over")
	})
	start := func(rec *testenv.Recorder) *workerapp.Main {
		return testenv.Worker(t, c, func(m *workerapp.Main) {
			m.Notifier = rec
			m.Config.Search.URL = url
		})
	}
	w1 := start(&testenv.Recorder{})
	now := time.Now()
	indexEvents(t, os, index, "192.0.2.1", now.Add(-30*time.Second), now.Add(-20*time.Second), now.Add(-10*time.Second))
	st := kick(t, c, rule, 1)
	if st.Alerts != 0 || st.State.Windows["192.0.2.1"] == nil || st.State.Windows["192.0.2.1"].Count != 3 {
		t.Fatalf("after sweep 1: %d alerts, windows %+v", st.Alerts, st.State.Windows)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}

	rec := &testenv.Recorder{}
	start(rec)
	time.Sleep(10 * time.Millisecond) // the next events are strictly after sweep 1's end
	now = time.Now()
	indexEvents(t, os, index, "192.0.2.1", now.Add(-2*time.Millisecond), now.Add(-time.Millisecond))
	st2 := kick(t, c, rule, 2)
	if st2.Alerts != 1 {
		t.Fatalf("after sweep 2 (on the new worker): %d alerts, want 1; status %+v", st2.Alerts, st2)
	}
	// Sweep 2 read only the new events (its window starts where sweep 1's
	// ended), so the match needed sweep 1's three events from the carried state.
	if !st2.LastStart.Equal(st.LastEnd) {
		t.Errorf("sweep 2 covered (%s, %s], want it to start at sweep 1's end %s", st2.LastStart, st2.LastEnd, st.LastEnd)
	}
	if st := kick(t, c, rule, 3); st.Alerts != 1 {
		t.Fatalf("after sweep 3 (no new events): %d alerts, want still 1", st.Alerts)
	}

	id := incident.ID(incident.Fingerprint(incident.Alert{Source: "rules", Rule: name, QueryKey: map[string]string{"ip": "192.0.2.1"}}))
	cleanupIncident(t, c, id)
	ic := client.New(c, "default")
	var inc incident.Incident
	testenv.Eventually(t, 20*time.Second, "incident notified", func() bool {
		var err error
		inc, err = ic.Get(context.Background(), id)
		return err == nil && len(rec.For(id, "Post")) == 1
	})
	if inc.Occurrences != 1 {
		t.Errorf("incident %s has %d occurrences, want 1", id, inc.Occurrences)
	}
}
