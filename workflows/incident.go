package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
)

// IncidentInput starts an incident run. SignalWithStart sends it with the first
// occurrence; continue-as-new sends it with Carried set.
type IncidentInput struct {
	Alert   incident.Alert `json:"alert"`
	Carried *Carried       `json:"carried,omitempty"`
}

// Carried is the state one run hands the next through continue-as-new.
type Carried struct {
	Incident         incident.Incident `json:"incident"`
	Policy           incident.Policy   `json:"policy"`
	LastEscalationAt time.Time         `json:"last_escalation_at"`
	NextScanAt       time.Time         `json:"next_scan_at,omitzero"`
	LastNotifyAt     time.Time         `json:"last_notify_at,omitzero"`
	NotifyPending    bool              `json:"notify_pending"`
	// Refire counts occurrences that arrived after resolution: the next run is a
	// new incident linked to this one, opened by RefireAlert.
	Refire      int             `json:"refire,omitempty"`
	RefireAlert *incident.Alert `json:"refire_alert,omitempty"`
	// Events are changes not yet told when the run continued as new: the next
	// run tells them first (see versionCarryEvents).
	Events []activities.Event `json:"events,omitempty"`
	// NeedEnrich and NeedCorrelate say the incident's context is still to get:
	// asked for and not answered (the next run asks again), or failed (the
	// next occurrence asks again).
	NeedEnrich    bool `json:"need_enrich,omitempty"`
	NeedCorrelate bool `json:"need_correlate,omitempty"`
	// Silence is the silence or maintenance window holding the incident
	// back, until it ends; Incident.SilencedBy names it.
	Silence *incident.SilenceMatch `json:"silence,omitempty"`
	// AlertSeverity is the highest severity the alerts gave (the rule's
	// priority); Floors are what correlations asked for. incident.Classify
	// makes the incident's severity of them and the enrichment.
	AlertSeverity incident.Severity        `json:"alert_severity,omitempty"`
	Floors        []incident.SeverityFloor `json:"floors,omitempty"`
}

// IncidentResult is what a finished incident run returns.
type IncidentResult struct {
	Incident incident.Incident `json:"incident"`
}

// Error types of update rejections; the client maps them to incident error codes.
const (
	ErrTypeInvalid  = "InvalidRequest"
	ErrTypeConflict = "Conflict"
)

// Activity options. Notifications retry for a few minutes then give up into the
// timeline. archiveOptions is the in-run archive of released code (a day of
// retries); new runs archive in IncidentArchiveWorkflow, which never gives up.
var (
	policyOptions = workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second}
	// Notify runs as a local activity: a Slack post is short, and running it inside
	// the workflow task saves the activity round trips that would otherwise halve
	// how many new incidents a cluster opens per second (measured by `make bench`).
	notifyOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 8,
		},
	}
	rescanOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	}
	pageOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	}
	// Context is best effort: a few quick tries, then the timeline says why and
	// the next occurrence asks again. It never holds the announcement back.
	contextOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 3},
	}
	archiveOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: 10 * time.Minute},
	}
)

// Behaviour changes since histories were recorded, one change ID each, so runs
// started by released code replay (workflow.GetVersion; see
// docs/incident-workflow.md).
const (
	// versionSNSPaging gates SNS pages.
	versionSNSPaging = "sns-paging"
	// versionCarryEvents: released code told pending events between its last
	// drain and continue-as-new; signals and updates that arrived during that
	// notify (it may retry for minutes) were never read. Now nothing blocks
	// after the last drain and untold events ride along in Carried.Events.
	versionCarryEvents = "carry-events-at-continue-as-new"
	// versionArchiveChild: released code archived inside the run, so a re-fire
	// waited behind an archive that retries for a day. Now the record is written
	// by IncidentArchiveWorkflow and a re-fire does not wait for it.
	versionArchiveChild = "archive-child"
	// versionOccurrenceResetsClean: released code kept counting clean scans
	// across a new occurrence, so a flapping alarm auto-resolved while it fired.
	versionOccurrenceResetsClean = "occurrence-resets-clean-scans"
	// versionContext: after the announcement, enrich the incident and pull its
	// CloudWatch metrics (released code had no context step).
	versionContext = "incident-context"
	// versionNoiseControl: check silences before announcing and escalating,
	// report to the correlator, and let enrichment and correlations raise
	// the severity (incident.Classify).
	versionNoiseControl = "noise-control"
)

// archiveWait bounds how long a resolved run waits to learn where its record
// went; the archive workflow keeps trying after that.
const archiveWait = 24 * time.Hour

// Activities the workflow calls; nil pointers only name the methods.
var (
	notifyActs  *activities.Notify
	pageActs    *activities.Page
	rescanActs  *activities.Rescan
	archiveActs *activities.Archive
	enrichActs  *enrich.Enricher
	cwActs      *activities.CloudWatch
	silenceActs *activities.Silences
)

// PolicyActivityName is the registered name of activities.Policy.IncidentPolicy,
// run as a local activity.
const PolicyActivityName = "IncidentPolicy"

