package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// correlatorHarness stands in for the incidents a correlator signals and
// for the incident client that opens parents (behind the real OpenParent).
type correlatorHarness struct {
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	told    map[string][]workflows.Correlation // by incident ID, in order
	parents []incident.Alert
	gone    map[string]bool // incidents whose workflow has closed
}

// newCorrelatorHarness registers what the worker registers; each signal to
// an incident takes signalTime on the workflow's clock, if given.
func newCorrelatorHarness(s *testsuite.WorkflowTestSuite, signalTime ...time.Duration) *correlatorHarness {
	s.SetLogger(testenv.QuietLogger())
	h := &correlatorHarness{told: map[string][]workflows.Correlation{}, gone: map[string]bool{}}
	h.env = s.NewTestWorkflowEnvironment()
	workerapp.Register(h.env, workerapp.Deps{Correlation: &activities.Correlation{Send: h.send}})
	call := h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", workflows.SignalCorrelated, mock.Anything).Return(
		func(_, id, _, _ string, arg any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.gone[id] {
				return errors.New("workflow execution already completed")
			}
			h.told[id] = append(h.told[id], arg.(workflows.Correlation))
			return nil
		})
	if len(signalTime) > 0 {
		call.After(signalTime[0])
	}
	return h
}

func (h *correlatorHarness) send(_ context.Context, a incident.Alert) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.parents = append(h.parents, a)
	return nil
}

// report signals an incident's report at offset d, opened then.
func (h *correlatorHarness) report(d time.Duration, id string, a incident.Alert) {
	h.reportAs(d, id, a, a.Severity, incident.StatusOpen)
}

func (h *correlatorHarness) reportAs(d time.Duration, id string, a incident.Alert, sev incident.Severity, st incident.Status) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalCorrelatorReport, workflows.CorrelatorReport{
			IncidentID: id, Alert: a, Severity: sev, Status: st, OpenedAt: h.env.Now(),
		})
	}, d)
}

