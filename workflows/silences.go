package workflows

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
)

// Silences: why one long-running workflow per namespace.
//
// Silences must outlive any worker and be read by every new incident, so
// they are the state of ONE workflow, ID SilencesWorkflowID, started on
// demand by the first `starter silence add` (update-with-start). A new
// incident's CheckSilence activity queries it and, when a silence matches,
// signals SignalSilenceHeld; the incident signals SignalSilenceReleased when
// it resolves. When a silence ends (its EndsAt, an expire, or the release of
// the last incident an end_on_resolve silence held) the workflow tells each
// incident it still holds with SignalSilenceEnded, so a silence expired early
// lets its incidents speak at once. Continue-as-new carries the silences.

// SilencesWorkflowName is the silences workflow's type; SilencesWorkflowID
// its one workflow ID per namespace.
const (
	SilencesWorkflowName = "SilencesWorkflow"
	SilencesWorkflowID   = "irflow-silences"
)

// Updates, the query and the signals of the silences workflow.
const (
	// UpdateAddSilence takes an AddSilenceRequest and returns the incident.Silence.
	UpdateAddSilence = "add-silence"
	// UpdateExpireSilence takes an ExpireSilenceRequest and returns the incident.Silence.
	UpdateExpireSilence = "expire-silence"
	// QuerySilences returns []incident.Silence: active, pending and those
	// that ended within the last day, newest first.
	QuerySilences = "silences"
	// SignalSilenceHeld carries a SilenceHeld: the silence holds the incident back.
	SignalSilenceHeld = "silence-held"
	// SignalSilenceReleased carries a SilenceHeld: the incident resolved.
	SignalSilenceReleased = "silence-released"
)

// ErrTypeNotFound rejects an update about a silence the workflow does not
// have; the client maps it to incident.ENOTFOUND.
const ErrTypeNotFound = "NotFound"

// Limits of the silences workflow.
const (
	// SilenceRetention is how long an ended silence is still listed.
	SilenceRetention = 24 * time.Hour
	// MaxSilences bounds the silences active or pending at once: every new
	// incident is matched against all of them.
	MaxSilences = 500
	// maxHeld bounds the incidents tracked across silences, so the state
	// continue-as-new carries stays far below Temporal's payload limit. An
	// incident past it is still silenced and re-checks at the silence's end.
	maxHeld = 10000
	// defaultMaxSilenceMessages is the signals and updates one run takes
	// before it continues as new.
	defaultMaxSilenceMessages = 1000
	// maxSilenceHistory continues as new well before Temporal's own suggestion.
	maxSilenceHistory = 10000
	// maxApplied bounds the updates remembered (for a day) against re-delivery.
	maxApplied = 2000
)

// SilencesInput starts the silences workflow, and is what continue-as-new carries.
type SilencesInput struct {
	Silences []incident.Silence `json:"silences,omitempty"`
	// Prefix and Next make silence IDs (<prefix>-<n>): the prefix is drawn
	// once per chain of runs, the counter carried, so IDs stay unique
	// across continue-as-new and across a workflow started afresh.
	Prefix string `json:"prefix,omitempty"`
	Next   int    `json:"next,omitempty"`
	// MaxMessagesPerRun bounds a run (default 1000 signals and updates); a
	// run also continues as new when its history grows or Temporal suggests it.
	MaxMessagesPerRun int `json:"max_messages_per_run,omitempty"`
	// Applied are the updates of the last day, by update ID.
	Applied []AppliedUpdate `json:"applied,omitempty"`
}

// AppliedUpdate records one add or expire, so the same update delivered
// again gets the first answer instead of a second silence (or a conflict).
// Temporal dedupes update IDs within a run only, and it may deliver an
// update again to the next run: when a client retries across
// continue-as-new, or when the update completed in the task that continued
// as new (temporalio/temporal#6375).
type AppliedUpdate struct {
	UpdateID  string    `json:"update_id"`
	SilenceID string    `json:"silence_id"`
	At        time.Time `json:"at"`
}

