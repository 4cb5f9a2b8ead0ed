package ingress_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"

	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestMain(m *testing.M) { testenv.Run(m) }

const devToken = "dev-server-test-token"

// MustIngress serves a real ingress in front of ic on a loopback httptest server.
func MustIngress(tb testing.TB, ic ingress.Incidents, edit func(*ingress.Config)) *httptest.Server {
	tb.Helper()
	cfg := ingress.Config{Ingress: config.Ingress{
		Tokens:       map[string]string{"test": devToken},
		TokenSources: map[string][]string{"test": {"devtest", ingress.SourceAlertmanager}},
	}}
	if edit != nil {
		edit(&cfg)
	}
	s, err := ingress.NewServer(cfg, ic, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("new ingress: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	return srv
}

// answer is what one POST got back.
type answer struct {
	status     int
	retryAfter string
	result     ingress.Result
	results    []ingress.Result
	err        error
}

func post(hc *http.Client, url, body string) answer {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+devToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), err: err}
	if resp.StatusCode/100 == 2 {
		var multi struct {
			Results []ingress.Result `json:"results"`
		}
		if json.Unmarshal(b, &multi) == nil && multi.Results != nil {
			a.results = multi.Results
		} else if err := json.Unmarshal(b, &a.result); err != nil {
			a.err = fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return a
}

func alertBody(rule string) string {
	return fmt.Sprintf(`{"source":"devtest","rule":%q,"env":"test","severity":"high","title":"disk full"}`, rule)
}

func ruleFor(t *testing.T) string {
	return "ingress " + strings.ReplaceAll(t.Name(), "/", " ") + " " + time.Now().Format("150405.000")
}

// signalsSent counts occurrence signals in every run of workflow id, following
// continue-as-new back to the first run.
func signalsSent(tb testing.TB, c temporalclient.Client, id string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	runID := ""
	for runs := 0; ; runs++ {
		if runs > 100 {
			tb.Fatalf("%s: more than 100 runs", id)
		}
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		prev := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				tb.Fatalf("history of %s/%s: %v", id, runID, err)
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalOccurrence {
					n++
				}
			}
		}
		if prev == "" {
			return n
		}
		runID = prev
	}
}

func mustGet(tb testing.TB, ic *client.Client, id string) incident.Incident {
	tb.Helper()
	inc, err := ic.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("get %s: %v", id, err)
	}
	return inc
}

func keepAlive(conns int) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
	}
}

// A storm of one alert becomes one incident with every occurrence counted,
// carried by far fewer signals than requests.
func TestDevServerStormOfOneAlertIsOneIncident(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = rec })
	ic := client.New(c, "default")
	srv := MustIngress(t, ic, nil)
	body := alertBody(ruleFor(t))

	const n = 1000
	hc := keepAlive(n)
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = post(hc, srv.URL+"/v1/alerts", body)
		}()
	}
	close(start)
	wg.Wait()

	// The alerts that rode in the opening signal all say new, and that signal's
	// count is exactly how many they are: one signal opened the incident.
	ids := map[string]int{}
	news, newCounts := 0, map[int]bool{}
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusAccepted {
			t.Fatalf("request %d: status %d, err %v; want 202", i, a.status, a.err)
		}
		ids[a.result.IncidentID]++
		if a.result.New {
			news++
			newCounts[a.result.Occurrences] = true
		}
	}
	if len(ids) != 1 || news == 0 || len(newCounts) != 1 || !newCounts[news] {
		t.Fatalf("answers name incidents %v; %d say new, carried in signals of counts %v; want one incident opened by one signal", ids, news, newCounts)
	}
	var id string
	for k := range ids {
		id = k
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") })

	testenv.Eventually(t, 30*time.Second, "1000 occurrences", func() bool {
		inc, err := ic.Get(context.Background(), id)
		return err == nil && inc.Occurrences == n
	})
	if got := mustGet(t, ic, id).Occurrences; got != n {
		t.Fatalf("occurrences = %d, want exactly %d", got, n)
	}
	if posts := rec.For(id, "Post"); len(posts) != 1 {
		t.Errorf("notifier Post called %d times, want 1", len(posts))
	}
	signals := signalsSent(t, c, id)
	t.Logf("%d requests → %d occurrence signals", n, signals)
	if signals < 1 || signals > n/10 {
		t.Errorf("%d occurrence signals for %d requests; want at most %d (coalescing)", signals, n, n/10)
	}
}