// incidentRun is one run of an incident workflow: the incident plus the
// bookkeeping that decides what is due next.
type incidentRun struct {
	Carried

	occurrences workflow.ReceiveChannel
	clears      workflow.ReceiveChannel
	wake        workflow.Channel // update handlers nudge the main loop
	scanLock    workflow.Mutex

	events  []activities.Event // told next to the announcement at the next notify
	signals int                // signals received by this run
	sa      [5]string          // search attribute values last upserted

	timer       workflow.Future
	timerAt     time.Time
	cancelTimer workflow.CancelFunc

	// enrichF and correlateF are the context activities while they run.
	enrichF, correlateF workflow.Future

	correlations workflow.ReceiveChannel
	silenceEnded workflow.ReceiveChannel
	noiseControl bool // versionNoiseControl is on for this run
	// currentDetailsOn says versionCurrentDetails is on for this run;
	// details is the value last set (incident_metadata.go).
	currentDetailsOn bool
	details          string
	reports          []workflow.Future // correlator reports not yet confirmed
	reported         CorrelatorReport  // what the correlator was told last
}

func (w *incidentRun) now(ctx workflow.Context) time.Time { return workflow.Now(ctx).UTC() }

// begin sets up a new incident's state. It runs before any handler is
// registered, so an update in the first workflow task sees a whole incident.
func (w *incidentRun) begin(ctx workflow.Context, alert incident.Alert, previous *incident.RunRef, occurrences int) {
	info := workflow.GetInfo(ctx)
	// The run's start time, not the task's clock: a first task that fails after
	// announcing is retried with a later clock, and notifiers find the earlier
	// post by incident ID and opening time.
	now := info.WorkflowStartTime.UTC()
	if now.IsZero() {
		now = w.now(ctx)
	}
	sev := alert.Severity
	if !sev.Valid() {
		sev = incident.SeverityMedium
	}
	first := alert.Time
	if first.IsZero() || first.After(now) {
		first = now
	}
	w.Incident = incident.Incident{
		ID:          info.WorkflowExecution.ID,
		RunID:       info.WorkflowExecution.RunID,
		Fingerprint: incident.Fingerprint(alert),
		Alert:       alert,
		Severity:    sev,
		Status:      incident.StatusOpen,
		FirstSeen:   first,
		LastSeen:    first,
		OpenedAt:    now,
		UpdatedAt:   now,
		Previous:    previous,
		Occurrences: occurrences,
	}
	w.LastEscalationAt = now
	w.AlertSeverity = sev
}

// open loads the policy, links a re-fire to its previous run, and announces.
func (w *incidentRun) open(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	lctx := workflow.WithLocalActivityOptions(ctx, policyOptions)
	var pol activities.PolicyResult
	err := workflow.ExecuteLocalActivity(lctx, PolicyActivityName, activities.PolicyInput{
		IncidentID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Alert: w.Incident.Alert,
	}).Get(ctx, &pol)
	if err != nil {
		return fmt.Errorf("load incident policy: %w", err)
	}
	inc := &w.Incident
	if inc.Previous == nil {
		inc.Previous = pol.Previous
	}
	w.Policy = pol.Policy
	w.countOpened(ctx)
	text := fmt.Sprintf("%s %s from %s", inc.Severity.Emoji(), inc.Title(), inc.Alert.Source)
	if inc.Previous != nil {
		text += fmt.Sprintf(" (re-fired; previous run %s)", inc.Previous.RunID)
	}
	// Inserted first: a handler may already have written to the timeline.
	inc.Timeline = append([]incident.Entry{{Time: inc.OpenedAt, Actor: incident.SystemActor, Kind: incident.EntryOpened, Text: text}}, inc.Timeline...)
	if w.Policy.RescanInterval > 0 {
		w.NextScanAt = w.now(ctx).Add(w.Policy.RescanInterval)
	}
	w.drainSignals(ctx)
	w.upsertSearchAttributes(ctx)
	if w.noiseControl {
		w.checkSilence(ctx)
	}
	w.notify(ctx)
	if w.noiseControl {
		w.report(ctx)
	}
	if workflow.GetVersion(ctx, versionContext, workflow.DefaultVersion, 1) > workflow.DefaultVersion {
		w.NeedEnrich, w.NeedCorrelate = true, true
		w.askContext(ctx)
	}
	return nil
}

// askContext starts the context activities still needed, without waiting:
// the answers arrive through wait and edit the announcement in.
func (w *incidentRun) askContext(ctx workflow.Context) {
	actx := workflow.WithActivityOptions(ctx, contextOptions)
	inc := &w.Incident
	if w.NeedEnrich && w.enrichF == nil {
		w.enrichF = workflow.ExecuteActivity(actx, enrichActs.Enrich, enrich.EnrichInput{Alert: inc.Alert})
	}
	if w.NeedCorrelate && w.correlateF == nil {
		at := inc.Alert.Time
		if at.IsZero() {
			at = inc.FirstSeen
		}
		w.correlateF = workflow.ExecuteActivity(actx, cwActs.Correlate, activities.CorrelateInput{Alert: inc.Alert, At: at})
	}
}

