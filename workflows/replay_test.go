package workflows_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

var update = flag.Bool("update", false, "record testdata/histories/"+historySet+"-*.json from fresh dev-server runs")

const historyDir = "testdata/histories"

// historySet prefixes the histories -update writes. Histories of earlier sets
// (no prefix: the first release; rulesweep-*, rulekick-*: before the sweep
// refactor) were recorded from released code and are never rewritten. When
// the workflow changes on purpose, bump this and record: the new set is added
// beside the old ones.
const historySet = "issue14"

func newReplayer(t *testing.T) worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.IncidentWorkflow, workflow.RegisterOptions{Name: workflows.IncidentWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.IncidentArchiveWorkflow, workflow.RegisterOptions{Name: workflows.IncidentArchiveWorkflowName})
	// rulesweep-*.json and rulekick-*.json were recorded before the sweep
	// called its activities by method reference and wrapped RaiseRuleAlerts'
	// argument and result in structs: sweeps, coalesced kicks, a failed
	// sweep, a kick carried across continue-as-new, a rule change.
	r.RegisterWorkflowWithOptions(workflows.RuleSweepWorkflow, workflow.RegisterOptions{Name: workflows.RuleSweepWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RuleKickWorkflow, workflow.RegisterOptions{Name: workflows.RuleKickWorkflowName})
	return r
}

// TestReplayRecordedHistories replays histories recorded by earlier versions of
// the workflow: a change that breaks running incidents fails here. Every run a
// recorded run continued into, and every child it started, must be recorded
// too, so a chain is replayed whole, not just its first run.
func TestReplayRecordedHistories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no histories in %s; record them with `go test ./workflows -run TestReplayFreshHistories -update`", historyDir)
	}
	recorded := map[string]bool{} // run IDs
	next := map[string]string{}   // run ID a file continued into or started → the file
	for _, f := range files {
		h := loadHistory(t, f)
		recorded[h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()] = true
		for _, e := range h.Events {
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next[a.GetNewExecutionRunId()] = f
			}
			if a := e.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
				next[a.GetWorkflowExecution().GetRunId()] = f
			}
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := replay(t, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	for run, f := range next {
		if !recorded[run] {
			t.Errorf("%s continued into or started run %s, which is not recorded: record the whole chain", f, run)
		}
	}
}

// replay replays a history file the way a worker replays the run: under the
// workflow ID it ran with, so IDs the workflow derives from its own (its
// archive workflow's) come out the same. A history does not hold its workflow
// ID; an incident's follows from its input, other workflows replay as
// "ReplayId". The run ID is the history's own.
func replay(t *testing.T, file string) error {
	t.Helper()
	h := loadHistory(t, file)
	opts := worker.ReplayWorkflowHistoryOptions{}
	start := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
	if start.GetWorkflowType().GetName() == workflows.IncidentWorkflowName {
		var in workflows.IncidentInput
		if err := converter.GetDefaultDataConverter().FromPayloads(start.GetInput(), &in); err != nil {
			t.Fatalf("%s: decode input: %v", file, err)
		}
		opts.OriginalExecution.ID = workflows.IncidentWorkflowID(incident.Fingerprint(in.Alert))
		if in.Carried != nil && in.Carried.Incident.ID != "" {
			opts.OriginalExecution.ID = in.Carried.Incident.ID
		}
	}
	return newReplayer(t).ReplayWorkflowHistoryWithOptions(testenv.QuietLogger(), h, opts)
}

func loadHistory(t *testing.T, name string) *historypb.History {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	h := &historypb.History{}
	if err := (temporalproto.CustomJSONUnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, h); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(h.Events) == 0 {
		t.Fatalf("%s: no events", name)
	}
	return h
}

// replayScenario is one scenario of TestReplayFreshHistories: it changes the
// worker's config, then drives an incident and returns its ID once the test may
// wait for it to close.
type replayScenario struct {
	name   string
	worker func(m *workerapp.Main)
	run    func(t *testing.T, ic *client.Client, a incident.Alert) string
}

