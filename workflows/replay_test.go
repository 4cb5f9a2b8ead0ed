package workflows_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

var update = flag.Bool("update", false, "rewrite testdata/histories from fresh dev-server runs")

const historyDir = "testdata/histories"

func newReplayer(t *testing.T) worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.IncidentWorkflow, workflow.RegisterOptions{Name: workflows.IncidentWorkflowName})
	// rulesweep-*.json and rulekick-*.json were recorded before the sweep
	// called its activities by method reference and wrapped RaiseRuleAlerts'
	// argument and result in structs: sweeps, coalesced kicks, a failed
	// sweep, a kick carried across continue-as-new, a rule change.
	r.RegisterWorkflowWithOptions(workflows.RuleSweepWorkflow, workflow.RegisterOptions{Name: workflows.RuleSweepWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RuleKickWorkflow, workflow.RegisterOptions{Name: workflows.RuleKickWorkflowName})
	return r
}

// TestReplayRecordedHistories replays histories recorded by earlier versions of
// the workflow: a change that breaks running incidents fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no histories in %s; record them with `go test ./workflows -run TestReplayFreshHistories -update`", historyDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := newReplayer(t).ReplayWorkflowHistoryFromJSONFile(testenv.QuietLogger(), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// TestReplayFreshHistories runs scenarios on the dev server and replays their
// histories, so non-determinism is caught the day it is written.
func TestReplayFreshHistories(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{}
		m.Config.Incident.MaxSignalsPerRun = 10
		m.Config.Incident.NotifyInterval = 0
		m.Config.Incident.RescanInterval = config.Duration(time.Second)
		m.Config.Incident.Escalation.Levels = []config.Level{{After: config.Duration(time.Second), Targets: []incident.Target{{UserGroup: "S1"}}}}
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	for _, sc := range []struct {
		name string
		run  func(t *testing.T, a incident.Alert) string
	}{
		{"escalate-ack-resolve", func(t *testing.T, a incident.Alert) string {
			s := mustSend(t, ic, a)
			testenv.Eventually(t, 15*time.Second, "escalation", func() bool { return mustGet(t, ic, s.IncidentID).EscalationLevel == 1 })
			ok(t)(ic.Acknowledge(ctx, s.IncidentID, workflows.AcknowledgeRequest{By: "alice"}))
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "alice", Note: "done"}))
			return s.IncidentID
		}},
		{"snooze-rescan-resolve", func(t *testing.T, a incident.Alert) string {
			s := mustSend(t, ic, a)
			ok(t)(ic.Snooze(ctx, s.IncidentID, workflows.SnoozeRequest{By: "bob", Until: time.Now().Add(1500 * time.Millisecond)}))
			ok(t)(ic.Rescan(ctx, s.IncidentID, workflows.RescanRequest{By: "bob"}))
			testenv.Eventually(t, 15*time.Second, "snooze to end", func() bool { return mustGet(t, ic, s.IncidentID).Status == incident.StatusOpen })
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "bob"}))
			return s.IncidentID
		}},
		{"storm-continue-as-new", func(t *testing.T, a incident.Alert) string {
			s := mustSend(t, ic, a)
			for range 14 {
				mustSend(t, ic, a)
			}
			testenv.Eventually(t, 15*time.Second, "continue-as-new", func() bool { return mustGet(t, ic, s.IncidentID).RunID != s.RunID })
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "carol"}))
			return s.IncidentID
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			a := alertFor(t)
			id := sc.run(t, a)
			cleanupIncident(t, c, id)
			if err := waitClosed(t, c, id, nil); err != nil {
				t.Fatalf("incident did not finish: %v", err)
			}
			// Replay every run of the incident (continue-as-new makes several).
			runs := runsOf(t, c, id)
			// Each run goes through the same JSON file format the recorded
			// histories use, so what -update writes is known to replay.
			for i, runID := range runs {
				hist := history(t, c, id, runID)
				b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Join(t.TempDir(), "history.json")
				if *update {
					_ = os.MkdirAll(historyDir, 0o755)
					name = filepath.Join(historyDir, sc.name+"-"+string(rune('a'+i))+".json")
				}
				if err := os.WriteFile(name, b, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := newReplayer(t).ReplayWorkflowHistoryFromJSONFile(testenv.QuietLogger(), name); err != nil {
					t.Fatalf("replay run %s: %v", runID, err)
				}
			}
		})
	}
}

func mustSend(t *testing.T, ic *client.Client, a incident.Alert) workflows.SendResult {
	t.Helper()
	s, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: a})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ok fails the test if an incident call failed: ok(t)(ic.Resolve(...)).
func ok(t *testing.T) func(incident.Incident, error) {
	return func(_ incident.Incident, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func runsOf(t *testing.T, c temporalclient.Client, id string) []string {
	var runs []string
	testenv.Eventually(t, 10*time.Second, "visibility of every run", func() bool {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowId = '" + id + "'",
		})
		if err != nil {
			return false
		}
		runs = runs[:0]
		for _, e := range resp.GetExecutions() {
			runs = append([]string{e.GetExecution().GetRunId()}, runs...)
		}
		return len(runs) > 0
	})
	return runs
}

func history(t *testing.T, c temporalclient.Client, id, runID string) *historypb.History {
	it := c.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}
