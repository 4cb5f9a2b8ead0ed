package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress/console"
	"github.com/irflow/irflow/ingress/webauth"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// The list against the real dev server through internal/client: one
// visibility page per console page, every filter (service included) on
// search attributes, counts that add up, and each incident once across pages.
// No worker runs: the list must need nothing but the start request.
func TestDevServerListPagesAndFilters(t *testing.T) {
	ic := client.New(testenv.Client(t), "default")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := fmt.Sprintf("console-%d", time.Now().UnixNano())
	const n = 23
	for i := range n {
		a := incident.Alert{Source: "test", Rule: run, Env: []string{"prod", "staging"}[i%2], Service: []string{"shop", "auth", "search"}[i%3],
			Category: "waf", Severity: incident.Severities[i%len(incident.Severities)], QueryKey: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := ic.Send(ctx, workflows.Occurrence{Alert: a}); err != nil {
			t.Fatal(err)
		}
	}
	all := workflows.ListFilter{Rule: run}
	waitFor(t, func() bool {
		c, err := ic.CountBySeverity(ctx, all)
		return err == nil && sum(c) == n
	})

	// Pages of 5: every incident once, newest first within the running ones.
	seen := map[string]bool{}
	f := workflows.ListFilter{Rule: run, Limit: 5}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("the pages do not end")
		}
		pg, err := ic.ListPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Incidents) > 5 {
			t.Fatalf("page of %d rows, want at most 5", len(pg.Incidents))
		}
		for i, s := range pg.Incidents {
			if seen[s.ID] {
				t.Errorf("%s listed twice", s.ID)
			}
			seen[s.ID] = true
			if s.Status != "open" || s.Rule != run || s.Service == "" || s.Category != "waf" {
				t.Errorf("row %+v lacks its search attributes", s)
			}
			if i > 0 && s.StartedAt.After(pg.Incidents[i-1].StartedAt) {
				t.Errorf("row %d is newer than the one before", i)
			}
		}
		if len(pg.NextPageToken) == 0 {
			break
		}
		f.PageToken = pg.NextPageToken
	}
	if len(seen) != n {
		t.Errorf("pages listed %d incidents, want %d", len(seen), n)
	}

	for _, tc := range []struct {
		f    workflows.ListFilter
		want int
	}{
		{workflows.ListFilter{Rule: run, Service: "shop"}, 8},
		{workflows.ListFilter{Rule: run, Env: "staging", Service: "auth"}, 4},
		{workflows.ListFilter{Rule: run, Severity: incident.SeverityCritical}, 4},
		{workflows.ListFilter{Rule: run, Category: "waf", Status: incident.StatusOpen}, n},
		{workflows.ListFilter{Rule: run, Category: "other"}, 0},
		{workflows.ListFilter{Rule: run, Since: time.Now().Add(-time.Hour)}, n},
		{workflows.ListFilter{Rule: run, Since: time.Now().Add(time.Hour)}, 0},
		{workflows.ListFilter{Rule: run, Until: time.Now().Add(-time.Hour)}, 0},
	} {
		tc.f.Limit = 100
		pg, err := ic.ListPage(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.f.Query(), err)
		}
		if len(pg.Incidents) != tc.want {
			t.Errorf("%s: %d rows, want %d", tc.f.Query(), len(pg.Incidents), tc.want)
		}
		for _, s := range pg.Incidents {
			if tc.f.Service != "" && s.Service != tc.f.Service || tc.f.Env != "" && s.Env != tc.f.Env {
				t.Errorf("%s: row %+v does not match", tc.f.Query(), s)
			}
		}
		counts, err := ic.CountBySeverity(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if tc.f.Severity == 0 && sum(counts) != int64(tc.want) {
			t.Errorf("%s: counts %v add up to %d, want %d", tc.f.Query(), counts, sum(counts), tc.want)
		}
	}

	// The console's list page over the real client.
	cc := config.Console{Auth: config.ConsoleAuthPassword, Password: testPassword, PageSize: 5}
	cc.SetDefaults()
	auth, err := webauth.New(cc, webauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := console.New(console.Config{Console: cc}, ic, auth, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := signIn(t, &site{srv: srv})
	a := do(t, c, "GET", srv.URL+"/ui/?"+url.Values{"rule": {run}, "service": {"auth"}, "since": {"1h"}}.Encode(), nil, nil)
	rows := regexp.MustCompile(`data-incident-id="([^"]+)"`).FindAllStringSubmatch(a.body, -1)
	if a.status != 200 || len(rows) != 5 || !strings.Contains(a.body, `id="next-page"`) || !strings.Contains(a.body, "8 in all") {
		t.Errorf("console list = %d with %d rows (want 5 of 8 and a next page):\n%s", a.status, len(rows), a.body)
	}
}

func sum(m map[incident.Severity]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("visibility did not catch up in 20s")
		}
	}
}

