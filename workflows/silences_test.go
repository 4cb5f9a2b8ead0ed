package workflows_test

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

type silencesSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite

	env   *testsuite.TestWorkflowEnvironment
	start time.Time

	mu   sync.Mutex
	told []told // SilenceEnded signals the workflow sent
	gone map[string]bool
}

// told is one SilenceEnded signal: to which incident, and what it said.
type told struct {
	Incident string
	Ended    workflows.SilenceEnded
}

func TestSilencesWorkflow(t *testing.T) { suite.Run(t, new(silencesSuite)) }

func (s *silencesSuite) SetupTest() {
	s.SetLogger(testenv.QuietLogger())
	s.env = s.NewTestWorkflowEnvironment()
	s.start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s.env.SetStartTime(s.start)
	workerapp.Register(s.env, workerapp.Deps{})
	s.told, s.gone = nil, map[string]bool{}
	s.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", workflows.SignalSilenceEnded, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.gone[workflowID] {
				return errors.New("unknown external workflow execution")
			}
			s.told = append(s.told, told{Incident: workflowID, Ended: arg.(workflows.SilenceEnded)})
			return nil
		})
}

func (s *silencesSuite) toldList() []told {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]told(nil), s.told...)
	sort.Slice(out, func(i, j int) bool { return out[i].Incident < out[j].Incident })
	return out
}

// outcome is what one update returned.
type outcome struct {
	silence incident.Silence
	err     error
	done    bool
}

// update sends an update at delay (from the start) and stores its outcome.
func (s *silencesSuite) update(delay time.Duration, name string, arg any) *outcome {
	return s.updateWithID(delay, name, "", arg)
}

// updateWithID is update with the update ID given (empty: a fresh one).
func (s *silencesSuite) updateWithID(delay time.Duration, name, id string, arg any) *outcome {
	out := &outcome{}
	if id == "" {
		id = fmt.Sprintf("%s-%s-%p", name, delay, out)
	}
	s.env.RegisterDelayedCallback(func() { s.env.UpdateWorkflow(name, id, out.callbacks(), arg) }, delay)
	return out
}

// callbacks store the update's outcome in o.
func (o *outcome) callbacks() *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { o.err, o.done = err, true },
		OnComplete: func(v any, err error) {
			o.err, o.done = err, true
			if err == nil {
				o.silence = v.(incident.Silence)
			}
		},
	}
}

// succeeded requires that the update ran and returned no error.
func (s *silencesSuite) succeeded(o *outcome) {
	s.T().Helper()
	s.Require().True(o.done, "the update never completed")
	s.Require().NoError(o.err)
}

func (s *silencesSuite) add(delay time.Duration, req workflows.AddSilenceRequest) *outcome {
	return s.update(delay, workflows.UpdateAddSilence, req)
}

func (s *silencesSuite) expire(delay time.Duration, id func() string, by string) *outcome {
	return s.expireWithID(delay, "", id, by)
}

// expireWithID expires the silence id() names at delay, with the update ID
// given (empty: a fresh one).
func (s *silencesSuite) expireWithID(delay time.Duration, updateID string, id func() string, by string) *outcome {
	out := &outcome{}
	if updateID == "" {
		updateID = fmt.Sprintf("expire-%s-%p", delay, out)
	}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.UpdateExpireSilence, updateID, out.callbacks(), workflows.ExpireSilenceRequest{ID: id(), By: by})
	}, delay)
	return out
}

func (s *silencesSuite) signal(delay time.Duration, name string, silence func() string, incidentID string) {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(name, workflows.SilenceHeld{SilenceID: silence(), IncidentID: incidentID})
	}, delay)
}

// listAt queries the silences at delay.
func (s *silencesSuite) listAt(delay time.Duration) *[]incident.Silence {
	var out []incident.Silence
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(workflows.QuerySilences)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&out))
	}, delay)
	return &out
}

// run runs the workflow until it is cancelled at stop (it never ends by itself).
func (s *silencesSuite) run(in workflows.SilencesInput, stop time.Duration) {
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, stop)
	s.env.ExecuteWorkflow(workflows.SilencesWorkflowName, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &canceled, "only the test's cancel ends the workflow")
}