// AddSilenceRequest is the argument of UpdateAddSilence.
type AddSilenceRequest struct {
	// Matchers are Alertmanager-style: "env=prod", "rule=~ssh-.*".
	Matchers []string `json:"matchers"`
	// StartsAt zero (or past) means now.
	StartsAt     time.Time `json:"starts_at,omitzero"`
	EndsAt       time.Time `json:"ends_at"`
	Comment      string    `json:"comment,omitempty"`
	By           string    `json:"by"`
	EndOnResolve bool      `json:"end_on_resolve,omitempty"`
}

// ExpireSilenceRequest is the argument of UpdateExpireSilence.
type ExpireSilenceRequest struct {
	ID string `json:"id"`
	By string `json:"by"`
}

// SilenceHeld is the payload of SignalSilenceHeld and SignalSilenceReleased.
type SilenceHeld struct {
	SilenceID  string `json:"silence_id"`
	IncidentID string `json:"incident_id"`
}

// silencesRun is one run of the silences workflow.
type silencesRun struct {
	SilencesInput

	held, released workflow.ReceiveChannel
	wake           workflow.Channel // update handlers nudge the main loop

	messages int // signals and updates this run took
	sending  int // SilenceEnded signals not yet acknowledged by Temporal

	timer       workflow.Future
	timerAt     time.Time
	cancelTimer workflow.CancelFunc
}

func (w *silencesRun) now(ctx workflow.Context) time.Time { return workflow.Now(ctx).UTC() }

// newSilencePrefix draws the ID prefix of a new chain of runs.
func newSilencePrefix(ctx workflow.Context) string {
	var p string
	_ = workflow.SideEffect(ctx, func(workflow.Context) any {
		var b [3]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}).Get(&p)
	return p
}

func (w *silencesRun) find(id string) int {
	return slices.IndexFunc(w.Silences, func(s incident.Silence) bool { return s.ID == id })
}

// applied returns the silence an update already applied to, if this
// update (by ID) was applied before.
func (w *silencesRun) applied(ctx workflow.Context) (string, bool) {
	info := workflow.GetCurrentUpdateInfo(ctx)
	if info == nil || info.ID == "" {
		return "", false
	}
	for _, a := range w.Applied {
		if a.UpdateID == info.ID {
			return a.SilenceID, true
		}
	}
	return "", false
}

// remember records that the current update applied to silence id.
func (w *silencesRun) remember(ctx workflow.Context, id string) {
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil && info.ID != "" {
		w.Applied = append(w.Applied, AppliedUpdate{UpdateID: info.ID, SilenceID: id, At: w.now(ctx)})
	}
}

// again answers an update applied before with the silence as it is now.
func (w *silencesRun) again(id string) (incident.Silence, error) {
	if i := w.find(id); i >= 0 {
		return w.Silences[i], nil
	}
	return incident.Silence{}, temporal.NewApplicationError(fmt.Sprintf("no silence %s (ended silences are listed for %s)", id, SilenceRetention), ErrTypeNotFound)
}

// live counts the silences not yet ended.
func (w *silencesRun) live(now time.Time) int {
	n := 0
	for i := range w.Silences {
		if w.Silences[i].EndedAt().After(now) {
			n++
		}
	}
	return n
}

func (w *silencesRun) heldCount() int {
	n := 0
	for i := range w.Silences {
		n += len(w.Silences[i].Held)
	}
	return n
}

// tell signals one incident that the silence holding it ended. A failure
// (the incident resolved and closed, or never existed) is logged, never
// fatal: the incident also re-checks at the silence's end by itself.
func (w *silencesRun) tell(ctx workflow.Context, incidentID string, ended SilenceEnded) {
	f := workflow.SignalExternalWorkflow(ctx, incidentID, "", SignalSilenceEnded, ended)
	w.sending++
	workflow.Go(ctx, func(gctx workflow.Context) {
		defer func() { w.sending-- }()
		if err := f.Get(gctx, nil); err != nil {
			workflow.GetLogger(ctx).Info("silence ended; incident not told", "silence", ended.SilenceID, "incident", incidentID, "error", err)
		}
	})
}

