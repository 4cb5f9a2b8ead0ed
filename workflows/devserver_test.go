package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
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
	var wg sync.WaitGroup
	var id string
	var mu sync.Mutex
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range total / senders {
				r, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				id = r.IncidentID
				mu.Unlock()
			}
			_ = s
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	cleanupIncident(t, c, id)
	shown := func() int { return rec.Shown(id) }
	deadline := time.Now().Add(30 * time.Second)
	for shown() != total {
		if time.Now().After(deadline) {
			logRuns(t, c, id, 25)
			t.Fatalf("announcement shows %d occurrences, want %d (status query: %d)", shown(), total, mustGet(t, ic, id).Occurrences)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if posts := rec.For(id, "Post"); len(posts) != 1 {
		t.Errorf("%d posts, want 1", len(posts))
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
