package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// digestProcessStart is before the dev server started: every incident
// workflow on it opened later, so a window ending earlier holds archived
// records only.
var digestProcessStart = time.Now().UTC()

// digestWorker runs the real worker with an S3 archive (gofakes3) and
// returns the store it archives to and what its console printed.
func digestWorker(t *testing.T, c temporalclient.Client, edit func(*workerapp.Main)) (activities.S3Store, *testenv.Buffer) {
	s3c, endpoint := testenv.S3(t, "irflow-archive")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	console := &testenv.Buffer{}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{} // no digest poster: the digest goes to the console
		m.Console = console
		m.Config.Archive.URL = "s3://irflow-archive/incidents"
		m.Config.Archive.S3.Endpoint = endpoint
		if edit != nil {
			edit(m)
		}
	})
	return activities.S3Store{Client: s3c, Bucket: "irflow-archive", Prefix: "incidents"}, console
}

// runDigest runs DigestWorkflow on the dev server and returns its result.
func runDigest(t *testing.T, c temporalclient.Client, in workflows.DigestInput) workflows.DigestResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{
		ID: workflows.DigestRunWorkflowID(time.Now()), TaskQueue: workflows.TaskQueue,
	}, workflows.DigestWorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.DigestResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("digest workflow: %v", err)
	}
	return res
}

