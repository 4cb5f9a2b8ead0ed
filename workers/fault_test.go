package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

// TestFaultWorkerKilledMidNotify SIGKILLs the real worker process while its
// announcement is at Slack: the fake Slack has taken the post and the worker
// dies before the answer reaches it, so Temporal never records the notify. A
// restarted worker runs the notify again, and the channel still holds exactly
// one message for the incident (the retry finds the first and edits it).
func TestFaultWorkerKilledMidNotify(t *testing.T) {
	srv := testenv.DevServer(t)
	c := testenv.Client(t)
	fake := testenv.NewSlack(t)
	channel := fake.AddChannel("#alerts")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "irflow.yaml")
	if err := os.WriteFile(cfg, []byte("incident:\n  rescan_interval: 0s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"IRFLOW_CONFIG=" + cfg,
		"TEMPORAL_ADDRESS=" + srv.FrontendHostPort(),
		"IRFLOW_METRICS_ADDR=127.0.0.1:0",
		"IRFLOW_ARCHIVE_URL=file://" + filepath.Join(dir, "archive"),
		config.EnvSlackToken + "=xoxb-fault-test",
		config.EnvSlackAPIURL + "=" + fake.URL(),
		config.EnvSlackDefaultChannel + "=#alerts",
	}

	var first, second testenv.Buffer
	w1 := startWorker(t, env, &first)
	killed := make(chan struct{})
	var once sync.Once
	// OnCall runs after the fake applied the post and before it answers.
	fake.OnCall(func(call testenv.SlackCall) {
		if call.Method != "chat.postMessage" || call.ThreadTS != "" || call.Error != "" {
			return
		}
		once.Do(func() {
			_ = w1.Process.Signal(syscall.SIGKILL)
			close(killed)
		})
	})

	ic := client.New(c, "default")
	ctx := context.Background()
	alert := incident.Alert{Source: "test", Rule: "killed mid-notify " + time.Now().Format(time.RFC3339Nano), Severity: incident.SeverityHigh}
	sent, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), sent.IncidentID, "", "test over") })

	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker never posted to Slack\n--- first worker:\n%s", first.String())
	}
	_ = w1.Wait()

	startWorker(t, env, &second)
	logs := "\n--- first worker:\n" + first.String() + "\n--- second worker:\n" + second.String()
	testenv.Eventually(t, 60*time.Second, "the announcement recorded by the second worker", func() bool {
		inc, err := ic.Get(ctx, sent.IncidentID)
		return err == nil && inc.Message != nil
	})
	inc, err := ic.Get(ctx, sent.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	var top int
	for _, m := range fake.Messages(channel) {
		if m.ThreadTS == "" && strings.Contains(string(m.Metadata), sent.IncidentID) {
			top++
		}
	}
	if top != 1 {
		t.Fatalf("%d messages for %s in #alerts, want exactly 1; postMessage calls %+v%s", top, sent.IncidentID, fake.Calls("chat.postMessage"), logs)
	}
	t.Logf("%d chat.postMessage and %d conversations.history calls in all", len(fake.Calls("chat.postMessage")), len(fake.Calls("conversations.history")))
	if n := len(entries(inc, incident.EntryNotified)); n != 1 {
		t.Errorf("announced %d times in the timeline, want once%s", n, logs)
	}
}