// enriched records the enrichment's answer, or why there is none.
func (w *incidentRun) enriched(ctx workflow.Context, f workflow.Future) {
	w.enrichF = nil
	var res enrich.EnrichResult
	if err := f.Get(ctx, &res); err != nil {
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryContext,
			"enrichment failed (asked again at the next occurrence): %s", rootMessage(err))
		return
	}
	w.NeedEnrich = false
	if res.Enrichment.Empty() {
		return
	}
	e := res.Enrichment
	w.Incident.Enrichment = &e
	w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryContext, "%s", enrichmentSummary(&e))
	w.NotifyPending = true
	if w.noiseControl {
		w.classify(ctx)
	}
}

// correlated records the CloudWatch summary, or why there is none.
func (w *incidentRun) correlated(ctx workflow.Context, f workflow.Future) {
	w.correlateF = nil
	var res activities.CorrelateResult
	if err := f.Get(ctx, &res); err != nil {
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryContext,
			"CloudWatch correlation failed (asked again at the next occurrence): %s", rootMessage(err))
		return
	}
	w.NeedCorrelate = false
	if len(res.Metrics) == 0 {
		return
	}
	w.Incident.CloudWatch = res.Metrics
	var parts []string
	for _, m := range res.Metrics {
		p := m.Label
		switch {
		case m.ChangePct != nil:
			p += fmt.Sprintf(" %+.0f%%", *m.ChangePct)
		case m.Window > 0:
			p += " new activity"
		default:
			p += " quiet"
		}
		if m.Anomalous {
			p += " (anomalous)"
		}
		parts = append(parts, p)
	}
	w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryContext, "CloudWatch: %s", strings.Join(parts, "; "))
	w.NotifyPending = true
}

// enrichmentSummary is the enrichment in one timeline line.
func enrichmentSummary(e *incident.Enrichment) string {
	var parts []string
	if o := e.Owner; o != nil {
		parts = append(parts, "owner "+o.Team)
	}
	for _, g := range e.Geo {
		where := g.CountryISO
		if g.ASN != 0 {
			where += fmt.Sprintf(" AS%d", g.ASN)
		}
		parts = append(parts, g.IP+" in "+where)
	}
	for _, h := range e.ThreatIntel {
		parts = append(parts, fmt.Sprintf("%s on %s (%s)", h.Indicator, h.Source, strings.Join(h.Tags, ", ")))
	}
	return "context: " + strings.Join(parts, "; ")
}

// addOccurrence folds one occurrence signal (possibly many coalesced alerts) in.
func (w *incidentRun) addOccurrence(ctx workflow.Context, o Occurrence) {
	w.signals++
	if o.Count < 1 {
		o.Count = 1
	}
	if w.Incident.Status == incident.StatusResolved {
		// Resolved but not yet closed: the next run re-opens with this alert.
		w.Refire += o.Count
		a := o.Alert
		w.RefireAlert = &a
		return
	}
	w.Incident.Occurrences += o.Count
	// Firing again: the clean scans before it no longer say the condition is gone.
	if n := w.Incident.CleanScans; n > 0 &&
		workflow.GetVersion(ctx, versionOccurrenceResetsClean, workflow.DefaultVersion, 1) > workflow.DefaultVersion {
		w.Incident.CleanScans = 0
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryOccurrence,
			"fired again after %d clean scan(s); counting clean scans from zero", n)
	}
	last := o.LastSeen
	if last.IsZero() {
		last = o.Alert.Time
	}
	if last.IsZero() {
		last = w.now(ctx)
	}
	if last.After(w.Incident.LastSeen) {
		w.Incident.LastSeen = last
	}
	sample := o.Alert
	w.Incident.Sample = &sample
	w.AlertSeverity = max(w.AlertSeverity, o.Alert.Severity)
	if o.Alert.Severity.Valid() && o.Alert.Severity > w.Incident.Severity {
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryOccurrence,
			"severity raised from %s to %s", w.Incident.Severity, o.Alert.Severity)
		w.Incident.Severity = o.Alert.Severity
		w.upsertSearchAttributes(ctx)
		if w.noiseControl {
			w.report(ctx)
		}
	}
	w.Incident.UpdatedAt = w.now(ctx)
	w.NotifyPending = true
	// Context that failed is asked for again (NeedX stays set only then, or
	// while it runs, and only code with versionContext sets it).
	if w.NeedEnrich && w.enrichF == nil || w.NeedCorrelate && w.correlateF == nil {
		w.askContext(ctx)
	}
}

// addClear records that the source says the condition is gone: one clean observation.
func (w *incidentRun) addClear(ctx workflow.Context, c SourceClear) {
	w.signals++
	if w.Incident.Status == incident.StatusResolved {
		return
	}
	detail := c.Detail
	if detail == "" {
		detail = "condition cleared"
	}
	w.Incident.Record(w.now(ctx), c.Source, incident.EntrySourceClear, "%s", detail)
	w.applyScan(ctx, incident.Scan{State: incident.ScanClean, Detail: "source clear: " + detail, At: w.now(ctx)}, c.Source)
}

// drainSignals folds in every signal already delivered, without blocking.
func (w *incidentRun) drainSignals(ctx workflow.Context) {
	for {
		var o Occurrence
		if !w.occurrences.ReceiveAsync(&o) {
			break
		}
		w.addOccurrence(ctx, o)
	}
	for {
		var c SourceClear
		if !w.clears.ReceiveAsync(&c) {
			break
		}
		w.addClear(ctx, c)
	}
	for {
		var c Correlation
		if !w.correlations.ReceiveAsync(&c) {
			break
		}
		w.correlate(ctx, c)
	}
	for {
		var e SilenceEnded
		if !w.silenceEnded.ReceiveAsync(&e) {
			break
		}
		w.silenceEnd(ctx, e)
	}
}