// TestReplayFreshHistories runs scenarios on the dev server and replays their
// histories (every run of the incident's chain and every archive workflow it
// started), so non-determinism is caught the day it is written.
func TestReplayFreshHistories(t *testing.T) {
	c := testenv.Client(t)
	ic := client.New(c, "default")
	ctx := context.Background()
	base := func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{}
		m.Config.Incident.MaxSignalsPerRun = 10
		m.Config.Incident.NotifyInterval = 0
		m.Config.Incident.RescanInterval = config.Duration(time.Second)
		m.Config.Incident.Escalation.Levels = []config.Level{{After: config.Duration(time.Second), Targets: []incident.Target{{UserGroup: "S1"}}}}
	}
	var gate *gateChecker
	down := filepath.Join(t.TempDir(), "archive") // see TestDevServerRefireWhileArchiveIsDown
	for _, sc := range []replayScenario{
		{"escalate-ack-resolve", nil, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			s := mustSend(t, ic, a)
			testenv.Eventually(t, 15*time.Second, "escalation", func() bool { return mustGet(t, ic, s.IncidentID).EscalationLevel == 1 })
			ok(t)(ic.Acknowledge(ctx, s.IncidentID, workflows.AcknowledgeRequest{By: "alice"}))
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "alice", Note: "done"}))
			return s.IncidentID
		}},
		{"snooze-rescan-resolve", nil, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			s := mustSend(t, ic, a)
			ok(t)(ic.Snooze(ctx, s.IncidentID, workflows.SnoozeRequest{By: "bob", Until: time.Now().Add(1500 * time.Millisecond)}))
			ok(t)(ic.Rescan(ctx, s.IncidentID, workflows.RescanRequest{By: "bob"}))
			testenv.Eventually(t, 15*time.Second, "snooze to end", func() bool { return mustGet(t, ic, s.IncidentID).Status == incident.StatusOpen })
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "bob"}))
			return s.IncidentID
		}},
		{"storm-continue-as-new", nil, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			s := mustSend(t, ic, a)
			for range 14 {
				mustSend(t, ic, a)
			}
			testenv.Eventually(t, 15*time.Second, "continue-as-new", func() bool { return mustGet(t, ic, s.IncidentID).RunID != s.RunID })
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "carol"}))
			return s.IncidentID
		}},
		// A re-scan still running when the run reaches its limit: its event is
		// handed to the next run (versionCarryEvents).
		{"rescan-at-continue-as-new", func(m *workerapp.Main) {
			m.Config.Incident.RescanInterval = 0
			m.Config.Incident.Escalation.Levels = nil
			m.Default = gate
		}, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			s := mustSend(t, ic, a)
			rescanned := make(chan error, 1)
			go func() {
				_, err := ic.Rescan(ctx, s.IncidentID, workflows.RescanRequest{By: "dave"})
				rescanned <- err
			}()
			<-gate.entered
			for range 10 {
				mustSend(t, ic, a)
			}
			time.Sleep(time.Second) // the run is past its limit, waiting for the re-scan
			close(gate.open)
			if err := <-rescanned; err != nil {
				t.Fatalf("rescan: %v", err)
			}
			testenv.Eventually(t, 15*time.Second, "continue-as-new", func() bool { return mustGet(t, ic, s.IncidentID).RunID != s.RunID })
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "dave"}))
			return s.IncidentID
		}},
		// An alarm that flaps: the occurrence between two clears resets the
		// clean count (versionOccurrenceResetsClean).
		{"flap-clear-fire-clear", func(m *workerapp.Main) {
			m.Config.Incident.RescanInterval = 0
			m.Config.Incident.CleanScansToResolve = 2
			m.Config.Incident.Escalation.Levels = nil
		}, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			s := mustSend(t, ic, a)
			clear := func() {
				t.Helper()
				if err := ic.Clear(ctx, incident.Fingerprint(a), workflows.SourceClear{Source: "cloudwatch", Detail: "OK"}); err != nil {
					t.Fatal(err)
				}
			}
			// Each change lands before the next, as an alarm's OK and ALARM
			// do: signals on two channels that arrive in one workflow task
			// are folded in channel by channel, not in arrival order.
			clear()
			testenv.Eventually(t, 15*time.Second, "the first clear", func() bool {
				return mustGet(t, ic, s.IncidentID).CleanScans == 1
			})
			mustSend(t, ic, a)
			testenv.Eventually(t, 15*time.Second, "the fire", func() bool {
				return mustGet(t, ic, s.IncidentID).Occurrences == 2
			})
			clear()
			testenv.Eventually(t, 15*time.Second, "the second clear", func() bool {
				inc := mustGet(t, ic, s.IncidentID)
				return len(entries(inc, incident.EntrySourceClear)) == 2
			})
			if inc := mustGet(t, ic, s.IncidentID); inc.Status != incident.StatusOpen || inc.CleanScans != 1 {
				t.Fatalf("after clear, fire, clear: status %s, %d clean scans; want open, 1", inc.Status, inc.CleanScans)
			}
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "frank"}))
			return s.IncidentID
		}},
		// A re-fire while the archive store is down: the resolved run hands its
		// record to an archive workflow and continues into the linked incident
		// (versionArchiveChild), whose archive is written once the store is back.
		{"refire-archive-down", func(m *workerapp.Main) {
			m.Config.Archive.URL = "file://" + down
			m.Config.Incident.RescanInterval = 0
			m.Config.Incident.Escalation.Levels = nil
		}, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			if err := os.WriteFile(down, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s := mustSend(t, ic, a)
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "erin"}))
			mustSend(t, ic, a)
			testenv.Eventually(t, 15*time.Second, "the re-fire", func() bool { return mustGet(t, ic, s.IncidentID).Previous != nil })
			if err := os.Remove(down); err != nil {
				t.Fatal(err)
			}
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "erin"}))
			return s.IncidentID
		}},
		// A silence holds the announcement and escalation back until it ends
		// (versionNoiseControl).
		{"silence-then-announce", func(m *workerapp.Main) {
			m.Config.Incident.RescanInterval = 0
		}, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			sil, err := ic.AddSilence(ctx, workflows.AddSilenceRequest{Matchers: []string{"rule=" + a.Rule},
				EndsAt: time.Now().Add(2 * time.Second), By: "grace"})
			if err != nil {
				t.Fatal(err)
			}
			s := mustSend(t, ic, a)
			mustSend(t, ic, a)
			testenv.Eventually(t, 15*time.Second, "the silence to end", func() bool {
				inc := mustGet(t, ic, s.IncidentID)
				return len(entries(inc, incident.EntryUnsilenced)) == 1 && inc.Message != nil
			})
			if inc := mustGet(t, ic, s.IncidentID); len(entries(inc, incident.EntrySilenced)) != 1 || !strings.Contains(entries(inc, incident.EntrySilenced)[0].Text, sil.ID) {
				t.Fatalf("timeline %+v does not say %s silenced it", inc.Timeline, sil.ID)
			}
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "grace"}))
			return s.IncidentID
		}},
		// WAF blocks and 5xx on one service: the correlator raises both to
		// critical and links them (versionNoiseControl).
		{"correlated-pair", func(m *workerapp.Main) {
			m.Config.Incident.RescanInterval = 0
			m.Config.Incident.Escalation.Levels = nil
			m.Config.Correlation.Enabled = true
		}, func(t *testing.T, ic *client.Client, a incident.Alert) string {
			a.Env, a.Category, a.Service = "replay-"+time.Now().Format("150405.000"), "waf", "payments"
			b := a
			b.Rule, b.Category = a.Rule+" 5xx", "reliability"
			s, o := mustSend(t, ic, a), mustSend(t, ic, b)
			cleanupIncident(t, ic.Temporal, o.IncidentID)
			cleanupIncident(t, ic.Temporal, workflows.CorrelatorWorkflowID(workflows.CorrelatorScope(incident.CorrelationScopeEnv, a)))
			testenv.Eventually(t, 15*time.Second, "both critical", func() bool {
				return mustGet(t, ic, s.IncidentID).Severity == incident.SeverityCritical && mustGet(t, ic, o.IncidentID).Severity == incident.SeverityCritical
			})
			ok(t)(ic.Resolve(ctx, o.IncidentID, workflows.ResolveRequest{By: "heidi"}))
			ok(t)(ic.Resolve(ctx, s.IncidentID, workflows.ResolveRequest{By: "heidi"}))
			return s.IncidentID
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			a := alertFor(t)
			gate = newGate(a.Rule)
			// One worker per scenario, so each gets its own config.
			testenv.Worker(t, c, func(m *workerapp.Main) {
				base(m)
				if sc.worker != nil {
					sc.worker(m)
				}
			})
			id := sc.run(t, ic, a)
			cleanupIncident(t, c, id)
			if err := waitClosed(t, c, id, nil); err != nil {
				t.Fatalf("incident did not finish: %v", err)
			}
			var archives []string
			for i, runID := range runsOf(t, c, id) {
				h := history(t, c, id, runID)
				replayFresh(t, h, fmt.Sprintf("%s-%s-%c", historySet, sc.name, 'a'+i))
				archives = append(archives, childrenOf(h)...)
			}
			if len(archives) == 0 {
				t.Error("no archive workflow started")
			}
			for i, child := range archives {
				if err := waitClosed(t, c, child, nil); err != nil {
					t.Fatalf("archive workflow %s: %v", child, err)
				}
				for j, runID := range runsOf(t, c, child) {
					replayFresh(t, history(t, c, child, runID), fmt.Sprintf("%s-%s-archive%d-%c", historySet, sc.name, i+1, 'a'+j))
				}
			}
			if sc.name == "rescan-at-continue-as-new" {
				assertCarriedEvents(t, history(t, c, id, runsOf(t, c, id)[0]))
			}
		})
	}
}

