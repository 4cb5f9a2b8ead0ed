package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

type incidentSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite

	env      *testsuite.TestWorkflowEnvironment
	notifier *testenv.Recorder
	archive  string
	store    activities.Store
	policy   incident.Policy
	scans    *scripted
}

// flakyStore is an archive store that fails its first failures calls (all of
// them when failures < 0), like S3 during an outage.
type flakyStore struct {
	activities.Store
	mu       sync.Mutex
	failures int
	calls    int
}

func (f *flakyStore) Put(ctx context.Context, key string, body []byte) (string, error) {
	f.mu.Lock()
	f.calls++
	fail := f.failures < 0 || f.calls <= f.failures
	f.mu.Unlock()
	if fail {
		return "", errors.New("s3 unavailable")
	}
	return f.Store.Put(ctx, key, body)
}

// scripted is a re-scan checker that answers from a script, then repeats the last answer.
type scripted struct {
	mu     sync.Mutex
	states []incident.ScanState
	calls  int
	// delay is real time each check takes, so signals can overtake it.
	delay time.Duration
}

func (s *scripted) Check(_ context.Context, a incident.Alert) (incident.Scan, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := incident.ScanUnknown
	if len(s.states) > 0 {
		st = s.states[min(s.calls, len(s.states)-1)]
	}
	s.calls++
	return incident.Scan{State: st, Detail: "scripted"}, nil
}

func TestIncidentWorkflow(t *testing.T) { suite.Run(t, new(incidentSuite)) }

var testAlert = incident.Alert{
	Source: "elastalert", Rule: "5xx spike", Env: "prod", Service: "checkout", Category: "http",
	Severity: incident.SeverityHigh, QueryKey: map[string]string{"kubernetes.namespace_name": "payments"},
}

var oncall = incident.EscalationLevel{After: 5 * time.Minute, Targets: []incident.Target{{Channel: "#oncall", UserGroup: "S0SRE"}}}
var leads = incident.EscalationLevel{After: 10 * time.Minute, Targets: []incident.Target{{UserGroup: "S0LEADS"}}}

func (s *incidentSuite) SetupSuite() {
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

func (s *incidentSuite) SetupTest() {
	s.policy = incident.DefaultPolicy()
	s.policy.RescanInterval = 0
	s.policy.Escalation = incident.EscalationPolicy{Levels: []incident.EscalationLevel{oncall, leads}}
	s.notifier = &testenv.Recorder{}
	s.archive = s.T().TempDir()
	s.store = activities.FileStore{Dir: s.archive}
	s.scans = &scripted{}
}

// register makes a fresh test environment with everything registered.
func (s *incidentSuite) register() {
	s.env = s.NewTestWorkflowEnvironment()
	workerapp.Register(s.env, workerapp.Deps{Policy: s.policy, Notifier: s.notifier, Store: s.store, Default: s.scans})
}

// start registers everything with the current policy and sends the first alert
// the way ingress does: start plus one occurrence signal.
func (s *incidentSuite) start() {
	s.register()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: testAlert})
	}, 0)
}

// run runs a new incident to its end, which must be a plain completion.
func (s *incidentSuite) run() { s.runWith(workflows.IncidentInput{Alert: testAlert}) }

// runWith runs the workflow with in to its end, which must be a plain completion.
func (s *incidentSuite) runWith(in workflows.IncidentInput) {
	s.env.ExecuteWorkflow(workflows.IncidentWorkflowName, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
}

// continued runs the workflow to its end, which must be a continue-as-new,
// and returns the next run's input.
func (s *incidentSuite) continued(in workflows.IncidentInput) workflows.IncidentInput {
	s.env.ExecuteWorkflow(workflows.IncidentWorkflowName, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can)
	var next workflows.IncidentInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.Carried)
	return next
}

func (s *incidentSuite) status() incident.Incident {
	v, err := s.env.QueryWorkflow(workflows.QueryStatus)
	s.Require().NoError(err)
	var inc incident.Incident
	s.Require().NoError(v.Get(&inc))
	return inc
}

// update sends an update at delay and stores its outcome.
func (s *incidentSuite) update(delay time.Duration, name string, arg any, out *error) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, name+delay.String()+time.Now().String(), &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *out = err },
			OnComplete: func(_ any, err error) { *out = err },
		}, arg)
	}, delay)
}

func (s *incidentSuite) resolveAt(delay time.Duration) {
	var err error
	s.update(delay, workflows.UpdateResolve, workflows.ResolveRequest{By: "test"}, &err)
}

