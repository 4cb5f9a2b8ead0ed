package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

var silenceIDPattern = regexp.MustCompile(`^[0-9a-f]{6}-[0-9]+$`)

func TestCLISilenceLifecycle(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	// A silences workflow that is not running (never started, or stopped
	// by hand) has no silences.
	_ = c.TerminateWorkflow(context.Background(), workflows.SilencesWorkflowID, "", "test starts clean")
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), workflows.SilencesWorkflowID, "", "test over") })
	if out, err := starter(t, "silence", "list", "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list with no silences workflow: %q %v, want []", out, err)
	}
	if out, err := starter(t, "silence", "list"); err != nil || !strings.Contains(out, "no silences") {
		t.Fatalf("list table with no silences workflow: %q %v", out, err)
	}

	out, err := starter(t, "silence", "add", "--match", "env=prod", "--match", "service=~db-.*", "--for", "2h",
		"--comment", "db upgrade", "--by", "alice")
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	active := strings.TrimSpace(out)
	if !silenceIDPattern.MatchString(active) {
		t.Fatalf("add printed %q, want a silence ID", out)
	}
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	out, err = starter(t, "silence", "add", "--match", "rule=~ssh-.*", "--starts", starts.Format(time.RFC3339),
		"--until", starts.Add(time.Hour).Format(time.RFC3339), "--by", "bob", "--end-on-resolve")
	if err != nil {
		t.Fatalf("add pending: %v", err)
	}
	pending := strings.TrimSpace(out)

	out, err = starter(t, "silence", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []incident.Silence
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(list) != 2 || list[0].ID != pending || list[1].ID != active {
		t.Fatalf("list = %+v, want the pending silence then the active one", list)
	}
	p, a := list[0], list[1]
	if !p.StartsAt.Equal(starts) || !p.EndsAt.Equal(starts.Add(time.Hour)) || !p.EndOnResolve || p.CreatedBy != "bob" {
		t.Errorf("pending silence = %+v", p)
	}
	if d := a.EndsAt.Sub(a.StartsAt); d < 2*time.Hour-5*time.Second || d > 2*time.Hour+5*time.Second || a.Comment != "db upgrade" ||
		len(a.Matchers) != 2 || a.Matchers[1].String() != "service=~db-.*" {
		t.Errorf("active silence = %+v (want 2h from now)", a)
	}

	out, err = starter(t, "silence", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list table:\n%s", out)
	}
	for i, want := range []string{pending + " pending", active + " active"} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); !strings.HasPrefix(got, want) {
			t.Errorf("row %d = %q, want it to start with %q", i+1, got, want)
		}
	}
	if !strings.Contains(lines[2], "env=prod service=~db-.*") || !strings.Contains(lines[2], "db upgrade") || !strings.HasSuffix(lines[2], "alice") {
		t.Errorf("active row = %q, want its matchers, comment and author", lines[2])
	}

	if out, err = starter(t, "silence", "expire", active, "--by", "carol"); err != nil || strings.TrimSpace(out) != active+" expired; 0 held incidents told" {
		t.Fatalf("expire: %q %v", out, err)
	}
	_, err = starter(t, "silence", "expire", active, "--by", "dave")
	if incident.ErrorCode(err) != incident.ECONFLICT || !strings.HasPrefix(incident.ErrorMessage(err), "silence "+active+" already expired by carol at ") {
		t.Errorf("second expire: %v (%s)", err, incident.ErrorCode(err))
	}
	_, err = starter(t, "silence", "expire", "nope-1", "--by", "dave")
	if incident.ErrorCode(err) != incident.ENOTFOUND || incident.ErrorMessage(err) != "no silence nope-1 (ended silences are listed for 24h0m0s)" {
		t.Errorf("unknown silence: %v (%s)", err, incident.ErrorCode(err))
	}
	out, err = starter(t, "silence", "list")
	if err != nil || !strings.Contains(out, active) || !strings.Contains(out, "expired") || !strings.Contains(out, "alice (expired by carol)") {
		t.Errorf("list after expire: %q %v", out, err)
	}
}

func TestCLISilenceBadInputNamesTheFlag(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), workflows.SilencesWorkflowID, "", "test over") })
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither for nor until", []string{"--match", "env=prod", "--by", "a"}, "--for and --until: give one (--for 2h, or --until 2026-12-01T22:00:00Z)"},
		{"both", []string{"--match", "env=prod", "--by", "a", "--for", "1h", "--until", past}, "--for and --until: give one (--for 2h, or --until 2026-12-01T22:00:00Z)"},
		{"negative for", []string{"--match", "env=prod", "--by", "a", "--for", "-1h"}, "--for: must be positive, got -1h0m0s"},
		{"bad until", []string{"--match", "env=prod", "--by", "a", "--until", "tomorrow"}, `--until: "tomorrow" is not a time like 2026-12-01T22:00:00Z (RFC 3339)`},
		{"bad starts", []string{"--match", "env=prod", "--by", "a", "--for", "1h", "--starts", "2026-12-01"}, `--starts: "2026-12-01" is not a time like 2026-12-01T22:00:00Z (RFC 3339)`},
		{"no match", []string{"--by", "a", "--for", "1h"}, "--match: at least one, like --match env=prod"},
		{"bad match", []string{"--match", "env=prod", "--match", "env", "--by", "a", "--for", "1h"}, `--match "env": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"bad regex", []string{"--match", "rule=~(", "--by", "a", "--for", "1h"}, "--match \"rule=~(\": bad regex: error parsing regexp: missing closing ): `(`"},
		{"no by", []string{"--match", "env=prod", "--by", " ", "--for", "1h"}, "--by: required (who is adding the silence)"},
		// Checked by the workflow, not the CLI: the message comes back as is.
		{"until in the past", []string{"--match", "env=prod", "--by", "a", "--until", past}, "ends_at: " + past + " must be in the future (now "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := starter(t, append([]string{"silence", "add"}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			msg := incident.ErrorMessage(err)
			if incident.ErrorCode(err) != incident.EINVALID || !strings.HasPrefix(msg, tc.want) {
				t.Fatalf("error %q (%s), want %q", msg, incident.ErrorCode(err), tc.want)
			}
		})
	}
	if _, err := starter(t, "silence", "expire", "x-1", "--by", ""); incident.ErrorMessage(err) != "--by: required (who is doing this)" {
		t.Errorf("expire without --by: %v", err)
	}
}
