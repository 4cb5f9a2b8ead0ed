package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestCLIDigestRun(t *testing.T) {
	c := testenv.Client(t)
	console := &testenv.Buffer{}
	var archive string
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier, m.Console = &testenv.Recorder{}, console
		archive = strings.TrimPrefix(m.Config.Archive.URL, "file://")
	})
	rule := "cli digest " + time.Now().Format("150405.000")
	file := writeFile(t, `{"source":"cli-test","rule":"`+rule+`","severity":"low"}`)
	var id string
	for range 3 {
		out, err := starter(t, "alert", "send", "--file", file)
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ = strings.Cut(strings.TrimSpace(out), "\t")
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(t.Context(), id, "", "test over") })
	testenv.Eventually(t, 10*time.Second, "three occurrences", func() bool {
		out, err := starter(t, "incident", "show", id, "--json")
		return err == nil && strings.Contains(out, `"occurrences": 3`)
	})

	// --dry-run prints the Markdown, and posts and saves nothing.
	out, err := starter(t, "digest", "run", "--dry-run", "--since", "10m")
	if err != nil {
		t.Fatal(err)
	}
	headline := regexp.MustCompile(`(?m)^\*\*\d+ alerts? → \d+ incidents?( \(\d+\.\d:1\))?\*\*, \d+ announced`)
	if !strings.HasPrefix(out, "# Security digest ") || !headline.MatchString(out) ||
		!strings.Contains(out, "| "+rule+" | 1 | 3 |") || !strings.Contains(out, "`"+id+"` | low | open | nobody |") {
		t.Fatalf("dry run printed:\n%s", out)
	}
	if console.String() != "" {
		t.Errorf("dry run posted:\n%s", console.String())
	}
	if _, err := os.Stat(archive + "/digests"); !os.IsNotExist(err) {
		t.Errorf("dry run saved a digest (%v)", err)
	}

	// Without it, the digest is posted (the console here) and saved.
	out, err = starter(t, "digest", "run", "--since", "10m", "--channel", "#cli-digest")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	day := time.Now().UTC().Format("2006-01-02")
	if len(lines) != 4 || !headline.MatchString("**"+lines[0]+"**, 0 announced") || lines[1] != "posted to #cli-digest" ||
		lines[2] != "saved file://"+archive+"/digests/"+day+".json" || lines[3] != "saved file://"+archive+"/digests/"+day+".md" {
		t.Fatalf("digest run printed:\n%s", out)
	}
	md, err := os.ReadFile(archive + "/digests/" + day + ".md")
	if err != nil || !strings.Contains(console.String(), "📊 digest → #cli-digest\n"+string(md)) {
		t.Errorf("console:\n%s\nsaved markdown (%v):\n%s", console.String(), err, md)
	}
}

func TestCLIDigestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"digest", "run", "--since", "0s"}, "--since: must be between 1s and 744h0m0s (31 days), got 0s"},
		{[]string{"digest", "run", "--since", "800h"}, "--since: must be between 1s and 744h0m0s (31 days), got 800h0m0s"},
		{[]string{"digest", "run", "--channel", "Security Digest"}, `--channel: "Security Digest" is not a Slack channel name (#lowercase-name) or ID`},
	} {
		_, err := starter(t, tc.args...)
		if err == nil || incident.ErrorMessage(err) != tc.want {
			t.Errorf("%v: %v, want %s", tc.args, err, tc.want)
		}
	}
}

// `schedules apply --config` also makes the digest Schedule match the file.
func TestCLISchedulesApplyDigest(t *testing.T) {
	c := testenv.Client(t)
	dir := t.TempDir()
	name := fmt.Sprintf("cli-digest-%d", time.Now().UnixNano())
	rule := fmt.Sprintf("name: %s\ntype: any\nindex: logs\nrun_every: {minutes: 5}\nfilter:\n- term: {level: error}\n", name)
	cfg := filepath.Join(dir, "irflow.yaml")
	for path, body := range map[string]string{
		filepath.Join(dir, "rules", "r.yaml"): rule,
		cfg:                                   "digest:\n  enabled: true\n  at: \"06:45\"\n  time_zone: America/New_York\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, id := range []string{workflows.DigestScheduleID, workflows.RuleScheduleID(name)} {
			_ = c.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background())
		}
	})
	out, err := starter(t, "schedules", "apply", "--rules", filepath.Join(dir, "rules"), "--config", cfg)
	if err != nil || !strings.HasSuffix(out, "created   irflow-digest (daily at 06:45 America/New_York)\n") {
		t.Fatalf("schedules apply --config: %v\n%s", err, out)
	}
	if out, err = starter(t, "schedules", "apply", "--rules", filepath.Join(dir, "rules"), "--prune"); err != nil || strings.Contains(out, "irflow-digest") {
		t.Fatalf("schedules apply --prune without --config: %v\n%s", err, out)
	}
	if _, err := c.ScheduleClient().GetHandle(context.Background(), workflows.DigestScheduleID).Describe(context.Background()); err != nil {
		t.Fatalf("the digest Schedule after --prune: %v", err)
	}
}