func entries(inc incident.Incident, kind incident.EntryKind) []incident.Entry {
	var out []incident.Entry
	for _, e := range inc.Timeline {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (s *incidentSuite) TestEscalatesInOrderOnSchedule() {
	s.start()
	var at16 incident.Incident
	s.env.RegisterDelayedCallback(func() { at16 = s.status() }, 16*time.Minute)
	s.resolveAt(30 * time.Minute)
	s.run()

	esc := entries(at16, incident.EntryEscalated)
	s.Require().Len(esc, 2)
	s.Equal(5*time.Minute, esc[0].Time.Sub(at16.OpenedAt), "level 1 after 5m")
	s.Equal(15*time.Minute, esc[1].Time.Sub(at16.OpenedAt), "level 2 10m after level 1")
	s.Equal(2, at16.EscalationLevel)

	told := s.notifier.Events(incident.EntryEscalated)
	s.Require().Len(told, 2)
	s.Equal("S0SRE", told[0].Event.Escalation.Targets[0].UserGroup)
	s.Equal("S0LEADS", told[1].Event.Escalation.Targets[0].UserGroup)
	s.Len(s.notifier.Calls("Post"), 1, "one announcement, escalations go next to it")
}

func (s *incidentSuite) TestAcknowledgeStopsEscalation() {
	s.start()
	var ackErr error
	s.update(3*time.Minute, workflows.UpdateAcknowledge, workflows.AcknowledgeRequest{By: "alice"}, &ackErr)
	var at60 incident.Incident
	s.env.RegisterDelayedCallback(func() { at60 = s.status() }, 60*time.Minute)
	s.resolveAt(61 * time.Minute)
	s.run()

	s.NoError(ackErr)
	s.Equal(incident.StatusAcknowledged, at60.Status)
	s.Equal("alice", at60.AcknowledgedBy)
	s.Empty(entries(at60, incident.EntryEscalated))
	s.Empty(s.notifier.Events(incident.EntryEscalated))
	mtta, ok := at60.MTTA()
	s.True(ok)
	s.Equal(3*time.Minute, mtta)
}

func (s *incidentSuite) TestSecondAcknowledgeIsToldWhoWasFirst() {
	s.start()
	var first, second error
	s.update(2*time.Minute, workflows.UpdateAcknowledge, workflows.AcknowledgeRequest{By: "alice"}, &first)
	s.update(2*time.Minute, workflows.UpdateAcknowledge, workflows.AcknowledgeRequest{By: "bob"}, &second)
	var final incident.Incident
	s.env.RegisterDelayedCallback(func() { final = s.status() }, 3*time.Minute)
	s.resolveAt(4 * time.Minute)
	s.run()

	s.NoError(first)
	s.Require().Error(second)
	var appErr *temporal.ApplicationError
	s.Require().ErrorAs(second, &appErr)
	s.Equal(workflows.ErrTypeConflict, appErr.Type())
	s.Contains(second.Error(), "already acknowledged by alice at ")
	s.Equal("alice", final.AcknowledgedBy)
	s.Len(entries(final, incident.EntryAcknowledged), 1)
}

func (s *incidentSuite) TestSnoozeHoldsEscalationUntilItEnds() {
	s.start()
	var pastErr, snoozeErr error
	start := s.env.Now()
	s.update(time.Minute, workflows.UpdateSnooze, workflows.SnoozeRequest{By: "carol", Until: start.Add(-time.Minute)}, &pastErr)
	s.update(time.Minute, workflows.UpdateSnooze, workflows.SnoozeRequest{By: "carol", Until: start.Add(61 * time.Minute)}, &snoozeErr)
	var during, after incident.Incident
	s.env.RegisterDelayedCallback(func() { during = s.status() }, 30*time.Minute)
	s.env.RegisterDelayedCallback(func() { after = s.status() }, 70*time.Minute)
	s.resolveAt(71 * time.Minute)
	s.run()

	s.Require().Error(pastErr)
	s.Contains(pastErr.Error(), "until: must be in the future")
	s.NoError(snoozeErr)
	s.Equal(incident.StatusSnoozed, during.Status)
	s.Empty(entries(during, incident.EntryEscalated), "no escalation while snoozed")
	s.Equal(incident.StatusOpen, after.Status)
	s.Len(entries(after, incident.EntryUnsnoozed), 1)
	esc := entries(after, incident.EntryEscalated)
	s.Require().Len(esc, 1)
	s.Equal(66*time.Minute, esc[0].Time.Sub(after.OpenedAt), "level 1 five minutes after the snooze ended")
}

func (s *incidentSuite) TestAutoResolvesAfterCleanRescansAndArchives() {
	s.policy.RescanInterval = time.Minute
	s.policy.CleanScansToResolve = 3
	s.policy.Escalation.Levels = nil
	s.scans.states = []incident.ScanState{incident.ScanFiring, incident.ScanClean, incident.ScanFiring, incident.ScanClean, incident.ScanClean, incident.ScanClean}
	s.start()
	s.run()

	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	inc := res.Incident
	s.Equal(incident.StatusResolved, inc.Status)
	s.Equal(incident.SystemActor, inc.ResolvedBy)
	s.Equal(6, s.scans.calls, "firing resets the count; three clean in a row resolve")
	mttr, ok := inc.MTTR()
	s.True(ok)
	s.Equal(6*time.Minute, mttr)

	// The archived record is where an auditor will look.
	var files []string
	s.Require().NoError(filepath.Walk(s.archive, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return err
	}))
	s.Require().Len(files, 1)
	s.True(strings.HasSuffix(files[0], inc.ResolvedAt.UTC().Format("2006/01/02")+"/"+inc.ID+".json"), files[0])
	body, err := os.ReadFile(files[0])
	s.Require().NoError(err)
	var rec activities.Record
	s.Require().NoError(json.Unmarshal(body, &rec))
	s.Require().NotNil(rec.MTTRSeconds)
	s.Equal(360.0, *rec.MTTRSeconds)
	s.Equal(inc.ArchiveURL, "file://"+files[0])

	// Final notify after archive: the last Update shows the resolved incident.
	updates := s.notifier.Calls("Update")
	s.Require().NotEmpty(updates)
	s.Equal(incident.StatusResolved, updates[len(updates)-1].Status)
}

func (s *incidentSuite) TestOccurrencesFoldIntoOneAnnouncement() {
	s.policy.NotifyInterval = 5 * time.Second
	s.start()
	for i := range 40 {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 25, Alert: testAlert})
		}, time.Duration(i)*500*time.Millisecond)
	}
	var at incident.Incident
	s.env.RegisterDelayedCallback(func() { at = s.status() }, time.Minute)
	s.resolveAt(2 * time.Minute)
	s.run()

	s.Equal(1+40*25, at.Occurrences, "every occurrence sent is counted")
	s.Equal(1+40*25, s.notifier.Shown(at.ID), "and the final message shows them all")
	s.Len(s.notifier.Calls("Post"), 1)
	// 20 s of storm at one edit per 5 s: at most 20/5 + 1 edits before resolve.
	var stormEdits int
	for _, c := range s.notifier.Calls("Update") {
		if c.Status == incident.StatusOpen {
			stormEdits++
		}
	}
	s.LessOrEqual(stormEdits, 5)
	s.GreaterOrEqual(stormEdits, 1, "the count reaches the message")
}

