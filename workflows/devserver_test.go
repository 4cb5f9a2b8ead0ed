package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// alertFor gives each test its own incident on the shared dev server.
func alertFor(t *testing.T) incident.Alert {
	a := testAlert
	a.Rule = "dev " + strings.ReplaceAll(t.Name(), "/", " ")
	return a
}

// cleanupIncident terminates the test's incident so no timer outlives the test.
func cleanupIncident(t *testing.T, c temporalclient.Client, id string) {
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") })
}

// logRuns logs the event types of every run of an incident (the last tail of
// each, or all when tail is 0), so a failure shows what the workflow did.
func logRuns(t *testing.T, c temporalclient.Client, id string, tail int) {
	t.Helper()
	for _, run := range runsOf(t, c, id) {
		h := history(t, c, id, run)
		events := h.Events
		if tail > 0 {
			events = events[max(0, len(events)-tail):]
		}
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, fmt.Sprintf("%d:%s", e.GetEventId(), strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")))
		}
		t.Logf("run %s (%d events): %s", run, len(h.Events), strings.Join(kinds, " "))
	}
}

// waitClosed waits, at most a minute, for the incident's latest run to finish.
func waitClosed(t *testing.T, c temporalclient.Client, id string, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.GetWorkflow(ctx, id, "").Get(ctx, out)
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		inc, _ := client.New(c, "default").Get(context.Background(), id)
		logRuns(t, c, id, 0)
		t.Fatalf("incident %s still open after a minute: status %s, timeline %+v", id, inc.Status, inc.Timeline)
	}
	return err
}

func mustGet(t *testing.T, ic *client.Client, id string) incident.Incident {
	t.Helper()
	inc, err := ic.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return inc
}

func TestDevServerConcurrentSendsFoldIntoOneIncident(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = rec })
	ic := client.New(c, "default")
	alert := alertFor(t)

	const n = 50
	var wg sync.WaitGroup
	results := make([]workflows.SendResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
		}()
	}
	wg.Wait()
	id := results[0].IncidentID
	cleanupIncident(t, c, id)
	news := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if results[i].IncidentID != id || results[i].RunID != results[0].RunID {
			t.Fatalf("send %d went to %s/%s, want %s/%s", i, results[i].IncidentID, results[i].RunID, id, results[0].RunID)
		}
		if results[i].New {
			news++
		}
	}
	if news != 1 {
		t.Errorf("%d sends said new, want exactly 1", news)
	}
	testenv.Eventually(t, 20*time.Second, "50 occurrences", func() bool { return mustGet(t, ic, id).Occurrences == n })
	testenv.Eventually(t, 10*time.Second, "the announcement", func() bool { return len(rec.For(id, "Post")) == 1 })
	time.Sleep(200 * time.Millisecond)
	if posts := rec.For(id, "Post"); len(posts) != 1 {
		t.Errorf("%d posts, want 1", len(posts))
	}
	list, err := ic.List(context.Background(), workflows.ListFilter{Rule: alert.Rule})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Status != "open" || list[0].Severity != "high" {
		t.Errorf("list by rule = %+v, want the one open high incident", list)
	}
}

