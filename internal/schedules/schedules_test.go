package schedules_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestSchedulesApply(t *testing.T) {
	c := testenv.Client(t)
	dir := t.TempDir()
	// Rule names unique to this test run so re-runs on a kept server do not collide.
	tag := fmt.Sprintf("sched-%d", time.Now().UnixNano())
	rule := func(name, every string) string {
		return fmt.Sprintf("name: %s-%s\ntype: any\nindex: logs\nrun_every: {%s}\nfilter:\n- term: {level: error}\n", tag, name, every)
	}
	write := func(file, body string) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", rule("a", "minutes: 5"))
	write("b.yaml", rule("b", "minutes: 7"))
	write("off.yaml", rule("off", "minutes: 5")+"is_enabled: false\n")
	idA, idB := workflows.RuleScheduleID(tag+"-a"), workflows.RuleScheduleID(tag+"-b")
	t.Cleanup(func() {
		for _, id := range []string{idA, idB} {
			_ = c.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background())
		}
	})
	apply := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		_, err := schedules.Apply(context.Background(), c, schedules.Options{Dir: dir, Prune: slices.Contains(args, "--prune")}, &out)
		if err != nil {
			t.Fatalf("schedules apply %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	out := apply()
	if !strings.Contains(out, "created   "+idA+" (every 5m0s)") || !strings.Contains(out, "2 created, 0 updated, 0 unchanged, 0 deleted") ||
		strings.Contains(out, "-off") {
		t.Fatalf("first apply:\n%s", out)
	}
	desc, err := c.ScheduleClient().GetHandle(context.Background(), idB).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.Schedule.Spec.Intervals[0].Every; got != 7*time.Minute {
		t.Errorf("%s runs every %s, want 7m", idB, got)
	}
	if a := desc.Schedule.Action.(*client.ScheduleWorkflowAction); a.Workflow != workflows.RuleKickWorkflowName {
		t.Errorf("%s starts %v", idB, a.Workflow)
	}

	// A run of the Schedule wakes the rule's sweep workflow, which sweeps with
	// the applied rule (and, with no search.url configured, says so).
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	t.Cleanup(func() {
		for _, n := range []string{tag + "-a", tag + "-b"} {
			_ = c.TerminateWorkflow(context.Background(), workflows.RuleSweepWorkflowID(n), "", "test over")
		}
	})
	if err := c.ScheduleClient().GetHandle(context.Background(), idA).Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var st workflows.RuleSweepStatus
	testenv.Eventually(t, 20*time.Second, "the triggered sweep", func() bool {
		v, err := c.QueryWorkflow(context.Background(), workflows.RuleSweepWorkflowID(tag+"-a"), "", workflows.QueryRuleSweep)
		return err == nil && v.Get(&st) == nil && st.Sweeps == 1
	})
	if st.Rule != tag+"-a" || !strings.Contains(st.LastError, "search.url") {
		t.Errorf("sweep status = %+v, want rule %s-a failing for want of search.url", st, tag)
	}

	if out := apply(); !strings.Contains(out, "0 created, 0 updated, 2 unchanged, 0 deleted") {
		t.Fatalf("re-apply changed something:\n%s", out)
	}

	write("a.yaml", rule("a", "minutes: 2"))
	if out := apply(); !strings.Contains(out, "updated   "+idA+" (every 2m0s)") || !strings.Contains(out, "0 created, 1 updated, 1 unchanged") {
		t.Fatalf("apply after edit:\n%s", out)
	}

	// Visibility lags creation; wait until both schedules are listed.
	testenv.Eventually(t, 20*time.Second, "schedules listed", func() bool {
		ids, err := schedules.ScheduleIDs(context.Background(), c.ScheduleClient())
		return err == nil && slices.Contains(ids, idA) && slices.Contains(ids, idB)
	})
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if out := apply(); !strings.Contains(out, "0 deleted") {
		t.Fatalf("apply without --prune deleted:\n%s", out)
	}
	out = apply("--prune")
	if !strings.Contains(out, "deleted   "+idB) || strings.Contains(out, "deleted   "+idA) {
		t.Fatalf("apply --prune:\n%s", out)
	}
	if _, err := c.ScheduleClient().GetHandle(context.Background(), idB).Describe(context.Background()); err == nil {
		t.Errorf("%s still exists after --prune", idB)
	}

	// A broken rule changes nothing.
	write("bad.yaml", "name: x\ntype: frequncy\n")
	var out2 strings.Builder
	if _, err := schedules.Apply(context.Background(), c, schedules.Options{Dir: dir}, &out2); err == nil || !strings.Contains(err.Error(), "no schedules changed") {
		t.Fatalf("apply with a bad rule: %v\n%s", err, out2.String())
	}
}