// An edit that fails after all its retries is tried again at the next slot, so
// the message ends up showing the final count even if the storm is over.
func (s *incidentSuite) TestFailedEditIsRetriedLater() {
	s.policy.NotifyInterval = 5 * time.Second
	s.policy.Escalation.Levels = nil // nothing else may cause an edit
	s.notifier.FailUpdates = 8       // one local activity's worth of attempts
	s.start()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 41, Alert: testAlert})
	}, 10*time.Second)
	var at incident.Incident
	s.env.RegisterDelayedCallback(func() { at = s.status() }, 20*time.Minute)
	s.resolveAt(21 * time.Minute)
	s.run()

	s.Equal(42, at.Occurrences)
	s.Require().NotEmpty(entries(at, incident.EntryNotifyFailed), "the failed edit is in the timeline")
	var last testenv.Call
	for _, c := range s.notifier.Calls("Update") {
		if c.Status == incident.StatusOpen {
			last = c
		}
	}
	s.Equal(42, last.Occurrences, "the message shows the final count without any new occurrence")
}

// A level that pages SNS on a worker without an SNS client records the failed
// page and keeps escalating; nothing blocks on it.
func (s *incidentSuite) TestPageWithoutSNSClientIsRecorded() {
	s.policy.Escalation.Levels[0].Targets = append(s.policy.Escalation.Levels[0].Targets,
		incident.Target{SNSTopic: "arn:aws:sns:eu-west-1:123456789012:page"})
	s.start()
	var at incident.Incident
	s.env.RegisterDelayedCallback(func() { at = s.status() }, 16*time.Minute)
	s.resolveAt(17 * time.Minute)
	s.run()

	failed := entries(at, incident.EntryPageFailed)
	s.Require().Len(failed, 1)
	s.Contains(failed[0].Text, "no SNS client")
	s.Equal(2, at.EscalationLevel, "the next level still escalates")
}