func TestDevServerAckResolveArchivesToS3(t *testing.T) {
	c := testenv.Client(t)
	_, endpoint := testenv.S3(t, "irflow-archive")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Archive.URL = "s3://irflow-archive/incidents"
		m.Config.Archive.S3.Endpoint = endpoint
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	sent, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alertFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, sent.IncidentID)
	testenv.Eventually(t, 10*time.Second, "the announcement", func() bool { return len(rec.For(sent.IncidentID, "Post")) == 1 })

	// IDs work with or without the prefix.
	short := strings.TrimPrefix(sent.IncidentID, incident.IDPrefix)
	if _, err := ic.Acknowledge(ctx, short, workflows.AcknowledgeRequest{By: "alice"}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	_, err = ic.Acknowledge(ctx, sent.IncidentID, workflows.AcknowledgeRequest{By: "bob"})
	if incident.ErrorCode(err) != incident.ECONFLICT || !strings.Contains(err.Error(), "already acknowledged by alice at ") {
		t.Fatalf("second ack: %v, want conflict naming alice", err)
	}
	time.Sleep(1100 * time.Millisecond) // a visible MTTR beyond MTTA
	if _, err := ic.Resolve(ctx, sent.IncidentID, workflows.ResolveRequest{By: "alice", Note: "rolled back"}); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	var final workflows.IncidentResult
	if err := waitClosed(t, c, sent.IncidentID, &final); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if !strings.HasPrefix(final.Incident.ArchiveURL, "s3://irflow-archive/incidents/") {
		t.Fatalf("archive url = %q", final.Incident.ArchiveURL)
	}
	key := strings.TrimPrefix(final.Incident.ArchiveURL, "s3://irflow-archive/")
	s3c, _ := testenv.S3Client(endpoint)
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("irflow-archive"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get archived object %s: %v", key, err)
	}
	body, _ := io.ReadAll(obj.Body)
	var rec2 activities.Record
	if err := json.Unmarshal(body, &rec2); err != nil {
		t.Fatal(err)
	}
	if rec2.MTTASeconds == nil || rec2.MTTRSeconds == nil || *rec2.MTTRSeconds <= *rec2.MTTASeconds {
		t.Fatalf("archived MTTA/MTTR = %v/%v, want both, MTTR > MTTA", rec2.MTTASeconds, rec2.MTTRSeconds)
	}
	if rec2.ResolvedBy != "alice" || rec2.ResolveNote != "rolled back" || rec2.AcknowledgedBy != "alice" {
		t.Errorf("archived record = %+v", rec2.Incident)
	}
	wantKey := "incidents/" + final.Incident.ResolvedAt.UTC().Format("2006/01/02") + "/" + sent.IncidentID + ".json"
	if key != wantKey {
		t.Errorf("key = %s, want %s", key, wantKey)
	}

	// The closed incident still answers, and refuses changes clearly.
	if inc := mustGet(t, ic, short); inc.Status != incident.StatusResolved {
		t.Errorf("status after close = %s", inc.Status)
	}
	if _, err := ic.Acknowledge(ctx, short, workflows.AcknowledgeRequest{By: "carol"}); incident.ErrorCode(err) != incident.ECONFLICT {
		t.Errorf("ack after close: %v, want conflict", err)
	}
}

func TestDevServerWorkerRestartMidEscalation(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	levels := []config.Level{
		{After: config.Duration(time.Second), Targets: []incident.Target{{UserGroup: "S1"}}},
		{After: config.Duration(3 * time.Second), Targets: []incident.Target{{UserGroup: "S2"}}},
		{After: config.Duration(time.Second), Targets: []incident.Target{{UserGroup: "S3"}}},
	}
	policy := func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Incident.Escalation.Levels = levels
		m.Config.Incident.RescanInterval = 0
	}
	first := testenv.Worker(t, c, policy)
	ic := client.New(c, "default")
	sent, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alertFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, sent.IncidentID)
	escalations := func() []testenv.Call {
		var out []testenv.Call
		for _, call := range rec.For(sent.IncidentID, "Event") {
			if call.Event.Kind == incident.EntryEscalated {
				out = append(out, call)
			}
		}
		return out
	}
	testenv.Eventually(t, 15*time.Second, "level 1", func() bool { return len(escalations()) == 1 })
	first.Close() // mid-escalation: level 2 is due in 3 s

	time.Sleep(time.Second)
	testenv.Worker(t, c, policy)
	testenv.Eventually(t, 30*time.Second, "levels 2 and 3 from the new worker", func() bool { return len(escalations()) >= 3 })
	time.Sleep(time.Second)
	got := escalations()
	if len(got) != 3 {
		t.Fatalf("%d escalation notifications, want exactly 3", len(got))
	}
	for i, call := range got {
		if want := levels[i].Targets[0].UserGroup; call.Event.Escalation.Targets[0].UserGroup != want {
			t.Errorf("escalation %d went to %s, want %s", i, call.Event.Escalation.Targets[0].UserGroup, want)
		}
	}
	if posts := rec.For(sent.IncidentID, "Post"); len(posts) != 1 {
		t.Errorf("%d posts, want 1", len(posts))
	}
}

