// Rules at scale: N rules at run_every 1m swept by one real worker (schedules
// → RuleKickWorkflow → RuleSweepWorkflow → SweepRule) on the bench's dev
// server and an embedded OpenSearch node fed live demo logs. N steps up until
// the sweeps stop keeping up; the figure is the largest N that holds, with
// where the time goes at each step.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

const (
	scaleRunEvery = time.Minute
	// scaleSample is how often the worker's registry is read: a sweep's
	// completion time is known to within it.
	scaleSample = 2 * time.Second
	// Demo traffic: 60 events/s, 3,600 a minute, over the three demo streams.
	scaleAppPerSecond, scaleFrontendPerSecond, scaleWAFPerSecond = 30, 10, 20
)

// scaleRuleYAML is the rule mix, one template per type, taken in turn. The
// thresholds are out of reach of the demo traffic (scenarios off) so no rule
// opens incidents: the figure is the sweeps' cost, not the incidents'. %[1]s
// is the rule's name, %[2]d its number (thresholds differ per rule, as they
// would in a real rule set).
var scaleRuleYAML = []string{
	// frequency with query_key: one composite aggregation with per-key time buckets.
	`name: %[1]s
type: frequency
index: uc-be-*
run_every: {minutes: 1}
realert: {minutes: 15}
query_key: kubernetes.namespace_name
num_events: %[2]d00000
timeframe: {minutes: 5}
filter:
- range: {status: {gte: 500, lte: 599}}
`,
	// any with a filter: a document query (search_after pages); the label only
	// appears in the demo's scenarios, which are off, so pages are empty.
	`name: %[1]s
type: any
index: waf-logs-*
run_every: {minutes: 1}
realert: {minutes: 30}
query_key: httpRequest.clientIp
filter:
- term: {action: BLOCK}
- term: {labels.name: "awswaf:managed:aws:core-rule-set:SQLi_Body"}
`,
	// flatline: a count over the whole front-end stream.
	`name: %[1]s
type: flatline
index: us-fe-*
run_every: {minutes: 1}
realert: {hours: 1}
threshold: 1
timeframe: {minutes: 5}
`,
	// cardinality: distinct users per client IP on the login routes.
	`name: %[1]s
type: cardinality
index: uc-be-*
run_every: {minutes: 1}
realert: {minutes: 15}
query_key: client_ip
cardinality_field: user.name
max_cardinality: %[2]d000
timeframe: {minutes: 10}
filter:
- terms: {request.path: [/api/login, /api/v1/login]}
`,
	// metric_aggregation: average latency per route.
	`name: %[1]s
type: metric_aggregation
index: uc-be-*
run_every: {minutes: 1}
realert: {minutes: 15}
query_key: request.path
metric_agg_key: response_time_ms
metric_agg_type: avg
max_threshold: %[2]d00000
`,
}

var scaleRuleTypes = []string{"frequency", "any", "flatline", "cardinality", "metric_aggregation"}

// scaleApplyFolders is how many folders the rules are split over, each
// applied by its own schedules.Apply at once: Apply creates Schedules one
// by one, about 150 ms each on the loaded dev server.
const scaleApplyFolders = 8

// scaleRules writes n rule files into scaleApplyFolders new folders and
// returns them and the rule names.
func scaleRules(parent string, n int) ([]string, []string, error) {
	dirs := make([]string, scaleApplyFolders)
	for i := range dirs {
		dirs[i] = filepath.Join(parent, fmt.Sprintf("rules-%d-%d", n, i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, nil, err
		}
	}
	names := make([]string, n)
	for i := range n {
		k := i % len(scaleRuleYAML)
		names[i] = fmt.Sprintf("scale-%d-%04d-%s", n, i, strings.ReplaceAll(scaleRuleTypes[k], "_", "-"))
		y := fmt.Sprintf(scaleRuleYAML[k], names[i], i+1)
		if err := os.WriteFile(filepath.Join(dirs[i%len(dirs)], names[i]+".yaml"), []byte(y), 0o644); err != nil {
			return nil, nil, err
		}
	}
	return dirs, names, nil
}

// apply creates the Schedules of every folder at once: schedules.Apply, or,
// with BENCH_SCALE_OVERLAP=allow_all, the same Schedules created through the
// same API with overlap policy allow-all instead of skip (see overlapName).
func (s *scaleBench) apply(dirs []string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(dirs))
	for _, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.overlap == enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
				if _, err := schedules.Apply(s.e.ctx, s.e.c, schedules.Options{Dir: dir}, io.Discard); err != nil {
					errs <- err
				}
				return
			}
			if err := s.createAllowAll(dir); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// createAllowAll creates what schedules.Apply would, but with overlap
