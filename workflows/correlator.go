package workflows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// The cross-incident correlator: why one long-running workflow per scope.
//
// Whether two incidents belong together depends on what else opened in the
// last minutes, so the correlator must see every incident of its scope (one
// env, or everything) in one place and remember them for the longest rule
// window. One workflow per scope, ID correlator-<scope>, holds that window as
// its variables; incidents SignalWithStart it (ReportIncident) when they
// open, change severity and resolve, so it starts on the first report and
// nothing polls. Each report is evaluated at once against the pair and burst
// rules; what is found is signalled to the incidents (SignalCorrelated), each
// finding once. Continue-as-new carries the window, what was told and the
// open bursts. See docs/correlation.md.

// Workflow, signal and query names of the correlator.
const (
	CorrelatorWorkflowName = "CorrelatorWorkflow"
	// SignalCorrelatorReport carries a CorrelatorReport from an incident.
	SignalCorrelatorReport = "report"
	// QueryCorrelator returns a CorrelatorStatus.
	QueryCorrelator = "correlator"
)

// CorrelatorWorkflowID is the workflow ID of the correlator of a scope
// (CorrelatorScope).
func CorrelatorWorkflowID(scope string) string { return "correlator-" + scope }

// CorrelatorScope is the correlator an incident with alert a reports to:
// "global" for scope global, else "env-<env>" ("env-none" without an env),
// so incidents of two envs never meet.
func CorrelatorScope(cfgScope string, a incident.Alert) string {
	if cfgScope == incident.CorrelationScopeGlobal {
		return incident.CorrelationScopeGlobal
	}
	env := strings.ToLower(strings.TrimSpace(a.Env))
	if env == "" {
		env = "none"
	}
	return "env-" + env
}

const (
	defaultMaxReportsPerRun = 1000
	// maxCarryBytes keeps the continue-as-new input under Temporal's 2 MB
	// payload limit whatever max_tracked says: the oldest incidents go first.
	maxCarryBytes = 1536 << 10
	// burstIdle forgets an open burst nobody joined for this long, should
	// its parent's resolution never be reported (a terminated workflow).
	// Forgetting is harmless: a new burst opens the same parent ID again.
	burstIdle = 24 * time.Hour
	// maxListedChildren bounds the children a burst lists in the query.
	maxListedChildren = 100
)

// CorrelatorInput starts a correlator; continue-as-new sends it with Carried.
type CorrelatorInput struct {
	Scope string `json:"scope"`
	// Rules come from config: ReportIncident sets them (activities.RulesField).
	Rules   incident.CorrelationRules `json:"rules"`
	Carried *CorrelatorState          `json:"carried,omitempty"`
	// MaxReportsPerRun bounds a run's history (default 1000 reports); a run
	// also continues as new when Temporal suggests it or past 4 MB.
	MaxReportsPerRun int `json:"max_reports_per_run,omitempty"`
}

// CorrelatorReport is the payload of SignalCorrelatorReport: an incident
// opened, changed severity or resolved.
type CorrelatorReport struct {
	IncidentID string `json:"incident_id"`
	// Alert is the incident's first alert; the correlator reads the rules'
	// matchers and relation keys from it.
	Alert    incident.Alert    `json:"alert"`
	Severity incident.Severity `json:"severity"`
	Status   incident.Status   `json:"status"`
	OpenedAt time.Time         `json:"opened_at"`
	// Rules are set by ReportIncident from config: a running correlator
	// takes a config change with the next report.
	Rules *incident.CorrelationRules `json:"rules,omitempty"`
}

// CorrelatorState is what the correlator remembers, and what continue-as-new carries.
type CorrelatorState struct {
	// Window holds the open incidents that opened within the longest rule
	// window, oldest first.
	Window []TrackedIncident `json:"window,omitempty"`
	// Told are the pairs already signalled, while both are in the window.
	Told []ToldPair `json:"told,omitempty"`
	// Bursts are the bursts whose parent is open: later incidents join them.
	Bursts []OpenBurst `json:"bursts,omitempty"`
	// Reports, Pairs and Parents count over all runs.
	Reports int `json:"reports"`
	Pairs   int `json:"pairs"`
	Parents int `json:"parents"`
	// Pending are reports received after the run's last evaluation: the next
	// run evaluates them first.
	Pending []CorrelatorReport `json:"pending,omitempty"`
}