// The digest the issue asks for: a day of archived incidents with known
// figures, read back from S3 by the worker's digest, exact numbers out.
func TestDevServerDigestOfArchivedIncidents(t *testing.T) {
	c := testenv.Client(t)
	store, console := digestWorker(t, c, nil)
	to := digestProcessStart.Add(-time.Minute).Truncate(time.Minute)
	from := to.Add(-24 * time.Hour)
	at := func(d time.Duration) time.Time { return from.Add(d) }
	type spec struct {
		id, run, rule, category string
		sev                     incident.Severity
		occ                     int
		opened, ack, resolved   time.Duration
		ackBy, silenced         string
		children, related       []string
		previous                bool
	}
	specs := []spec{
		{id: "r1", run: "run1", rule: "waf-sqli", category: "waf", sev: incident.SeverityCritical, occ: 40, opened: time.Hour, ack: time.Hour + 2*time.Minute, ackBy: "alice", resolved: 2 * time.Hour},
		{id: "r2", run: "run2", rule: "waf-sqli", category: "waf", sev: incident.SeverityHigh, occ: 20, opened: 3 * time.Hour, ack: 3*time.Hour + 5*time.Minute, ackBy: "bob", resolved: 5 * time.Hour, related: []string{"incident-r3"}},
		{id: "r3", run: "run3", rule: "be-5xx", category: "5xx", sev: incident.SeverityHigh, occ: 30, opened: 4 * time.Hour, ack: 4*time.Hour + 10*time.Minute, ackBy: "bob", resolved: 4*time.Hour + 30*time.Minute, related: []string{"incident-r2"}},
		{id: "r4", run: "run4", rule: "be-5xx", category: "5xx", sev: incident.SeverityMedium, occ: 10, opened: 6 * time.Hour, resolved: 6*time.Hour + 20*time.Minute},
		// Resolved 30 s after the window: open and held by carol at its end.
		{id: "r5", run: "run5", rule: "login-fail", category: "security", sev: incident.SeverityMedium, occ: 5, opened: 10 * time.Hour, ack: 10*time.Hour + time.Minute, ackBy: "carol", resolved: 24*time.Hour + 30*time.Second},
		{id: "r6", run: "run6", rule: "waf-burst", category: "waf", sev: incident.SeverityCritical, occ: 5, opened: 2*time.Hour + 30*time.Minute, ack: 2*time.Hour + 40*time.Minute, ackBy: "dave", resolved: 20 * time.Hour, children: []string{"incident-r1", "incident-r2"}},
		{id: "r7", run: "run7", rule: "fe-4xx", category: "4xx", sev: incident.SeverityLow, occ: 2, opened: 13 * time.Hour, resolved: 14 * time.Hour, silenced: "maint-42"},
		// Opened before the window.
		{id: "r8", run: "run8", rule: "old", sev: incident.SeverityHigh, occ: 9, opened: -2 * time.Hour, resolved: time.Hour},
		// A re-fire of r1: same ID, a run of its own.
		{id: "r1", run: "run9", rule: "waf-sqli", category: "waf", sev: incident.SeverityCritical, occ: 3, opened: 8 * time.Hour, resolved: 9 * time.Hour, previous: true},
	}
	archive := &activities.Archive{Store: store}
	for _, s := range specs {
		inc := incident.Incident{
			ID: "incident-" + s.id, RunID: s.run, Fingerprint: s.id, Severity: s.sev, Status: incident.StatusResolved, Occurrences: s.occ,
			Alert:    incident.Alert{Source: "rules", Rule: s.rule, Category: s.category, Title: s.rule + " " + s.id},
			OpenedAt: at(s.opened), ResolvedAt: at(s.resolved), ResolvedBy: "someone", UpdatedAt: at(s.resolved),
			SilencedBy: s.silenced, Children: s.children, Related: s.related,
		}
		if s.ack != 0 {
			inc.AcknowledgedAt, inc.AcknowledgedBy = at(s.ack), s.ackBy
		}
		if s.previous {
			inc.Previous = &incident.RunRef{ID: inc.ID, RunID: "run1"}
		}
		if _, err := archive.ArchiveIncident(context.Background(), activities.ArchiveInput{Incident: inc, At: inc.ResolvedAt}); err != nil {
			t.Fatal(err)
		}
	}

	res := runDigest(t, c, workflows.DigestInput{To: to, Since: 24 * time.Hour, DryRun: true})
	d := res.Digest
	// By hand: 8 incidents of the window (r8 opened before it), 115 alerts.
	// MTTA of r1 r2 r3 r4 r5 r6 r9 (r7 silenced) = 2m 5m 10m 20m 1m 10m 1h,
	// sorted 1m 2m 5m 10m 10m 20m 1h: p50 = 4th = 10m, p90 = ceil(6.3) = 7th = 1h.
	// MTTR of r1 r2 r3 r4 r6 r9 (r5 after the window) = 1h 2h 30m 20m 17h30m 1h,
	// sorted 20m 30m 1h 1h 2h 17h30m: p50 = 3rd = 1h, p90 = ceil(5.4) = 6th = 17h30m.
	if d.Headline() != "115 alerts → 8 incidents (14.4:1)" || d.AlertsIn != 115 || d.IncidentsOpened != 8 || d.Announced != 7 || d.LeftOut != 0 {
		t.Errorf("headline %q: %d alerts, %d opened, %d announced, %d left out", d.Headline(), d.AlertsIn, d.IncidentsOpened, d.Announced, d.LeftOut)
	}
	if want := (incident.Percentiles{N: 7, P50: incident.Seconds(10 * time.Minute), P90: incident.Seconds(time.Hour)}); d.MTTA != want {
		t.Errorf("MTTA = %+v, want %+v", d.MTTA, want)
	}
	if want := (incident.Percentiles{N: 6, P50: incident.Seconds(time.Hour), P90: incident.Seconds(17*time.Hour + 30*time.Minute)}); d.MTTR != want {
		t.Errorf("MTTR = %+v, want %+v", d.MTTR, want)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"by severity", d.BySeverity, []incident.Count{{Name: "critical", Incidents: 3, Alerts: 48}, {Name: "high", Incidents: 2, Alerts: 50}, {Name: "medium", Incidents: 2, Alerts: 15}, {Name: "low", Incidents: 1, Alerts: 2}}},
		{"by category", d.ByCategory, []incident.Count{{Name: "waf", Incidents: 4, Alerts: 68}, {Name: "5xx", Incidents: 2, Alerts: 40}, {Name: "security", Incidents: 1, Alerts: 5}, {Name: "4xx", Incidents: 1, Alerts: 2}}},
		{"noisiest rules", d.NoisiestRules, []incident.Count{{Name: "waf-sqli", Incidents: 3, Alerts: 63}, {Name: "be-5xx", Incidents: 2, Alerts: 40}, {Name: "login-fail", Incidents: 1, Alerts: 5}, {Name: "waf-burst", Incidents: 1, Alerts: 5}, {Name: "fe-4xx", Incidents: 1, Alerts: 2}}},
		{"correlations", d.Correlations, incident.Correlations{Parents: 1, Children: 2, Pairs: 1}},
		{"silenced", d.Silenced, []incident.SilenceCount{{Silence: "maint-42", Incidents: 1, Alerts: 2}}},
		{"still open", d.StillOpen, []incident.OpenIncident{{ID: "incident-r5", Title: "login-fail r5", Severity: incident.SeverityMedium,
			Status: incident.StatusAcknowledged, HeldBy: "carol", OpenedAt: at(10 * time.Hour), Age: incident.Seconds(14 * time.Hour)}}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	if !strings.Contains(res.Markdown, "| MTTR | 6 | 1h | 17h30m |") || res.Channel != "" || len(res.ArchiveURLs) != 0 {
		t.Errorf("dry run: channel %q, archive %v, markdown:\n%s", res.Channel, res.ArchiveURLs, res.Markdown)
	}

	// Published, the same digest goes to the console (no Slack in this
	// worker) and to the archive beside the incidents.
	res = runDigest(t, c, workflows.DigestInput{To: to, Since: 24 * time.Hour})
	key := activities.DigestKey(to, "md")
	if res.Channel != "#security-digest" || !reflect.DeepEqual(res.ArchiveURLs, []string{
		"s3://irflow-archive/incidents/" + activities.DigestKey(to, "json"), "s3://irflow-archive/incidents/" + key}) {
		t.Errorf("published to %q, saved %v", res.Channel, res.ArchiveURLs)
	}
	if !strings.Contains(console.String(), "📊 digest → #security-digest\n"+res.Markdown) {
		t.Errorf("console:\n%s", console.String())
	}
	obj, err := store.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("irflow-archive"), Key: aws.String("incidents/" + key)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	if string(body) != res.Markdown {
		t.Errorf("archived markdown:\n%s\nwant:\n%s", body, res.Markdown)
	}
	js, err := store.Get(context.Background(), activities.DigestKey(to, "json"))
	var saved incident.Digest
	if err != nil || json.Unmarshal(js, &saved) != nil || saved.Headline() != d.Headline() || saved.MTTR != d.MTTR {
		t.Errorf("archived JSON %s (%v)", js, err)
	}
}

// The digest of incidents the worker is running now: each incident once
// across continue-as-new, a resolved incident once though Temporal and the
// archive both have it, a re-fire counted apart.
func TestDevServerDigestOfLiveIncidents(t *testing.T) {
	c := testenv.Client(t)
	digestWorker(t, c, func(m *workerapp.Main) {
		m.Config.Incident.MaxSignalsPerRun = 10 // the storm continues as new twice
		m.Config.Incident.NotifyInterval = 0
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	start := time.Now().UTC()
	// Medium and low, no service or IP: nothing here for the correlator.
	alert := func(rule string, sev incident.Severity, key string) incident.Alert {
		a := incident.Alert{Source: "digest-test", Rule: "dev " + t.Name() + " " + rule, Severity: sev, Category: "digest-test"}
		if key != "" {
			a.QueryKey = map[string]string{"k": key}
		}
		return a
	}
	send := func(a incident.Alert, n int) string {
		t.Helper()
		var id string
		for range n {
			id = mustSend(t, ic, a).IncidentID
		}
		cleanupIncident(t, c, id)
		return id
	}
	storm := send(alert("storm", incident.SeverityMedium, ""), 25)
	keyedA := send(alert("keyed", incident.SeverityLow, "a"), 2)
	keyedB := send(alert("keyed", incident.SeverityLow, "b"), 1)
	refire := send(alert("refire", incident.SeverityMedium, ""), 1)
	testenv.Eventually(t, 30*time.Second, "every occurrence folded in", func() bool {
		return mustGet(t, ic, storm).Occurrences == 25 && mustGet(t, ic, keyedA).Occurrences == 2 &&
			mustGet(t, ic, keyedB).Occurrences == 1 && mustGet(t, ic, refire).Occurrences == 1
	})
	if _, err := ic.Acknowledge(ctx, storm, workflows.AcknowledgeRequest{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Resolve(ctx, refire, workflows.ResolveRequest{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	var first workflows.IncidentResult
	if err := waitClosed(t, c, refire, &first); err != nil || first.Incident.ArchiveURL == "" {
		t.Fatalf("resolved incident: %v, archived at %q", err, first.Incident.ArchiveURL)
	}
	send(alert("refire", incident.SeverityMedium, ""), 1) // a new run: a new incident
	testenv.Eventually(t, 10*time.Second, "the re-fired incident", func() bool {
		inc := mustGet(t, ic, refire)
		return inc.Status == incident.StatusOpen && inc.Previous != nil
	})
	if runs := runsOf(t, c, storm); len(runs) < 3 {
		t.Fatalf("the storm ran in %d runs, want continue-as-new at least twice", len(runs))
	}

	// Visibility settles a moment after the last start; wait for all five.
	var d incident.Digest
	to := time.Now().UTC()
	deadline := time.Now().Add(20 * time.Second)
	for d.IncidentsOpened != 5 && time.Now().Before(deadline) {
		d = runDigest(t, c, workflows.DigestInput{To: to, Since: to.Sub(start), DryRun: true}).Digest
	}
	if d.Headline() != "30 alerts → 5 incidents (6.0:1)" || d.Announced != 5 || d.LeftOut != 0 {
		t.Errorf("headline %q, %d announced, %d left out; want 30 alerts → 5 incidents, all announced", d.Headline(), d.Announced, d.LeftOut)
	}
	rule := func(s string) string { return "dev " + t.Name() + " " + s }
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"by severity", d.BySeverity, []incident.Count{{Name: "medium", Incidents: 3, Alerts: 27}, {Name: "low", Incidents: 2, Alerts: 3}}},
		{"by rule", d.ByRule, []incident.Count{{Name: rule("keyed"), Incidents: 2, Alerts: 3}, {Name: rule("refire"), Incidents: 2, Alerts: 2}, {Name: rule("storm"), Incidents: 1, Alerts: 25}}},
		{"response counts", []int{d.MTTA.N, d.MTTR.N}, []int{2, 1}}, // storm acknowledged; refire resolved (no ack: MTTA = MTTR)
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	// Still open: ours, as they stand (other tests' incidents opened earlier).
	var open []string
	for _, o := range d.StillOpen {
		if !o.OpenedAt.Before(start) {
			open = append(open, fmt.Sprintf("%s %s %s", o.ID, o.Status, o.HeldBy))
		}
	}
	want := []string{storm + " acknowledged alice", refire + " open nobody", keyedA + " open nobody", keyedB + " open nobody"}
	if !reflect.DeepEqual(open, want) {
		t.Errorf("still open = %q\nwant %q", open, want)
	}
}