// end tells every incident the silence still holds that it ended.
func (w *silencesRun) end(ctx workflow.Context, s *incident.Silence) {
	at := w.now(ctx)
	for _, id := range s.Held {
		w.tell(ctx, id, SilenceEnded{SilenceID: s.ID, At: at})
	}
	s.Held = nil
}

// onHeld records that a silence holds an incident. A silence that ended (or
// is gone) meanwhile cannot hold it: the incident is told at once.
func (w *silencesRun) onHeld(ctx workflow.Context, h SilenceHeld) {
	w.messages++
	if h.IncidentID == "" {
		return
	}
	now := w.now(ctx)
	if i := w.find(h.SilenceID); i >= 0 && w.Silences[i].EndedAt().After(now) {
		s := &w.Silences[i]
		switch {
		case slices.Contains(s.Held, h.IncidentID):
		case w.heldCount() >= maxHeld:
			workflow.GetLogger(ctx).Warn("too many held incidents to track; this one re-checks at the silence's end",
				"silence", s.ID, "incident", h.IncidentID, "max", maxHeld)
		default:
			s.Held = append(s.Held, h.IncidentID)
		}
		return
	}
	w.tell(ctx, h.IncidentID, SilenceEnded{SilenceID: h.SilenceID, At: now})
}

// onReleased forgets a resolved incident; the release of the last incident
// an end_on_resolve silence held ends the silence.
func (w *silencesRun) onReleased(ctx workflow.Context, h SilenceHeld) {
	w.messages++
	i := w.find(h.SilenceID)
	if i < 0 {
		return
	}
	s := &w.Silences[i]
	j := slices.Index(s.Held, h.IncidentID)
	if j < 0 {
		return
	}
	s.Held = slices.Delete(s.Held, j, j+1)
	if now := w.now(ctx); s.EndOnResolve && len(s.Held) == 0 && s.EndedAt().After(now) {
		s.ExpiredAt, s.ExpiredBy, s.EndsAt = now, incident.SystemActor, now
		w.end(ctx, s)
	}
}

// drain takes every signal already delivered, without blocking, and says
// whether there was one.
func (w *silencesRun) drain(ctx workflow.Context) bool {
	took := false
	for {
		var h SilenceHeld
		if !w.held.ReceiveAsync(&h) {
			break
		}
		w.onHeld(ctx, h)
		took = true
	}
	for {
		var h SilenceHeld
		if !w.released.ReceiveAsync(&h) {
			break
		}
		w.onReleased(ctx, h)
		took = true
	}
	return took
}

// runDue ends the silences whose time is up and drops those ended more than
// SilenceRetention ago.
func (w *silencesRun) runDue(ctx workflow.Context) {
	now := w.now(ctx)
	for i := range w.Silences {
		if s := &w.Silences[i]; len(s.Held) > 0 && !s.EndedAt().After(now) {
			w.end(ctx, s)
		}
	}
	w.Silences = slices.DeleteFunc(w.Silences, func(s incident.Silence) bool {
		return !s.EndedAt().Add(SilenceRetention).After(now)
	})
	w.Applied = slices.DeleteFunc(w.Applied, func(a AppliedUpdate) bool { return !a.At.Add(SilenceRetention).After(now) })
	if n := len(w.Applied); n > maxApplied {
		w.Applied = slices.Delete(w.Applied, 0, n-maxApplied)
	}
}

// nextDeadline is the earliest end of a silence that holds incidents, or
// drop of an ended one. Zero means nothing is due.
func (w *silencesRun) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for i := range w.Silences {
		s := &w.Silences[i]
		if len(s.Held) > 0 {
			consider(s.EndedAt())
		}
		consider(s.EndedAt().Add(SilenceRetention))
	}
	return next
}