// TrackedIncident is what the correlator keeps of one incident.
type TrackedIncident struct {
	ID       string            `json:"id"`
	Source   string            `json:"source"`
	Rule     string            `json:"rule"`
	Category string            `json:"category,omitempty"`
	Env      string            `json:"env,omitempty"`
	Severity incident.Severity `json:"severity"`
	OpenedAt time.Time         `json:"opened_at"`
	// Keys are the incident's relation key values, by key name.
	Keys map[string]string `json:"keys,omitempty"`
	// ParentID is the parent of the burst it joined.
	ParentID string `json:"parent_id,omitempty"`
}

func (t *TrackedIncident) alert() *incident.Alert {
	return &incident.Alert{Source: t.Source, Rule: t.Rule, Category: t.Category, Env: t.Env}
}

// ToldPair is a pair finding already signalled; A < B.
type ToldPair struct {
	Rule string    `json:"rule"`
	A    string    `json:"a"`
	B    string    `json:"b"`
	At   time.Time `json:"at"`
}

// OpenBurst is a burst whose parent incident is open.
type OpenBurst struct {
	Rule     string `json:"rule"`
	Key      string `json:"key"`
	Value    string `json:"value"`
	ParentID string `json:"parent_id"`
	// Children lists the latest children (at most 100); Count counts them all.
	Children []string          `json:"children"`
	Count    int               `json:"count"`
	Severity incident.Severity `json:"severity"`
	OpenedAt time.Time         `json:"opened_at"`
	LastAt   time.Time         `json:"last_at"`
}

// CorrelatorStatus is what QueryCorrelator returns.
type CorrelatorStatus struct {
	Scope string                    `json:"scope"`
	Rules incident.CorrelationRules `json:"rules"`
	CorrelatorState
}

// Activity options. A report is best effort but cheap: it retries for
// minutes, then the incident goes on uncorrelated. A parent incident is one
// SignalWithStart; when it keeps failing, the next report that finds the
// burst tries again.
var (
	reportOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	openParentOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
)

// correlationActs names the correlation activities; nil, as the others.
var correlationActs *activities.Correlation

// reportToCorrelator tells the incident's correlator about it (scope from
// CorrelatorScope) without waiting: the incident workflow keeps the future
// only to wait for it before the run ends. The alert travels without its
// text, which the correlator does not read; a resolution needs only its
// source (parents are told apart by it).
func reportToCorrelator(ctx workflow.Context, scope string, rep CorrelatorReport) workflow.Future {
	rep.Alert.Title, rep.Alert.Summary, rep.Alert.Links, rep.Alert.Channel = "", "", nil, ""
	if rep.Status == incident.StatusResolved {
		rep.Alert = incident.Alert{Source: rep.Alert.Source, Rule: rep.Alert.Rule, Env: rep.Alert.Env}
	}
	rep.Rules = nil
	actx := workflow.WithActivityOptions(ctx, reportOptions)
	return workflow.ExecuteActivity(actx, correlationActs.ReportIncident, activities.ReportInput{
		WorkflowID:   CorrelatorWorkflowID(scope),
		WorkflowType: CorrelatorWorkflowName,
		TaskQueue:    TaskQueue,
		Signal:       SignalCorrelatorReport,
		Report:       rep,
		Start:        CorrelatorInput{Scope: scope},
	})
}

// correlator is one run of a correlator: the state the query returns plus
// the run's bookkeeping.
type correlator struct {
	CorrelatorStatus

	reports   workflow.ReceiveChannel
	received  int // reports received by this run
	maxPerRun int
	// told are this report's signals while they are delivered.
	told []workflow.Future
}

func newCorrelator(ctx workflow.Context, in CorrelatorInput) *correlator {
	w := &correlator{
		CorrelatorStatus: CorrelatorStatus{Scope: in.Scope, Rules: in.Rules},
		reports:          workflow.GetSignalChannel(ctx, SignalCorrelatorReport),
		maxPerRun:        in.MaxReportsPerRun,
	}
	if in.Carried != nil {
		w.CorrelatorState = *in.Carried
	}
	if w.maxPerRun <= 0 {
		w.maxPerRun = defaultMaxReportsPerRun
	}
	return w
}

