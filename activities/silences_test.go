package activities_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// countingClient counts the queries CheckSilence sends.
type countingClient struct {
	temporalclient.Client
	queries atomic.Int32
}

func (c *countingClient) QueryWorkflowWithOptions(ctx context.Context, req *temporalclient.QueryWorkflowWithOptionsRequest) (*temporalclient.QueryWorkflowWithOptionsResponse, error) {
	c.queries.Add(1)
	return c.Client.QueryWorkflowWithOptions(ctx, req)
}

// clock is a settable Now for the activity.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// silencesWorkflow starts a silences workflow of the test's own, so tests
// sharing the dev server do not see each other's silences.
func silencesWorkflow(t *testing.T, c temporalclient.Client) string {
	t.Helper()
	id := fmt.Sprintf("silences-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	_, err := c.ExecuteWorkflow(context.Background(), temporalclient.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.SilencesWorkflowName, workflows.SilencesInput{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") })
	return id
}

func addSilence(t *testing.T, c temporalclient.Client, wfID string, req workflows.AddSilenceRequest) incident.Silence {
	t.Helper()
	h, err := c.UpdateWorkflow(context.Background(), temporalclient.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateName: workflows.UpdateAddSilence, Args: []any{req}, WaitForStage: temporalclient.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	var s incident.Silence
	if err := h.Get(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func listSilences(t *testing.T, c temporalclient.Client, wfID string) []incident.Silence {
	t.Helper()
	v, err := c.QueryWorkflow(context.Background(), wfID, "", workflows.QuerySilences)
	if err != nil {
		t.Fatal(err)
	}
	var list []incident.Silence
	if err := v.Get(&list); err != nil {
		t.Fatal(err)
	}
	return list
}

// signalsTo returns the SilenceEnded signals in an incident's history.
func signalsTo(t *testing.T, c temporalclient.Client, id string) []workflows.SilenceEnded {
	t.Helper()
	var out []workflows.SilenceEnded
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil || a.GetSignalName() != workflows.SignalSilenceEnded {
			continue
		}
		var ended workflows.SilenceEnded
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &ended); err != nil {
			t.Fatal(err)
		}
		out = append(out, ended)
	}
	return out
}

// checkInput asks about alert a of incident id against the silences workflow wfID.
func checkInput(id string, a incident.Alert, wfID string) activities.CheckSilenceInput {
	return activities.CheckSilenceInput{IncidentID: id, Alert: a, Severity: incident.SeverityHigh,
		WorkflowID: wfID, Query: workflows.QuerySilences, HeldSignal: workflows.SignalSilenceHeld}
}

func TestCheckSilenceWithoutSilencesWorkflow(t *testing.T) {
	c := testenv.Client(t)
	window := incident.MaintenanceWindow{Name: "always", Start: "00:00", Duration: 7 * 24 * time.Hour,
		Days: []time.Weekday{time.Monday}, Matchers: []incident.Matcher{{Name: "env", Op: incident.MatchEqual, Value: "staging"}}}
	s := &activities.Silences{Temporal: c, Windows: []incident.MaintenanceWindow{window}}
	in := checkInput("incident-x", incident.Alert{Source: "t", Rule: "r", Env: "prod"}, "silences-never-started")

	res, err := s.CheckSilence(context.Background(), in)
	if err != nil || res.Match != nil {
		t.Fatalf("no silences workflow: %+v, %v; want no match and no error", res.Match, err)
	}
	in.Alert.Env = "staging"
	res, err = s.CheckSilence(context.Background(), in)
	if err != nil || res.Match == nil || res.Match.Kind != incident.SilenceKindMaintenance || res.Match.ID != "maintenance:always" {
		t.Fatalf("maintenance window: %+v, %v", res.Match, err)
	}
}

// A matching silence holds the incident and tells the silences workflow,
// which tells the incident when the silence is expired.
func TestCheckSilenceHoldsAndTheEndIsTold(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	wfID := silencesWorkflow(t, c)
	ctx := context.Background()

	a := incident.Alert{Source: "silence-test", Rule: "db cpu " + wfID, Env: "prod", Service: "db-1"}
	sent, err := client.New(c, "default").Send(ctx, workflows.Occurrence{Count: 1, Alert: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), sent.IncidentID, "", "test over") })
	sil := addSilence(t, c, wfID, workflows.AddSilenceRequest{Matchers: []string{"env=prod", "service=~db-.*"},
		EndsAt: time.Now().Add(time.Hour), Comment: "db upgrade", By: "alice"})

	s := &activities.Silences{Temporal: c}
	in := checkInput(sent.IncidentID, a, wfID)
	res, err := s.CheckSilence(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := incident.SilenceMatch{Kind: incident.SilenceKindSilence, ID: sil.ID, Until: sil.EndsAt, Comment: "db upgrade"}
	if res.Match == nil || *res.Match != want {
		t.Fatalf("match = %+v, want %+v", res.Match, want)
	}
	testenv.Eventually(t, 10*time.Second, "the silence to hold the incident", func() bool {
		l := listSilences(t, c, wfID)
		return len(l) == 1 && slices.Equal(l[0].Held, []string{sent.IncidentID})
	})
	other := a
	other.Service = "web-1"
	if res, err := s.CheckSilence(ctx, noIncident(in, other)); err != nil || res.Match != nil {
		t.Fatalf("an alert the matchers do not select: %+v, %v", res.Match, err)
	}

	h, err := c.UpdateWorkflow(ctx, temporalclient.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateName: workflows.UpdateExpireSilence, WaitForStage: temporalclient.WorkflowUpdateStageCompleted,
		Args: []any{workflows.ExpireSilenceRequest{ID: sil.ID, By: "bob"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the incident to be told", func() bool { return len(signalsTo(t, c, sent.IncidentID)) > 0 })
	time.Sleep(300 * time.Millisecond)
	if got := signalsTo(t, c, sent.IncidentID); len(got) != 1 || got[0].SilenceID != sil.ID {
		t.Errorf("signals to the incident = %+v, want one silence-ended for %s", got, sil.ID)
	}
}

// noIncident asks about alert a for no incident: nothing is held.
func noIncident(in activities.CheckSilenceInput, a incident.Alert) activities.CheckSilenceInput {
	in.Alert, in.IncidentID = a, "" // no incident: nothing to hold
	return in
}

// A storm of new incidents asks Temporal once; a list older than a second
// is asked again.
func TestCheckSilenceCachesTheListForASecond(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	wfID := silencesWorkflow(t, c)
	cc := &countingClient{Client: c}
	clk := &clock{}
	clk.set(time.Now())
	base := clk.now()
	s := &activities.Silences{Temporal: cc, Now: clk.now}
	a := incident.Alert{Source: "silence-test", Rule: "storm", Env: "prod", Service: "api"}

	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.CheckSilence(context.Background(), noIncident(checkInput("", a, wfID), a))
			if err == nil && res.Match != nil {
				err = fmt.Errorf("matched %+v with no silences", res.Match)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if n := cc.queries.Load(); n != 1 {
		t.Fatalf("%d queries for 50 concurrent checks, want 1", n)
	}

	addSilence(t, c, wfID, workflows.AddSilenceRequest{Matchers: []string{"service=api"}, EndsAt: time.Now().Add(time.Hour), By: "alice"})
	clk.set(base.Add(900 * time.Millisecond))
	if res, err := s.CheckSilence(context.Background(), noIncident(checkInput("", a, wfID), a)); err != nil || res.Match != nil {
		t.Fatalf("within the second: %+v, %v; want the cached list (no silence)", res.Match, err)
	}
	clk.set(time.Now().Add(1100 * time.Millisecond))
	res, err := s.CheckSilence(context.Background(), noIncident(checkInput("", a, wfID), a))
	if err != nil || res.Match == nil {
		t.Fatalf("after the second: %+v, %v; want the new silence", res.Match, err)
	}
	if n := cc.queries.Load(); n != 2 {
		t.Errorf("%d queries, want 2", n)
	}
}