// wait blocks until a signal, an update or the next deadline. The timer is
// kept while the deadline stays the same, so a storm of held signals does
// not add a timer to history for each one.
func (w *silencesRun) wait(ctx workflow.Context) {
	deadline := w.nextDeadline()
	if w.timer != nil && !deadline.Equal(w.timerAt) {
		w.cancelTimer()
		w.timer = nil
	}
	if w.timer == nil && !deadline.IsZero() {
		tctx, cancel := workflow.WithCancel(ctx)
		w.timer, w.cancelTimer, w.timerAt = workflow.NewTimer(tctx, max(deadline.Sub(w.now(ctx)), 0)), cancel, deadline
	}
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(w.held, func(c workflow.ReceiveChannel, _ bool) {
		var h SilenceHeld
		c.Receive(ctx, &h)
		w.onHeld(ctx, h)
	})
	sel.AddReceive(w.released, func(c workflow.ReceiveChannel, _ bool) {
		var h SilenceHeld
		c.Receive(ctx, &h)
		w.onReleased(ctx, h)
	})
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	if w.timer != nil {
		sel.AddFuture(w.timer, func(workflow.Future) { w.timer, w.timerAt = nil, time.Time{} })
	}
	sel.Select(ctx)
}

// runOver says the run should continue as new.
func (w *silencesRun) runOver(ctx workflow.Context) bool {
	limit := w.MaxMessagesPerRun
	if limit <= 0 {
		limit = defaultMaxSilenceMessages
	}
	info := workflow.GetInfo(ctx)
	return w.messages >= limit || info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= maxSilenceHistory
}

// continueAsNew hands the silences to a fresh run once every handler is
// done, every delivered signal is taken and every SilenceEnded is sent.
// Taking a signal may send more, so it loops until a pass finds nothing.
func (w *silencesRun) continueAsNew(ctx workflow.Context) error {
	for {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && w.sending == 0 }); err != nil {
			return fmt.Errorf("wait for handlers before continue-as-new: %w", err)
		}
		w.runDue(ctx)
		if !w.drain(ctx) && w.sending == 0 {
			break
		}
	}
	return workflow.NewContinueAsNewError(ctx, SilencesWorkflowName, w.SilencesInput)
}

// list is what QuerySilences returns: newest first.
func (w *silencesRun) list(now time.Time) []incident.Silence {
	out := make([]incident.Silence, 0, len(w.Silences))
	for _, s := range w.Silences {
		if s.EndedAt().Add(SilenceRetention).After(now) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b incident.Silence) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}

func (w *silencesRun) validateAdd(ctx workflow.Context, req AddSilenceRequest) error {
	if _, ok := w.applied(ctx); ok {
		return nil // answered by add as the first time
	}
	now := w.now(ctx)
	switch {
	case strings.TrimSpace(req.By) == "":
		return invalid("by: required")
	case len(req.Matchers) == 0:
		return invalid("matchers: at least one (like env=prod)")
	case len(req.Matchers) > incident.MaxSilenceMatchers:
		return invalid("matchers: %d, at most %d", len(req.Matchers), incident.MaxSilenceMatchers)
	}
	for i, s := range req.Matchers {
		if _, err := incident.ParseMatcher(s); err != nil {
			return invalid("matchers[%d]: %s", i, incident.ErrorMessage(err))
		}
	}
	starts := req.StartsAt
	if starts.Before(now) {
		starts = now
	}
	switch {
	case req.EndsAt.IsZero():
		return invalid("ends_at: required")
	case !req.EndsAt.After(now):
		return invalid("ends_at: %s must be in the future (now %s)", req.EndsAt.UTC().Format(stamp), now.Format(stamp))
	case !req.EndsAt.After(starts):
		return invalid("ends_at: %s must be after starts_at %s", req.EndsAt.UTC().Format(stamp), starts.UTC().Format(stamp))
	case len(req.Comment) > incident.MaxTextLen:
		return invalid("comment: longer than %d characters", incident.MaxTextLen)
	}
	if n := w.live(now); n >= MaxSilences {
		return conflict("%d silences are active or pending, at most %d: expire some first", n, MaxSilences)
	}
	return nil
}