// nextDeadline is the earliest time something is due: a throttled edit, the end
// of a snooze, the next escalation level, the next re-scan. Zero means nothing.
func (w *incidentRun) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	inc := &w.Incident
	if w.NotifyPending && !w.held() {
		consider(w.LastNotifyAt.Add(w.Policy.NotifyInterval))
	}
	if w.Silence != nil && inc.Status != incident.StatusResolved {
		consider(w.Silence.Until)
	}
	switch inc.Status {
	case incident.StatusSnoozed:
		consider(inc.SnoozedUntil)
	case incident.StatusOpen:
		if levels := w.Policy.Escalation.Levels; inc.EscalationLevel < len(levels) && w.Silence == nil {
			consider(w.LastEscalationAt.Add(levels[inc.EscalationLevel].After))
		}
	}
	if inc.Status != incident.StatusResolved && w.Policy.RescanInterval > 0 {
		consider(w.NextScanAt)
	}
	return next
}

// wait blocks until a signal, an update or the next deadline. The deadline timer
// is kept across iterations while it stays the same, so a storm of signals does
// not add a timer to history for each one.
func (w *incidentRun) wait(ctx workflow.Context) {
	deadline := w.nextDeadline()
	if !deadline.Equal(w.timerAt) && w.timer != nil {
		w.cancelTimer()
		w.timer = nil
	}
	if w.timer == nil && !deadline.IsZero() {
		tctx, cancel := workflow.WithCancel(ctx)
		w.timer, w.cancelTimer, w.timerAt = workflow.NewTimer(tctx, max(deadline.Sub(w.now(ctx)), 0)), cancel, deadline
	}
	if w.timer == nil {
		w.timerAt = time.Time{}
	}
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(w.occurrences, func(c workflow.ReceiveChannel, _ bool) {
		var o Occurrence
		c.Receive(ctx, &o)
		w.addOccurrence(ctx, o)
	})
	sel.AddReceive(w.clears, func(c workflow.ReceiveChannel, _ bool) {
		var cl SourceClear
		c.Receive(ctx, &cl)
		w.addClear(ctx, cl)
	})
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	w.addNoiseReceivers(ctx, sel)
	if w.timer != nil {
		sel.AddFuture(w.timer, func(workflow.Future) { w.timer, w.timerAt = nil, time.Time{} })
	}
	if w.enrichF != nil {
		sel.AddFuture(w.enrichF, func(f workflow.Future) { w.enriched(ctx, f) })
	}
	if w.correlateF != nil {
		sel.AddFuture(w.correlateF, func(f workflow.Future) { w.correlated(ctx, f) })
	}
	sel.Select(ctx)
}

// runDue does whatever the clock says is due.
func (w *incidentRun) runDue(ctx workflow.Context) {
	inc := &w.Incident
	now := w.now(ctx)
	if inc.Status == incident.StatusSnoozed && !now.Before(inc.SnoozedUntil) {
		w.unsnooze(ctx)
	}
	if w.Silence != nil && !now.Before(w.Silence.Until) {
		w.recheckSilence(ctx, "its time is up")
	}
	for levels := w.Policy.Escalation.Levels; inc.Status == incident.StatusOpen && inc.EscalationLevel < len(levels) && w.Silence == nil; {
		due := w.LastEscalationAt.Add(levels[inc.EscalationLevel].After)
		if now.Before(due) {
			break
		}
		// A silence added after the announcement (the Silence 1h button)
		// holds the page back too.
		if w.noiseControl && w.checkSilence(ctx) {
			break
		}
		w.escalate(ctx, due)
	}
	if inc.Status != incident.StatusResolved && w.Policy.RescanInterval > 0 && !now.Before(w.NextScanAt) {
		w.NextScanAt = now.Add(w.Policy.RescanInterval)
		w.rescan(ctx, incident.SystemActor)
	}
	// State changes are told at once; a storm's occurrence counts wait for the edit slot.
	if !w.held() && (len(w.events) > 0 || (w.NotifyPending && !now.Before(w.LastNotifyAt.Add(w.Policy.NotifyInterval)))) {
		w.notify(ctx)
	}
}

func (w *incidentRun) escalate(ctx workflow.Context, due time.Time) {
	inc := &w.Incident
	level := w.Policy.Escalation.Levels[inc.EscalationLevel]
	text := "not acknowledged; escalating to " + level.Describe(inc.EscalationLevel)
	inc.Record(w.now(ctx), incident.SystemActor, incident.EntryEscalated, "%s", text)
	w.events = append(w.events, activities.Event{
		Kind: incident.EntryEscalated, Actor: incident.SystemActor, Text: text,
		Escalation: &level, Level: inc.EscalationLevel,
	})
	inc.EscalationLevel++
	w.LastEscalationAt = due
	// Escalations are not throttled: a page must not wait for a storm's edit slot.
	w.notify(ctx)
	w.page(ctx, level, inc.EscalationLevel-1, text)
}

