// Package schedules reconciles the Temporal Schedules that sweep detection
// rules with the rule files in a folder. `starter schedules apply` and
// `starter dev` both call Apply.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// Options say what Apply reconciles.
type Options struct {
	// Dir holds the rule files (*.yaml, *.yml).
	Dir string
	// Prune deletes rule Schedules (and stops their sweep workflows) whose
	// rule file is gone or disabled.
	Prune bool
	// Catchup is how late a missed run may still start; default 5m.
	Catchup time.Duration
}

// Counts is what Apply did.
type Counts struct {
	Created, Updated, Unchanged, Deleted int
}

// desiredSchedule is the Schedule one rule should have.
type desiredSchedule struct {
	id     string
	every  time.Duration
	offset time.Duration
	action *client.ScheduleWorkflowAction
	req    workflows.SweepRequest
}

// RuleOffset spreads rule Schedules over their interval: an every-1m
// Schedule with no offset fires on the minute, so a thousand rules would ask
// Temporal's scheduler for a thousand starts in the same second (it starts
// a namespace's workflows at a bounded rate). The offset is a hash of the
// Schedule ID, whole seconds, so applying again gives the same one.
func RuleOffset(id string, every time.Duration) time.Duration {
	secs := int64(every / time.Second)
	if secs <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return time.Duration(int64(h.Sum32())%secs) * time.Second
}

func ruleSchedules(dir string) ([]desiredSchedule, error) {
	files, err := rules.Files(dir)
	if err != nil {
		return nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	if len(files) == 0 {
		return nil, incident.Errorf(incident.EINVALID, "no rule files (*.yaml, *.yml) in %s", dir)
	}
	var out []desiredSchedule
	seen := map[string]string{}
	var bad []string
	for _, f := range files {
		r, err := rules.LoadFile(f)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if prev, ok := seen[r.Name]; ok {
			bad = append(bad, fmt.Sprintf("%s: name: %q is also the name of %s", f, r.Name, prev))
			continue
		}
		seen[r.Name] = f
		if !r.Enabled {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		y, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		req := workflows.SweepRequest{Rule: rules.Ref{Name: r.Name, Path: abs, YAML: string(y)}}
		out = append(out, desiredSchedule{
			id:     workflows.RuleScheduleID(r.Name),
			every:  r.RunEvery,
			offset: RuleOffset(workflows.RuleScheduleID(r.Name), r.RunEvery),
			req:    req,
			action: &client.ScheduleWorkflowAction{
				ID:        workflows.RuleKickWorkflowID(r.Name),
				Workflow:  workflows.RuleKickWorkflowName,
				Args:      []any{req},
				TaskQueue: workflows.TaskQueue,
				// A kick is one activity; a stuck one must not block the next run.
				WorkflowRunTimeout: max(r.RunEvery, time.Minute),
			},
		})
	}
	if len(bad) > 0 {
		// Nothing changes while any rule is broken: a half-applied rule set
		// is harder to reason about than the old one.
		return nil, incident.Errorf(incident.EINVALID, "%s\n%d rule files invalid; no schedules changed", strings.Join(bad, "\n"), len(bad))
	}
	return out, nil
}

// Apply makes the rule Schedules match the rule files in o.Dir: one Schedule
// rule-<name> per enabled rule, every run_every, starting RuleKickWorkflow
// (overlap skip), at an offset within run_every hashed from its name (so the
// rules' sweeps spread over the interval), with the rule file's content in
// its argument. Applying
// again without changes changes nothing; while any rule file is invalid
// nothing changes at all. It writes one line per Schedule to out.
func Apply(ctx context.Context, c client.Client, o Options, out io.Writer) (Counts, error) {
	var n Counts
	want, err := ruleSchedules(o.Dir)
	if err != nil {
		return n, err
	}
	if o.Catchup <= 0 {
		o.Catchup = 5 * time.Minute
	}
	sc := c.ScheduleClient()
	wanted := map[string]bool{}
	for _, d := range want {
		wanted[d.id] = true
		spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: d.every, Offset: d.offset}}}
		h := sc.GetHandle(ctx, d.id)
		desc, err := h.Describe(ctx)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			_, err := sc.Create(ctx, client.ScheduleOptions{
				ID: d.id, Spec: spec, Action: d.action,
				Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: o.Catchup,
				Note: "irflow rule sweep: " + d.req.Rule.Path,
			})
			if err != nil {
				return n, fmt.Errorf("create schedule %s: %w", d.id, err)
			}
			n.Created++
			fmt.Fprintf(out, "created   %s (every %s)\n", d.id, d.every)
			continue
		case err != nil:
			return n, fmt.Errorf("describe schedule %s: %w", d.id, err)
		}
		if sameSchedule(desc, d, o.Catchup) {
			n.Unchanged++
			fmt.Fprintf(out, "unchanged %s\n", d.id)
			continue
		}
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = d.action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			s.Policy.CatchupWindow = o.Catchup
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
		if err != nil {
			return n, fmt.Errorf("update schedule %s: %w", d.id, err)
		}
		n.Updated++
		fmt.Fprintf(out, "updated   %s (every %s)\n", d.id, d.every)
	}
	if o.Prune {
		ids, err := ScheduleIDs(ctx, sc)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			if wanted[id] {
				continue
			}
			if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil {
				var nf *serviceerror.NotFound
				if !errors.As(err, &nf) {
					return n, fmt.Errorf("delete schedule %s: %w", id, err)
				}
			}
			// The sweep workflow would wait forever for kicks that never come.
			name := strings.TrimPrefix(id, workflows.RuleScheduleID(""))
			err := c.TerminateWorkflow(ctx, workflows.RuleSweepWorkflowID(name), "", "rule schedule pruned")
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				return n, fmt.Errorf("stop sweep workflow %s: %w", workflows.RuleSweepWorkflowID(name), err)
			}
			n.Deleted++
			fmt.Fprintf(out, "deleted   %s\n", id)
		}
	}
	fmt.Fprintf(out, "%d created, %d updated, %d unchanged, %d deleted\n", n.Created, n.Updated, n.Unchanged, n.Deleted)
	return n, nil
}

// ScheduleIDs lists the Schedules that run rule sweeps (visibility is
// eventually consistent: a Schedule created a moment ago may be missing).
func ScheduleIDs(ctx context.Context, sc client.ScheduleClient) ([]string, error) {
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, workflows.RuleScheduleID("")) && e.WorkflowType.Name == workflows.RuleKickWorkflowName {
			ids = append(ids, e.ID)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// sameSchedule reports whether the Schedule already does what d asks.
func sameSchedule(desc *client.ScheduleDescription, d desiredSchedule, catchup time.Duration) bool {
	s := desc.Schedule
	if s.Spec == nil || len(s.Spec.Intervals) != 1 || s.Spec.Intervals[0].Every != d.every ||
		s.Spec.Intervals[0].Offset != d.offset || len(s.Spec.Calendars) > 0 {
		return false
	}
	if s.Policy == nil || s.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || s.Policy.CatchupWindow != catchup {
		return false
	}
	a, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || a.ID != d.action.ID || a.TaskQueue != d.action.TaskQueue || a.WorkflowRunTimeout != d.action.WorkflowRunTimeout || len(a.Args) != 1 {
		return false
	}
	if name, _ := a.Workflow.(string); name != workflows.RuleKickWorkflowName {
		return false
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return false
	}
	var got workflows.SweepRequest
	if err := converter.GetDefaultDataConverter().FromPayload(p, &got); err != nil {
		return false
	}
	return reflect.DeepEqual(got, d.req)
}