func (w *correlator) status() (CorrelatorStatus, error) { return w.CorrelatorStatus, nil }

// take evaluates one report: forget what aged out, fold the incident in,
// then tell what it completes.
func (w *correlator) take(ctx workflow.Context, rep CorrelatorReport) {
	w.Reports++
	if rep.Rules != nil && !reflect.DeepEqual(*rep.Rules, w.Rules) {
		workflow.GetLogger(ctx).Info("correlation rules changed", "scope", w.Scope)
		w.Rules = *rep.Rules
	}
	now := workflow.Now(ctx).UTC()
	w.forget(now)
	switch {
	case rep.Alert.Source == incident.SourceCorrelator:
		// A parent incident: never part of a burst or a pair. Its
		// resolution frees the burst's children for a new one.
		if rep.Status == incident.StatusResolved {
			w.closeBurst(rep.IncidentID)
		}
		return
	case rep.Status == incident.StatusResolved:
		w.Window = slices.DeleteFunc(w.Window, func(t TrackedIncident) bool { return t.ID == rep.IncidentID })
		return
	}
	t := w.track(now, rep)
	if t == nil {
		return
	}
	w.pairs(ctx, now, t)
	w.bursts(ctx, now, t)
	w.awaitTold(ctx)
}

// forget drops incidents older than the longest window (and their told
// pairs) and bursts idle for a day.
func (w *correlator) forget(now time.Time) {
	cutoff := now.Add(-w.Rules.Longest())
	w.Window = slices.DeleteFunc(w.Window, func(t TrackedIncident) bool { return t.OpenedAt.Before(cutoff) })
	w.pruneTold()
	w.Bursts = slices.DeleteFunc(w.Bursts, func(b OpenBurst) bool { return now.Sub(b.LastAt) > burstIdle })
}

func (w *correlator) pruneTold() {
	w.Told = slices.DeleteFunc(w.Told, func(p ToldPair) bool { return w.find(p.A) == nil || w.find(p.B) == nil })
}

func (w *correlator) find(id string) *TrackedIncident {
	for i := range w.Window {
		if w.Window[i].ID == id {
			return &w.Window[i]
		}
	}
	return nil
}

// track adds the incident to the window, or updates its severity, and
// returns it; nil when it opened too long ago to correlate with anything.
func (w *correlator) track(now time.Time, rep CorrelatorReport) *TrackedIncident {
	if t := w.find(rep.IncidentID); t != nil {
		if rep.Severity.Valid() {
			t.Severity = rep.Severity
		}
		return t
	}
	opened := rep.OpenedAt.UTC()
	if opened.IsZero() {
		opened = now
	}
	if opened.Before(now.Add(-w.Rules.Longest())) {
		return nil
	}
	a := &rep.Alert
	t := TrackedIncident{
		ID: rep.IncidentID, Source: a.Source, Rule: a.Rule, Category: a.Category, Env: a.Env,
		Severity: rep.Severity, OpenedAt: opened,
	}
	if !t.Severity.Valid() {
		t.Severity = incident.SeverityMedium // as the incident opens it
	}
	for _, k := range w.Rules.Keys() {
		if v := k.Value(a); v != "" {
			if t.Keys == nil {
				t.Keys = map[string]string{}
			}
			t.Keys[k.Name] = v
		}
	}
	// Oldest first, so ageing out and the cap drop a prefix.
	i, _ := slices.BinarySearchFunc(w.Window, opened, func(e TrackedIncident, at time.Time) int {
		if e.OpenedAt.After(at) {
			return 1
		}
		return -1 // equal times keep arrival order
	})
	w.Window = slices.Insert(w.Window, i, t)
	if limit := w.Rules.MaxTracked; limit > 0 && len(w.Window) > limit {
		dropped := len(w.Window) - limit
		if i < dropped {
			w.Window = w.Window[dropped:]
			w.pruneTold()
			return nil // itself the oldest
		}
		w.Window = w.Window[dropped:]
		i -= dropped
		w.pruneTold()
	}
	return &w.Window[i]
}

