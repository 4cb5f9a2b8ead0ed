package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// memSearch stands in for the OpenSearch sweep activity: it evaluates the
// rule in Go over in-memory events with the state the workflow hands it, so
// the test sees exactly what the workflow carries between sweeps.
type memSearch struct {
	mu     sync.Mutex
	events []rules.Event
	raised []incident.Alert
	swept  []string // the rule name of each sweep
}

func (m *memSearch) sweep(_ context.Context, in activities.SweepInput) (activities.SweepResult, error) {
	m.mu.Lock()
	m.swept = append(m.swept, in.Rule.Name)
	m.mu.Unlock()
	r, err := in.Rule.Load()
	if err != nil {
		return activities.SweepResult{}, err
	}
	st := in.State
	start, end := r.SweepWindow(&st, in.Now)
	m.mu.Lock()
	events := append([]rules.Event(nil), m.events...)
	m.mu.Unlock()
	ms, err := r.Evaluate(&st, events, start, end)
	if err != nil {
		return activities.SweepResult{}, err
	}
	res := activities.SweepResult{State: st, Start: start, End: end, Queries: 1}
	for _, mt := range ms {
		res.Alerts = append(res.Alerts, rules.MatchAlert(r, mt))
	}
	return res, nil
}

// send stands in for the incident client behind the real RaiseRuleAlerts.
func (m *memSearch) send(_ context.Context, a incident.Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.raised = append(m.raised, a)
	return nil
}

func (m *memSearch) add(at time.Time, kv ...string) {
	e := rules.Event{"@timestamp": at.UTC().Format(time.RFC3339Nano)}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i]] = kv[i+1]
	}
	m.mu.Lock()
	m.events = append(m.events, e)
	m.mu.Unlock()
}

// env registers what the worker registers, with the OpenSearch sweep
// replaced by m.sweep, taking sweepTime on the workflow's clock.
func (m *memSearch) env(s *testsuite.WorkflowTestSuite, sweepTime ...time.Duration) *testsuite.TestWorkflowEnvironment {
	s.SetLogger(testenv.QuietLogger())
	env := s.NewTestWorkflowEnvironment()
	workerapp.Register(env, workerapp.Deps{RuleSweeps: &activities.RuleSweeps{Send: m.send}})
	var search *activities.Search
	call := env.OnActivity(search.SweepRule, mock.Anything, mock.Anything).Return(m.sweep)
	if len(sweepTime) > 0 {
		call.After(sweepTime[0])
	}
	return env
}

// kicks signals the workflow at each offset from the env's start, as the
// rule's Schedule would.
func kicks(env *testsuite.TestWorkflowEnvironment, offsets ...time.Duration) {
	for _, d := range offsets {
		kickWith(env, d, rules.Ref{})
	}
}

// kickWith signals the workflow at offset d with rule (empty: keep the rule).
func kickWith(env *testsuite.TestWorkflowEnvironment, d time.Duration, rule rules.Ref) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalRuleSweep, workflows.SweepRequest{Rule: rule}) }, d)
}