func (w *silencesRun) add(ctx workflow.Context, req AddSilenceRequest) (incident.Silence, error) {
	if id, ok := w.applied(ctx); ok {
		return w.again(id)
	}
	// Re-checked here: two adds validated in the same task both pass the validator.
	if err := w.validateAdd(ctx, req); err != nil {
		return incident.Silence{}, err
	}
	w.messages++
	now := w.now(ctx)
	s := incident.Silence{
		StartsAt: req.StartsAt.UTC(), EndsAt: req.EndsAt.UTC(), Comment: req.Comment,
		CreatedBy: strings.TrimSpace(req.By), CreatedAt: now, EndOnResolve: req.EndOnResolve,
	}
	if s.StartsAt.Before(now) {
		s.StartsAt = now
	}
	for _, m := range req.Matchers {
		pm, _ := incident.ParseMatcher(m) // validated above
		s.Matchers = append(s.Matchers, pm)
	}
	if err := s.Validate(); err != nil {
		return incident.Silence{}, invalid("%s", incident.ErrorMessage(err))
	}
	w.Next++
	s.ID = fmt.Sprintf("%s-%d", w.Prefix, w.Next)
	w.Silences = append(w.Silences, s)
	w.remember(ctx, s.ID)
	w.wake.SendAsync(nil)
	return s, nil
}

func (w *silencesRun) validateExpire(ctx workflow.Context, req ExpireSilenceRequest) error {
	if _, ok := w.applied(ctx); ok {
		return nil
	}
	switch {
	case strings.TrimSpace(req.By) == "":
		return invalid("by: required")
	case strings.TrimSpace(req.ID) == "":
		return invalid("id: required")
	}
	i := w.find(strings.TrimSpace(req.ID))
	if i < 0 {
		return temporal.NewApplicationError(fmt.Sprintf("no silence %s (ended silences are listed for %s)", req.ID, SilenceRetention), ErrTypeNotFound)
	}
	s := &w.Silences[i]
	switch {
	case !s.ExpiredAt.IsZero():
		return conflict("silence %s already expired by %s at %s", s.ID, s.ExpiredBy, s.ExpiredAt.Format(stamp))
	case !s.EndsAt.After(w.now(ctx)):
		return conflict("silence %s already ended at %s", s.ID, s.EndsAt.Format(stamp))
	}
	return nil
}

func (w *silencesRun) expire(ctx workflow.Context, req ExpireSilenceRequest) (incident.Silence, error) {
	if id, ok := w.applied(ctx); ok {
		return w.again(id)
	}
	if err := w.validateExpire(ctx, req); err != nil {
		return incident.Silence{}, err
	}
	w.messages++
	now := w.now(ctx)
	s := &w.Silences[w.find(strings.TrimSpace(req.ID))]
	s.ExpiredAt, s.ExpiredBy = now, strings.TrimSpace(req.By)
	s.EndsAt = now
	if s.StartsAt.After(now) {
		s.StartsAt = now // a pending silence never starts
	}
	told := *s // the incidents told go back to the caller
	w.remember(ctx, s.ID)
	w.end(ctx, s)
	w.wake.SendAsync(nil)
	return told, nil
}

// registerHandlers wires the signals, the updates and the query.
func (w *silencesRun) registerHandlers(ctx workflow.Context) error {
	w.held = workflow.GetSignalChannel(ctx, SignalSilenceHeld)
	w.released = workflow.GetSignalChannel(ctx, SignalSilenceReleased)
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	if err := workflow.SetQueryHandler(ctx, QuerySilences, func() ([]incident.Silence, error) {
		return w.list(w.now(ctx)), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAddSilence, w.add,
		workflow.UpdateHandlerOptions{Validator: w.validateAdd}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateExpireSilence, w.expire,
		workflow.UpdateHandlerOptions{Validator: w.validateExpire})
}

// SilencesWorkflow holds the namespace's silences; see the comment above
// for the design. It never completes: it continues as new.
func SilencesWorkflow(ctx workflow.Context, in SilencesInput) error {
	w := &silencesRun{SilencesInput: in}
	if w.Prefix == "" {
		w.Prefix = newSilencePrefix(ctx)
	}
	if err := w.registerHandlers(ctx); err != nil {
		return err
	}
	for {
		if w.runOver(ctx) {
			return w.continueAsNew(ctx)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w.wait(ctx)
		w.runDue(ctx)
	}
}