func (s *silencesSuite) at(d time.Duration) time.Time { return s.start.Add(d) }

func (s *silencesSuite) prodFor(d time.Duration, by string) workflows.AddSilenceRequest {
	return workflows.AddSilenceRequest{Matchers: []string{"env=prod", "service=~db-.*"}, EndsAt: s.at(d), Comment: "db upgrade", By: by}
}

var silenceID = regexp.MustCompile(`^[0-9a-f]{6}-[0-9]+$`)

func (s *silencesSuite) TestAddListExpire() {
	first := s.add(time.Minute, s.prodFor(2*time.Hour, "alice"))
	pending := s.add(2*time.Minute, workflows.AddSilenceRequest{Matchers: []string{"rule=~ssh-.*"}, StartsAt: s.at(3 * time.Hour),
		EndsAt: s.at(5 * time.Hour), By: "bob", EndOnResolve: true})
	listed := s.listAt(3 * time.Minute)
	expired := s.expire(10*time.Minute, func() string { return first.silence.ID }, "carol")
	again := s.expire(11*time.Minute, func() string { return first.silence.ID }, "dave")
	unknown := s.expire(11*time.Minute, func() string { return "nope-1" }, "dave")
	after := s.listAt(12 * time.Minute)
	s.run(workflows.SilencesInput{}, 13*time.Minute)

	s.succeeded(first)
	s.succeeded(pending)
	a, p := first.silence, pending.silence
	s.Regexp(silenceID, a.ID)
	s.Regexp(silenceID, p.ID)
	s.NotEqual(a.ID, p.ID)
	s.Equal([]incident.Matcher{{Name: "env", Op: "=", Value: "prod"}, {Name: "service", Op: "=~", Value: "db-.*"}}, a.Matchers)
	s.Equal(s.at(time.Minute), a.StartsAt, "no starts_at: now")
	s.Equal(s.at(time.Minute), a.CreatedAt)
	s.Equal(s.at(2*time.Hour), a.EndsAt)
	s.Equal("alice", a.CreatedBy)
	s.Equal("db upgrade", a.Comment)
	s.True(p.EndOnResolve)

	s.Require().Len(*listed, 2)
	s.Equal(p.ID, (*listed)[0].ID, "newest first")
	s.Equal(incident.SilencePending, (*listed)[0].State(s.at(3*time.Minute)))
	s.Equal(incident.SilenceActive, (*listed)[1].State(s.at(3*time.Minute)))

	s.succeeded(expired)
	s.Equal("carol", expired.silence.ExpiredBy)
	s.Equal(s.at(10*time.Minute), expired.silence.ExpiredAt)
	s.Equal(s.at(10*time.Minute), expired.silence.EndsAt, "expiring ends it now")
	s.Require().Error(again.err)
	s.Equal(fmt.Sprintf("silence %s already expired by carol at 2026-12-01T09:10:00Z", a.ID), appMessage(again.err))
	s.Equal(workflows.ErrTypeConflict, appType(again.err))
	s.Equal("no silence nope-1 (ended silences are listed for 24h0m0s)", appMessage(unknown.err))
	s.Equal(workflows.ErrTypeNotFound, appType(unknown.err))

	s.Require().Len(*after, 2, "an expired silence is still listed")
	s.Equal(incident.SilenceExpired, (*after)[1].State(s.at(12*time.Minute)))
	s.Equal("carol", (*after)[1].ExpiredBy)
}

func appMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func appType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func (s *silencesSuite) TestValidatorErrorsNameTheField() {
	ok := s.prodFor(time.Hour, "alice")
	with := func(edit func(*workflows.AddSilenceRequest)) workflows.AddSilenceRequest {
		r := ok
		r.Matchers = append([]string(nil), ok.Matchers...)
		edit(&r)
		return r
	}
	cases := []struct {
		req  workflows.AddSilenceRequest
		want string
	}{
		{with(func(r *workflows.AddSilenceRequest) { r.By = " " }), "by: required"},
		{with(func(r *workflows.AddSilenceRequest) { r.Matchers = nil }), "matchers: at least one (like env=prod)"},
		{with(func(r *workflows.AddSilenceRequest) { r.Matchers = append(r.Matchers, "env") }),
			`matchers[2]: "env": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{with(func(r *workflows.AddSilenceRequest) { r.Matchers[0] = "rule=~(" }),
			"matchers[0]: \"rule=~(\": bad regex: error parsing regexp: missing closing ): `(`"},
		{with(func(r *workflows.AddSilenceRequest) { r.EndsAt = time.Time{} }), "ends_at: required"},
		{with(func(r *workflows.AddSilenceRequest) { r.EndsAt = s.start }), "ends_at: 2026-12-01T09:00:00Z must be in the future (now 2026-12-01T09:01:00Z)"},
		{with(func(r *workflows.AddSilenceRequest) { r.StartsAt = s.at(2 * time.Hour) }),
			"ends_at: 2026-12-01T10:00:00Z must be after starts_at 2026-12-01T11:00:00Z"},
	}
	outs := make([]*outcome, len(cases))
	for i, tc := range cases {
		outs[i] = s.add(time.Minute, tc.req)
	}
	noBy := s.expire(2*time.Minute, func() string { return "x-1" }, "")
	noID := s.expire(2*time.Minute, func() string { return "" }, "alice")
	listed := s.listAt(3 * time.Minute)
	s.run(workflows.SilencesInput{}, 4*time.Minute)

	for i, tc := range cases {
		s.Require().True(outs[i].done, tc.want)
		s.Equal(tc.want, appMessage(outs[i].err))
		s.Equal(workflows.ErrTypeInvalid, appType(outs[i].err), tc.want)
	}
	s.Equal("by: required", appMessage(noBy.err))
	s.Equal("id: required", appMessage(noID.err))
	s.Empty(*listed, "a rejected add adds nothing")
}

// A silence that reaches its end tells every incident it holds, once each,
// even when one of them is gone; the run goes on.
func (s *silencesSuite) TestEndedSignalAtEndsAt() {
	sil := s.add(time.Minute, s.prodFor(time.Hour, "alice"))
	id := func() string { return sil.silence.ID }
	s.signal(2*time.Minute, workflows.SignalSilenceHeld, id, "incident-a")
	s.signal(3*time.Minute, workflows.SignalSilenceHeld, id, "incident-b")
	s.signal(4*time.Minute, workflows.SignalSilenceHeld, id, "incident-a") // a re-check of the same incident
	s.signal(5*time.Minute, workflows.SignalSilenceHeld, id, "incident-gone")
	s.gone["incident-gone"] = true
	held := s.listAt(30 * time.Minute)
	var before []told
	s.env.RegisterDelayedCallback(func() { before = s.toldList() }, 59*time.Minute)
	later := s.add(2*time.Hour, s.prodFor(3*time.Hour, "bob"))
	s.run(workflows.SilencesInput{}, 2*time.Hour+time.Minute)

	s.succeeded(sil)
	s.Require().Len(*held, 1)
	s.Equal([]string{"incident-a", "incident-b", "incident-gone"}, (*held)[0].Held)
	s.Empty(before, "nobody is told before the end")
	end := workflows.SilenceEnded{SilenceID: sil.silence.ID, At: s.at(time.Hour)}
	s.Equal([]told{{"incident-a", end}, {"incident-b", end}}, s.toldList())
	s.succeeded(later) // the workflow still takes updates after a failed signal
}

func (s *silencesSuite) TestEndedSignalOnExpire() {
	sil := s.add(time.Minute, s.prodFor(time.Hour, "alice"))
	id := func() string { return sil.silence.ID }
	s.signal(2*time.Minute, workflows.SignalSilenceHeld, id, "incident-a")
	s.signal(3*time.Minute, workflows.SignalSilenceHeld, id, "incident-b")
	s.signal(4*time.Minute, workflows.SignalSilenceReleased, id, "incident-b") // resolved: not told
	exp := s.expire(10*time.Minute, id, "carol")
	// Held after the silence ended (CheckSilence raced the expire): told at once.
	s.signal(20*time.Minute, workflows.SignalSilenceHeld, id, "incident-c")
	s.run(workflows.SilencesInput{}, 2*time.Hour)

	s.succeeded(exp)
	s.Equal([]string{"incident-a"}, exp.silence.Held, "the expire returns whom it told")
	s.Equal([]told{
		{"incident-a", workflows.SilenceEnded{SilenceID: sil.silence.ID, At: s.at(10 * time.Minute)}},
		{"incident-c", workflows.SilenceEnded{SilenceID: sil.silence.ID, At: s.at(20 * time.Minute)}},
	}, s.toldList(), "told on expire, and nothing more at the planned end")
}

func (s *silencesSuite) TestEndOnResolve() {
	req := s.prodFor(4*time.Hour, "alice")
	req.EndOnResolve = true
	eor := s.add(time.Minute, req)
	plain := s.add(time.Minute, s.prodFor(4*time.Hour, "bob"))
	eorID := func() string { return eor.silence.ID }
	plainID := func() string { return plain.silence.ID }
	s.signal(2*time.Minute, workflows.SignalSilenceHeld, eorID, "incident-a")
	s.signal(2*time.Minute, workflows.SignalSilenceHeld, eorID, "incident-b")
	s.signal(2*time.Minute, workflows.SignalSilenceHeld, plainID, "incident-p")
	s.signal(10*time.Minute, workflows.SignalSilenceReleased, eorID, "incident-a")
	mid := s.listAt(11 * time.Minute)
	s.signal(20*time.Minute, workflows.SignalSilenceReleased, eorID, "incident-b")
	s.signal(20*time.Minute, workflows.SignalSilenceReleased, plainID, "incident-p")
	after := s.listAt(21 * time.Minute)
	// A new incident CheckSilence matched just before the end is told at once.
	s.signal(30*time.Minute, workflows.SignalSilenceHeld, eorID, "incident-c")
	s.run(workflows.SilencesInput{}, 35*time.Minute)

	byID := func(list []incident.Silence, id string) incident.Silence {
		for _, x := range list {
			if x.ID == id {
				return x
			}
		}
		s.FailNow("not listed", id)
		return incident.Silence{}
	}
	s.Equal(incident.SilenceActive, byID(*mid, eor.silence.ID).State(s.at(11*time.Minute)), "one incident still held")
	s.Equal([]string{"incident-b"}, byID(*mid, eor.silence.ID).Held)
	ended := byID(*after, eor.silence.ID)
	s.Equal(incident.SilenceExpired, ended.State(s.at(21*time.Minute)), "the last release ends it")
	s.Equal(incident.SystemActor, ended.ExpiredBy)
	s.Equal(s.at(20*time.Minute), ended.ExpiredAt)
	s.Equal(incident.SilenceActive, byID(*after, plain.silence.ID).State(s.at(21*time.Minute)), "without end_on_resolve it stays")
	s.Equal([]told{{"incident-c", workflows.SilenceEnded{SilenceID: eor.silence.ID, At: s.at(30 * time.Minute)}}}, s.toldList())
}

func (s *silencesSuite) TestEndedSilencesAreListedForADay() {
	sil := s.add(time.Minute, s.prodFor(time.Hour, "alice"))
	day := s.listAt(time.Hour + 24*time.Hour - time.Minute)
	gone := s.listAt(time.Hour + 24*time.Hour + time.Minute)
	s.run(workflows.SilencesInput{}, 26*time.Hour)

	s.succeeded(sil)
	s.Len(*day, 1)
	s.Empty(*gone)
}

// The run continues as new once it took MaxMessagesPerRun signals and
// updates; the next run has every silence, whom each holds, and keeps
// numbering.
func (s *silencesSuite) TestContinueAsNewKeepsSilences() {
	a := s.add(time.Minute, s.prodFor(time.Hour, "alice"))
	b := s.add(2*time.Minute, workflows.AddSilenceRequest{Matchers: []string{"rule=x"}, StartsAt: s.at(time.Hour), EndsAt: s.at(2 * time.Hour), By: "bob"})
	aID := func() string { return a.silence.ID }
	s.signal(3*time.Minute, workflows.SignalSilenceHeld, aID, "incident-a")
	s.signal(4*time.Minute, workflows.SignalSilenceHeld, aID, "incident-b")
	s.signal(5*time.Minute, workflows.SignalSilenceHeld, aID, "incident-c") // the fifth message
	s.env.ExecuteWorkflow(workflows.SilencesWorkflowName, workflows.SilencesInput{MaxMessagesPerRun: 5})
	s.Require().True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can)
	var next workflows.SilencesInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))

	s.succeeded(a)
	s.succeeded(b)
	s.Require().Len(next.Silences, 2)
	s.Equal(a.silence.ID, next.Silences[0].ID)
	s.Equal([]string{"incident-a", "incident-b", "incident-c"}, next.Silences[0].Held)
	s.Equal(b.silence.ID, next.Silences[1].ID)
	s.Equal(s.at(time.Hour), next.Silences[1].StartsAt)
	s.Equal(2, next.Next)
	s.Equal(5, next.MaxMessagesPerRun)
	s.Regexp(`^[0-9a-f]{6}$`, next.Prefix)
	s.Empty(s.toldList())

	// The next run starts from the carried state.
	s.SetupTest()
	next.MaxMessagesPerRun = 0
	third := s.add(time.Minute, s.prodFor(time.Hour, "carol"))
	s.signal(2*time.Minute, workflows.SignalSilenceReleased, aID, "incident-b")
	exp := s.expire(3*time.Minute, aID, "dave")
	listed := s.listAt(4 * time.Minute)
	s.run(next, 5*time.Minute)

	s.succeeded(third)
	s.Equal(next.Prefix+"-3", third.silence.ID, "numbering goes on")
	s.succeeded(exp)
	s.Equal([]string{"incident-a", "incident-c"}, exp.silence.Held)
	s.Equal([]string{"incident-a", "incident-c"}, []string{s.toldList()[0].Incident, s.toldList()[1].Incident})
	s.Len(*listed, 3)
}

// An update delivered again (same update ID) to the next run, as Temporal
// may do across continue-as-new, gets the first answer: no second silence,
// no "already expired". What is remembered is kept for a day.
func (s *silencesSuite) TestRepeatedUpdateGetsTheFirstAnswer() {
	add := s.prodFor(time.Hour, "alice")
	first := s.updateWithID(time.Minute, workflows.UpdateAddSilence, "add-1", add)
	id := func() string { return first.silence.ID }
	exp := s.expireWithID(2*time.Minute, "expire-1", id, "bob")
	old := workflows.AppliedUpdate{UpdateID: "old", SilenceID: "x-1", At: s.start.Add(-25 * time.Hour)}
	s.env.ExecuteWorkflow(workflows.SilencesWorkflowName, workflows.SilencesInput{MaxMessagesPerRun: 2, Applied: []workflows.AppliedUpdate{old}})
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can)
	var next workflows.SilencesInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.succeeded(first)
	s.succeeded(exp)
	s.Equal([]workflows.AppliedUpdate{
		{UpdateID: "add-1", SilenceID: first.silence.ID, At: s.at(time.Minute)},
		{UpdateID: "expire-1", SilenceID: first.silence.ID, At: s.at(2 * time.Minute)},
	}, next.Applied, "the day-old update is forgotten")

	s.SetupTest()
	next.MaxMessagesPerRun = 0
	again := s.updateWithID(3*time.Minute, workflows.UpdateAddSilence, "add-1", add)
	expAgain := s.expireWithID(3*time.Minute, "expire-1", id, "bob")
	other := s.expireWithID(3*time.Minute, "expire-2", id, "carol")
	listed := s.listAt(4 * time.Minute)
	s.run(next, 5*time.Minute)

	s.succeeded(again)
	s.Equal(first.silence.ID, again.silence.ID)
	s.succeeded(expAgain)
	s.Equal("bob", expAgain.silence.ExpiredBy)
	s.Equal(workflows.ErrTypeConflict, appType(other.err), "another expire is still refused")
	s.Len(*listed, 1)
}