func (s *incidentSuite) TestContinueAsNewCarriesState() {
	s.policy.MaxSignalsPerRun = 10
	s.start()
	// The first occurrence plus nine: the tenth signal ends the run.
	for i := range 9 {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: testAlert})
		}, time.Duration(i+1)*time.Second)
	}
	var ackErr error
	s.update(500*time.Millisecond, workflows.UpdateAcknowledge, workflows.AcknowledgeRequest{By: "alice"}, &ackErr)
	next := s.continued(workflows.IncidentInput{Alert: testAlert})

	s.NoError(ackErr)
	inc := next.Carried.Incident
	s.Equal(10, inc.Occurrences, "every signal the run took is counted")
	s.Equal("alice", inc.AcknowledgedBy)
	s.Equal(incident.StatusAcknowledged, inc.Status)
	s.NotNil(inc.Message, "the announcement is carried, so the next run edits it")
	s.Equal(s.policy, next.Carried.Policy)

	// The next run starts from the carried state and keeps counting.
	s.notifier = &testenv.Recorder{}
	s.register()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 5, Alert: testAlert})
	}, time.Second)
	s.resolveAt(time.Minute)
	s.runWith(next)
	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(15, res.Incident.Occurrences)
	s.Equal(inc.OpenedAt, res.Incident.OpenedAt)
	s.Empty(s.notifier.Calls("Post"), "no second announcement after continue-as-new")
	s.Equal(15, s.notifier.Shown(inc.ID), "the last edit shows every occurrence")
}

// A change made by a handler that finishes just before continue-as-new is not
// told between the last drain and the hand-over (a notify there could span
// tasks, and whatever arrived meanwhile was never read): the next run tells it.
func (s *incidentSuite) TestUntoldEventsRideAcrossContinueAsNew() {
	s.policy.MaxSignalsPerRun = 3
	s.scans.delay = 200 * time.Millisecond // the run reaches its limit while the re-scan runs
	s.start()
	var rescanErr error
	s.update(time.Second, workflows.UpdateRescan, workflows.RescanRequest{By: "bob"}, &rescanErr)
	for range 2 {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: testAlert})
		}, time.Second)
	}
	next := s.continued(workflows.IncidentInput{Alert: testAlert})

	s.NoError(rescanErr)
	s.Equal(3, next.Carried.Incident.Occurrences)
	s.Require().Len(next.Carried.Events, 1, "the re-scan's event is handed over")
	s.Equal(incident.EntryRescan, next.Carried.Events[0].Kind)
	s.Empty(s.notifier.Events(incident.EntryRescan), "not told by the closing run")

	s.notifier = &testenv.Recorder{}
	s.register()
	s.resolveAt(time.Minute)
	s.runWith(next)
	s.Len(s.notifier.Events(incident.EntryRescan), 1, "the next run tells it")
}

// An update that lands in the first task of a continued run must act on the
// carried incident, not on an empty one that the carried state then overwrites.
func (s *incidentSuite) TestUpdateInFirstTaskOfContinuedRun() {
	s.register()
	carried := workflows.Carried{Policy: s.policy}
	carried.Incident = incident.Incident{ID: "incident-x", Status: incident.StatusOpen, Occurrences: 7,
		Message: &incident.MessageRef{Notifier: "recorder", ID: "m1"}, Alert: testAlert}
	var resolveErr error
	s.update(0, workflows.UpdateResolve, workflows.ResolveRequest{By: "alice"}, &resolveErr)
	s.runWith(workflows.IncidentInput{Alert: testAlert, Carried: &carried})

	s.NoError(resolveErr)
	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(incident.StatusResolved, res.Incident.Status)
	s.Equal("alice", res.Incident.ResolvedBy)
	s.Equal(7, res.Incident.Occurrences)
	s.Empty(s.notifier.Calls("Post"), "the carried announcement is edited, not posted again")
}

func (s *incidentSuite) TestRejectsChangesToResolvedIncident() {
	s.start()
	var resolveErr, ackErr, again error
	s.update(time.Minute, workflows.UpdateResolve, workflows.ResolveRequest{By: "dave", Note: "fixed"}, &resolveErr)
	s.update(time.Minute, workflows.UpdateAcknowledge, workflows.AcknowledgeRequest{By: "erin"}, &ackErr)
	s.update(time.Minute, workflows.UpdateResolve, workflows.ResolveRequest{By: ""}, &again)
	s.run()

	s.NoError(resolveErr)
	s.Require().Error(ackErr)
	s.Contains(ackErr.Error(), "already resolved by dave")
	s.Require().Error(again)
	s.Contains(again.Error(), "by: required")
}