// An Alertmanager "resolved" reaches the incident its "firing" opened.
func TestDevServerAlertmanagerResolvedClearsIncident(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	ic := client.New(c, "default")
	srv := MustIngress(t, ic, nil)
	hc := keepAlive(4)
	name := strings.ReplaceAll(ruleFor(t), " ", "_")
	payload := func(status string) string {
		return fmt.Sprintf(`{"version":"4","status":%q,"receiver":"irflow","groupKey":"g","alerts":[
			{"status":%q,"labels":{"alertname":%q,"env":"test","instance":"10.0.0.1:9100"},
			 "annotations":{"summary":"node down"},"startsAt":"2026-11-22T19:40:00Z","fingerprint":"abc123"}]}`, status, status, name)
	}

	fired := post(hc, srv.URL+"/v1/alerts/alertmanager", payload("firing"))
	if fired.err != nil || fired.status != http.StatusAccepted || len(fired.results) != 1 || !fired.results[0].New {
		t.Fatalf("firing: status %d, err %v, results %+v; want 202 opening one incident", fired.status, fired.err, fired.results)
	}
	id := fired.results[0].IncidentID
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") })

	cleared := post(hc, srv.URL+"/v1/alerts/alertmanager", payload("resolved"))
	if cleared.err != nil || cleared.status != http.StatusAccepted || len(cleared.results) != 1 {
		t.Fatalf("resolved: status %d, err %v, results %+v; want 202", cleared.status, cleared.err, cleared.results)
	}
	if r := cleared.results[0]; r.Action != "clear" || r.Detail != "cleared" || r.IncidentID != id {
		t.Fatalf("resolved result %+v; want action clear, detail cleared, incident %s", r, id)
	}
	testenv.Eventually(t, 30*time.Second, "a source_clear timeline entry", func() bool {
		inc, err := ic.Get(context.Background(), id)
		if err != nil {
			return false
		}
		for _, e := range inc.Timeline {
			if e.Kind == incident.EntrySourceClear {
				return true
			}
		}
		return false
	})
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restartableTemporal returns a start for a dev server of the test's own,
// on fixed ports and state, so it can be stopped and started again.
func restartableTemporal(t *testing.T) func() *devstack.Temporal {
	bin, err := devstack.FindTemporal()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	opts := devstack.TemporalOptions{Bin: bin, Home: t.TempDir(), Port: freePort(t), UIPort: freePort(t), Log: io.Discard}
	return func() *devstack.Temporal {
		// A restart on the same ports can lose a race with the port's release
		// on a loaded machine: try a few times before calling it a failure.
		var err error
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			srv, serr := devstack.StartTemporal(ctx, opts)
			cancel()
			if serr == nil {
				return srv
			}
			err = serr
			time.Sleep(time.Second)
		}
		t.Fatalf("start temporal: %v", err)
		return nil
	}
}

// While Temporal is down every alert gets 503 with Retry-After, never a 2xx;
// after it comes back on the same state the same requests succeed through the
// same client and worker, and every accepted alert is counted.
func TestDevServerTemporalOutage(t *testing.T) {
	start := restartableTemporal(t)
	tmp := start()
	t.Cleanup(func() { _ = tmp.Stop() })
	c, err := temporalclient.Dial(temporalclient.Options{HostPort: tmp.Address, Namespace: "default", Logger: testenv.QuietLogger()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	ic := client.New(c, "default")
	srv := MustIngress(t, ic, func(cfg *ingress.Config) { cfg.SendTimeout = config.Duration(2 * time.Second) })
	hc := keepAlive(16)
	body := alertBody(ruleFor(t))
	url := srv.URL + "/v1/alerts"

	accepted := 0
	var id string
	for i := range 5 {
		a := post(hc, url, body)
		if a.err != nil || a.status != http.StatusAccepted {
			t.Fatalf("before the outage, request %d: status %d, err %v", i, a.status, a.err)
		}
		accepted++
		id = a.result.IncidentID
	}

	if err := tmp.Stop(); err != nil {
		t.Fatalf("stop temporal: %v", err)
	}
	const down = 8
	downAnswers := make([]answer, down)
	downStart := time.Now()
	var wg sync.WaitGroup
	for i := range down {
		wg.Add(1)
		go func() {
			defer wg.Done()
			downAnswers[i] = post(hc, url, body)
		}()
	}
	wg.Wait()
	t.Logf("during the outage: %d requests answered in %s (SendTimeout 2s)", down, time.Since(downStart).Round(time.Millisecond))
	for i, a := range downAnswers {
		if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Fatalf("during the outage, request %d: status %d, Retry-After %q, err %v; want 503 with Retry-After", i, a.status, a.retryAfter, a.err)
		}
	}
	if r := getStatus(hc, srv.URL+"/readyz"); r != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d, want 503", r)
	}

	tmp = start()
	// Each refused request is retried as its sender would, until it is accepted.
	deadline := time.Now().Add(30 * time.Second)
	refused := 0
	for i := range down {
		for {
			a := post(hc, url, body)
			if a.err == nil && a.status == http.StatusAccepted {
				accepted++
				break
			}
			if a.status/100 == 2 || (a.err == nil && a.status != http.StatusServiceUnavailable) {
				t.Fatalf("after restart, retry of request %d: status %d; want 202 or 503", i, a.status)
			}
			if time.Now().After(deadline) {
				t.Fatalf("after restart, request %d still refused after 30s: status %d, err %v", i, a.status, a.err)
			}
			refused++
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("after restart: %d retries refused before the client reconnected; %d alerts accepted in all", refused, accepted)
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d occurrences after the restart", accepted), func() bool {
		inc, err := ic.Get(context.Background(), id)
		return err == nil && inc.Occurrences == accepted
	})
	if got := mustGet(t, ic, id).Occurrences; got != accepted {
		t.Fatalf("occurrences = %d, want %d (the number of 2xx answers)", got, accepted)
	}
	_ = c.TerminateWorkflow(context.Background(), id, "", "test over")
}

func getStatus(hc *http.Client, url string) int {
	resp, err := hc.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