// sameValue compares relation key values; service and user names differ
// in case between sources.
func sameValue(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// pairs finds each pair rule's partners of t and tells both, once per pair.
func (w *correlator) pairs(ctx workflow.Context, now time.Time, t *TrackedIncident) {
	for _, p := range w.Rules.Pairs {
		v := t.Keys[p.Same.Name]
		if v == "" || p.Within <= 0 {
			continue
		}
		for i := range w.Window {
			o := &w.Window[i]
			if o.ID == t.ID || !sameValue(o.Keys[p.Same.Name], v) {
				continue
			}
			gap := t.OpenedAt.Sub(o.OpenedAt).Abs()
			if gap > p.Within {
				continue
			}
			first, second := t, o
			switch {
			case p.First.Match(t.alert(), t.Severity) && p.Second.Match(o.alert(), o.Severity):
			case p.Second.Match(t.alert(), t.Severity) && p.First.Match(o.alert(), o.Severity):
				first, second = o, t
			default:
				continue
			}
			a, b := min(t.ID, o.ID), max(t.ID, o.ID)
			if slices.ContainsFunc(w.Told, func(x ToldPair) bool { return x.Rule == p.Name && x.A == a && x.B == b }) {
				continue
			}
			w.Told = append(w.Told, ToldPair{Rule: p.Name, A: a, B: b, At: now})
			w.Pairs++
			reason := fmt.Sprintf("%s (%s) and %s (%s) on %s %s within %s",
				p.First.LabelFor(first.alert()), first.ID, p.Second.LabelFor(second.alert()), second.ID,
				p.Same.Name, v, incident.ShortDuration(gap))
			workflow.GetLogger(ctx).Info("correlated pair", "rule", p.Name, "first", first.ID, "second", second.ID)
			for _, x := range [][2]string{{first.ID, second.ID}, {second.ID, first.ID}} {
				w.tell(ctx, x[0], Correlation{
					Kind: CorrelationPair, Rule: p.Name, Severity: p.Severity, Related: []string{x[1]}, Reason: reason, At: now,
				})
			}
		}
	}
}

// bursts joins t to the open burst it belongs to, or opens a parent over the
// burst it completes. An incident has one parent: the first rule and key
// that take it. A child raised above its parent raises the parent.
func (w *correlator) bursts(ctx workflow.Context, now time.Time, t *TrackedIncident) {
	if t.ParentID != "" {
		w.raiseParent(ctx, now, t)
		return
	}
	for _, b := range w.Rules.Bursts {
		if t.Severity < b.MinSeverity || b.Within <= 0 {
			continue
		}
		for _, k := range b.Keys {
			v := t.Keys[k.Name]
			if v == "" {
				continue
			}
			if ob := w.openBurst(b.Name, k.Name, v); ob != nil {
				w.join(ctx, now, b, ob, t)
				return
			}
			if members := w.burstAround(b, k.Name, v, t); len(members) > 0 {
				w.openParent(ctx, now, b, k.Name, v, members)
				return
			}
		}
	}
}

func (w *correlator) openBurst(rule, key, value string) *OpenBurst {
	for i := range w.Bursts {
		if b := &w.Bursts[i]; b.Rule == rule && b.Key == key && sameValue(b.Value, value) {
			return b
		}
	}
	return nil
}

// burstAround returns the incidents of a burst of rule b on key=value that
// t completes: at least MinIncidents without a parent, at or above
// MinSeverity, opened within b.Within of each other, t among them. Nil when
// there is none.
func (w *correlator) burstAround(b incident.BurstRule, key, value string, t *TrackedIncident) []*TrackedIncident {
	var cands []*TrackedIncident // oldest first, as the window
	for i := range w.Window {
		c := &w.Window[i]
		if c.ParentID == "" && c.Severity >= b.MinSeverity && sameValue(c.Keys[key], value) {
			cands = append(cands, c)
		}
	}
	in := make([]bool, len(cands))
	found := false
	for i := range cands {
		j := i
		for j+1 < len(cands) && cands[j+1].OpenedAt.Sub(cands[i].OpenedAt) <= b.Within {
			j++
		}
		if j-i+1 < b.MinIncidents || !slices.Contains(cands[i:j+1], t) {
			continue
		}
		found = true
		for x := i; x <= j; x++ {
			in[x] = true
		}
	}
	if !found {
		return nil
	}
	var members []*TrackedIncident
	for i, c := range cands {
		if in[i] {
			members = append(members, c)
		}
	}
	return members
}

// openParent opens the parent incident over a new burst and links it with
// its children. The parent's ID is its alert's fingerprint, so the workflow
// knows it before the activity runs, and a retry opens the same one.
func (w *correlator) openParent(ctx workflow.Context, now time.Time, b incident.BurstRule, key, value string, members []*TrackedIncident) {
	sev, env := incident.SeverityUnknown, members[0].Env
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
		sev = max(sev, m.Severity)
		if !strings.EqualFold(m.Env, env) {
			env = ""
		}
	}
	span := members[len(members)-1].OpenedAt.Sub(members[0].OpenedAt)
	alert := incident.Alert{
		Source:   incident.SourceCorrelator,
		Rule:     incident.CorrelationRulePrefix + b.Name,
		Env:      env,
		Category: "correlation",
		Severity: sev,
		Title:    fmt.Sprintf("%d related incidents: %s=%s", len(members), key, value),
		Summary: fmt.Sprintf("%d incidents of %s or worse within %s share %s %s: %s",
			len(members), minSeverityName(b.MinSeverity), incident.ShortDuration(span), key, value, strings.Join(ids, ", ")),
		QueryKey: map[string]string{key: value},
		Time:     now,
	}
	parentID := incident.ID(incident.Fingerprint(alert))
	actx := workflow.WithActivityOptions(ctx, openParentOptions)
	if err := workflow.ExecuteActivity(actx, correlationActs.OpenParent, alert).Get(ctx, nil); err != nil {
		// Not remembered: the next report that completes the burst tries again.
		workflow.GetLogger(ctx).Warn("open parent incident failed", "rule", b.Name, "parent", parentID, "error", err)
		return
	}
	w.Parents++
	ob := OpenBurst{Rule: b.Name, Key: key, Value: value, ParentID: parentID, Severity: sev, OpenedAt: now, LastAt: now}
	for _, m := range members {
		m.ParentID = parentID
		ob.add(m.ID)
	}
	w.Bursts = append(w.Bursts, ob)
	workflow.GetLogger(ctx).Info("opened parent incident", "rule", b.Name, "parent", parentID, "children", len(ids))
	w.tell(ctx, parentID, Correlation{
		Kind: CorrelationParent, Rule: b.Name, Severity: sev, Children: ids, At: now,
		Reason: fmt.Sprintf("%d related incidents share %s %s within %s", len(ids), key, value, incident.ShortDuration(span)),
	})
	for _, id := range ids {
		w.tell(ctx, id, Correlation{
			Kind: CorrelationChild, Rule: b.Name, ParentID: parentID, At: now,
			Reason: fmt.Sprintf("one of %d related incidents sharing %s %s (parent %s)", len(ids), key, value, parentID),
		})
	}
}