func (s *incidentSuite) TestRefireAfterResolutionOpensLinkedIncident() {
	s.start()
	var resolveErr error
	s.update(time.Minute, workflows.UpdateResolve, workflows.ResolveRequest{By: "dave"}, &resolveErr)
	// Lands after the resolve but before the run closes.
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 3, Alert: testAlert})
	}, time.Minute)
	next := s.continued(workflows.IncidentInput{Alert: testAlert})

	s.NoError(resolveErr)
	s.Equal(3, next.Carried.Refire)
	s.Equal(incident.StatusResolved, next.Carried.Incident.Status)
	s.Equal(1, next.Carried.Incident.Occurrences, "late alerts are not counted on the resolved incident")
}

// With S3 down, a re-fire still opens the next incident at once: the record
// waits in its own archive workflow, started (so durable) before the hand-over.
func (s *incidentSuite) TestRefireDoesNotWaitForArchive() {
	s.store = &flakyStore{Store: s.store, failures: -1}
	s.start()
	// The archive workflow outlives this run (ABANDON) and S3 never comes back
	// here; TestDevServerRefireWhileArchiveIsDown sees it finish on recovery.
	s.env.SetDetachedChildWait(false)
	var archives []workflows.IncidentInput
	var archiveIDs []string
	s.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in activities.ArchiveInput
		s.NoError(args.Get(&in))
		archiveIDs = append(archiveIDs, info.WorkflowExecution.ID)
		archives = append(archives, workflows.IncidentInput{Alert: in.Incident.Alert, Carried: &workflows.Carried{Incident: in.Incident}})
	})
	begin := s.env.Now()
	var resolveErr error
	s.update(time.Minute, workflows.UpdateResolve, workflows.ResolveRequest{By: "dave"}, &resolveErr)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 2, Alert: testAlert})
	}, 2*time.Minute)
	next := s.continued(workflows.IncidentInput{Alert: testAlert})

	s.NoError(resolveErr)
	s.Equal(2, next.Carried.Refire)
	s.Less(s.env.Now().Sub(begin), 3*time.Minute, "the re-fire opens now, not after a day of archive retries")
	s.Require().Len(archives, 1, "the resolved incident is in its archive workflow before the run hands over")
	inc := archives[0].Carried.Incident
	s.Equal(incident.StatusResolved, inc.Status)
	s.Equal(workflows.IncidentArchiveWorkflowID(inc.ID, inc.RunID), archiveIDs[0])
	s.Empty(inc.ArchiveURL)
}

// The resolved run waits out an S3 outage in its archive workflow and records
// where the record went.
func (s *incidentSuite) TestArchiveOutlastsAnOutage() {
	flaky := &flakyStore{Store: s.store, failures: 3}
	s.store = flaky
	s.policy.Escalation.Levels = nil
	s.start()
	s.resolveAt(time.Minute)
	s.run()

	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(4, flaky.calls)
	s.True(strings.HasPrefix(res.Incident.ArchiveURL, "file://"+s.archive), res.Incident.ArchiveURL)
	archived := entries(res.Incident, incident.EntryArchived)
	s.Require().Len(archived, 1)
	s.Contains(archived[0].Text, res.Incident.ArchiveURL)
	s.Empty(entries(res.Incident, incident.EntryArchiveFail))
}

// An alarm that flaps (ALARM, OK, ALARM, OK) must not auto-resolve: the
// occurrence between the two clears resets the count of clean scans.
func (s *incidentSuite) TestFlappingAlarmDoesNotAutoResolve() {
	s.policy.CleanScansToResolve = 2
	s.policy.Escalation.Levels = nil
	s.start()
	clear := func(at time.Duration) {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalSourceClear, workflows.SourceClear{Source: "cloudwatch", Detail: "OK"})
		}, at)
	}
	fire := func(at time.Duration) {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: testAlert})
		}, at)
	}
	clear(time.Minute)
	fire(2 * time.Minute)
	clear(3 * time.Minute)
	var at4 incident.Incident
	s.env.RegisterDelayedCallback(func() { at4 = s.status() }, 4*time.Minute)
	clear(5 * time.Minute)
	s.run()

	s.Equal(incident.StatusOpen, at4.Status, "it fired between the two clears")
	s.Equal(1, at4.CleanScans)
	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(incident.StatusResolved, res.Incident.Status, "two clean in a row resolve")
	s.Equal(incident.SystemActor, res.Incident.ResolvedBy)
	mttr, _ := res.Incident.MTTR()
	s.Equal(5*time.Minute, mttr)
}
