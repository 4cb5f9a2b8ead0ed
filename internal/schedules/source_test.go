package schedules_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	ic "github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// countingClient counts the schedule handles taken, one per Describe.
type countingClient struct {
	client.Client
	handles atomic.Int32
}

func (c *countingClient) ScheduleClient() client.ScheduleClient {
	return countingSchedules{c.Client.ScheduleClient(), &c.handles}
}

type countingSchedules struct {
	client.ScheduleClient
	n *atomic.Int32
}

func (s countingSchedules) GetHandle(ctx context.Context, id string) client.ScheduleHandle {
	s.n.Add(1)
	return s.ScheduleClient.GetHandle(ctx, id)
}

// ruleFile writes a frequency rule counting failed logins per ip.
func ruleFile(t *testing.T, dir, name, index string, numEvents int) {
	t.Helper()
	y := fmt.Sprintf(`name: %s
type: frequency
index: %s
num_events: %d
timeframe: {minutes: 5}
run_every: {hours: 1}
query_key: ip
`, name, index, numEvents)
	if err := os.WriteFile(filepath.Join(dir, "rule.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustApply(t *testing.T, c client.Client, dir string) {
	t.Helper()
	var out strings.Builder
	if _, err := schedules.Apply(context.Background(), c, schedules.Options{Dir: dir}, &out); err != nil {
		t.Fatalf("schedules apply %s: %v\n%s", dir, err, out.String())
	}
}

func deleteSchedule(c client.Client, name string) {
	_ = c.ScheduleClient().GetHandle(context.Background(), workflows.RuleScheduleID(name)).Delete(context.Background())
}

// TestRuleSourceReadsTheSchedule: the rule comes from its Schedule, not from
// the worker's rules_dir (which differs: logged once per read); a burst of
// reads describes the Schedule once; an apply shows after the TTL; a deleted
// Schedule is an error that says so, and is kept for the TTL too.
func TestRuleSourceReadsTheSchedule(t *testing.T) {
	c := &countingClient{Client: testenv.Client(t)}
	name := fmt.Sprintf("source-%d", time.Now().UnixNano())
	applied, local := t.TempDir(), t.TempDir()
	ruleFile(t, applied, name, "logs", 3)
	ruleFile(t, local, name, "logs", 10)
	mustApply(t, c.Client, applied)
	t.Cleanup(func() { deleteSchedule(c.Client, name) })

	var logs testenv.Buffer
	src, err := schedules.NewRuleSource(c, local, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	src.Now = func() time.Time { return now }
	ctx := context.Background()

	var wg sync.WaitGroup
	got := make([]int, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := src.Rule(ctx, name)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = r.NumEvents
		}()
	}
	wg.Wait()
	for i, n := range got {
		if n != 3 {
			t.Fatalf("read %d: num_events %d, want the schedule's 3 (rules_dir has 10)", i, n)
		}
	}
	if n := c.handles.Load(); n != 1 {
		t.Errorf("20 reads described the schedule %d times, want 1", n)
	}
	if n := strings.Count(logs.String(), "differs from the rule's schedule"); n != 1 {
		t.Errorf("drift logged %d times, want once:\n%s", n, logs.String())
	}

	ruleFile(t, applied, name, "logs", 4)
	mustApply(t, c.Client, applied)
	if r, err := src.Rule(ctx, name); err != nil || r.NumEvents != 3 {
		t.Fatalf("within the TTL: %v, %v; want the kept num_events 3", r, err)
	}
	now = now.Add(schedules.DefaultRuleSourceTTL)
	if r, err := src.Rule(ctx, name); err != nil || r.NumEvents != 4 {
		t.Fatalf("after the TTL: %v, %v; want the applied num_events 4", r, err)
	}

	deleteSchedule(c.Client, name)
	now = now.Add(schedules.DefaultRuleSourceTTL)
	before := c.handles.Load()
	for range 3 {
		_, err = src.Rule(ctx, name)
		if !errors.Is(err, schedules.ErrNoRuleSchedule) {
			t.Fatalf("deleted schedule: err = %v, want ErrNoRuleSchedule", err)
		}
	}
	if n := c.handles.Load() - before; n != 1 {
		t.Errorf("3 reads of a deleted rule described %d times, want 1", n)
	}
	for _, want := range []string{workflows.RuleScheduleID(name), "deleted", filepath.Join(local, "rule.yaml") + " still has it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// The same file in rules_dir as in the Schedule is no drift.
	mustApply(t, c.Client, applied)
	var quiet testenv.Buffer
	same, err := schedules.NewRuleSource(c.Client, applied, slog.New(slog.NewTextHandler(&quiet, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := same.Rule(ctx, name); err != nil {
		t.Fatal(err)
	}
	if quiet.String() != "" {
		t.Errorf("identical copies logged:\n%s", quiet.String())
	}
}

// TestRescanFollowsTheSchedule runs the real worker whose rules_dir holds an
// old copy of a rule (num_events 10) while the rule's Schedule has the applied
// one (num_events 3). Four failed logins: the re-scan answers firing, as the
// sweep would, and counts the drift; the old file would have said clean. A
// rule without a Schedule answers unknown, saying it has none.
func TestRescanFollowsTheSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and OpenSearch")
	}
	c := testenv.Client(t)
	node := testenv.OpenSearch(t)
	search, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-rescan-%d", time.Now().UnixNano())
	res, err := search.Indices.Create(index, search.Indices.Create.WithBody(strings.NewReader(
		`{"mappings":{"properties":{"@timestamp":{"type":"date"},"ip":{"type":"keyword"}}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	t.Cleanup(func() { _, _ = search.Indices.Delete([]string{index}) })
	now := time.Now()
	var bulk strings.Builder
	for i := range 4 {
		doc, _ := json.Marshal(map[string]any{"@timestamp": now.Add(-time.Duration(10+10*i) * time.Second).UTC().Format(time.RFC3339Nano), "ip": "192.0.2.7"})
		fmt.Fprintf(&bulk, "{\"index\":{}}\n%s\n", doc)
	}
	res, err = search.Bulk(strings.NewReader(bulk.String()), search.Bulk.WithIndex(index), search.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()

	name := fmt.Sprintf("rescan-drift-%d", time.Now().UnixNano())
	applied, local := t.TempDir(), t.TempDir()
	ruleFile(t, applied, name, index, 3)
	ruleFile(t, local, name, index, 10)
	mustApply(t, c, applied)
	t.Cleanup(func() { deleteSchedule(c, name) })

	w := testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Config.Search.URL = node.URL()
		m.Config.Search.RulesDir = local
		m.Config.Incident.RescanInterval = 0
	})
	incidents := ic.New(c, "default")
	rescan := func(rule string) incident.Scan {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a := incident.Alert{Source: rules.AlertSource, Rule: rule, QueryKey: map[string]string{"ip": "192.0.2.7"}, Title: "failed logins"}
		sent, err := incidents.Send(ctx, workflows.Occurrence{Count: 1, Alert: a, FirstSeen: now, LastSeen: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), sent.IncidentID, "", "test over") })
		inc, err := incidents.Rescan(ctx, sent.IncidentID, workflows.RescanRequest{By: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if inc.LastScan == nil {
			t.Fatalf("incident %s has no scan after the re-scan", sent.IncidentID)
		}
		return *inc.LastScan
	}

	if scan := rescan(name); scan.State != incident.ScanFiring {
		t.Errorf("re-scan = %s (%s), want firing: the schedule's rule needs 3 events, 4 are there", scan.State, scan.Detail)
	}
	resp, err := http.Get(w.MetricsURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`irflow_rule_rescan_drift_total{rule=%q} 1`, name); !strings.Contains(string(body), want) {
		t.Errorf("/metrics has no %s", want)
	}

	scan := rescan(name + "-gone")
	if scan.State != incident.ScanUnknown || !strings.Contains(scan.Detail, "no rule schedule "+workflows.RuleScheduleID(name+"-gone")) {
		t.Errorf("re-scan of a rule without a schedule = %s (%s), want unknown saying so", scan.State, scan.Detail)
	}
}