// page publishes the level's SNS targets. A failure goes to the timeline; the
// Slack mention above has already gone out.
func (w *incidentRun) page(ctx workflow.Context, level incident.EscalationLevel, n int, reason string) {
	var topics []string
	for _, t := range level.Targets {
		if t.SNSTopic != "" {
			topics = append(topics, t.SNSTopic)
		}
	}
	if len(topics) == 0 || workflow.GetVersion(ctx, versionSNSPaging, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	actx := workflow.WithActivityOptions(ctx, pageOptions)
	var res activities.PageResult
	err := workflow.ExecuteActivity(actx, pageActs.PageTargets, activities.PageInput{
		Incident: w.Incident, Level: n, Topics: topics, Reason: reason,
	}).Get(ctx, &res)
	if err != nil {
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryPageFailed, "page failed: %s", rootMessage(err))
		return
	}
	w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryPaged, "paged %s (messages %s)", strings.Join(topics, ", "), strings.Join(res.MessageIDs, ", "))
}

func (w *incidentRun) unsnooze(ctx workflow.Context) {
	inc := &w.Incident
	inc.Status = incident.StatusOpen
	if inc.AcknowledgedBy != "" {
		inc.Status = incident.StatusAcknowledged
	}
	inc.Record(w.now(ctx), incident.SystemActor, incident.EntryUnsnoozed, "snooze by %s ended", inc.SnoozedBy)
	inc.SnoozedUntil, inc.SnoozedBy = time.Time{}, ""
	// Escalation picks up where it stopped, counting from now.
	w.LastEscalationAt = w.now(ctx)
	w.changed(ctx, activities.Event{Kind: incident.EntryUnsnoozed, Actor: incident.SystemActor, Text: "snooze ended"})
}

// rescan re-runs the source check. Handlers and the main loop share scanLock so
// a button press and the periodic scan never overlap.
func (w *incidentRun) rescan(ctx workflow.Context, actor string) incident.Scan {
	if err := w.scanLock.Lock(ctx); err != nil {
		return incident.Scan{State: incident.ScanUnknown, Detail: err.Error()}
	}
	defer w.scanLock.Unlock()
	actx := workflow.WithActivityOptions(ctx, rescanOptions)
	var scan incident.Scan
	err := workflow.ExecuteActivity(actx, rescanActs.RescanIncident, activities.RescanInput{
		IncidentID: w.Incident.ID, Alert: w.Incident.Alert,
	}).Get(ctx, &scan)
	if err != nil {
		scan = incident.Scan{State: incident.ScanUnknown, Detail: "re-scan failed: " + rootMessage(err), At: w.now(ctx)}
	}
	if w.Incident.Status == incident.StatusResolved {
		return scan // resolved while the scan ran
	}
	w.applyScan(ctx, scan, actor)
	return scan
}

// applyScan counts clean scans and auto-resolves after CleanScansToResolve in a row.
func (w *incidentRun) applyScan(ctx workflow.Context, scan incident.Scan, actor string) {
	inc := &w.Incident
	if scan.At.IsZero() {
		scan.At = w.now(ctx)
	}
	inc.LastScan = &scan
	switch scan.State {
	case incident.ScanClean:
		inc.CleanScans++
	case incident.ScanFiring:
		inc.CleanScans = 0
	}
	inc.Record(w.now(ctx), actor, incident.EntryRescan, "%s (%d clean in a row): %s", scan.State, inc.CleanScans, scan.Detail)
	need := w.Policy.CleanScansToResolve
	if need > 0 && inc.CleanScans >= need {
		w.resolve(ctx, incident.SystemActor, fmt.Sprintf("auto-resolved after %d clean re-scans", inc.CleanScans))
		return
	}
	// Only a change of state is worth a thread message; routine "still firing" is not.
	w.changed(ctx, activities.Event{Kind: incident.EntryRescan, Actor: actor, Text: fmt.Sprintf("re-scan: %s — %s", scan.State, scan.Detail)})
}

func (w *incidentRun) resolve(ctx workflow.Context, by, note string) {
	inc := &w.Incident
	now := w.now(ctx)
	inc.Status = incident.StatusResolved
	inc.ResolvedBy, inc.ResolvedAt, inc.ResolveNote = by, now, note
	text := "resolved by " + by
	if note != "" {
		text += ": " + note
	}
	inc.Record(now, by, incident.EntryResolved, "%s", text)
	w.countResolved(ctx, by)
	w.changed(ctx, activities.Event{Kind: incident.EntryResolved, Actor: by, Text: text})
	if w.noiseControl {
		if w.Silence != nil {
			w.releaseSilence(ctx)
		}
		w.report(ctx) // a resolved parent frees its children in the correlator
	}
}

// changed queues an event for the thread, refreshes search attributes and wakes the loop.
func (w *incidentRun) changed(ctx workflow.Context, ev activities.Event) {
	w.events = append(w.events, ev)
	w.NotifyPending = true
	w.upsertSearchAttributes(ctx)
	w.wake.SendAsync(nil)
}