// join adds t to an open burst: the parent gets the child, the child its parent.
func (w *correlator) join(ctx workflow.Context, now time.Time, b incident.BurstRule, ob *OpenBurst, t *TrackedIncident) {
	t.ParentID = ob.ParentID
	ob.add(t.ID)
	ob.LastAt = now
	ob.Severity = max(ob.Severity, t.Severity)
	w.tell(ctx, ob.ParentID, Correlation{
		Kind: CorrelationParent, Rule: b.Name, Severity: ob.Severity, Children: []string{t.ID}, At: now,
		Reason: fmt.Sprintf("%s joined: %d related incidents share %s %s", t.ID, ob.Count, ob.Key, ob.Value),
	})
	w.tell(ctx, t.ID, Correlation{
		Kind: CorrelationChild, Rule: b.Name, ParentID: ob.ParentID, At: now,
		Reason: fmt.Sprintf("one of %d related incidents sharing %s %s (parent %s)", ob.Count, ob.Key, ob.Value, ob.ParentID),
	})
}

// raiseParent keeps a parent at its highest child's severity.
func (w *correlator) raiseParent(ctx workflow.Context, now time.Time, t *TrackedIncident) {
	i := slices.IndexFunc(w.Bursts, func(b OpenBurst) bool { return b.ParentID == t.ParentID })
	if i < 0 || t.Severity <= w.Bursts[i].Severity {
		return
	}
	ob := &w.Bursts[i]
	ob.Severity = t.Severity
	w.tell(ctx, ob.ParentID, Correlation{
		Kind: CorrelationParent, Rule: ob.Rule, Severity: ob.Severity, At: now,
		Reason: fmt.Sprintf("its child %s is now %s", t.ID, t.Severity),
	})
}

