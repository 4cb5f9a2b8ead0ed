package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

func startWorker(t *testing.T, env []string, out *testenv.Buffer) *exec.Cmd {
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
// every level is escalated exactly once, in order, the later levels after the
// kill, and the incident is announced once. It reads the incident's durable
// state (the status query), not the workers' stdout: a notify runs as a local
// activity, so its print can come before the workflow task that records it,
// and a kill between the two makes the next worker tell it again.
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
      - {after: 12s, targets: [{user_group: S0SECOND}]}
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

	var first, second testenv.Buffer
	w1 := startWorker(t, env, &first)
	ic := client.New(c, "default")
	ctx := context.Background()
	alert := incident.Alert{Source: "test", Rule: "killed worker " + time.Now().Format(time.RFC3339Nano), Severity: incident.SeverityHigh}
	sent, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), sent.IncidentID, "", "test over") })

	escalated := func() []incident.Entry {
		inc, err := ic.Get(ctx, sent.IncidentID)
		if err != nil {
			return nil
		}
		return entries(inc, incident.EntryEscalated)
	}
	testenv.Eventually(t, 20*time.Second, "level 1 in the incident's history", func() bool { return len(escalated()) >= 1 })
	killed := time.Now()
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()

	startWorker(t, env, &second)
	testenv.Eventually(t, 60*time.Second, "level 3 from the second worker", func() bool { return len(escalated()) >= 3 })
	time.Sleep(time.Second) // anything told twice would show by now

	inc, err := ic.Get(ctx, sent.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	logs := "\n--- first worker:\n" + first.String() + "\n--- second worker:\n" + second.String()
	esc := entries(inc, incident.EntryEscalated)
	if len(esc) != 3 || inc.EscalationLevel != 3 {
		t.Fatalf("escalated %d times (level %d), want each of 3 levels once: %+v%s", len(esc), inc.EscalationLevel, esc, logs)
	}
	for i, group := range []string{"S0FIRST", "S0SECOND", "S0THIRD"} {
		if want := fmt.Sprintf("escalating to level %d: ", i+1); !strings.Contains(esc[i].Text, want) || !strings.Contains(esc[i].Text, group) {
			t.Errorf("escalation %d = %q, want %q to %s", i, esc[i].Text, want, group)
		}
	}
	// Level 2 was due 13 s after opening, well after the kill (slack for a loaded
	// machine, where seeing level 1 can take seconds): the second worker told it.
	if !esc[1].Time.After(killed) {
		t.Errorf("level 2 escalated at %s, before the first worker was killed at %s", esc[1].Time, killed)
	}
	if n := len(entries(inc, incident.EntryNotified)); n != 1 || inc.Message == nil {
		t.Errorf("announced %d times (message %+v), want once%s", n, inc.Message, logs)
	}
	if n := len(entries(inc, incident.EntryOpened)); n != 1 {
		t.Errorf("opened %d times, want once", n)
	}
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