// run runs the correlator until it continues as new after maxReports
// reports and returns what it carries.
func (h *correlatorHarness) run(t *testing.T, in workflows.CorrelatorInput, maxReports int) workflows.CorrelatorInput {
	t.Helper()
	in.MaxReportsPerRun = maxReports
	h.env.ExecuteWorkflow(workflows.CorrelatorWorkflowName, in)
	var can *workflow.ContinueAsNewError
	if !h.env.IsWorkflowCompleted() || !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("correlator did not continue as new: completed %v, error %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	var next workflows.CorrelatorInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	return next
}

// shippedRules are the correlation defaults a worker runs with.
func shippedRules() workflows.CorrelatorInput {
	cfg := config.Default()
	return workflows.CorrelatorInput{Scope: "env-prod", Rules: cfg.Correlation.Rules()}
}

var (
	wafBlocks = incident.Alert{Source: "rules", Rule: "waf-sqli-burst", Env: "prod", Category: "waf", Service: "payments", Severity: incident.SeverityMedium}
	payments5 = incident.Alert{Source: "alertmanager", Rule: "HTTP5xxRate", Env: "prod", Category: "5xx", Service: "payments", Severity: incident.SeverityHigh}
)

// WAF blocks and 5xx on one service within 10 minutes: both are told once,
// critical, each with the other's ID and the reason; incidents on another
// service are not.
func TestCorrelatorPairsWAFBlocksAnd5xx(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	checkout5 := payments5
	checkout5.Service = "checkout"
	h.report(time.Minute, "incident-waf", wafBlocks)
	h.report(2*time.Minute, "incident-checkout-5xx", checkout5)
	h.report(5*time.Minute, "incident-payments-5xx", payments5)
	// Raised by the pair, both report their new severity: told once only.
	h.reportAs(6*time.Minute, "incident-waf", wafBlocks, incident.SeverityCritical, incident.StatusOpen)
	h.reportAs(6*time.Minute, "incident-payments-5xx", payments5, incident.SeverityCritical, incident.StatusOpen)
	next := h.run(t, shippedRules(), 5)

	reason := "WAF blocks (incident-waf) and 5xx (incident-payments-5xx) on service payments within 4m"
	for id, other := range map[string]string{"incident-waf": "incident-payments-5xx", "incident-payments-5xx": "incident-waf"} {
		got := h.told[id]
		if len(got) != 1 {
			t.Fatalf("%s told %d times, want exactly once: %+v", id, len(got), got)
		}
		c := got[0]
		if c.Kind != workflows.CorrelationPair || c.Rule != "waf-5xx" || c.Severity != incident.SeverityCritical ||
			!reflect.DeepEqual(c.Related, []string{other}) || c.Reason != reason || c.ParentID != "" || len(c.Children) != 0 {
			t.Errorf("%s told %+v\nwant a critical waf-5xx pair related to %s because %q", id, c, other, reason)
		}
	}
	if n := len(h.told["incident-checkout-5xx"]); n != 0 {
		t.Errorf("the 5xx on another service was told %d times, want never", n)
	}
	if len(h.told) != 2 || len(h.parents) != 0 {
		t.Errorf("told %d incidents and opened %d parents, want 2 and 0", len(h.told), len(h.parents))
	}
	if next.Carried == nil || len(next.Carried.Window) != 3 || len(next.Carried.Told) != 1 || next.Carried.Pairs != 1 || next.Carried.Reports != 5 {
		t.Errorf("carried = %+v, want 3 incidents, 1 told pair, 1 pair, 5 reports", next.Carried)
	}
}

// Unrelated alerts stay separate.
func TestCorrelatorLeavesUnrelatedAlone(t *testing.T) {
	noService := payments5
	noService.Service = ""
	checkout5 := payments5
	checkout5.Service = "checkout"
	fourxx := payments5
	fourxx.Category, fourxx.Rule = "4xx", "HTTP4xxRate"
	both := []string{"incident-waf", "incident-second"}
	for _, tc := range []struct {
		name    string
		second  incident.Alert
		after   time.Duration
		tracked []string
	}{
		// The longest window is 10m: the WAF incident has aged out.
		{"11 minutes apart", payments5, 11 * time.Minute, []string{"incident-second"}},
		{"another service", checkout5, 4 * time.Minute, both},
		{"no service", noService, 4 * time.Minute, both},
		{"4xx is not 5xx", fourxx, 4 * time.Minute, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			h := newCorrelatorHarness(&s)
			h.report(time.Minute, "incident-waf", wafBlocks)
			h.report(time.Minute+tc.after, "incident-second", tc.second)
			next := h.run(t, shippedRules(), 2)
			if len(h.told) != 0 || len(h.parents) != 0 {
				t.Errorf("told %+v, opened parents %+v; want nothing", h.told, h.parents)
			}
			if next.Carried.Pairs != 0 {
				t.Errorf("carried %d pairs, want 0", next.Carried.Pairs)
			}
			if ids := trackedIDs(next.Carried); !reflect.DeepEqual(ids, tc.tracked) {
				t.Errorf("tracked %v, want %v", ids, tc.tracked)
			}
		})
	}
}

var (
	ip     = "203.0.113.7"
	sqli   = incident.Alert{Source: "rules", Rule: "waf-sqli-burst", Env: "prod", Category: "waf", Severity: incident.SeverityHigh, QueryKey: map[string]string{"source_ip": ip}}
	logins = incident.Alert{Source: "rules", Rule: "login-failures-per-ip", Env: "prod", Category: "auth", Severity: incident.SeverityCritical,
		Fields: map[string]any{"client": map[string]any{"ip": ip}}}
	admin = incident.Alert{Source: "elastalert", Rule: "admin-from-outside", Env: "prod", Category: "security", Severity: incident.SeverityHigh,
		QueryKey: map[string]string{"src_ip": ip}}
	lfi = incident.Alert{Source: "rules", Rule: "waf-lfi-rfi", Env: "prod", Category: "waf", Severity: incident.SeverityHigh,
		Fields: map[string]any{"httpRequest.clientIp": ip}}
)