func (b *OpenBurst) add(id string) {
	b.Count++
	b.Children = append(b.Children, id)
	if n := len(b.Children); n > maxListedChildren {
		b.Children = slices.Delete(b.Children, 0, n-maxListedChildren)
	}
}

// closeBurst forgets the burst of a resolved parent; its children still open
// may form a new one.
func (w *correlator) closeBurst(parentID string) {
	w.Bursts = slices.DeleteFunc(w.Bursts, func(b OpenBurst) bool { return b.ParentID == parentID })
	for i := range w.Window {
		if w.Window[i].ParentID == parentID {
			w.Window[i].ParentID = ""
		}
	}
}

func minSeverityName(s incident.Severity) string {
	if !s.Valid() {
		return "any severity"
	}
	return s.String()
}

// tell signals a finding to an incident; awaitTold waits for the report's
// signals. An incident that is gone (resolved and closed) is no error.
func (w *correlator) tell(ctx workflow.Context, id string, c Correlation) {
	w.told = append(w.told, workflow.SignalExternalWorkflow(ctx, id, "", SignalCorrelated, c))
}

func (w *correlator) awaitTold(ctx workflow.Context) {
	for _, f := range w.told {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("correlated incident not signalled", "error", err)
		}
	}
	w.told = nil
}

// runOver says the run should continue as new.
func (w *correlator) runOver(ctx workflow.Context) bool {
	return w.received >= w.maxPerRun || historyFull(ctx)
}

// continueAsNew hands the state to the next run. Reports delivered but not
// evaluated ride along in Pending: evaluating them may wait on activities,
// and nothing may wait between the last read and the hand-over.
func (w *correlator) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return fmt.Errorf("wait for handlers before continue-as-new: %w", err)
	}
	for {
		var rep CorrelatorReport
		if !w.reports.ReceiveAsync(&rep) {
			break
		}
		w.Pending = append(w.Pending, rep)
	}
	carried := w.CorrelatorState
	fitCarry(ctx, &carried)
	return workflow.NewContinueAsNewError(ctx, CorrelatorWorkflowName, CorrelatorInput{
		Scope: w.Scope, Rules: w.Rules, Carried: &carried, MaxReportsPerRun: w.maxPerRun,
	})
}

// fitCarry drops the oldest tracked incidents until the state fits in one
// payload; max_tracked keeps this rare. Two encodings at most: a task that
// encodes megabytes again and again trips the SDK's deadlock detector.
func fitCarry(ctx workflow.Context, st *CorrelatorState) {
	b, err := json.Marshal(st)
	if err != nil || len(b) <= maxCarryBytes {
		return
	}
	over, drop := len(b)-maxCarryBytes, 0
	for drop < len(st.Window) && over > 0 {
		e, err := json.Marshal(st.Window[drop])
		if err != nil {
			break
		}
		over -= len(e) + 1 // and its comma
		drop++
	}
	workflow.GetLogger(ctx).Warn("correlator state too large to carry; dropping the oldest incidents", "bytes", len(b), "dropped", drop)
	st.Window = slices.Clone(st.Window[drop:])
	kept := make(map[string]bool, len(st.Window))
	for _, t := range st.Window {
		kept[t.ID] = true
	}
	st.Told = slices.DeleteFunc(slices.Clone(st.Told), func(p ToldPair) bool { return !kept[p.A] || !kept[p.B] })
}

// CorrelatorWorkflow correlates the incidents of one scope:
//
//	evaluate the reports the previous run left → for each report: forget
//	what aged out, track the incident, tell the pairs it completes, join or
//	open its burst's parent → continue as new with the window.
func CorrelatorWorkflow(ctx workflow.Context, in CorrelatorInput) error {
	w := newCorrelator(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryCorrelator, w.status); err != nil {
		return err
	}
	pending := w.Pending
	w.Pending = nil
	for _, rep := range pending {
		w.take(ctx, rep)
	}
	for !w.runOver(ctx) {
		var rep CorrelatorReport
		w.reports.Receive(ctx, &rep)
		w.received++
		w.take(ctx, rep)
	}
	return w.continueAsNew(ctx)
}