// notify posts or edits the announcement and tells queued events. A failure that
// retries cannot fix goes to the timeline; the incident goes on.
func (w *incidentRun) notify(ctx workflow.Context) {
	if w.held() {
		// Silenced and never announced: nothing to post or edit. What
		// happened meanwhile is in the timeline the announcement links.
		w.events, w.NotifyPending = nil, false
		return
	}
	actx := workflow.WithLocalActivityOptions(ctx, notifyOptions)
	events := w.events
	// Cleared first: handlers may queue more while the activity runs.
	w.events, w.NotifyPending = nil, false
	if len(events) == 0 {
		events = []activities.Event{{}} // just post or edit
	}
	for _, ev := range events {
		in := activities.NotifyInput{Incident: w.Incident}
		if ev.Kind != "" {
			in.Event = &ev
		}
		var res activities.NotifyResult
		err := workflow.ExecuteLocalActivity(actx, notifyActs.NotifyIncident, in).Get(ctx, &res)
		now := w.now(ctx)
		if err != nil {
			w.Incident.Record(now, incident.SystemActor, incident.EntryNotifyFailed, "notify failed: %s", rootMessage(err))
			// Out of retries but not hopeless (Slack down, timeouts): try the edit again at the
			// next slot, or the message would show a stale count until something else changes.
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeNotifyPermanent {
				w.NotifyPending = true
			}
			continue
		}
		if w.Incident.Message == nil {
			ref := res.Message
			w.Incident.Message = &ref
			w.Incident.Record(now, incident.SystemActor, incident.EntryNotified, "announced via %s %s", ref.Notifier, ref.Channel)
			w.observeAnnounced(ctx, now)
		}
		// What went wrong without stopping the notice (posted by name: no
		// channel listing, a fallback channel) is for people to fix.
		for _, warning := range res.Warnings {
			w.Incident.Record(now, incident.SystemActor, incident.EntryNotified, "warning: %s", warning)
		}
	}
	w.LastNotifyAt = w.now(ctx)
}

// archive writes the incident record in this run, as released code did; a
// failure after a day of retries is recorded.
func (w *incidentRun) archive(ctx workflow.Context) {
	actx := workflow.WithActivityOptions(ctx, archiveOptions)
	var res activities.ArchiveResult
	err := workflow.ExecuteActivity(actx, archiveActs.ArchiveIncident, activities.ArchiveInput{
		Incident: w.Incident, At: w.now(ctx),
	}).Get(ctx, &res)
	if err != nil {
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchiveFail, "archive failed: %s", rootMessage(err))
		return
	}
	w.Incident.ArchiveURL = res.URL
	w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchived, "archived to %s", res.URL)
}

// archiveInChild hands the resolved incident to its own archive workflow and
// waits until Temporal has started it: from then on the record is durable. It
// then waits for the record's URL, but a re-fire wins the race: the next
// incident must open now, not after an S3 outage.
func (w *incidentRun) archiveInChild(ctx workflow.Context) {
	id := IncidentArchiveWorkflowID(w.Incident.ID, workflow.GetInfo(ctx).WorkflowExecution.RunID)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	child := workflow.ExecuteChildWorkflow(cctx, IncidentArchiveWorkflowName, activities.ArchiveInput{
		Incident: w.Incident, At: w.now(ctx),
	})
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		// Nothing else will write the record: write it here, as released code did.
		w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchiveFail,
			"archive workflow %s did not start: %s; archiving in this run", id, rootMessage(err))
		w.archive(ctx)
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	giveUp := workflow.NewTimer(tctx, archiveWait)
	for waiting := true; waiting && w.Refire == 0; {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(child, func(f workflow.Future) {
			waiting = false
			var res activities.ArchiveResult
			if err := f.Get(ctx, &res); err != nil {
				w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchiveFail, "archive failed: %s", rootMessage(err))
				return
			}
			w.Incident.ArchiveURL = res.URL
			w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchived, "archived to %s", res.URL)
		})
		sel.AddFuture(giveUp, func(workflow.Future) {
			waiting = false
			w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryArchiveFail,
				"archive not written after %s; workflow %s keeps trying", archiveWait, id)
		})
		sel.AddReceive(w.occurrences, func(c workflow.ReceiveChannel, _ bool) {
			var o Occurrence
			c.Receive(ctx, &o)
			w.addOccurrence(ctx, o) // resolved: counts a re-fire
		})
		sel.AddReceive(w.clears, func(c workflow.ReceiveChannel, _ bool) {
			var cl SourceClear
			c.Receive(ctx, &cl)
			w.addClear(ctx, cl)
		})
		w.addNoiseReceivers(ctx, sel)
		sel.Select(ctx)
	}
}

var saKeys = [5]temporal.SearchAttributeKeyKeyword{SearchAttrSeverity, SearchAttrStatus, SearchAttrRule, SearchAttrCategory, SearchAttrEnv}

// loadSearchAttributes learns what the start request (or the previous run) set,
// so the first upsert writes only what differs.
func (w *incidentRun) loadSearchAttributes(ctx workflow.Context) {
	sas := workflow.GetTypedSearchAttributes(ctx)
	for i, k := range saKeys {
		if v, ok := sas.GetKeyword(k); ok {
			w.sa[i] = v
		}
	}
}