// historyCounter counts close-event reads per workflow ID and answers every
// status query itself (no worker runs in this test binary), as a worker
// would for a running run.
type historyCounter struct {
	temporalclient.Client
	mu    sync.Mutex
	reads map[string]int
}

func (h *historyCounter) GetWorkflowHistory(ctx context.Context, id, run string, long bool, filter enumspb.HistoryEventFilterType) temporalclient.HistoryEventIterator {
	h.mu.Lock()
	h.reads[id]++
	h.mu.Unlock()
	return h.Client.GetWorkflowHistory(ctx, id, run, long, filter)
}

func (h *historyCounter) QueryWorkflow(_ context.Context, id, _, _ string, _ ...any) (converter.EncodedValue, error) {
	return runningState{id}, nil
}

// runningState is a status query's answer for a running run, without a worker.
type runningState struct{ id string }

func (r runningState) HasValue() bool { return true }
func (r runningState) Get(v any) error {
	inc, ok := v.(*incident.Incident)
	if !ok {
		return errors.New("want *incident.Incident")
	}
	*inc = incident.Incident{ID: r.id, Status: incident.StatusOpen}
	return nil
}

// The overview asks for the same week every minute: with CacheClosedRuns
// each closed run's close event is read once, however often it asks; a
// client without it reads every closed run on every ask. Both count the
// same runs.
func TestIncidentsSinceReadsClosedRunsOnce(t *testing.T) {
	tc := testenv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	since := time.Now().Add(-time.Second)
	run := fmt.Sprintf("closed-%d", time.Now().UnixNano())
	starter := client.New(tc, "default")
	const n = 12
	var ids []string
	for i := range n {
		a := incident.Alert{Source: "test", Rule: run, Severity: incident.SeverityHigh, QueryKey: map[string]string{"i": fmt.Sprint(i)}}
		res, err := starter.Send(ctx, workflows.Occurrence{Alert: a})
		if err != nil {
			t.Fatal(err)
		}
		// Terminated: closed for good, with no final state (counted unread).
		if err := tc.TerminateWorkflow(ctx, res.WorkflowID, "", "test"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.WorkflowID)
	}
	waitFor(t, func() bool {
		r, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default",
			Query: fmt.Sprintf("IncidentRule = %q AND ExecutionStatus = 'Terminated'", run)})
		return err == nil && r.GetCount() == n
	})
	until := time.Now().Add(time.Minute)
	for _, cached := range []bool{true, false} {
		hc := &historyCounter{Client: tc, reads: map[string]int{}}
		ic := client.New(hc, "default")
		if cached {
			ic.CacheClosedRuns(1000)
		}
		var unread []int
		for range 3 {
			_, u, err := ic.IncidentsSince(ctx, since, until)
			if err != nil {
				t.Fatal(err)
			}
			unread = append(unread, u)
		}
		if unread[0] < n || unread[1] != unread[0] || unread[2] != unread[0] {
			t.Errorf("cached=%v: unread runs per ask %v, want the same each time and at least %d", cached, unread, n)
		}
		want := 3
		if cached {
			want = 1
		}
		for _, id := range ids {
			if got := hc.reads[id]; got != want {
				t.Errorf("cached=%v: %s close event read %d times in 3 asks, want %d", cached, id, got, want)
			}
		}
	}
}

// failingQueries answers every status query with an error, as a cluster
// whose workers are all down does.
type failingQueries struct{ temporalclient.Client }

func (failingQueries) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, errors.New("no worker polls this task queue")
}

// With every worker down, a running incident's status query fails and its
// close event is read instead, in case it just closed. The server holds
// that read for about 9 s on a run that is still running (measured: 8
// runs took 9.0 s), which held the overview and the digest; it now gets a
// short deadline, and the runs are counted unread.
func TestIncidentsSinceWithWorkersDown(t *testing.T) {
	tc := testenv.Client(t)
	since := time.Now().Add(-time.Second)
	run := fmt.Sprintf("down-%d", time.Now().UnixNano())
	ic := client.New(tc, "default")
	const n = 8
	for i := range n {
		a := incident.Alert{Source: "test", Rule: run, Severity: incident.SeverityHigh, QueryKey: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := ic.Send(context.Background(), workflows.Occurrence{Alert: a}); err != nil {
			t.Fatal(err)
		}
	}
	// The overview's build and the digest give IncidentsSince minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	incs, unread, err := client.New(failingQueries{tc}, "default").IncidentsSince(ctx, since, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Not a speed figure: 8 runs read 8 at a time, each bounded by 2 s,
	// against about 9 s before.
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("IncidentsSince took %s with the workers down: the close-event reads of running runs held it", took)
	}
	if unread < n {
		t.Errorf("unread %d, want at least the %d running runs (read %d)", unread, n, len(incs))
	}
}
