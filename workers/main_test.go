package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

// The test binary doubles as the worker: with IRFLOW_WORKER_CHILD=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("IRFLOW_WORKER_CHILD") == "1" {
		os.Args = []string{"worker"}
		main()
		return
	}
	testenv.Run(m)
}

// syncBuffer collects a child's stdout while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWorker(t *testing.T, env []string, out *syncBuffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "IRFLOW_WORKER_CHILD=1")...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestKilledWorkerEscalationContinuesOnce SIGKILLs the real worker process
// mid-escalation. A new worker picks the incident up from Temporal's history:
// every level is told exactly once, and the incident is announced once.
func TestKilledWorkerEscalationContinuesOnce(t *testing.T) {
	srv := testenv.DevServer(t)
	c := testenv.Client(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "irflow.yaml")
	if err := os.WriteFile(cfg, []byte(`
incident:
  rescan_interval: 0s
  escalation:
    levels:
      - {after: 1s, targets: [{user_group: S0FIRST}]}
      - {after: 4s, targets: [{user_group: S0SECOND}]}
      - {after: 1s, targets: [{user_group: S0THIRD}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"IRFLOW_CONFIG=" + cfg,
		"TEMPORAL_ADDRESS=" + srv.FrontendHostPort(),
		"IRFLOW_METRICS_ADDR=127.0.0.1:0",
		"IRFLOW_ARCHIVE_URL=file://" + filepath.Join(dir, "archive"),
	}

	var first, second syncBuffer
	w1 := startWorker(t, env, &first)
	ic := client.New(c, "default")
	alert := incident.Alert{Source: "test", Rule: "killed worker " + time.Now().Format(time.RFC3339Nano), Severity: incident.SeverityHigh}
	sent, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), sent.IncidentID, "", "test over") })

	level := func(n int) string { return fmt.Sprintf("escalating to level %d:", n) }
	both := func() string { return first.String() + second.String() }
	testenv.Eventually(t, 20*time.Second, "level 1 from the first worker", func() bool { return strings.Contains(first.String(), level(1)) })
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()

	startWorker(t, env, &second)
	testenv.Eventually(t, 45*time.Second, "level 3 from the second worker", func() bool { return strings.Contains(second.String(), level(3)) })
	time.Sleep(time.Second)

	out := both()
	for n := 1; n <= 3; n++ {
		if got := strings.Count(out, level(n)); got != 1 {
			t.Errorf("level %d told %d times, want once\n--- first worker:\n%s\n--- second worker:\n%s", n, got, first.String(), second.String())
		}
	}
	if got := strings.Count(out, "ack: bin/starter incident ack "+sent.IncidentID); got != 1 {
		t.Errorf("announced %d times, want once", got)
	}
	if strings.Contains(first.String(), level(2)) {
		t.Error("the killed worker cannot have told level 2")
	}
}