// Three high-or-worse incidents from one IP within 5 minutes open one parent
// that links them; a fourth joins it; a low one and the parent's own report
// do not.
func TestCorrelatorOpensParentOverBurst(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	start := h.env.Now()
	h.report(time.Minute, "incident-sqli", sqli)
	h.report(2*time.Minute, "incident-logins", logins)
	h.report(4*time.Minute, "incident-admin", admin)
	wantParent := incident.Alert{
		Source: "irflow", Rule: "correlation:related-burst", Env: "prod", Category: "correlation",
		Severity: incident.SeverityCritical,
		Title:    "3 related incidents: source_ip=203.0.113.7",
		Summary:  "3 incidents of high or worse within 3m share source_ip 203.0.113.7: incident-sqli, incident-logins, incident-admin",
		QueryKey: map[string]string{"source_ip": ip},
		Time:     start.Add(4 * time.Minute).UTC(),
	}
	parentID := incident.ID(incident.Fingerprint(wantParent))
	var status workflows.CorrelatorStatus
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(workflows.QueryCorrelator)
		if err == nil {
			err = v.Get(&status)
		}
		if err != nil {
			t.Error(err)
		}
	}, 4*time.Minute+time.Second)
	// The parent reports like any incident, with the IP as its query key.
	h.report(5*time.Minute, parentID, wantParent)
	low := sqli
	low.Rule, low.Severity = "waf-xss-body", incident.SeverityLow
	h.report(6*time.Minute, "incident-low", low)
	h.report(7*time.Minute, "incident-lfi", lfi)
	h.run(t, shippedRules(), 6)

	if len(h.parents) != 1 {
		t.Fatalf("opened %d parents, want exactly 1: %+v", len(h.parents), h.parents)
	}
	// Times compare with Equal; the rest exactly.
	got0, want0 := h.parents[0], wantParent
	if !got0.Time.Equal(want0.Time) {
		t.Errorf("parent time %s, want %s (the third incident's report)", got0.Time, want0.Time)
	}
	got0.Time, want0.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got0, want0) {
		t.Fatalf("opened parent %+v\nwant %+v", got0, want0)
	}
	children := []string{"incident-sqli", "incident-logins", "incident-admin"}
	got := h.told[parentID]
	if len(got) != 2 {
		t.Fatalf("parent told %d times, want 2 (opened, joined): %+v", len(got), got)
	}
	if c := got[0]; c.Kind != workflows.CorrelationParent || c.Rule != "related-burst" || !reflect.DeepEqual(c.Children, children) ||
		c.Severity != incident.SeverityCritical || c.Reason != "3 related incidents share source_ip 203.0.113.7 within 3m" {
		t.Errorf("parent told %+v, want the 3 children", c)
	}
	if c := got[1]; c.Kind != workflows.CorrelationParent || !reflect.DeepEqual(c.Children, []string{"incident-lfi"}) {
		t.Errorf("parent then told %+v, want incident-lfi added", c)
	}
	for i, id := range append(children, "incident-lfi") {
		n := 3
		if i == 3 {
			n = 4
		}
		want := workflows.Correlation{
			Kind: workflows.CorrelationChild, Rule: "related-burst", ParentID: parentID,
			Reason: fmt.Sprintf("one of %d related incidents sharing source_ip 203.0.113.7 (parent %s)", n, parentID),
		}
		if c := h.told[id]; len(c) != 1 || c[0].Kind != want.Kind || c[0].ParentID != want.ParentID || c[0].Reason != want.Reason || c[0].Severity != incident.SeverityUnknown {
			t.Errorf("%s told %+v, want once %+v", id, c, want)
		}
	}
	if n := len(h.told["incident-low"]); n != 0 {
		t.Errorf("the low incident was told %d times, want never", n)
	}
	if len(h.told) != 5 {
		t.Errorf("told %d incidents, want 5 (parent, 4 children)", len(h.told))
	}
	if len(status.Bursts) != 1 || status.Bursts[0].ParentID != parentID || status.Bursts[0].Count != 3 || status.Parents != 1 {
		t.Errorf("query after the burst = %+v, want one open burst of 3 under %s", status.CorrelatorState, parentID)
	}
}

