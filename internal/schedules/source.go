package schedules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// ErrNoRuleSchedule is wrapped by RuleSource.Rule when the rule has no
// Schedule: it was deleted (schedules apply --prune) or never applied.
var ErrNoRuleSchedule = errors.New("no rule schedule")

// DefaultRuleSourceTTL is how long RuleSource keeps a rule it read from its
// Schedule: a schedules apply reaches re-scans within it.
const DefaultRuleSourceTTL = 30 * time.Second

// RuleSource finds a rule by name in its Schedule (rule-<name>), the copy the
// rule's sweeps use, so a re-scan never checks another version of the rule
// than the sweep that raised the incident. Reads are kept for TTL, so a burst
// of re-scans describes each Schedule once; a missing Schedule is kept too.
type RuleSource struct {
	Client client.Client
	// TTL is how long a read stays fresh (DefaultRuleSourceTTL when zero).
	TTL time.Duration
	// Local, when set, is the worker's own copy of the rule files
	// (search.rules_dir, see NewRuleSource). It is never used to check: a rule
	// whose file there differs from its Schedule is logged once per read and
	// counted on every re-scan (activities.MetricRuleRescanDrift).
	Local  map[string]string // rule name → file
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*sourceEntry
}

// sourceEntry is one rule's read; done is closed once it is filled, so
// concurrent callers wait for the one Describe in flight.
type sourceEntry struct {
	done  chan struct{}
	at    time.Time
	rule  *rules.Rule
	err   error
	drift bool // Local's file differs from the Schedule's copy
}

// NewRuleSource returns a RuleSource that compares Schedules with the rule
// files under dir (none when dir is empty). A file that does not load is an
// error, as it would be for schedules apply.
func NewRuleSource(c client.Client, dir string, logger *slog.Logger) (*RuleSource, error) {
	s := &RuleSource{Client: c, Logger: logger}
	if dir == "" {
		return s, nil
	}
	files, err := rules.Files(dir)
	if err != nil {
		return nil, err
	}
	s.Local = map[string]string{}
	for _, f := range files {
		r, err := rules.LoadFile(f)
		if err != nil {
			return nil, err
		}
		s.Local[r.Name] = f
	}
	return s, nil
}

// Rule returns the rule its Schedule carries. The error wraps
// ErrNoRuleSchedule when there is no Schedule for it.
func (s *RuleSource) Rule(ctx context.Context, name string) (*rules.Rule, error) {
	now := s.now()
	s.mu.Lock()
	if s.entries == nil {
		s.entries = map[string]*sourceEntry{}
	}
	e, ok := s.entries[name]
	if ok {
		select {
		case <-e.done:
			if now.Sub(e.at) >= s.ttl() {
				ok = false
			}
		default: // a read in flight: wait for it
		}
	}
	if !ok {
		e = &sourceEntry{done: make(chan struct{})}
		s.entries[name] = e
		s.mu.Unlock()
		s.fill(ctx, name, e)
	} else {
		s.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.drift {
		activities.MetricsHandler(ctx).WithTags(map[string]string{activities.MetricTagRule: name}).
			Counter(activities.MetricRuleRescanDrift).Inc(1)
	}
	return e.rule, e.err
}

// fill reads name's Schedule into e. A read that failed for another reason
// than a missing Schedule (Temporal unreachable, a cancelled context) is not
// kept: the next caller tries again.
func (s *RuleSource) fill(ctx context.Context, name string, e *sourceEntry) {
	ref, keep, err := s.read(ctx, name)
	if err == nil {
		e.rule, err = ref.Load()
		if err != nil {
			err = fmt.Errorf("rule %s: schedule %s: %w", name, workflows.RuleScheduleID(name), err)
		}
	}
	e.err, e.at = err, s.now()
	if err == nil {
		e.drift = s.drifted(name, ref)
	}
	close(e.done)
	if !keep {
		s.mu.Lock()
		if s.entries[name] == e {
			delete(s.entries, name)
		}
		s.mu.Unlock()
	}
}

// read describes the rule's Schedule and returns the rule in its action's
// argument. keep says the answer holds until the Schedule changes.
func (s *RuleSource) read(ctx context.Context, name string) (ref rules.Ref, keep bool, err error) {
	id := workflows.RuleScheduleID(name)
	desc, err := s.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		err := fmt.Errorf("rule %s: %w %s: the rule was deleted (schedules apply --prune) or never applied", name, ErrNoRuleSchedule, id)
		if f, ok := s.Local[name]; ok {
			err = fmt.Errorf("%w; %s still has it (its copy is not used)", err, f)
		}
		return ref, true, err
	}
	if err != nil {
		return ref, false, fmt.Errorf("rule %s: describe schedule %s: %w", name, id, err)
	}
	ref, err = scheduledRule(desc)
	if err != nil {
		return ref, true, fmt.Errorf("rule %s: schedule %s: %w", name, id, err)
	}
	return ref, true, nil
}

// scheduledRule is the rule in a rule Schedule's action, as Apply wrote it.
func scheduledRule(desc *client.ScheduleDescription) (rules.Ref, error) {
	a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || len(a.Args) != 1 {
		return rules.Ref{}, errors.New("its action does not start " + workflows.RuleKickWorkflowName + " with one argument")
	}
	if name, _ := a.Workflow.(string); name != workflows.RuleKickWorkflowName {
		return rules.Ref{}, fmt.Errorf("its action starts %v, not %s", a.Workflow, workflows.RuleKickWorkflowName)
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return rules.Ref{}, fmt.Errorf("its argument is a %T, not a payload", a.Args[0])
	}
	var req workflows.SweepRequest
	if err := converter.GetDefaultDataConverter().FromPayload(p, &req); err != nil {
		return rules.Ref{}, fmt.Errorf("decode its argument: %w", err)
	}
	if req.Rule.Name == "" || (req.Rule.YAML == "" && req.Rule.Path == "") {
		return rules.Ref{}, errors.New("its argument carries no rule")
	}
	return req.Rule, nil
}

// drifted compares the rule's file in Local, if any, with the Schedule's copy
// by content, as Apply does, and logs a difference.
func (s *RuleSource) drifted(name string, ref rules.Ref) bool {
	f, ok := s.Local[name]
	if !ok {
		return false
	}
	scheduled := []byte(ref.YAML)
	if ref.YAML == "" { // an old Schedule that names its file only
		b, err := os.ReadFile(ref.Path)
		if err != nil {
			return false // then the sweep cannot load it either, and says so
		}
		scheduled = b
	}
	local, err := os.ReadFile(f)
	if err == nil && bytes.Equal(local, scheduled) {
		return false
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	args := []any{"rule", name, "file", f, "schedule", workflows.RuleScheduleID(name), "scheduled_from", ref.Path}
	if err != nil {
		args = append(args, "error", err)
	}
	logger.Warn("rule file in search.rules_dir differs from the rule's schedule; re-scans use the schedule's copy (run starter schedules apply, or fix the file)", args...)
	return true
}

func (s *RuleSource) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultRuleSourceTTL
}

func (s *RuleSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
