package workflows_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// noiseEnv gives a test its own env, so its incidents have a correlator of
// their own on the shared dev server.
func noiseEnv(t *testing.T) string {
	return "noise-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + time.Now().Format("150405.000")
}

// correlatingWorker runs the worker with correlation on, as production does.
func correlatingWorker(t *testing.T, rec *testenv.Recorder, edit ...func(*config.Config)) *workerapp.Main {
	c := testenv.Client(t)
	return testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Correlation.Enabled = true
		for _, e := range edit {
			e(&m.Config)
		}
	})
}

func send(t *testing.T, ic *client.Client, a incident.Alert) string {
	t.Helper()
	res, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: a})
	if err != nil {
		t.Fatalf("send %s: %v", a.Rule, err)
	}
	cleanupIncident(t, ic.Temporal, res.IncidentID)
	return res.IncidentID
}

func hasEntry(inc incident.Incident, kind incident.EntryKind, text string) bool {
	return slices.ContainsFunc(inc.Timeline, func(e incident.Entry) bool { return e.Kind == kind && strings.Contains(e.Text, text) })
}

// (a) WAF blocks and 5xx on one service within 10 minutes: both critical,
// each linking the other, the reason in both timelines and threads; the
// same WAF rule on another service stays apart.
func TestDevServerWAFAnd5xxBecomeCriticalAndLinked(t *testing.T) {
	rec := &testenv.Recorder{}
	correlatingWorker(t, rec)
	ic := client.New(testenv.Client(t), "default")
	env := noiseEnv(t)

	waf := send(t, ic, incident.Alert{Source: "rules", Rule: "waf-sqli-burst", Category: "waf", Env: env, Service: "payments", Severity: incident.SeverityHigh})
	other := send(t, ic, incident.Alert{Source: "rules", Rule: "waf-xss-body", Category: "waf", Env: env, Service: "shop", Severity: incident.SeverityMedium})
	fivexx := send(t, ic, incident.Alert{Source: "rules", Rule: "be-5xx-burst-per-namespace", Category: "reliability", Env: env, Service: "payments", Severity: incident.SeverityMedium})

	testenv.Eventually(t, 30*time.Second, "both incidents critical", func() bool {
		return mustGet(t, ic, waf).Severity == incident.SeverityCritical && mustGet(t, ic, fivexx).Severity == incident.SeverityCritical
	})
	w, f := mustGet(t, ic, waf), mustGet(t, ic, fivexx)
	if !slices.Equal(w.Related, []string{fivexx}) || !slices.Equal(f.Related, []string{waf}) {
		t.Errorf("related: WAF %v, 5xx %v; want each other", w.Related, f.Related)
	}
	for _, inc := range []incident.Incident{w, f} {
		if !hasEntry(inc, incident.EntryCorrelated, "raised to critical") || !hasEntry(inc, incident.EntryCorrelated, "payments") {
			t.Errorf("%s timeline does not say why it is critical: %+v", inc.ID, inc.Timeline)
		}
		testenv.Eventually(t, 10*time.Second, "the correlation in the thread", func() bool {
			for _, c := range rec.For(inc.ID, "Event") {
				if c.Event.Kind == incident.EntryCorrelated && strings.Contains(c.Event.Text, "payments") {
					return true
				}
			}
			return false
		})
	}
	if o := mustGet(t, ic, other); o.Severity != incident.SeverityMedium || len(o.Related) != 0 || o.ParentID != "" {
		t.Errorf("the WAF incident on another service was correlated: severity %s, related %v, parent %q", o.Severity, o.Related, o.ParentID)
	}
}