// Two high and one low never make a burst, and the parent-looking report of
// irflow's own making never counts as the third.
func TestCorrelatorBurstNeedsThreeHigh(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	low := sqli
	low.Rule, low.Severity = "waf-xss-body", incident.SeverityLow
	parentLike := incident.Alert{Source: "irflow", Rule: "correlation:related-burst", Env: "prod", Severity: incident.SeverityCritical,
		QueryKey: map[string]string{"source_ip": ip}}
	h.report(time.Minute, "incident-sqli", sqli)
	h.report(2*time.Minute, "incident-low", low)
	h.report(3*time.Minute, "incident-parent", parentLike)
	h.report(4*time.Minute, "incident-admin", admin)
	next := h.run(t, shippedRules(), 4)
	if len(h.parents) != 0 || len(h.told) != 0 {
		t.Errorf("opened %+v and told %+v, want nothing", h.parents, h.told)
	}
	if ids := trackedIDs(next.Carried); !reflect.DeepEqual(ids, []string{"incident-sqli", "incident-low", "incident-admin"}) {
		t.Errorf("tracked %v, want the three incidents and not the parent", ids)
	}
}

// A resolved parent frees its children: the next related incident opens
// the burst's parent again (the same ID: a re-fire) over all of them.
func TestCorrelatorResolvedParentFreesChildren(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	h.report(time.Minute, "incident-sqli", sqli)
	h.report(2*time.Minute, "incident-logins", logins)
	h.report(3*time.Minute, "incident-admin", admin)
	var parent incident.Alert
	h.env.RegisterDelayedCallback(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.parents) == 1 {
			parent = h.parents[0]
		}
	}, 3*time.Minute+time.Second)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalCorrelatorReport, workflows.CorrelatorReport{
			IncidentID: incident.ID(incident.Fingerprint(parent)), Alert: parent, Severity: parent.Severity,
			Status: incident.StatusResolved, OpenedAt: h.env.Now().Add(-time.Minute),
		})
	}, 4*time.Minute)
	h.report(5*time.Minute, "incident-lfi", lfi)
	next := h.run(t, shippedRules(), 5)

	if len(h.parents) != 2 {
		t.Fatalf("opened %d parents, want 2: %+v", len(h.parents), h.parents)
	}
	id := incident.ID(incident.Fingerprint(parent))
	if again := h.parents[1]; incident.ID(incident.Fingerprint(again)) != id || again.Title != "4 related incidents: source_ip=203.0.113.7" {
		t.Errorf("second parent %+v, want %s again over 4 incidents", again, id)
	}
	if c := h.told[id]; len(c) != 2 || len(c[1].Children) != 4 {
		t.Errorf("parent told %+v, want twice, the second time with 4 children", c)
	}
	if len(next.Carried.Bursts) != 1 || next.Carried.Bursts[0].Count != 4 || next.Carried.Parents != 2 {
		t.Errorf("carried bursts %+v, parents %d; want one open burst of 4 after 2 parents", next.Carried.Bursts, next.Carried.Parents)
	}
}

// max_tracked caps the window, oldest out.
func TestCorrelatorCapsTracked(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	in := shippedRules()
	in.Rules.MaxTracked = 2
	h.report(time.Minute, "incident-a", wafBlocks)
	h.report(2*time.Minute, "incident-b", sqli)
	h.report(3*time.Minute, "incident-c", admin)
	next := h.run(t, in, 3)
	if ids := trackedIDs(next.Carried); !reflect.DeepEqual(ids, []string{"incident-b", "incident-c"}) {
		t.Errorf("tracked %v, want the 2 newest", ids)
	}
}