func TestDevServerContinueAsNewAndRefire(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Incident.MaxSignalsPerRun = 10
		m.Config.Incident.NotifyInterval = 0
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	alert := alertFor(t)
	first, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, first.IncidentID)
	for range 24 {
		if _, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alert}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "25 occurrences across runs", func() bool {
		inc := mustGet(t, ic, first.IncidentID)
		return inc.Occurrences == 25 && inc.RunID != first.RunID
	})
	if posts := rec.For(first.IncidentID, "Post"); len(posts) != 1 {
		t.Errorf("%d posts across continue-as-new, want 1", len(posts))
	}

	if _, err := ic.Resolve(ctx, first.IncidentID, workflows.ResolveRequest{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(t, c, first.IncidentID, nil); err != nil {
		t.Fatal(err)
	}
	again, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	if !again.New || again.IncidentID != first.IncidentID {
		t.Fatalf("re-fire = %+v, want a new run of %s", again, first.IncidentID)
	}
	testenv.Eventually(t, 10*time.Second, "the re-fired incident", func() bool {
		inc := mustGet(t, ic, first.IncidentID)
		return inc.Status == incident.StatusOpen && inc.Previous != nil
	})
	inc := mustGet(t, ic, first.IncidentID)
	if inc.Occurrences != 1 || inc.Previous.ID != first.IncidentID || inc.Previous.RunID == inc.RunID {
		t.Errorf("re-fired incident = occurrences %d, previous %+v", inc.Occurrences, inc.Previous)
	}
}

func TestDevServerUnknownIncident(t *testing.T) {
	ic := client.New(testenv.Client(t), "default")
	_, err := ic.Get(context.Background(), "nosuchthing")
	if err == nil || err.Error() != "no incident incident-nosuchthing" || incident.ErrorCode(err) != incident.ENOTFOUND {
		t.Fatalf("err = %v", err)
	}
	_, err = ic.Acknowledge(context.Background(), "nosuchthing", workflows.AcknowledgeRequest{By: "x"})
	if err == nil || err.Error() != "no incident incident-nosuchthing" {
		t.Fatalf("ack err = %v", err)
	}
}

// TestDevServerStormAcrossContinueAsNew: 5,000 single-occurrence signals from
// 50 senders cross several continue-as-new boundaries; every one is counted and
// the announcement ends up showing all of them.
func TestDevServerStormAcrossContinueAsNew(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Incident.NotifyInterval = config.Duration(time.Second)
		m.Config.Incident.MaxSignalsPerRun = 1500
	})
	ic := client.New(c, "default")
	alert := alertFor(t)
	const total, senders = 5000, 50
	first := mustSend(t, ic, alert)
	id := first.IncidentID
	cleanupIncident(t, c, id)
	st := storm(ic, alert, senders, 0, func(sent int) bool { return sent < total-1 })
	if st.failed > 0 {
		t.Errorf("%d sends failed (first: %v); every send should get through", st.failed, st.firstErr)
	}
	waitCounted(t, c, ic, rec, id, 1+st.sent, 30*time.Second)
	if inc := mustGet(t, ic, id); inc.RunID == first.RunID {
		t.Errorf("still in the first run after %d signals; the storm did not cross continue-as-new", 1+st.sent)
	}
	if posts := rec.For(id, "Post"); len(posts) != 1 {
		t.Errorf("%d posts, want 1", len(posts))
	}
}

// stormResult counts the sends of a storm: sent returned nil (a 2xx), failed did not.
type stormResult struct {
	sent, failed int
	firstErr     error
}

// storm sends single occurrences of a from n senders, each waiting pace
// between sends, while more(sends so far) holds (each sender asks before each
// send, so a few more may go out).
func storm(ic *client.Client, a incident.Alert, n int, pace time.Duration, more func(sent int) bool) stormResult {
	var mu sync.Mutex
	var res stormResult
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				goOn := more(res.sent + res.failed)
				mu.Unlock()
				if !goOn {
					return
				}
				_, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: a})
				mu.Lock()
				if err != nil {
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.sent++
				}
				mu.Unlock()
				time.Sleep(pace)
			}
		}()
	}
	wg.Wait()
	return res
}

