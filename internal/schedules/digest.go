package schedules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// Digest runs: a run late by up to digestCatchup (Temporal or the worker
// was down at the hour) still runs, over its own day; a run never takes
// longer than digestTimeout.
const (
	digestCatchup = 12 * time.Hour
	digestTimeout = time.Hour
)

// digestSchedule is the Schedule the digest section asks for.
type digestSchedule struct {
	hour, minute int
	zone         string
	input        workflows.DigestInput
}

func (d digestSchedule) spec() client.ScheduleSpec {
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			Hour: []client.ScheduleRange{{Start: d.hour}}, Minute: []client.ScheduleRange{{Start: d.minute}},
			Comment: "irflow daily digest",
		}},
		TimeZoneName: d.zone,
	}
}

func (d digestSchedule) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:                       workflows.DigestWorkflowIDPrefix,
		Workflow:                 workflows.DigestWorkflowName,
		Args:                     []any{d.input},
		TaskQueue:                workflows.TaskQueue,
		WorkflowExecutionTimeout: digestTimeout,
	}
}

func (d digestSchedule) String() string {
	return fmt.Sprintf("daily at %02d:%02d %s", d.hour, d.minute, d.zone)
}

// ApplyDigest makes the Schedule irflow-digest match the digest section:
// when enabled, daily at digest.at in digest.time_zone, starting
// DigestWorkflow over the last digest.since (overlap skip); when disabled,
// none. The channel is left to the worker's digest.channel, so a config
// change there needs a worker restart, not a re-apply. Apply never touches
// this Schedule (it prunes rule-* Schedules only). It writes one line to out.
func ApplyDigest(ctx context.Context, c client.Client, cfg config.Digest, out io.Writer) (Counts, error) {
	var n Counts
	if err := cfg.Validate(); err != nil {
		return n, err
	}
	hour, minute, _ := cfg.Clock()
	want := digestSchedule{hour: hour, minute: minute, zone: cfg.TimeZone, input: workflows.DigestInput{Since: time.Duration(cfg.Since)}}
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, workflows.DigestScheduleID)
	desc, err := h.Describe(ctx)
	var nf *serviceerror.NotFound
	exists := !errors.As(err, &nf)
	if exists && err != nil {
		return n, fmt.Errorf("describe schedule %s: %w", workflows.DigestScheduleID, err)
	}
	switch {
	case !cfg.Enabled && !exists:
		fmt.Fprintf(out, "off       %s (digest.enabled is false)\n", workflows.DigestScheduleID)
	case !cfg.Enabled:
		if err := h.Delete(ctx); err != nil && !errors.As(err, &nf) {
			return n, fmt.Errorf("delete schedule %s: %w", workflows.DigestScheduleID, err)
		}
		n.Deleted++
		fmt.Fprintf(out, "deleted   %s (digest.enabled is false)\n", workflows.DigestScheduleID)
	case !exists:
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID: workflows.DigestScheduleID, Spec: want.spec(), Action: want.action(),
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: digestCatchup,
			Note: "irflow daily digest (digest: in the config)",
		})
		if err != nil {
			return n, fmt.Errorf("create schedule %s: %w", workflows.DigestScheduleID, err)
		}
		n.Created++
		fmt.Fprintf(out, "created   %s (%s)\n", workflows.DigestScheduleID, want)
	case sameDigestSchedule(desc, want):
		n.Unchanged++
		fmt.Fprintf(out, "unchanged %s\n", workflows.DigestScheduleID)
	default:
		err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := want.spec()
			s.Spec, s.Action = &spec, want.action()
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap, s.Policy.CatchupWindow = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, digestCatchup
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
		if err != nil {
			return n, fmt.Errorf("update schedule %s: %w", workflows.DigestScheduleID, err)
		}
		n.Updated++
		fmt.Fprintf(out, "updated   %s (%s)\n", workflows.DigestScheduleID, want)
	}
	return n, nil
}

// sameDigestSchedule reports whether the Schedule already does what want asks.
func sameDigestSchedule(desc *client.ScheduleDescription, want digestSchedule) bool {
	s := desc.Schedule
	if s.Spec == nil || len(s.Spec.Calendars) != 1 || len(s.Spec.Intervals) > 0 || s.Spec.TimeZoneName != want.zone {
		return false
	}
	cal := s.Spec.Calendars[0]
	if !single(cal.Hour, want.hour) || !single(cal.Minute, want.minute) || !single(cal.Second, 0) {
		return false
	}
	if s.Policy == nil || s.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || s.Policy.CatchupWindow != digestCatchup {
		return false
	}
	a, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || a.ID != workflows.DigestWorkflowIDPrefix || a.TaskQueue != workflows.TaskQueue ||
		a.WorkflowExecutionTimeout != digestTimeout || len(a.Args) != 1 {
		return false
	}
	if name, _ := a.Workflow.(string); name != workflows.DigestWorkflowName {
		return false
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return false
	}
	var got workflows.DigestInput
	return converter.GetDefaultDataConverter().FromPayload(p, &got) == nil && got == want.input
}

// single reports whether ranges match exactly the value v (the server
// fills in End and Step).
func single(ranges []client.ScheduleRange, v int) bool {
	if len(ranges) != 1 {
		return false
	}
	r := ranges[0]
	return r.Start == v && (r.End == 0 || r.End == v) && r.Step <= 1
}