// sweepStatus queries the workflow's status.
func sweepStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.RuleSweepStatus {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryRuleSweep)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.RuleSweepStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// continued runs env until the workflow continues as new and returns the
// input the next run gets.
func continued(t *testing.T, env *testsuite.TestWorkflowEnvironment, in workflows.RuleSweepInput) workflows.RuleSweepInput {
	t.Helper()
	env.ExecuteWorkflow(workflows.RuleSweepWorkflowName, in)
	var can *workflow.ContinueAsNewError
	if !env.IsWorkflowCompleted() || !errors.As(env.GetWorkflowError(), &can) {
		t.Fatalf("workflow did not continue as new: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var next workflows.RuleSweepInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	return next
}

func TestRuleSweepFrequencyWindowSpansSweeps(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	m := &memSearch{}
	env := m.env(&s)
	start := env.Now()
	rule := rules.Ref{Name: "burst", Path: "burst.yaml", YAML: `name: burst
type: frequency
index: logs
num_events: 5
timeframe: {minutes: 10}
query_key: ip
realert: {minutes: 0}
`}
	// Three events before the first sweep, two more before the second: one
	// window across two sweeps. Another two before the third must not fire.
	for i := 1; i <= 3; i++ {
		m.add(start.Add(time.Duration(i)*10*time.Second), "ip", "10.0.0.1")
	}
	env.RegisterDelayedCallback(func() {
		m.add(start.Add(70*time.Second), "ip", "10.0.0.1")
		m.add(start.Add(80*time.Second), "ip", "10.0.0.1")
	}, 61*time.Second)
	env.RegisterDelayedCallback(func() {
		m.add(start.Add(130*time.Second), "ip", "10.0.0.1")
		m.add(start.Add(140*time.Second), "ip", "10.0.0.1")
	}, 121*time.Second)
	kicks(env, time.Minute, 2*time.Minute, 3*time.Minute)
	next := continued(t, env, workflows.RuleSweepInput{Rule: rule, MaxSweepsPerRun: 3})

	if len(m.raised) != 1 {
		t.Fatalf("raised %d alerts, want exactly 1: %+v", len(m.raised), m.raised)
	}
	a := m.raised[0]
	if a.Source != "rules" || a.Rule != "burst" || a.QueryKey["ip"] != "10.0.0.1" || fmt.Sprint(a.Fields["num_hits"]) != "5" {
		t.Errorf("alert = %+v", a)
	}
	if next.Sweeps != 3 || next.State.LastRunEnd.IsZero() {
		t.Errorf("continue-as-new input: sweeps %d, last run end %v", next.Sweeps, next.State.LastRunEnd)
	}
	// The two events after the match sit in the carried window.
	if w := next.State.Windows["10.0.0.1"]; w == nil || w.Count != 2 {
		t.Errorf("carried window = %+v, want the 2 events after the match", w)
	}
}

func TestRuleSweepNewTermSurvivesContinueAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	rule := rules.Ref{Name: "new-user", Path: "new-user.yaml", YAML: `name: new-user
type: new_term
index: logs
fields: [user]
realert: {minutes: 0}
`}
	m := &memSearch{}
	env := m.env(&s)
	start := env.Now()
	m.add(start.Add(10*time.Second), "user", "alice")
	kicks(env, time.Minute, 2*time.Minute)
	next := continued(t, env, workflows.RuleSweepInput{Rule: rule, MaxSweepsPerRun: 2})
	if got := len(m.raised); got != 1 || m.raised[0].Fields["new_field"] != "user" {
		t.Fatalf("first run raised %+v, want one alert for alice", m.raised)
	}

	// The next run starts from the carried input, in a fresh environment (as
	// after a worker restart): alice is known, bob is new.
	m2 := &memSearch{}
	env2 := m2.env(&s)
	env2.SetStartTime(start.Add(2 * time.Minute))
	m2.add(start.Add(150*time.Second), "user", "alice")
	m2.add(start.Add(160*time.Second), "user", "bob")
	kicks(env2, time.Minute)
	_ = continued(t, env2, workflows.RuleSweepInput{Rule: next.Rule, State: next.State, Sweeps: next.Sweeps, MaxSweepsPerRun: 1})
	if len(m2.raised) != 1 || m2.raised[0].Fields["user"] != "bob" {
		t.Fatalf("second run raised %+v, want only bob", m2.raised)
	}
}

func anyRule(name string) rules.Ref {
	return rules.Ref{Name: name, Path: name + ".yaml", YAML: "name: " + name + "\ntype: any\nindex: logs\n"}
}

// Kicks that arrive during a sweep coalesce into the next one, the last rule
// sent wins, and a kick that arrives during the run's last sweep is carried
// across continue-as-new and swept at once by the next run.
func TestRuleSweepCoalescesKicksAndCarriesPending(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	m := &memSearch{}
	env := m.env(&s, 10*time.Second)
	kickWith(env, time.Minute, rules.Ref{}) // sweep 1: 1m to 1m10s
	kickWith(env, time.Minute+3*time.Second, rules.Ref{})
	kickWith(env, time.Minute+4*time.Second, anyRule("second"))
	kickWith(env, time.Minute+5*time.Second, rules.Ref{}) // all three: sweep 2, 1m10s to 1m20s
	kickWith(env, time.Minute+15*time.Second, anyRule("third"))
	next := continued(t, env, workflows.RuleSweepInput{Rule: anyRule("first"), MaxSweepsPerRun: 2})

	if want := []string{"first", "second"}; !reflect.DeepEqual(m.swept, want) {
		t.Errorf("swept %v, want %v", m.swept, want)
	}
	if !next.Pending || next.Sweeps != 2 || next.Rule.Name != "third" || next.MaxSweepsPerRun != 2 {
		t.Errorf("continue-as-new input = %+v, want pending, 2 sweeps, rule third, max 2", next)
	}

	// The next run sweeps at once, without a kick, and then waits for one.
	m2 := &memSearch{}
	env2 := m2.env(&s)
	next.MaxSweepsPerRun = 1
	last := continued(t, env2, next)
	if want := []string{"third"}; !reflect.DeepEqual(m2.swept, want) {
		t.Errorf("next run swept %v, want %v", m2.swept, want)
	}
	if last.Pending || last.Sweeps != 3 {
		t.Errorf("second continue-as-new input = %+v, want not pending, 3 sweeps", last)
	}
}

// A failed sweep is counted and reported, and leaves the state as it was for
// the next sweep, which clears the error.
func TestRuleSweepFailureKeepsState(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	m := &memSearch{}
	env := m.env(&s)
	start := env.Now()
	good := anyRule("good")
	state := rules.State{LastRunEnd: start.Add(-time.Minute)}
	kickWith(env, time.Minute, rules.Ref{Name: "broken", Path: "broken.yaml", YAML: "type: [\n"})
	var failed workflows.RuleSweepStatus
	env.RegisterDelayedCallback(func() { failed = sweepStatus(t, env) }, 2*time.Minute)
	kickWith(env, 3*time.Minute, good)
	m.add(start.Add(150*time.Second), "user", "alice")
	next := continued(t, env, workflows.RuleSweepInput{Rule: good, State: state, MaxSweepsPerRun: 2})

	if failed.Sweeps != 1 || failed.LastError == "" || failed.Rule != "broken" || !failed.State.LastRunEnd.Equal(state.LastRunEnd) {
		t.Errorf("status after the failed sweep = %+v", failed)
	}
	if next.Sweeps != 2 || next.State.LastRunEnd.IsZero() || next.State.LastRunEnd.Equal(state.LastRunEnd) {
		t.Errorf("continue-as-new input = %+v, want 2 sweeps and a later last run end", next)
	}
	if len(m.raised) != 1 || m.raised[0].Rule != "good" {
		t.Errorf("raised %+v, want one alert of rule good", m.raised)
	}
	if st := sweepStatus(t, env); st.LastError != "" || st.Alerts != 1 || st.Queries != 1 {
		t.Errorf("final status = %+v, want no error, 1 alert, 1 query", st)
	}
}