// (b) Three high incidents sharing a source IP within 5 minutes open a
// parent that links them; the correlator keeps its window across a worker
// restart; acknowledging the parent with --children acknowledges them all.
func TestDevServerBurstOpensParentAcrossWorkerRestart(t *testing.T) {
	rec := &testenv.Recorder{}
	w := correlatingWorker(t, rec)
	c := testenv.Client(t)
	ic := client.New(c, "default")
	env := noiseEnv(t)
	alert := func(rule string, sev incident.Severity, ip string) incident.Alert {
		return incident.Alert{Source: "rules", Rule: rule, Category: "security", Env: env, Severity: sev,
			Fields: map[string]any{"source_ip": ip}, QueryKey: map[string]string{"source_ip": ip}}
	}
	const ip = "203.0.113.77"
	a := send(t, ic, alert("login-failures-per-ip", incident.SeverityHigh, ip))
	b := send(t, ic, alert("waf-sqli-burst", incident.SeverityCritical, ip))
	low := send(t, ic, alert("rare-user-per-ip", incident.SeverityLow, ip))
	unrelated := send(t, ic, alert("admin-from-outside", incident.SeverityHigh, "198.51.100.1"))
	corr := workflows.CorrelatorWorkflowID(workflows.CorrelatorScope(incident.CorrelationScopeEnv, incident.Alert{Env: env}))
	cleanupIncident(t, c, corr)
	testenv.Eventually(t, 30*time.Second, "the correlator to hold the four incidents", func() bool {
		var st workflows.CorrelatorStatus
		v, err := c.QueryWorkflow(context.Background(), corr, "", workflows.QueryCorrelator)
		return err == nil && v.Get(&st) == nil && len(st.Window) == 4
	})

	// The worker goes away mid-window; a new one picks the window up.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	correlatingWorker(t, rec)
	third := send(t, ic, alert("many-users-per-ip", incident.SeverityHigh, ip))

	// Right after the restart a query may wait out the old worker's sticky
	// queue and time out: that is "not yet", not a failure.
	parentOf := func(id string) string {
		inc, err := ic.Get(context.Background(), id)
		if err != nil {
			return ""
		}
		return inc.ParentID
	}
	var parent string
	testenv.Eventually(t, 60*time.Second, "every child to name its parent", func() bool {
		pa, pb, pc := parentOf(a), parentOf(b), parentOf(third)
		parent = pa
		return pa != "" && pa == pb && pb == pc
	})
	cleanupIncident(t, c, parent)
	testenv.Eventually(t, 30*time.Second, "the parent to list its three children", func() bool {
		inc, err := ic.Get(context.Background(), parent)
		return err == nil && len(inc.Children) == 3
	})
	p := mustGet(t, ic, parent)
	if want := []string{a, b, third}; !sameSet(p.Children, want) {
		t.Errorf("parent children %v, want %v", p.Children, want)
	}
	if p.Alert.Source != incident.SourceCorrelator || !strings.Contains(p.Title(), ip) || p.Severity != incident.SeverityCritical {
		t.Errorf("parent: source %q, title %q, severity %s; want irflow, naming %s, critical (its worst child)", p.Alert.Source, p.Title(), p.Severity, ip)
	}
	for _, id := range []string{low, unrelated} {
		if inc := mustGet(t, ic, id); inc.ParentID != "" {
			t.Errorf("%s (%s) joined parent %s", id, inc.Alert.Rule, inc.ParentID)
		}
	}

	_, kids, err := ic.AcknowledgeWithChildren(context.Background(), parent, workflows.AcknowledgeRequest{By: "cli:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 3 {
		t.Fatalf("%d children acknowledged, want 3", len(kids))
	}
	for _, k := range kids {
		if k.Err != nil || k.Incident.AcknowledgedBy != "cli:alice" {
			t.Errorf("child %s: %v, acknowledged by %q", k.ID, k.Err, k.Incident.AcknowledgedBy)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A silenced incident is opened and counted but not announced and not
// escalated; when the silence ends it is announced, and escalation starts
// from then. An early expiry announces at once.
func TestDevServerSilenceHoldsThenAnnounces(t *testing.T) {
	rec := &testenv.Recorder{}
	correlatingWorker(t, rec, func(cfg *config.Config) {
		cfg.Incident.Escalation.Levels = []config.Level{{After: config.Duration(2 * time.Second), Targets: []incident.Target{{Channel: "#oncall"}}}}
	})
	ic := client.New(testenv.Client(t), "default")
	ctx := context.Background()
	env := noiseEnv(t)

	s, err := ic.AddSilence(ctx, workflows.AddSilenceRequest{Matchers: []string{"env=" + env, "rule=~db-.*"},
		EndsAt: time.Now().Add(6 * time.Second), Comment: "db maintenance", By: "cli:alice"})
	if err != nil {
		t.Fatal(err)
	}
	long, err := ic.AddSilence(ctx, workflows.AddSilenceRequest{Matchers: []string{"env=" + env, "rule=cache-evictions"},
		EndsAt: time.Now().Add(time.Hour), By: "cli:alice"})
	if err != nil {
		t.Fatal(err)
	}
	db := incident.Alert{Source: "rules", Rule: "db-replica-lag", Env: env, Severity: incident.SeverityHigh}
	id := send(t, ic, db)
	send(t, ic, db)
	cache := send(t, ic, incident.Alert{Source: "rules", Rule: "cache-evictions", Env: env, Severity: incident.SeverityHigh})
	loud := send(t, ic, incident.Alert{Source: "rules", Rule: "disk-full", Env: env, Severity: incident.SeverityHigh})

	testenv.Eventually(t, 10*time.Second, "two occurrences counted while silenced", func() bool {
		inc := mustGet(t, ic, id)
		return inc.Occurrences == 2 && inc.SilencedBy == s.ID
	})
	testenv.Eventually(t, 10*time.Second, "the unsilenced incident announced", func() bool { return len(rec.For(loud, "Post")) == 1 })
	if n := len(rec.For(id, "Post")); n != 0 {
		t.Fatalf("silenced incident posted %d times while silenced", n)
	}
	if inc := mustGet(t, ic, id); inc.EscalationLevel != 0 {
		t.Errorf("silenced incident escalated to level %d", inc.EscalationLevel)
	}

	testenv.Eventually(t, 15*time.Second, "the announcement when the silence ends", func() bool { return len(rec.For(id, "Post")) == 1 })
	inc := mustGet(t, ic, id)
	if inc.SilencedBy != "" || !hasEntry(inc, incident.EntryUnsilenced, s.ID) || !hasEntry(inc, incident.EntrySilenced, "db maintenance") {
		t.Errorf("after the silence: silenced_by %q, timeline %+v", inc.SilencedBy, inc.Timeline)
	}
	if p := rec.For(id, "Post")[0]; p.Occurrences != 2 {
		t.Errorf("announcement shows %d occurrences, want 2", p.Occurrences)
	}
	testenv.Eventually(t, 15*time.Second, "escalation after the announcement", func() bool { return mustGet(t, ic, id).EscalationLevel == 1 })

	// The hour-long silence expired by hand: announced at once.
	if n := len(rec.For(cache, "Post")); n != 0 {
		t.Fatalf("cache incident posted %d times under its silence", n)
	}
	if _, err := ic.ExpireSilence(ctx, long.ID, "cli:bob"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the announcement after expiry", func() bool { return len(rec.For(cache, "Post")) == 1 })
}

// A maintenance window open now holds matching incidents; one that is over,
// or not yet begun, does not.
func TestDevServerMaintenanceWindow(t *testing.T) {
	rec := &testenv.Recorder{}
	now := time.Now().UTC()
	window := func(name, env string, start time.Time) config.MaintenanceWindow {
		return config.MaintenanceWindow{Name: name, Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
			Start: start.Format("15:04"), Duration: config.Duration(30 * time.Minute), TimeZone: "UTC", Match: []string{"env=" + env}}
	}
	envNow, envPast, envLater := noiseEnv(t)+"-now", noiseEnv(t)+"-past", noiseEnv(t)+"-later"
	correlatingWorker(t, rec, func(cfg *config.Config) {
		cfg.Silences.MaintenanceWindows = []config.MaintenanceWindow{
			window("patching", envNow, now.Add(-10*time.Minute)),
			window("over", envPast, now.Add(-2*time.Hour)),
			window("tonight", envLater, now.Add(2*time.Hour)),
		}
	})
	ic := client.New(testenv.Client(t), "default")
	held := send(t, ic, incident.Alert{Source: "rules", Rule: "node-reboot", Env: envNow, Severity: incident.SeverityHigh})
	past := send(t, ic, incident.Alert{Source: "rules", Rule: "node-reboot", Env: envPast, Severity: incident.SeverityHigh})
	later := send(t, ic, incident.Alert{Source: "rules", Rule: "node-reboot", Env: envLater, Severity: incident.SeverityHigh})
	testenv.Eventually(t, 10*time.Second, "the incidents outside their windows announced", func() bool {
		return len(rec.For(past, "Post")) == 1 && len(rec.For(later, "Post")) == 1
	})
	inc := mustGet(t, ic, held)
	if inc.SilencedBy != "maintenance:patching" || len(rec.For(held, "Post")) != 0 {
		t.Errorf("in the window: silenced_by %q, %d posts; want maintenance:patching and none", inc.SilencedBy, len(rec.For(held, "Post")))
	}
}