// TestFaultSIGTERMUnderLoad sends SIGTERM to the real ingress process
// (`starter serve`, built from this tree) and the real worker process while
// senders post alerts without pause, each its own incident. Every request
// ends one of three ways, counted exactly: a 2xx whose occurrence signal is
// in Temporal's history (durable), a 503, or a connection error once the
// listener is closed. No 2xx is lost, and both processes exit cleanly.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	srv := testenv.DevServer(t)
	c := testenv.Client(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go toolchain to build starter: %v", err)
	}
	dir := t.TempDir()
	starterBin := filepath.Join(dir, "starter")
	if out, err := exec.Command(goBin, "build", "-o", starterBin, "github.com/irflow/irflow/starter").CombinedOutput(); err != nil {
		t.Fatalf("go build starter: %v\n%s", err, out)
	}
	const token = "sigterm-test-token"
	cfg := filepath.Join(dir, "irflow.yaml")
	if err := os.WriteFile(cfg, []byte(`
incident:
  rescan_interval: 0s
ingress:
  tokens:
    elastalert: `+token+`
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"IRFLOW_CONFIG=" + cfg,
		"TEMPORAL_ADDRESS=" + srv.FrontendHostPort(),
		"IRFLOW_METRICS_ADDR=127.0.0.1:0",
		"IRFLOW_ARCHIVE_URL=file://" + filepath.Join(dir, "archive"),
	}
	var workerOut, ingressOut testenv.Buffer
	worker := startWorker(t, env, &workerOut)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ing := exec.Command(starterBin, "--address", srv.FrontendHostPort(), "serve", "--http-addr", addr, "--config", cfg)
	ing.Env = os.Environ()
	ing.Stdout, ing.Stderr = &ingressOut, &ingressOut
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Process.Kill() })
	ingDone := make(chan error, 1)
	go func() { ingDone <- ing.Wait() }()
	testenv.Eventually(t, 60*time.Second, "the ingress listening", func() bool {
		return strings.Contains(ingressOut.String(), "ingress listening on")
	})

	const senders = 6
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	base := "sigterm " + time.Now().Format(time.RFC3339Nano)
	type outcome struct {
		rule     string
		status   int
		incident string
		err      error
		done     time.Time
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		accepted atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{rule: fmt.Sprintf("%s s%d-%d", base, s, i)}
				body := fmt.Sprintf(`{"source":"elastalert","rule":%q,"env":"test","severity":"high","title":"sigterm"}`, o.rule)
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/alerts", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					o.err = err
				} else {
					o.status = resp.StatusCode
					var res struct {
						IncidentID string `json:"incident_id"`
					}
					if o.status/100 == 2 {
						if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
							o.err = fmt.Errorf("decode 2xx body: %w", err)
						}
						accepted.Add(1)
					}
					resp.Body.Close()
					o.incident = res.IncidentID
				}
				o.done = time.Now()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if o.err != nil {
					time.Sleep(20 * time.Millisecond) // a sender backing off, not an assertion
				}
			}
		}()
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()

	testenv.Eventually(t, 60*time.Second, "alerts accepted under load", func() bool { return accepted.Load() >= 20 })
	signalled := time.Now()
	if err := ing.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ingDone:
		if err != nil {
			t.Errorf("ingress exited with %v after SIGTERM\n%s", err, ingressOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("ingress still running 60s after SIGTERM\n%s", ingressOut.String())
	}
	if err := worker.Wait(); err != nil {
		t.Errorf("worker exited with %v after SIGTERM\n%s", err, workerOut.String())
	}
	// Requests now meet a closed port; let every sender see that once.
	mu.Lock()
	after := len(outcomes)
	mu.Unlock()
	testenv.Eventually(t, 60*time.Second, "requests after the exit refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) >= after+senders
	})
	close(stop)
	wg.Wait()
	stopped = true

	var ok, okAfter, refused, connErr int
	for _, o := range outcomes {
		switch {
		case o.err == nil && o.status/100 == 2:
			ok++
			if o.done.After(signalled) {
				okAfter++ // in flight at the SIGTERM, finished during the drain
			}
			if o.incident == "" {
				t.Errorf("alert %q: 2xx without an incident ID", o.rule)
				continue
			}
			t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), o.incident, "", "test over") })
			if n := signalsIn(t, c, o.incident); n < 1 {
				t.Errorf("alert %q was answered %d but incident %s has no occurrence signal: a 2xx not made durable", o.rule, o.status, o.incident)
			}
		case o.err == nil && o.status == http.StatusServiceUnavailable:
			refused++
		case o.err != nil && o.status == 0 && !isTimeout(o.err):
			connErr++
		default:
			t.Errorf("alert %q: status %d, err %v; want 2xx, 503 or a connection error", o.rule, o.status, o.err)
		}
	}
	t.Logf("%d requests: %d 2xx (each in Temporal; %d answered after the SIGTERM), %d 503, %d connection errors", len(outcomes), ok, okAfter, refused, connErr)
	if int64(ok) != accepted.Load() || ok+refused+connErr != len(outcomes) {
		t.Errorf("counted %d 2xx of %d accepted; %d+%d+%d of %d requests", ok, accepted.Load(), ok, refused, connErr, len(outcomes))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// signalsIn counts occurrence signals in the history of workflow id's latest run.
func signalsIn(t *testing.T, c temporalclient.Client, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED &&
			ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalOccurrence {
			n++
		}
	}
	return n
}