// allow-all: the dev server's scheduler then starts each kick without
// watching the previous one to its end.
func (s *scaleBench) createAllowAll(dir string) error {
	files, err := rules.Files(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		r, err := rules.LoadFile(f)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		req := workflows.SweepRequest{Rule: rules.Ref{Name: r.Name, Path: f, YAML: string(y)}}
		_, err = s.e.c.ScheduleClient().Create(s.e.ctx, client.ScheduleOptions{
			ID:   workflows.RuleScheduleID(r.Name),
			Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: r.RunEvery}}},
			Action: &client.ScheduleWorkflowAction{ID: workflows.RuleKickWorkflowID(r.Name), Workflow: workflows.RuleKickWorkflowName,
				Args: []any{req}, TaskQueue: workflows.TaskQueue, WorkflowRunTimeout: max(r.RunEvery, time.Minute)},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL, CatchupWindow: 5 * time.Minute,
		})
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", r.Name, err)
		}
	}
	return nil
}

func (s *scaleBench) overlapName() string {
	if s.overlap == enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		return "skip (schedules.Apply)"
	}
	return "allow_all (BENCH_SCALE_OVERLAP)"
}

// procCPU is the CPU time of a process from /proc/<pid>/stat (utime+stime).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// childPID finds the child process of this one whose comm is name (the dev
// server, "temporal"; the OpenSearch JVM, "java"); 0 when there is none.
func childPID(name string) int {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 2 || s[open+1:close] != name {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			return pid
		}
	}
	return 0
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU reads /proc/stat's cpu line: busy and total jiffies.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// scaleCPU is one reading of every CPU clock the step reports.
type scaleCPU struct {
	at                         time.Time
	self, temporal, opensearch time.Duration
	busy, total                int64
}

func readCPU(temporalPID, osPID int) scaleCPU {
	c := scaleCPU{at: time.Now(), self: selfCPU(), temporal: procCPU(temporalPID), opensearch: procCPU(osPID)}
	c.busy, c.total = machineCPU()
	return c
}

// osSearchStats is the node's search counters (_nodes/_local/stats).
type osSearchStats struct {
	QueryTotal  int64 `json:"query_total"`
	QueryMillis int64 `json:"query_time_in_millis"`
	FetchTotal  int64 `json:"fetch_total"`
	FetchMillis int64 `json:"fetch_time_in_millis"`
}