// upsertSearchAttributes keeps the Web UI's columns in step, writing only changes.
func (w *incidentRun) upsertSearchAttributes(ctx workflow.Context) {
	inc := &w.Incident
	vals := [5]string{inc.Severity.String(), string(inc.Status), inc.Alert.Rule, inc.Alert.Category, inc.Alert.Env}
	if vals == w.sa {
		return
	}
	var updates []temporal.SearchAttributeUpdate
	for i, k := range saKeys {
		if vals[i] == w.sa[i] {
			continue
		}
		if vals[i] == "" {
			updates = append(updates, k.ValueUnset())
		} else {
			updates = append(updates, k.ValueSet(vals[i]))
		}
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		return
	}
	w.sa = vals
}

// shouldContinueAsNew is true before this run's history nears Temporal's limits.
func (w *incidentRun) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return w.signals >= w.Policy.MaxSignalsPerRun ||
		info.GetCurrentHistoryLength() >= w.Policy.MaxHistoryEvents ||
		info.GetContinueAsNewSuggested()
}

// continueAsNew hands the state to a fresh run, after every handler is done and
// every delivered signal is folded in, so nothing accepted is lost. Nothing may
// block between the last drain and the hand-over: whatever arrives while a
// task is open makes Temporal refuse the hand-over and run the task again
// with it, but what arrives while the run waits (a notify spanning tasks) is
// simply never read.
func (w *incidentRun) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return fmt.Errorf("wait for handlers before continue-as-new: %w", err)
	}
	w.awaitReports(ctx)
	w.drainSignals(ctx)
	carried := w.Carried
	if workflow.GetVersion(ctx, versionCarryEvents, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if len(w.events) > 0 {
			w.notify(ctx) // released code: what arrives meanwhile is lost
		}
		carried = w.Carried
	} else {
		carried.Events = w.events
	}
	return workflow.NewContinueAsNewError(ctx, IncidentWorkflowName, IncidentInput{Alert: w.Incident.Alert, Carried: &carried})
}

// registerHandlers wires signals, updates and the status query.
func (w *incidentRun) registerHandlers(ctx workflow.Context) error {
	w.occurrences = workflow.GetSignalChannel(ctx, SignalOccurrence)
	w.clears = workflow.GetSignalChannel(ctx, SignalSourceClear)
	w.correlations = workflow.GetSignalChannel(ctx, SignalCorrelated)
	w.silenceEnded = workflow.GetSignalChannel(ctx, SignalSilenceEnded)
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	w.scanLock = workflow.NewMutex(ctx)

	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (incident.Incident, error) {
		return w.Incident, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, w.acknowledge,
		workflow.UpdateHandlerOptions{Validator: w.validateAcknowledge}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateResolve, w.resolveUpdate,
		workflow.UpdateHandlerOptions{Validator: w.validateResolve}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSnooze, w.snooze,
		workflow.UpdateHandlerOptions{Validator: w.validateSnooze}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRescan, w.rescanUpdate,
		workflow.UpdateHandlerOptions{Validator: w.validateRescan})
}

func invalid(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalid)
}

func conflict(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeConflict)
}

const stamp = time.RFC3339

// notResolved rejects changes to a resolved incident, saying who resolved it.
func (w *incidentRun) notResolved() error {
	if inc := &w.Incident; inc.Status == incident.StatusResolved {
		return conflict("already resolved by %s at %s", inc.ResolvedBy, inc.ResolvedAt.Format(stamp))
	}
	return nil
}

func (w *incidentRun) validateAcknowledge(ctx workflow.Context, req AcknowledgeRequest) error {
	if req.By == "" {
		return invalid("by: required")
	}
	if err := w.notResolved(); err != nil {
		return err
	}
	if inc := &w.Incident; inc.AcknowledgedBy != "" {
		return conflict("already acknowledged by %s at %s", inc.AcknowledgedBy, inc.AcknowledgedAt.Format(stamp))
	}
	return nil
}

func (w *incidentRun) acknowledge(ctx workflow.Context, req AcknowledgeRequest) (UpdateResult, error) {
	// Re-checked here: two acks validated in the same task both pass the validator.
	if err := w.validateAcknowledge(ctx, req); err != nil {
		return UpdateResult{}, err
	}
	inc := &w.Incident
	now := w.now(ctx)
	inc.Status = incident.StatusAcknowledged
	inc.AcknowledgedBy, inc.AcknowledgedAt = req.By, now
	inc.SnoozedBy, inc.SnoozedUntil = "", time.Time{}
	text := "acknowledged by " + req.By
	if req.Note != "" {
		text += ": " + req.Note
	}
	inc.Record(now, req.By, incident.EntryAcknowledged, "%s", text)
	w.observeAck(ctx)
	w.changed(ctx, activities.Event{Kind: incident.EntryAcknowledged, Actor: req.By, Text: text})
	return UpdateResult{Incident: *inc}, nil
}

func (w *incidentRun) validateResolve(ctx workflow.Context, req ResolveRequest) error {
	if req.By == "" {
		return invalid("by: required")
	}
	return w.notResolved()
}

func (w *incidentRun) resolveUpdate(ctx workflow.Context, req ResolveRequest) (UpdateResult, error) {
	if err := w.validateResolve(ctx, req); err != nil {
		return UpdateResult{}, err
	}
	w.resolve(ctx, req.By, req.Note)
	return UpdateResult{Incident: w.Incident}, nil
}

