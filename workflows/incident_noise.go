package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// The incident workflow's noise control (versionNoiseControl): silences hold
// the announcement and escalation back, the correlator links incidents, and
// incident.Classify raises the severity with what enrichment and
// correlations found.

// silenceOptions: the check is a query of the silences workflow and a
// match; if it cannot answer in time the incident is announced, because an
// unwanted page is better than a missed one.
var silenceOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    5 * time.Second,
	ScheduleToCloseTimeout: 15 * time.Second,
}

// correlatorActor is the timeline actor of what the correlator decided.
const correlatorActor = "correlator"

// held reports whether a silence holds back an incident never announced:
// nothing is posted until the silence ends.
func (w *incidentRun) held() bool {
	return w.Silence != nil && w.Incident.Message == nil
}

// checkSilence asks whether a silence or maintenance window matches the
// incident now, and records the answer. It reports whether the incident is
// silenced.
func (w *incidentRun) checkSilence(ctx workflow.Context) bool {
	if !w.Policy.Silences {
		return false
	}
	inc := &w.Incident
	lctx := workflow.WithLocalActivityOptions(ctx, silenceOptions)
	var res activities.CheckSilenceResult
	err := workflow.ExecuteLocalActivity(lctx, silenceActs.CheckSilence, activities.CheckSilenceInput{
		IncidentID: inc.ID, Alert: inc.Alert, Severity: inc.Severity,
		WorkflowID: SilencesWorkflowID, Query: QuerySilences, HeldSignal: SignalSilenceHeld,
	}).Get(ctx, &res)
	now := w.now(ctx)
	if err != nil {
		inc.Record(now, incident.SystemActor, incident.EntryNotifyFailed,
			"silence check failed, so not silenced: %s", rootMessage(err))
		return w.Silence != nil && now.Before(w.Silence.Until)
	}
	if res.Match == nil {
		return false
	}
	m := *res.Match
	if w.Silence == nil || w.Silence.ID != m.ID || !w.Silence.Until.Equal(m.Until) {
		text := fmt.Sprintf("silenced by %s until %s", m.ID, m.Until.UTC().Format(stamp))
		if m.Comment != "" {
			text += ": " + m.Comment
		}
		inc.Record(now, incident.SystemActor, incident.EntrySilenced, "%s", text)
		if inc.Message != nil {
			// Announced before the silence: the thread says why it went quiet.
			w.changed(ctx, activities.Event{Kind: incident.EntrySilenced, Actor: incident.SystemActor, Text: text})
		}
	}
	w.Silence = &m
	inc.SilencedBy = m.ID
	if !slices.Contains(inc.HeldBy, m.ID) {
		inc.HeldBy = append(inc.HeldBy, m.ID)
	}
	return true
}

// recheckSilence runs when the holding silence may have ended: another
// silence may hold the incident, or it is announced (or told) now.
func (w *incidentRun) recheckSilence(ctx workflow.Context, why string) {
	prev := w.Silence
	w.Silence = nil
	if w.checkSilence(ctx) {
		return
	}
	inc := &w.Incident
	now := w.now(ctx)
	inc.SilencedBy = ""
	text := fmt.Sprintf("%s no longer silences this incident (%s)", prev.ID, why)
	inc.Record(now, incident.SystemActor, incident.EntryUnsilenced, "%s", text)
	if inc.Status == incident.StatusResolved {
		return
	}
	// Escalation counts from the announcement, not from the opening.
	w.LastEscalationAt = now
	w.changed(ctx, activities.Event{Kind: incident.EntryUnsilenced, Actor: incident.SystemActor, Text: text})
}

// silenceEnd handles the silences workflow's word that a silence ended
// early (expired, or its incidents resolved).
func (w *incidentRun) silenceEnd(ctx workflow.Context, e SilenceEnded) {
	w.signals++
	if w.Silence == nil || w.Silence.ID != e.SilenceID || w.Incident.Status == incident.StatusResolved {
		return
	}
	w.recheckSilence(ctx, "the silence ended")
}