// replayFresh writes h in the JSON format the recorded histories use (into
// testdata with -update, so what -update writes is known to replay) and
// replays it.
func replayFresh(t *testing.T, h *historypb.History, name string) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".json")
	if *update {
		_ = os.MkdirAll(historyDir, 0o755)
		file = filepath.Join(historyDir, name+".json")
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replay(t, file); err != nil {
		t.Fatalf("replay %s: %v", name, err)
	}
}

// childrenOf lists the workflow IDs of the children a run started.
func childrenOf(h *historypb.History) []string {
	var ids []string
	for _, e := range h.Events {
		if a := e.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			ids = append(ids, a.GetWorkflowExecution().GetWorkflowId())
		}
	}
	return ids
}

// assertCarriedEvents checks that a run continued as new handing over an event,
// so the recorded history covers that path.
func assertCarriedEvents(t *testing.T, h *historypb.History) {
	t.Helper()
	last := h.Events[len(h.Events)-1]
	if last.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		t.Fatalf("first run ended with %s, want continue-as-new", last.GetEventType())
	}
	var in workflows.IncidentInput
	if err := converter.GetDefaultDataConverter().FromPayloads(last.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput(), &in); err != nil {
		t.Fatal(err)
	}
	if in.Carried == nil || len(in.Carried.Events) != 1 || in.Carried.Events[0].Kind != incident.EntryRescan {
		t.Fatalf("continue-as-new carried %+v, want the re-scan's event", in.Carried)
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

// runsOf returns every run of the workflow's latest chain, oldest first: the
// latest run, then each run it continued from, read from the runs' own
// histories. Visibility is not asked: it may not list every run yet.
func runsOf(t *testing.T, c temporalclient.Client, id string) []string {
	t.Helper()
	ctx := context.Background()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	runs := []string{desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()}
	for {
		it := c.GetWorkflowHistory(ctx, id, runs[0], false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		if !it.HasNext() {
			t.Fatalf("run %s of %s has no history", runs[0], id)
		}
		first, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		prev := first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if prev == "" {
			return runs
		}
		runs = append([]string{prev}, runs...)
	}
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