func trackedIDs(st *workflows.CorrelatorState) []string {
	var ids []string
	for _, t := range st.Window {
		ids = append(ids, t.ID)
	}
	return ids
}

// The window, what was told and reports not yet evaluated survive
// continue-as-new: a WAF incident reported while the first run told its last
// pair is evaluated by the next run, against the window the first run kept,
// and the pair already told is not told again.
func TestCorrelatorContinueAsNewKeepsWindow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s, 10*time.Second) // each signal takes 10s
	start := h.env.Now()
	h.report(time.Minute, "incident-waf", wafBlocks)
	h.report(4*time.Minute, "incident-5xx", payments5)
	h.report(4*time.Minute+5*time.Second, "incident-waf-again", wafBlocks) // while the pair is told
	next := h.run(t, shippedRules(), 2)
	if len(h.told["incident-waf"]) != 1 || len(h.told["incident-5xx"]) != 1 || len(h.told) != 2 {
		t.Fatalf("first run told %+v, want the waf/5xx pair once each", h.told)
	}
	st := next.Carried
	if ids := trackedIDs(st); !reflect.DeepEqual(ids, []string{"incident-waf", "incident-5xx"}) ||
		len(st.Told) != 1 || len(st.Pending) != 1 || st.Pending[0].IncidentID != "incident-waf-again" {
		t.Fatalf("carried window %v, told %+v, pending %+v; want both incidents, their pair, the second WAF pending", ids, st.Told, st.Pending)
	}

	// The next run, on a fresh worker, evaluates the carried report first.
	h2 := newCorrelatorHarness(&s)
	h2.env.SetStartTime(start.Add(4*time.Minute + 10*time.Second))
	checkout5 := payments5
	checkout5.Service = "checkout"
	h2.report(time.Minute, "incident-checkout-5xx", checkout5)
	last := h2.run(t, next, 1)
	if c := h2.told["incident-waf-again"]; len(c) != 1 || !reflect.DeepEqual(c[0].Related, []string{"incident-5xx"}) ||
		c[0].Reason != "WAF blocks (incident-waf-again) and 5xx (incident-5xx) on service payments within 5s" {
		t.Errorf("incident-waf-again told %+v, want one pair with incident-5xx within 5s", c)
	}
	if c := h2.told["incident-5xx"]; len(c) != 1 || !reflect.DeepEqual(c[0].Related, []string{"incident-waf-again"}) {
		t.Errorf("incident-5xx told %+v, want only the new pair", c)
	}
	if len(h2.told) != 2 {
		t.Errorf("second run told %d incidents, want 2", len(h2.told))
	}
	if st := last.Carried; st.Reports != 4 || st.Pairs != 2 || len(st.Told) != 2 || len(st.Pending) != 0 || len(st.Window) != 4 {
		t.Errorf("carried %+v, want 4 reports and incidents, 2 pairs told, none pending", st)
	}
}

// An incident that closed before it was told does not stop the correlator
// or its partner's signal; a resolved incident leaves the window.
func TestCorrelatorSurvivesGoneIncidents(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	h.gone["incident-waf"] = true
	other := payments5
	other.Rule = "HTTP5xxRateP99"
	h.report(time.Minute, "incident-waf", wafBlocks)
	h.report(2*time.Minute, "incident-payments-5xx", payments5)
	h.reportAs(3*time.Minute, "incident-payments-5xx", payments5, payments5.Severity, incident.StatusResolved)
	h.report(4*time.Minute, "incident-other-5xx", other)
	next := h.run(t, shippedRules(), 4)
	if n := len(h.told["incident-payments-5xx"]); n != 1 {
		t.Errorf("incident-payments-5xx told %d times, want 1", n)
	}
	if n := len(h.told["incident-other-5xx"]); n != 1 {
		t.Errorf("incident-other-5xx told %d times, want 1 (the correlator went on)", n)
	}
	if ids := trackedIDs(next.Carried); !reflect.DeepEqual(ids, []string{"incident-waf", "incident-other-5xx"}) {
		t.Errorf("tracked %v, want the resolved incident gone", ids)
	}
}