func readSearchStats(ctx context.Context, url string) (osSearchStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_nodes/_local/stats/indices/search", nil)
	if err != nil {
		return osSearchStats{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return osSearchStats{}, err
	}
	defer res.Body.Close()
	var body struct {
		Nodes map[string]struct {
			Indices struct {
				Search osSearchStats `json:"search"`
			} `json:"indices"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return osSearchStats{}, err
	}
	for _, n := range body.Nodes {
		return n.Indices.Search, nil
	}
	return osSearchStats{}, fmt.Errorf("node stats: no node")
}

// histo is a histogram's count and sum, by label value.
type histo struct {
	count uint64
	sum   float64
}

// scaleSnapshot is one read of the worker's registry: per rule, sweep
// attempts, failures and the exported lag; per workflow or activity type,
// the SDK's task timers.
type scaleSnapshot struct {
	at       time.Time
	attempts map[string]uint64
	errors   map[string]float64
	lag      map[string]float64
	// timers: metric name + "|" + the label that matters → count and sum.
	timers map[string]histo
}

// scaleTimers are the SDK timers kept, with the label each is split by.
var scaleTimers = map[string]string{
	"temporal_workflow_task_schedule_to_start_latency_seconds": "workflow_type",
	"temporal_workflow_task_execution_latency_seconds":         "workflow_type",
	"temporal_workflow_task_replay_latency_seconds":            "workflow_type",
	"temporal_activity_schedule_to_start_latency_seconds":      "activity_type",
	"temporal_activity_execution_latency_seconds":              "activity_type",
	"temporal_request_latency_seconds":                         "operation",
	"irflow_rule_sweep_duration_seconds":                       "",
}

func snapshot(reg *prometheus.Registry) (scaleSnapshot, error) {
	s := scaleSnapshot{at: time.Now(), attempts: map[string]uint64{}, errors: map[string]float64{}, lag: map[string]float64{}, timers: map[string]histo{}}
	mfs, err := reg.Gather()
	if err != nil {
		return s, err
	}
	for _, mf := range mfs {
		name := mf.GetName()
		split, keep := scaleTimers[name]
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			rule := labels["rule"]
			switch name {
			case "irflow_rule_sweep_duration_seconds":
				s.attempts[rule] = m.GetHistogram().GetSampleCount()
			case "irflow_rule_sweep_errors_total":
				s.errors[rule] = m.GetCounter().GetValue()
			case "irflow_rule_sweep_lag_seconds":
				s.lag[rule] = m.GetGauge().GetValue()
			}
			if keep {
				k := name + "|" + labels[split]
				h := s.timers[k]
				h.count += m.GetHistogram().GetSampleCount()
				h.sum += m.GetHistogram().GetSampleSum()
				s.timers[k] = h
			}
		}
	}
	return s, nil
}

// timerDelta is what a timer recorded between two snapshots.
func timerDelta(a, b scaleSnapshot, name, label string) histo {
	k := name + "|" + label
	return histo{count: b.timers[k].count - a.timers[k].count, sum: b.timers[k].sum - a.timers[k].sum}
}

func (h histo) meanMs() float64 {
	if h.count == 0 {
		return 0
	}
	return round2(h.sum / float64(h.count) * 1000)
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return round2(s[int(float64(len(s)-1)*p)])
}

func spread(xs []float64) map[string]any {
	if len(xs) == 0 {
		return map[string]any{"n": 0}
	}
	return map[string]any{"p50": pct(xs, 0.5), "p99": pct(xs, 0.99), "max": pct(xs, 1), "n": len(xs)}
}

// scaleBench holds what every step shares.
type scaleBench struct {
	e                   *env
	nodeURL             string
	temporalPID, osPID  int
	minutes             int
	dir                 string
	reg                 *prometheus.Registry
	overlap             enumspb.ScheduleOverlapPolicy
	temporalCPUMeasured bool
}

// step runs n rules for the warm-up minute and s.minutes measured ones, then
// removes them.
func (s *scaleBench) step(n int) (map[string]any, bool, error) {
	ctx := s.e.ctx
	dirs, names, err := scaleRules(s.dir, n)
	if err != nil {
		return nil, false, err
	}
	defer s.cleanup(names)
	progress("rules-scale: %d rules: schedules apply (%d folders at once, overlap %s)", n, len(dirs), s.overlapName())
	began := time.Now()
	if err := s.apply(dirs); err != nil {
		return nil, false, err
	}
	applied := time.Since(began)
	// Each Schedule fires every minute at its own offset (schedules.RuleOffset).
	// Every rule's first firing after apply comes before warm+1m: it starts
	// the sweep workflows and sweeps buffer_time back, a warm-up, not
	// measured. The measured firings are those in [t0, t0+minutes); sampling
	// goes on one more minute for their sweeps to finish.
	warm := time.Now().Truncate(scaleRunEvery).Add(scaleRunEvery)
	t0 := warm.Add(scaleRunEvery)
	tEnd := t0.Add(time.Duration(s.minutes) * scaleRunEvery)
	t1 := tEnd.Add(scaleRunEvery)
	offsets := map[string]time.Duration{}
	for _, name := range names {
		offsets[name] = schedules.RuleOffset(workflows.RuleScheduleID(name), scaleRunEvery)
	}
	progress("rules-scale: %d rules applied in %s; warm-up firing %s, measuring %s → %s", n, applied.Round(time.Millisecond),
		warm.Format("15:04:05"), t0.Format("15:04:05"), t1.Format("15:04:05"))
	time.Sleep(time.Until(t0))

	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	incidentsBefore := s.incidents()
	os0, err := readSearchStats(ctx, s.nodeURL)
	if err != nil {
		return nil, false, err
	}
	cpu0 := readCPU(s.temporalPID, s.osPID)
	first, err := snapshot(s.reg)
	if err != nil {
		return nil, false, err
	}
	prev := first
	var fireToDone, exported []float64
	perRule := map[string]int{}
	tick := time.NewTicker(scaleSample)
	for now := range tick.C {
		cur, err := snapshot(s.reg)
		if err != nil {
			tick.Stop()
			return nil, false, err
		}
		mid := prev.at.Add(cur.at.Sub(prev.at) / 2)
		for rule, c := range cur.attempts {
			if !want[rule] || c == prev.attempts[rule] {
				continue
			}
			if cur.errors[rule] != prev.errors[rule] {
				continue // a failed attempt covers nothing new
			}
			lag := cur.lag[rule]
			// The sweep's workflow clock (the end it covered) was lag before
			// it finished, which is at or before this snapshot: cur.at-lag is
			// at or after that clock by at most one sample, never before the
			// firing that kicked it. The firing is the rule's last at or
			// before it.
			off := offsets[rule]
			fired := cur.at.Add(-time.Duration(lag*float64(time.Second)) - off).Truncate(scaleRunEvery).Add(off)
			if fired.Before(t0) || !fired.Before(tEnd) {
				continue // a warm-up firing, or one after the window
			}
			perRule[rule]++
			exported = append(exported, lag)
			fireToDone = append(fireToDone, mid.Sub(fired).Seconds())
		}
		prev = cur
		if !now.Before(t1) {
			break
		}
	}
	tick.Stop()
	last := prev
	cpu1 := readCPU(s.temporalPID, s.osPID)
	os1, err := readSearchStats(ctx, s.nodeURL)
	if err != nil {
		return nil, false, err
	}
	delays := s.scheduleDelays(names, t0)

	var attempts uint64
	var failed float64
	for _, name := range names {
		attempts += last.attempts[name] - first.attempts[name]
		failed += last.errors[name] - first.errors[name]
	}
	expected := n * s.minutes
	completed := len(fireToDone)
	behind := 0 // rules with fewer sweeps than firings
	for _, name := range names {
		if perRule[name] < s.minutes {
			behind++
		}
	}
	window := cpu1.at.Sub(cpu0.at).Seconds()
	cores := func(d time.Duration) float64 { return round2(d.Seconds() / window) }
	machineBusy := 0.0
	if dt := cpu1.total - cpu0.total; dt > 0 {
		machineBusy = round2(float64(cpu1.busy-cpu0.busy) / float64(dt))
	}

	// Where a sweep's time goes, from firing to done: the SDK's timers.
	wft := func(name, wf string) histo { return timerDelta(first, last, name, wf) }
	act := func(name, a string) histo { return timerDelta(first, last, name, a) }
	const (
		wS2S, wExec  = "temporal_workflow_task_schedule_to_start_latency_seconds", "temporal_workflow_task_execution_latency_seconds"
		aS2S, aExec  = "temporal_activity_schedule_to_start_latency_seconds", "temporal_activity_execution_latency_seconds"
		req, replay  = "temporal_request_latency_seconds", "temporal_workflow_task_replay_latency_seconds"
		kick, sweep  = workflows.RuleKickWorkflowName, workflows.RuleSweepWorkflowName
		kickA, sweeA = "KickRuleSweep", "SweepRule"
	)
	path := map[string]any{
		"schedule_fire_delay_ms":      delays,
		"kick_workflow_task_wait_ms":  wft(wS2S, kick).meanMs(),
		"kick_workflow_task_run_ms":   wft(wExec, kick).meanMs(),
		"kick_activity_wait_ms":       act(aS2S, kickA).meanMs(),
		"kick_activity_run_ms":        act(aExec, kickA).meanMs(),
		"sweep_workflow_task_wait_ms": wft(wS2S, sweep).meanMs(),
		"sweep_workflow_task_run_ms":  wft(wExec, sweep).meanMs(),
		"sweep_activity_wait_ms":      act(aS2S, sweeA).meanMs(),
		"sweep_activity_run_ms":       act(aExec, sweeA).meanMs(),
		"note":                        "means per task; one sweep is a kick workflow (2 workflow tasks, 1 activity: SignalWithStart) and a sweep workflow (2 workflow tasks, 1 activity: SweepRule); *_wait is schedule-to-start (queued in the dev server), *_run is on the worker",
	}
	// Worker busy time in the window, by kind: search (SweepRule), Temporal
	// round trips (the kick's SignalWithStart and the worker's RPCs other
	// than long polls), workflow code (workflow task execution).
	search := act(aExec, sweeA).sum
	rpcs := act(aExec, kickA).sum
	requests := map[string]float64{}
	for k, h := range last.timers {
		name, op, _ := strings.Cut(k, "|")
		if name != req {
			continue
		}
		d := h.sum - first.timers[k].sum
		rpcs += d
		requests[op] = round2(d)
	}
	wfCode := wft(wExec, kick).sum + wft(wExec, sweep).sum
	busy := search + rpcs + wfCode
	share := func(x float64) float64 {
		if busy == 0 {
			return 0
		}
		return round2(x / busy)
	}
	osQueries := os1.QueryTotal - os0.QueryTotal
	osMs := float64(os1.QueryMillis-os0.QueryMillis) + float64(os1.FetchMillis-os0.FetchMillis)
	ftd, exp := spread(fireToDone), spread(exported)
	p99 := pct(fireToDone, 0.99)
	ratio := round2(float64(completed) / float64(expected))
	// A sweep is attributed to the last firing before its workflow clock, so a
	// firing the dev server's scheduler starts more than a run_every late
	// would look early: the sampled firing delays must stay under it too.
	late := false
	if m, ok := delays["max"].(float64); ok {
		late = m >= float64(scaleRunEvery.Milliseconds())
	}
	holds := completed > 0 && p99 < scaleRunEvery.Seconds() && ratio >= 0.95 && !late
	cpu := map[string]any{
		"worker_process_cores": cores(cpu1.self - cpu0.self),
		"opensearch_cores":     cores(cpu1.opensearch - cpu0.opensearch),
		"machine_busy":         machineBusy,
		"loadavg_end":          loadAvg(),
		"note":                 "CPU seconds per wall second over the window; the worker process is the bench (worker, demo-log feeder, registry sampler); machine_busy is all processes, other agents included",
	}
	if s.temporalCPUMeasured {
		cpu["temporal_dev_server_cores"] = cores(cpu1.temporal - cpu0.temporal)
	}
	out := map[string]any{
		"rules":                  n,
		"holds":                  holds,
		"apply_s":                round2(applied.Seconds()),
		"window_s":               round2(window),
		"expected_sweeps":        expected,
		"completed_sweeps":       completed,
		"completed_ratio":        ratio,
		"sweep_attempts":         attempts,
		"failed_attempts":        failed,
		"rules_behind":           behind,
		"incidents_opened":       s.incidents() - incidentsBefore,
		"fire_to_done_s":         ftd,
		"exported_sweep_lag_s":   exp,
		"sweeps_per_s":           round2(float64(completed) / window),
		"cpu":                    cpu,
		"sweep_path_ms":          path,
		"worker_busy_s":          map[string]any{"search": round2(search), "temporal_round_trips": round2(rpcs), "workflow_tasks": round2(wfCode), "requests_by_operation_s": requests},
		"worker_busy_share":      map[string]any{"search": share(search), "temporal_round_trips": share(rpcs), "workflow_tasks": share(wfCode)},
		"replay_mean_ms":         wft(replay, sweep).meanMs(),
		"opensearch":             map[string]any{"queries": osQueries, "query_plus_fetch_ms_per_query": round2(osMs / math.Max(1, float64(osQueries))), "busy_share_of_window": round2(osMs / 1000 / window)},
		"sweep_activity_mean_ms": timerDelta(first, last, "irflow_rule_sweep_duration_seconds", "").meanMs(),
	}
	progress("rules-scale: %d rules: holds=%v completed %d/%d, fire→done p50 %v p99 %v s, exported lag p99 %v s, worker %.2f cores",
		n, holds, completed, expected, ftd["p50"], ftd["p99"], exp["p99"], cores(cpu1.self-cpu0.self))
	return out, holds, nil
}

// incidents counts incidents the bench notifier has seen announced.
func (s *scaleBench) incidents() int {
	s.e.arr.mu.Lock()
	defer s.e.arr.mu.Unlock()
	return len(s.e.arr.seen)
}

// scheduleDelays samples up to 10 Schedules' firings since from (the warm-up
// is left out): how late the dev server started each after its scheduled time.
func (s *scaleBench) scheduleDelays(names []string, from time.Time) map[string]any {
	var ms []float64
	ctx, cancel := context.WithTimeout(s.e.ctx, 30*time.Second)
	defer cancel()
	step := max(1, len(names)/10)
	for i := 0; i < len(names) && ctx.Err() == nil; i += step {
		desc, err := s.e.c.ScheduleClient().GetHandle(ctx, workflows.RuleScheduleID(names[i])).Describe(ctx)
		if err != nil {
			continue
		}
		for _, a := range desc.Info.RecentActions {
			if a.ScheduleTime.Before(from) {
				continue
			}
			ms = append(ms, float64(a.ActualTime.Sub(a.ScheduleTime).Milliseconds()))
		}
	}
	return spread(ms)
}

// cleanup deletes the step's Schedules and terminates its sweep workflows,
// so the next step starts from none.
func (s *scaleBench) cleanup(names []string) {
	began := time.Now()
	ctx := s.e.ctx
	var wg sync.WaitGroup
	next := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range next {
				var nf *serviceerror.NotFound
				if err := s.e.c.ScheduleClient().GetHandle(ctx, workflows.RuleScheduleID(name)).Delete(ctx); err != nil && !errors.As(err, &nf) {
					progress("rules-scale: delete schedule %s: %v", name, err)
				}
				if err := s.e.c.TerminateWorkflow(ctx, workflows.RuleSweepWorkflowID(name), "", "bench step over"); err != nil && !errors.As(err, &nf) {
					progress("rules-scale: terminate %s: %v", workflows.RuleSweepWorkflowID(name), err)
				}
			}
		}()
	}
	for _, name := range names {
		next <- name
	}
	close(next)
	wg.Wait()
	// Let kicks already queued drain before the next step measures.
	time.Sleep(10 * time.Second)
	progress("rules-scale: removed %d schedules and sweep workflows in %s", len(names), time.Since(began).Round(time.Millisecond))
}

func scaleSteps() ([]int, int, error) {
	steps := []int{50, 100, 250, 500, 1000, 2000}
	if v := os.Getenv("BENCH_SCALE_RULES"); v != "" {
		steps = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return nil, 0, fmt.Errorf("BENCH_SCALE_RULES: %q is not a list of positive counts", v)
			}
			steps = append(steps, n)
		}
	}
	minutes := 2
	if v := os.Getenv("BENCH_SCALE_MINUTES"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m <= 0 {
			return nil, 0, fmt.Errorf("BENCH_SCALE_MINUTES: %q is not a positive number of minutes", v)
		}
		minutes = m
	}
	return steps, minutes, nil
}

// scaleWorkerConfig is the bench's worker config with search.url set and the
// worker tuning taken from the production env names (IRFLOW_WORKER_*).
func scaleWorkerConfig(base config.Config, url string) (config.Config, error) {
	tuned, err := config.Load("", func(k string) string {
		if strings.HasPrefix(k, "IRFLOW_WORKER_") {
			return os.Getenv(k)
		}
		return ""
	})
	if err != nil {
		return base, err
	}
	cfg := base
	cfg.Search.URL = url
	metrics := cfg.Worker.MetricsAddr
	cfg.Worker = tuned.Worker
	cfg.Worker.MetricsAddr = metrics
	return cfg, nil
}

// benchRulesScale: rules at scale. See the file comment.
func benchRulesScale(e *env) (map[string]any, error) {
	steps, minutes, err := scaleSteps()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "irflow-bench-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	progress("rules-scale: starting OpenSearch in %s", home)
	node, err := opensearch.Start(e.ctx, opensearch.Options{Home: filepath.Join(home, "opensearch"), Heap: "1g", DeleteHomeOnExit: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer node.Stop()
	osc, err := opensearchgo.NewClient(opensearchgo.Config{Addresses: []string{node.URL()}})
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	feeder := &demologs.Feeder{Client: osc, Seed: 7, Backfill: 20 * time.Minute, Interval: 5 * time.Second,
		Options: demologs.Options{AppPerSecond: scaleAppPerSecond, FrontendPerSecond: scaleFrontendPerSecond, WAFPerSecond: scaleWAFPerSecond, ScenarioEvery: -1},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))}
	fed := make(chan error, 1)
	go func() { fed <- feeder.Run(ctx) }()
	progress("rules-scale: backfilling 20 minutes of demo logs (%d events/s)", scaleAppPerSecond+scaleFrontendPerSecond+scaleWAFPerSecond)
	for feeder.Indexed() < int64(19*60*(scaleAppPerSecond+scaleFrontendPerSecond+scaleWAFPerSecond)) {
		select {
		case err := <-fed:
			return nil, fmt.Errorf("demo logs: %v", err)
		case <-time.After(time.Second):
		}
	}

	cfg, err := scaleWorkerConfig(e.benchCfg, node.URL())
	if err != nil {
		return nil, err
	}
	if err := e.useWorker(cfg, notifier{e.arr}); err != nil {
		return nil, err
	}
	defer e.restoreWorker()
	s := &scaleBench{e: e, nodeURL: node.URL(), temporalPID: childPID("temporal"), osPID: childPID("java"),
		minutes: minutes, dir: home, reg: e.worker.Registry, overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}
	switch v := os.Getenv("BENCH_SCALE_OVERLAP"); v {
	case "", "skip":
	case "allow_all":
		s.overlap = enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
	default:
		return nil, fmt.Errorf("BENCH_SCALE_OVERLAP: %q is not skip or allow_all", v)
	}
	s.temporalCPUMeasured = s.temporalPID != 0

	var results []map[string]any
	largest := 0
	for _, n := range steps {
		r, holds, err := s.step(n)
		if err != nil {
			return nil, fmt.Errorf("%d rules: %w", n, err)
		}
		results = append(results, r)
		if !holds {
			break
		}
		largest = n
	}
	w := cfg.Worker
	return map[string]any{"rules_scale": map[string]any{
		"what": fmt.Sprintf("N rules (frequency with query_key, any with a filter, flatline, cardinality, metric_aggregation in turn) at run_every 1m, "+
			"applied with schedules.Apply (8 folders at once), swept by one worker (workerapp) on the dev server and one embedded OpenSearch node (1 GB heap) fed %d demo events a minute; "+
			"one warm-up firing, then %d measured firings per rule. A step holds when fire→done p99 < run_every, ≥ 95%% of firings completed a sweep and no sampled Schedule firing started a run_every late; stepping stops at the first that does not",
			60*(scaleAppPerSecond+scaleFrontendPerSecond+scaleWAFPerSecond), minutes),
		"command":           "BENCH=rules-scale make bench (BENCH_SCALE_RULES=50,250 BENCH_SCALE_MINUTES=1 for a quick run; IRFLOW_WORKER_* tune the worker; BENCH_SCALE_OVERLAP=allow_all tries Schedules without skip)",
		"largest_n_holding": largest,
		"schedule_overlap":  s.overlapName(),
		"target":            2000,
		"target_met":        largest >= 2000,
		"worker_tuning": map[string]any{
			"max_concurrent_activities": w.MaxConcurrentActivities, "max_concurrent_workflow_tasks": w.MaxConcurrentWorkflowTasks,
			"workflow_task_pollers": w.WorkflowTaskPollers, "activity_task_pollers": w.ActivityTaskPollers, "sticky_cache_size": w.StickyCacheSize,
			"note": "0 is the SDK default (1000 workflow task slots, 2 pollers each, 10000 sticky cache); set with IRFLOW_WORKER_* as in production",
		},
		"fire_to_done_note": "seconds from the rule's firing (its minute plus schedules.RuleOffset) to the end of the SweepRule activity it led to, read from the worker's registry every 2 s; exported_sweep_lag_s is irflow_rule_sweep_lag_seconds at the same sweeps (from the sweep workflow's clock, so without the kick path)",
		"steps":             results,
	}}, nil
}