func (w *incidentRun) validateSnooze(ctx workflow.Context, req SnoozeRequest) error {
	if req.By == "" {
		return invalid("by: required")
	}
	if now := w.now(ctx); !req.Until.After(now) {
		return invalid("until: must be in the future, got %s (now %s)", req.Until.UTC().Format(stamp), now.Format(stamp))
	}
	return w.notResolved()
}

func (w *incidentRun) snooze(ctx workflow.Context, req SnoozeRequest) (UpdateResult, error) {
	if err := w.validateSnooze(ctx, req); err != nil {
		return UpdateResult{}, err
	}
	inc := &w.Incident
	inc.Status = incident.StatusSnoozed
	inc.SnoozedBy, inc.SnoozedUntil = req.By, req.Until.UTC()
	text := fmt.Sprintf("snoozed by %s until %s", req.By, inc.SnoozedUntil.Format(stamp))
	inc.Record(w.now(ctx), req.By, incident.EntrySnoozed, "%s", text)
	w.changed(ctx, activities.Event{Kind: incident.EntrySnoozed, Actor: req.By, Text: text})
	return UpdateResult{Incident: *inc}, nil
}

func (w *incidentRun) validateRescan(ctx workflow.Context, req RescanRequest) error {
	if req.By == "" {
		return invalid("by: required")
	}
	return w.notResolved()
}

func (w *incidentRun) rescanUpdate(ctx workflow.Context, req RescanRequest) (UpdateResult, error) {
	if err := w.validateRescan(ctx, req); err != nil {
		return UpdateResult{}, err
	}
	w.rescan(ctx, req.By)
	w.wake.SendAsync(nil)
	return UpdateResult{Incident: w.Incident}, nil
}

// rootMessage is the innermost error message: what a person needs in a timeline.
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// IncidentWorkflow runs one incident, from the first alert to the archived record:
//
//	open (policy, announce) → until resolved: fold in occurrences, escalate while
//	nobody acknowledges, re-scan until N clean, honour snoozes → start the
//	archive workflow → wait for its record or a re-fire → final notify.
//	Duplicates after resolution re-open a new, linked incident at once.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (IncidentResult, error) {
	// State first, handlers second: updates in the first task must see it.
	w := &incidentRun{}
	fresh := true
	switch {
	case in.Carried == nil:
		w.begin(ctx, in.Alert, nil, 0)
	case in.Carried.Refire > 0:
		prev := in.Carried.Incident
		alert := in.Alert
		if in.Carried.RefireAlert != nil {
			alert = *in.Carried.RefireAlert
		}
		w.begin(ctx, alert, &incident.RunRef{ID: prev.ID, RunID: prev.RunID, ResolvedAt: prev.ResolvedAt}, in.Carried.Refire)
	default:
		fresh = false
		w.Carried = *in.Carried
		w.events, w.Carried.Events = in.Carried.Events, nil
		w.Incident.RunID = workflow.GetInfo(ctx).WorkflowExecution.RunID
	}
	if err := w.registerHandlers(ctx); err != nil {
		return IncidentResult{}, err
	}
	w.noiseControl = workflow.GetVersion(ctx, versionNoiseControl, workflow.DefaultVersion, 1) > workflow.DefaultVersion
	w.currentDetailsOn = workflow.GetVersion(ctx, versionCurrentDetails, workflow.DefaultVersion, 1) > workflow.DefaultVersion
	// Before anything can block: a run that continued as new has no static
	// summary, so this is what the Web UI shows of it.
	w.showDetails(ctx)
	w.loadSearchAttributes(ctx)
	if fresh {
		if err := w.open(ctx); err != nil {
			return IncidentResult{}, err
		}
	} else {
		w.drainSignals(ctx)
		w.upsertSearchAttributes(ctx)
		// Context the previous run asked for and never heard back about.
		if w.NeedEnrich || w.NeedCorrelate {
			w.askContext(ctx)
		}
		if len(w.events) > 0 {
			w.notify(ctx) // changes the previous run handed over untold
		}
	}

	w.showDetails(ctx)
	for w.Incident.Status != incident.StatusResolved {
		if w.shouldContinueAsNew(ctx) {
			return IncidentResult{}, w.continueAsNew(ctx)
		}
		w.wait(ctx)
		w.runDue(ctx)
		w.showDetails(ctx)
	}
	w.showDetails(ctx)

	if w.cancelTimer != nil {
		w.cancelTimer()
	}
	if workflow.GetVersion(ctx, versionArchiveChild, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		w.archive(ctx)
	} else {
		w.archiveInChild(ctx)
	}
	w.notify(ctx)
	w.awaitReports(ctx)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return IncidentResult{}, err
	}
	// Alerts that arrived after resolution belong to a new incident, linked to this one.
	w.drainSignals(ctx)
	if w.Refire > 0 {
		carried := Carried{Incident: w.Incident, Refire: w.Refire, RefireAlert: w.RefireAlert}
		return IncidentResult{Incident: w.Incident}, workflow.NewContinueAsNewError(ctx, IncidentWorkflowName,
			IncidentInput{Alert: w.Incident.Alert, Carried: &carried})
	}
	return IncidentResult{Incident: w.Incident}, nil
}