func TestCorrelatorScopeAndID(t *testing.T) {
	for _, tc := range []struct {
		scope, env, want string
	}{
		{"env", "prod", "correlator-env-prod"},
		{"env", " Prod ", "correlator-env-prod"},
		{"env", "", "correlator-env-none"},
		{"global", "prod", "correlator-global"},
	} {
		if got := workflows.CorrelatorWorkflowID(workflows.CorrelatorScope(tc.scope, incident.Alert{Env: tc.env})); got != tc.want {
			t.Errorf("scope %s, env %q: %s, want %s", tc.scope, tc.env, got, tc.want)
		}
	}
}

// swsRecorder records SignalWithStart calls, as Temporal would take them.
type swsRecorder struct {
	client.Client
	mu    sync.Mutex
	calls []swsRecord
}

type swsRecord struct {
	id, signal, queue string
	workflowType      any
	signalArg         any
	startArgs         []any
}

func (c *swsRecorder) SignalWithStartWorkflow(_ context.Context, id, signal string, signalArg any,
	opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, swsRecord{id: id, signal: signal, queue: opts.TaskQueue, workflowType: wf, signalArg: signalArg, startArgs: args})
	return nil, nil
}

// An incident's report reaches its correlator through the real activity:
// SignalWithStart of correlator-<scope> with the report (text trimmed, the
// configured rules added) and a start input carrying the scope and rules.
func TestReportToCorrelator(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(testenv.QuietLogger())
	env := s.NewTestWorkflowEnvironment()
	fake := &swsRecorder{}
	cfg := config.Default()
	rules := cfg.Correlation.Rules()
	workerapp.Register(env, workerapp.Deps{Correlation: &activities.Correlation{Temporal: fake, Rules: rules}})
	alert := payments5
	alert.Title, alert.Summary = "5xx on payments", "long text the correlator never reads"
	alert.Fields = map[string]any{"client": map[string]any{"ip": ip}}
	opened := env.Now().UTC()
	rep := workflows.CorrelatorReport{IncidentID: "incident-5xx", Alert: alert, Severity: incident.SeverityCritical, Status: incident.StatusOpen, OpenedAt: opened}
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflows.ReportToCorrelator(ctx, workflows.CorrelatorScope("env", alert), rep).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "report-test"})
	env.ExecuteWorkflow("report-test")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 {
		t.Fatalf("%d SignalWithStart calls, want 1", len(fake.calls))
	}
	call := fake.calls[0]
	if call.id != "correlator-env-prod" || call.signal != workflows.SignalCorrelatorReport || call.queue != workflows.TaskQueue ||
		call.workflowType != workflows.CorrelatorWorkflowName || len(call.startArgs) != 1 {
		t.Fatalf("call = %+v", call)
	}
	dc := converter.GetDefaultDataConverter()
	var got workflows.CorrelatorReport
	var start workflows.CorrelatorInput
	for _, x := range []struct {
		v   any
		dst any
	}{{call.signalArg, &got}, {call.startArgs[0], &start}} {
		p, err := dc.ToPayload(x.v)
		if err == nil {
			err = dc.FromPayload(p, x.dst)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got.Rules == nil || !reflect.DeepEqual(*got.Rules, rules) || !reflect.DeepEqual(start.Rules, rules) || start.Scope != "env-prod" || start.Carried != nil {
		t.Errorf("report rules %+v, start %+v: want the configured rules in both and scope env-prod", got.Rules, start)
	}
	want := rep
	want.Alert.Title, want.Alert.Summary = "", ""
	got.Rules = nil
	if !got.OpenedAt.Equal(want.OpenedAt) {
		t.Errorf("opened_at %s, want %s", got.OpenedAt, want.OpenedAt)
	}
	got.OpenedAt, want.OpenedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report =\n%+v\nwant\n%+v", got, want)
	}
}