// releaseSilence tells the silences workflow this incident resolved, for
// silences that end when their incidents do.
func (w *incidentRun) releaseSilence(ctx workflow.Context) {
	if w.Silence.Kind != incident.SilenceKindSilence {
		return
	}
	// Fire and forget: a silence that outlives a missed release still ends
	// at its own time.
	workflow.SignalExternalWorkflow(ctx, SilencesWorkflowID, "", SignalSilenceReleased,
		SilenceHeld{SilenceID: w.Silence.ID, IncidentID: w.Incident.ID})
}

// report tells the correlator about the incident when what it knows
// changed: opened, a new severity, resolved. The answer comes back as
// SignalCorrelated.
func (w *incidentRun) report(ctx workflow.Context) {
	pol := w.Policy.Correlation
	inc := &w.Incident
	if !pol.Enabled || inc.Severity == w.reported.Severity && inc.Status == w.reported.Status {
		return
	}
	w.reported = CorrelatorReport{IncidentID: inc.ID, Alert: inc.Alert, Severity: inc.Severity, Status: inc.Status, OpenedAt: inc.OpenedAt}
	w.reports = append(w.reports, reportToCorrelator(ctx, CorrelatorScope(pol.Scope, inc.Alert), w.reported))
}

// addNoiseReceivers adds the correlator's and the silences workflow's
// signals to a wait.
func (w *incidentRun) addNoiseReceivers(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(w.correlations, func(c workflow.ReceiveChannel, _ bool) {
		var cr Correlation
		c.Receive(ctx, &cr)
		w.correlate(ctx, cr)
	})
	sel.AddReceive(w.silenceEnded, func(c workflow.ReceiveChannel, _ bool) {
		var e SilenceEnded
		c.Receive(ctx, &e)
		w.silenceEnd(ctx, e)
	})
}

// awaitReports waits for the correlator reports still in flight, so a run
// never ends (or continues as new) with one abandoned.
func (w *incidentRun) awaitReports(ctx workflow.Context) {
	for _, f := range w.reports {
		if err := f.Get(ctx, nil); err != nil {
			w.Incident.Record(w.now(ctx), incident.SystemActor, incident.EntryCorrelated,
				"report to the correlator failed: %s", rootMessage(err))
		}
	}
	w.reports = nil
}

// correlate folds in what the correlator found: links, and a severity floor.
func (w *incidentRun) correlate(ctx workflow.Context, c Correlation) {
	w.signals++
	inc := &w.Incident
	for _, id := range c.Related {
		if id != inc.ID && !slices.Contains(inc.Related, id) {
			inc.Related = append(inc.Related, id)
		}
	}
	for _, id := range c.Children {
		if id != inc.ID && !slices.Contains(inc.Children, id) {
			inc.Children = append(inc.Children, id)
		}
	}
	if c.ParentID != "" {
		inc.ParentID = c.ParentID
	}
	inc.Record(w.now(ctx), correlatorActor, incident.EntryCorrelated, "%s", c.Reason)
	if inc.Status == incident.StatusResolved {
		return // the links are kept for the record; nothing to tell
	}
	if c.Severity.Valid() {
		w.Floors = append(w.Floors, incident.SeverityFloor{Severity: c.Severity, Reason: c.Reason})
	}
	w.changed(ctx, activities.Event{Kind: incident.EntryCorrelated, Actor: correlatorActor, Text: c.Reason})
	w.classify(ctx)
}

// classify recomputes the severity from the alert, the enrichment and the
// correlations (incident.Classify). It only ever raises it.
func (w *incidentRun) classify(ctx workflow.Context) {
	inc := &w.Incident
	base := w.AlertSeverity
	if !base.Valid() {
		base = inc.Severity // a run continued from code that did not track it
	}
	sev, reasons := incident.Classify(incident.ClassifyInput{Alert: base, Enrichment: inc.Enrichment, Floors: w.Floors})
	if sev <= inc.Severity {
		return
	}
	// The last reason says why the severity is what it is now.
	text := fmt.Sprintf("severity raised from %s to %s", inc.Severity, sev)
	if len(reasons) > 0 {
		text = reasons[len(reasons)-1]
	}
	inc.Record(w.now(ctx), incident.SystemActor, incident.EntryCorrelated, "%s", text)
	inc.Severity = sev
	// The message shows the new severity at the next edit; a correlation
	// has told the thread why already, and an intel hit is in the context.
	w.NotifyPending = true
	w.upsertSearchAttributes(ctx)
	w.report(ctx)
}
