package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestApplyDigestSchedule(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	h := c.ScheduleClient().GetHandle(ctx, workflows.DigestScheduleID)
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	cfg := config.Default().Digest
	cfg.Enabled, cfg.At, cfg.TimeZone, cfg.Since = true, "07:30", "Europe/Berlin", config.Duration(12*time.Hour)
	apply := func(cfg config.Digest) string {
		t.Helper()
		var out strings.Builder
		if _, err := schedules.ApplyDigest(ctx, c, cfg, &out); err != nil {
			t.Fatalf("apply digest: %v", err)
		}
		return out.String()
	}

	if out := apply(cfg); out != "created   irflow-digest (daily at 07:30 Europe/Berlin)\n" {
		t.Fatalf("first apply: %q", out)
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := desc.Schedule.Spec
	if spec.TimeZoneName != "Europe/Berlin" || len(spec.Calendars) != 1 ||
		spec.Calendars[0].Hour[0].Start != 7 || spec.Calendars[0].Minute[0].Start != 30 {
		t.Errorf("spec = %+v, want a calendar at 07:30 in Europe/Berlin", spec)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	next := desc.Info.NextActionTimes
	if len(next) < 2 || next[0].In(berlin).Format("15:04:05") != "07:30:00" || next[1].Sub(next[0]) < 23*time.Hour {
		t.Errorf("next runs %v, want 07:30 Berlin time, daily", next)
	}
	a := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	var in workflows.DigestInput
	if err := converter.GetDefaultDataConverter().FromPayload(a.Args[0].(*commonpb.Payload), &in); err != nil ||
		a.Workflow != workflows.DigestWorkflowName || in != (workflows.DigestInput{Since: 12 * time.Hour}) {
		t.Errorf("action starts %v with %+v (%v)", a.Workflow, in, err)
	}

	if out := apply(cfg); out != "unchanged irflow-digest\n" {
		t.Errorf("re-apply: %q", out)
	}
	cfg.At = "09:15"
	if out := apply(cfg); out != "updated   irflow-digest (daily at 09:15 Europe/Berlin)\n" {
		t.Errorf("apply after a change: %q", out)
	}
	if desc, err = h.Describe(ctx); err != nil || desc.Schedule.Spec.Calendars[0].Hour[0].Start != 9 || desc.Schedule.Spec.Calendars[0].Minute[0].Start != 15 {
		t.Errorf("after the change: %+v (%v)", desc.Schedule.Spec, err)
	}

	// Pruning rule Schedules leaves the digest alone.
	dir := t.TempDir()
	name := fmt.Sprintf("digest-prune-%d", time.Now().UnixNano())
	rule := fmt.Sprintf("name: %s\ntype: any\nindex: logs\nrun_every: {minutes: 5}\nfilter:\n- term: {level: error}\n", name)
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.ScheduleClient().GetHandle(context.Background(), workflows.RuleScheduleID(name)).Delete(context.Background())
	})
	if _, err := schedules.Apply(ctx, c, schedules.Options{Dir: dir, Prune: true}, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Describe(ctx); err != nil {
		t.Fatalf("the digest Schedule after schedules apply --prune: %v", err)
	}

	// A run of the Schedule digests the last 12 h on the worker and posts it.
	console := &testenv.Buffer{}
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier, m.Console = &testenv.Recorder{}, console })
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the scheduled digest on the console", func() bool {
		return strings.Contains(console.String(), "📊 digest → #security-digest\n# Security digest ")
	})

	cfg.Enabled = false
	if out := apply(cfg); out != "deleted   irflow-digest (digest.enabled is false)\n" {
		t.Errorf("apply disabled: %q", out)
	}
	var nf *serviceerror.NotFound
	if _, err := h.Describe(ctx); !errors.As(err, &nf) {
		t.Errorf("describe after disabling: %v, want not found", err)
	}
	if out := apply(cfg); out != "off       irflow-digest (digest.enabled is false)\n" {
		t.Errorf("apply disabled again: %q", out)
	}
	cfg.TimeZone = "Mars/Olympus"
	if _, err := schedules.ApplyDigest(ctx, c, cfg, &strings.Builder{}); err == nil || err.Error() != `digest.time_zone: unknown time zone "Mars/Olympus"` {
		t.Errorf("bad zone: %v", err)
	}
}