// A running correlator takes the rules each report carries: a config change
// reaches it with the next report.
func TestCorrelatorTakesRulesFromReports(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	old := shippedRules()
	old.Rules.Pairs[0].Within = time.Minute // the config before the change
	current := shippedRules().Rules
	for i, r := range []struct {
		id string
		a  incident.Alert
	}{{"incident-waf", wafBlocks}, {"incident-5xx", payments5}} {
		h.env.RegisterDelayedCallback(func() {
			h.env.SignalWorkflow(workflows.SignalCorrelatorReport, workflows.CorrelatorReport{
				IncidentID: r.id, Alert: r.a, Severity: r.a.Severity, Status: incident.StatusOpen, OpenedAt: h.env.Now(), Rules: &current,
			})
		}, time.Duration(1+3*i)*time.Minute)
	}
	next := h.run(t, old, 2)
	if len(h.told["incident-waf"]) != 1 || len(h.told["incident-5xx"]) != 1 {
		t.Errorf("told %+v, want the pair 3m apart under the new 10m window", h.told)
	}
	if !reflect.DeepEqual(next.Rules, current) {
		t.Errorf("carried rules %+v, want the reports' rules", next.Rules)
	}
}

// A parent stays at its highest child's severity.
func TestCorrelatorChildRaisesParent(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	h.report(time.Minute, "incident-sqli", sqli)
	h.report(2*time.Minute, "incident-admin", admin)
	h.report(3*time.Minute, "incident-lfi", lfi)
	h.reportAs(4*time.Minute, "incident-sqli", sqli, incident.SeverityCritical, incident.StatusOpen)
	h.reportAs(5*time.Minute, "incident-admin", admin, incident.SeverityHigh, incident.StatusOpen) // no change
	h.run(t, shippedRules(), 5)
	if len(h.parents) != 1 || h.parents[0].Severity != incident.SeverityHigh {
		t.Fatalf("opened %+v, want one high parent", h.parents)
	}
	id := incident.ID(incident.Fingerprint(h.parents[0]))
	got := h.told[id]
	if len(got) != 2 {
		t.Fatalf("parent told %d times, want 2: %+v", len(got), got)
	}
	if c := got[1]; c.Kind != workflows.CorrelationParent || c.Severity != incident.SeverityCritical || len(c.Children) != 0 ||
		c.Reason != "its child incident-sqli is now critical" {
		t.Errorf("parent then told %+v, want raised to critical", c)
	}
	if n := len(h.told["incident-sqli"]); n != 1 {
		t.Errorf("incident-sqli told %d times, want once (its parent)", n)
	}
}

// However large the window, continue-as-new carries it in one payload: the
// oldest incidents go first.
func TestCorrelatorCarryFitsOnePayload(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	h := newCorrelatorHarness(&s)
	in := shippedRules()
	start := h.env.Now().UTC()
	long := strings.Repeat("u", 200)
	st := &workflows.CorrelatorState{}
	for i := range 6000 {
		st.Window = append(st.Window, workflows.TrackedIncident{
			ID: fmt.Sprintf("incident-%05d", i), Source: "rules", Rule: "r", Severity: incident.SeverityLow,
			OpenedAt: start.Add(time.Duration(i) * time.Millisecond), Keys: map[string]string{"user": fmt.Sprint(long, i)},
		})
	}
	in.Carried = st
	h.report(time.Minute, "incident-new", wafBlocks)
	next := h.run(t, in, 1)
	b, err := json.Marshal(next.Carried)
	if err != nil {
		t.Fatal(err)
	}
	ids := trackedIDs(next.Carried)
	if len(b) > 1536<<10 || len(ids) < 1000 || ids[len(ids)-1] != "incident-new" || ids[len(ids)-2] != "incident-05999" {
		t.Errorf("carried %d bytes, %d incidents ending %v; want at most 1.5 MB, the newest kept", len(b), len(ids), ids[len(ids)-2:])
	}
}
