package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// starter runs the real CLI in-process against the shared dev server.
func starter(t *testing.T, args ...string) (string, error) {
	t.Helper()
	srv := testenv.DevServer(t)
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--address", srv.FrontendHostPort()}, args...))
	err := root.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "alert.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIAlertLifecycle(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	file := writeFile(t, `{"source":"cli-test","rule":"disk full","env":"prod","severity":"critical"}`)

	out, err := starter(t, "alert", "send", "--file", file)
	if err != nil {
		t.Fatal(err)
	}
	id, state, _ := strings.Cut(strings.TrimSpace(out), "\t")
	if !strings.HasPrefix(id, "incident-") || state != "new incident" {
		t.Fatalf("first send printed %q", out)
	}
	out, err = starter(t, "alert", "send", "--file", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.SendResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.IncidentID != id || res.New {
		t.Fatalf("second send = %q (%v), want the same incident, not new", out, err)
	}

	short := strings.TrimPrefix(id, "incident-")
	if out, err = starter(t, "incident", "ack", short, "--by", "alice"); err != nil || !strings.Contains(out, "acknowledged") {
		t.Fatalf("ack: %q %v", out, err)
	}
	_, err = starter(t, "incident", "ack", id, "--by", "bob")
	if err == nil || !strings.Contains(incident.ErrorMessage(err), "already acknowledged by alice") {
		t.Fatalf("second ack: %v", err)
	}
	if out, err = starter(t, "incident", "list", "--status", "acknowledged", "--json"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list --status acknowledged: %q %v", out, err)
	}
	if out, err = starter(t, "incident", "show", short); err != nil || !strings.Contains(out, "acknowledged alice") {
		t.Fatalf("show: %q %v", out, err)
	}
	if _, err = starter(t, "incident", "snooze", id, "--by", "alice", "--for", "1h"); err != nil {
		t.Fatalf("snooze: %v", err)
	}
	if out, err = starter(t, "incident", "resolve", id, "--by", "alice", "--note", "freed space"); err != nil || !strings.Contains(out, "resolved") {
		t.Fatalf("resolve: %q %v", out, err)
	}
}

func TestCLIBadInputNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		want string
	}{
		{"unknown alert field", func(t *testing.T) []string {
			return []string{"alert", "send", "--file", writeFile(t, `{"source":"x","rule":"y","sevrity":"high"}`)}
		}, "sevrity: unknown field"},
		{"missing rule", func(t *testing.T) []string {
			return []string{"alert", "send", "--file", writeFile(t, `{"source":"x"}`)}
		}, "rule: required"},
		{"missing source in array", func(t *testing.T) []string {
			return []string{"alert", "send", "--file", writeFile(t, `[{"source":"x","rule":"y"},{"rule":"z"}]`)}
		}, "alerts[1].source: required"},
		{"bad severity", func(t *testing.T) []string {
			return []string{"alert", "send", "--file", writeFile(t, `{"source":"x","rule":"y","severity":"meh"}`)}
		}, `severity: unknown severity "meh"`},
		{"malformed json", func(t *testing.T) []string {
			return []string{"alert", "send", "--file", writeFile(t, `{"source":"x",`)}
		}, "malformed JSON"},
		{"unknown incident", func(*testing.T) []string { return []string{"incident", "show", "doesnotexist"} }, "no incident incident-doesnotexist"},
		{"unknown incident ack", func(*testing.T) []string {
			return []string{"incident", "ack", "doesnotexist", "--by", "x"}
		}, "no incident incident-doesnotexist"},
		{"snooze without duration", func(*testing.T) []string { return []string{"incident", "snooze", "x", "--by", "y"} }, "--for: required"},
		{"bad status filter", func(*testing.T) []string { return []string{"incident", "list", "--status", "closed"} }, `--status: unknown status "closed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := starter(t, tc.args(t)...)
			if err == nil {
				t.Fatal("no error")
			}
			if msg := incident.ErrorMessage(err); !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}