// waitCounted waits until the incident counts exactly want occurrences and its
// message shows that count. A count above want fails at once: nothing may be
// counted twice. On a timeout it logs every run's tail.
func waitCounted(t *testing.T, c temporalclient.Client, ic *client.Client, rec *testenv.Recorder, id string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// A query waits while a notify holds the workflow task; that is no failure.
		inc, err := ic.Get(context.Background(), id)
		got, shown := inc.Occurrences, rec.Shown(id)
		if err == nil && got > want {
			t.Fatalf("incident counts %d occurrences, but only %d sends returned nil", got, want)
		}
		if err == nil && got == want && shown == want {
			return
		}
		if time.Now().After(deadline) {
			logRuns(t, c, id, 25)
			t.Fatalf("after %s: incident counts %d occurrences (query error: %v) and its message shows %d; %d sends returned nil",
				timeout, got, err, shown, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slowEvents is a notifier whose thread messages take delay (Slack rate
// limits, a slow network): longer than a workflow task, so the notify local
// activity spans several tasks while signals keep arriving.
type slowEvents struct {
	*testenv.Recorder
	delay time.Duration
}

func (n slowEvents) Event(ctx context.Context, ref incident.MessageRef, inc *incident.Incident, ev activities.Event) error {
	select {
	case <-time.After(n.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return n.Recorder.Event(ctx, ref, inc, ev)
}

// gateChecker is a re-scan check that holds every check of one rule until the
// test opens the gate; other rules get "unknown" at once.
type gateChecker struct {
	rule    string
	entered chan struct{}
	open    chan struct{}
}

func newGate(rule string) *gateChecker {
	return &gateChecker{rule: rule, entered: make(chan struct{}, 1), open: make(chan struct{})}
}

func (g *gateChecker) Check(ctx context.Context, a incident.Alert) (incident.Scan, error) {
	if a.Rule != g.rule {
		return activities.UnknownChecker(ctx, a)
	}
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.open:
	case <-ctx.Done():
		return incident.Scan{}, ctx.Err()
	}
	return incident.Scan{State: incident.ScanFiring, Detail: "still firing"}, nil
}

// TestDevServerNothingLostAtContinueAsNew: a run past its signal limit waits
// for a running re-scan; when the re-scan ends, its thread message takes 12 s,
// longer than a workflow task, while a storm goes on. Every occurrence whose
// send returned nil must be counted: released code told that message between
// its last drain and continue-as-new and dropped what arrived meanwhile.
func TestDevServerNothingLostAtContinueAsNew(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	alert := alertFor(t)
	gate := newGate(alert.Rule)
	const limit = 20
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = slowEvents{Recorder: rec, delay: 12 * time.Second}
		m.Default = gate
		m.Config.Incident.MaxSignalsPerRun = limit
		m.Config.Incident.NotifyInterval = config.Duration(time.Second)
		m.Config.Incident.RescanInterval = 0
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	first := mustSend(t, ic, alert)
	id := first.IncidentID
	cleanupIncident(t, c, id)
	testenv.Eventually(t, 10*time.Second, "the announcement", func() bool { return len(rec.For(id, "Post")) == 1 })

	rescanned := make(chan error, 1)
	go func() {
		_, err := ic.Rescan(ctx, id, workflows.RescanRequest{By: "bob"})
		rescanned <- err
	}()
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the re-scan never reached the checker")
	}
	// Past the limit: the run now waits for the re-scan handler to finish.
	for range limit {
		mustSend(t, ic, alert)
	}
	// A storm for 20 s; the gate opens after 1 s, so the re-scan's 12 s message
	// falls at the continue-as-new boundary. About 8 signals a second: fewer than
	// the 100 Temporal buffers while one workflow task is open (past that it
	// fails the task, and the 12 s notify starts over until the storm ends).
	stormEnd := time.Now().Add(20 * time.Second)
	go func() {
		time.Sleep(time.Second)
		close(gate.open)
	}()
	st := storm(ic, alert, 2, 250*time.Millisecond, func(int) bool { return time.Now().Before(stormEnd) })
	if err := <-rescanned; err != nil {
		t.Fatalf("rescan: %v", err)
	}
	t.Logf("storm: %d sends returned nil, %d failed (first: %v)", st.sent, st.failed, st.firstErr)
	waitCounted(t, c, ic, rec, id, 1+limit+st.sent, time.Minute)

	inc := mustGet(t, ic, id)
	if inc.RunID == first.RunID {
		t.Error("the storm never crossed continue-as-new")
	}
	if scans := entries(inc, incident.EntryRescan); len(scans) != 1 {
		t.Errorf("%d re-scans in the timeline, want 1", len(scans))
	}
	// At least once: a notify whose workflow task Temporal refuses (a signal
	// came in as it closed) runs again.
	if told := rec.Events(incident.EntryRescan); len(told) == 0 {
		t.Error("the re-scan's result was never told")
	}
}

// TestDevServerRefireWhileArchiveIsDown: with the archive store failing, a
// re-fire still opens the new linked incident at once; the resolved run's
// record waits in its archive workflow and is written when the store is back.
func TestDevServerRefireWhileArchiveIsDown(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	// A regular file where the archive directory should be: every write fails,
	// retryably, until the test removes it. An S3 outage, on disk.
	down := filepath.Join(t.TempDir(), "archive")
	if err := os.WriteFile(down, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Archive.URL = "file://" + down
		m.Config.Incident.RescanInterval = 0
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	alert := alertFor(t)
	first := mustSend(t, ic, alert)
	id := first.IncidentID
	cleanupIncident(t, c, id)
	testenv.Eventually(t, 10*time.Second, "the announcement", func() bool { return len(rec.For(id, "Post")) == 1 })
	ok(t)(ic.Resolve(ctx, id, workflows.ResolveRequest{By: "alice", Note: "rolled back"}))

	refired := time.Now()
	mustSend(t, ic, alert)
	testenv.Eventually(t, 10*time.Second, "the re-fired incident, linked to the resolved one", func() bool {
		inc, err := ic.Get(ctx, id)
		return err == nil && inc.Status == incident.StatusOpen && inc.Previous != nil && inc.Previous.RunID == first.RunID
	})
	testenv.Eventually(t, 10*time.Second, "the re-fire's announcement", func() bool { return len(rec.For(id, "Post")) == 2 })
	t.Logf("re-fire announced %s after the send, with the archive store down", time.Since(refired).Round(time.Millisecond))

	// The resolved run's record waits in its archive workflow.
	archiveID := workflows.IncidentArchiveWorkflowID(id, first.RunID)
	desc, err := c.DescribeWorkflowExecution(ctx, archiveID, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("archive workflow %s is %s while the store is down, want running", archiveID, st)
	}

	if err := os.Remove(down); err != nil { // the store is back
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var res activities.ArchiveResult
	if err := c.GetWorkflow(wctx, archiveID, "").Get(wctx, &res); err != nil {
		t.Fatalf("archive workflow: %v", err)
	}
	body, err := os.ReadFile(strings.TrimPrefix(res.URL, "file://"))
	if err != nil {
		t.Fatalf("archived record: %v", err)
	}
	var record activities.Record
	if err := json.Unmarshal(body, &record); err != nil {
		t.Fatal(err)
	}
	if record.RunID != first.RunID || record.Status != incident.StatusResolved || record.ResolvedBy != "alice" || record.MTTRSeconds == nil {
		t.Errorf("archived record = run %s, status %s, resolved by %q, mttr %v; want the resolved first run",
			record.RunID, record.Status, record.ResolvedBy, record.MTTRSeconds)
	}
}

// TestDevServerEscalationPagesSNS: an escalation level with an sns_topic
// publishes through the real aws-sdk-go-v2 SNS client (against moto); a topic
// that does not exist is recorded as a failed page and the incident goes on.
func TestDevServerEscalationPagesSNS(t *testing.T) {
	c := testenv.Client(t)
	snsc := sns.NewFromConfig(testenv.AWSConfig(testenv.Moto(t)))
	topic, err := snsc.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("irflow-page-" + fmt.Sprint(time.Now().UnixNano()))})
	if err != nil {
		t.Fatalf("create topic in moto: %v", err)
	}
	missing := "arn:aws:sns:us-east-1:123456789012:no-such-topic"
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{}
		m.SNS = snsc
		m.Config.Incident.RescanInterval = 0
		m.Config.Incident.Escalation.Levels = []config.Level{
			{After: config.Duration(time.Second), Targets: []incident.Target{{UserGroup: "S1", SNSTopic: aws.ToString(topic.TopicArn)}}},
			{After: config.Duration(time.Second), Targets: []incident.Target{{SNSTopic: missing}}},
		}
	})
	ic := client.New(c, "default")
	sent, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alertFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, sent.IncidentID)
	testenv.Eventually(t, 30*time.Second, "both levels paged", func() bool {
		inc := mustGet(t, ic, sent.IncidentID)
		return len(entries(inc, incident.EntryPaged)) == 1 && len(entries(inc, incident.EntryPageFailed)) == 1
	})
	inc := mustGet(t, ic, sent.IncidentID)
	paged := entries(inc, incident.EntryPaged)[0].Text
	if !strings.Contains(paged, aws.ToString(topic.TopicArn)) || strings.Contains(paged, "messages )") {
		t.Errorf("paged entry %q, want the topic and a message ID", paged)
	}
	if failed := entries(inc, incident.EntryPageFailed)[0].Text; !strings.Contains(failed, "topic not found") {
		t.Errorf("failed page entry %q, want topic not found", failed)
	}
	if inc.EscalationLevel != 2 || inc.Status != incident.StatusOpen {
		t.Errorf("incident after pages: level %d, status %s", inc.EscalationLevel, inc.Status)
	}
}
