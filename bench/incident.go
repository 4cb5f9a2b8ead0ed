// The incident sections. incident (issue 3): distinct alerts/s through
// client.Client.Send against raw SignalWithStart, and alert-to-first-notify
// latency. incident-storm (issue 10): a storm across continue-as-new with a
// slow notifier, where every alert that got a 2xx must be counted.

package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// benchIncident: issue 3's figures, alerts/s and alert-to-first-notify latency.
func benchIncident(e *env) (map[string]any, error) {
	ctx, c, ic, arr, runID := e.ctx, e.c, e.ic, e.arr, e.runID

	const n, conc = 400, 16
	var announced []chan time.Time
	var announcedMu sync.Mutex
	alerts := func(round int) func(i int) error {
		return func(i int) error {
			a := incident.Alert{Source: "bench", Rule: fmt.Sprintf("bench %s %d %d", runID, round, i), Env: "bench", Severity: incident.SeverityLow}
			ch := arr.wait(workflows.IncidentWorkflowID(incident.Fingerprint(a)))
			announcedMu.Lock()
			announced = append(announced, ch)
			announcedMu.Unlock()
			_, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: a})
			return err
		}
	}
	progress("warm-up")
	if _, err := e.rawRate("warm", 100, conc); err != nil {
		return nil, err
	}
	if _, err := rate(100, conc, alerts(-1)); err != nil {
		return nil, err
	}
	// Interleaved rounds, so drift on a noisy machine hits both sides alike.
	var rawRates, incRates []float64
	for round := range 3 {
		progress("throughput round %d: %d raw SignalWithStart, %d alerts, %d clients", round+1, n, n, conc)
		r, err := e.rawRate(fmt.Sprint(round), n, conc)
		if err != nil {
			return nil, fmt.Errorf("raw SignalWithStart: %w", err)
		}
		a, err := rate(n, conc, alerts(round))
		if err != nil {
			return nil, fmt.Errorf("incident path: %w", err)
		}
		rawRates, incRates = append(rawRates, r), append(incRates, a)
	}
	sendsDone := time.Now()
	slices.Sort(rawRates)
	slices.Sort(incRates)
	rawMed, incMed := rawRates[1], incRates[1]
	progress("throughput: raw %.0f/s, incident %.0f/s; waiting for the worker to announce all %d incidents", rawMed, incMed, len(announced))
	// The latency phase starts on an idle worker: every incident above announced.
	var lastAnnounce time.Time
	for _, ch := range announced {
		select {
		case t := <-ch:
			if t.After(lastAnnounce) {
				lastAnnounce = t
			}
		case <-time.After(5 * time.Minute):
			return nil, fmt.Errorf("the worker did not announce every incident within 5 minutes")
		}
	}
	backlog := max(lastAnnounce.Sub(sendsDone), 0)

	progress("latency: 200 alerts one at a time against 200 start-to-first-activity floors")
	var floor, toNotify []time.Duration
	for i := range 200 {
		id := fmt.Sprintf("floor-%s-%d", runID, i)
		ch := arr.wait(id)
		t0 := time.Now()
		if _, err := c.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{ID: id, TaskQueue: baselineQueue}, "BenchFirstActivity", id); err != nil {
			return nil, err
		}
		floor = append(floor, (<-ch).Sub(t0))

		a := incident.Alert{Source: "bench", Rule: fmt.Sprintf("latency %s %d", runID, i), Env: "bench"}
		incID := workflows.IncidentWorkflowID(incident.Fingerprint(a))
		ch = arr.wait(incID)
		t0 = time.Now()
		if _, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: a}); err != nil {
			return nil, err
		}
		select {
		case t1 := <-ch:
			toNotify = append(toNotify, t1.Sub(t0))
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("alert %s never reached notify", incID)
		}
	}
	fl, tn := summarize(floor), summarize(toNotify)

	return map[string]any{
		"incident_throughput": map[string]any{
			"what":                    "distinct alerts/s through client.Client.Send (SignalWithStart of IncidentWorkflow) vs a raw SignalWithStart loop on an empty workflow; median of 3 interleaved rounds",
			"clients":                 conc,
			"per_round":               n,
			"raw_signal_with_start_s": round2(rawMed),
			"incident_alerts_s":       round2(incMed),
			"ratio":                   round2(incMed / rawMed),
			"target_ratio":            0.9,
			"rounds_raw":              roundAll(rawRates),
			"rounds_incident":         roundAll(incRates),
			"announced_all":           len(announced),
			"backlog_after_sends_s":   round2(backlog.Seconds()),
		},
		"alert_to_first_notify": map[string]any{
			"what":             "Send → Notifier.Post called, 200 alerts one at a time, vs start workflow → first activity running",
			"floor":            fl,
			"incident":         tn,
			"p50_ratio":        round2(tn.P50ms / fl.P50ms),
			"target_p50_ratio": 1.5,
		},
	}, nil
}

// slowNotifier takes delay per call, like Slack behind rate limits or a slow
// network. It remembers posts, so Find works as Slack's metadata lookup does,
// and what the announcement shows after the last call that landed.
type slowNotifier struct {
	delay time.Duration

	mu     sync.Mutex
	posted map[string]incident.MessageRef
	shown  map[string]int
	calls  map[string]int
}

func newSlowNotifier(delay time.Duration) *slowNotifier {
	return &slowNotifier{delay: delay, posted: map[string]incident.MessageRef{}, shown: map[string]int{}, calls: map[string]int{}}
}

// call waits delay (or until the activity gives up) and counts the call.
func (n *slowNotifier) call(ctx context.Context, method string) error {
	select {
	case <-time.After(n.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls[method]++
	return nil
}

func (n *slowNotifier) Name() string { return "bench-slow" }

func (n *slowNotifier) Find(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	if err := n.call(ctx, "Find"); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ref, ok := n.posted[inc.ID+"/"+inc.OpenedAt.String()]; ok {
		return &ref, nil
	}
	return nil, nil
}

func (n *slowNotifier) Post(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	if err := n.call(ctx, "Post"); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ref := incident.MessageRef{Notifier: n.Name(), ID: inc.ID + "/" + inc.OpenedAt.String()}
	n.posted[ref.ID] = ref
	n.shown[inc.ID] = inc.Occurrences
	return &ref, nil
}

func (n *slowNotifier) Update(ctx context.Context, _ incident.MessageRef, inc *incident.Incident) error {
	if err := n.call(ctx, "Update"); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.shown[inc.ID] = inc.Occurrences
	return nil
}

func (n *slowNotifier) Event(ctx context.Context, _ incident.MessageRef, _ *incident.Incident, _ activities.Event) error {
	return n.call(ctx, "Event")
}

func (n *slowNotifier) snapshot(id string) (shown int, calls map[string]int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.shown[id], maps.Clone(n.calls)
}

// benchIncidentStorm: issue 10's figure. 10,000 alerts from 50 senders into one
// incident whose notifier takes 10 s per call, with max_signals_per_run low
// enough to continue as new several times. Every alert that got a 2xx must be
// counted, exactly. The env's worker is stopped for this section (every worker
// polls the same task queue) and a fresh one replaces it afterwards.
func benchIncidentStorm(e *env) (map[string]any, error) {
	const alerts, senders, perRun = 10000, 50, 500
	const callTime = 10 * time.Second
	progress("stopping the bench worker; starting one whose notifier takes %s per call (max_signals_per_run %d)", callTime, perRun)
	cfg := e.benchCfg
	cfg.Incident.MaxSignalsPerRun = perRun
	cfg.Incident.RescanInterval = 0
	cfg.Archive.URL = "file://" + filepath.Join(e.home, "archive-storm")
	slow := newSlowNotifier(callTime)
	alert := incident.Alert{Source: "bench", Rule: "storm " + e.runID, Env: "bench", Severity: incident.SeverityHigh}
	id := workflows.IncidentWorkflowID(incident.Fingerprint(alert))
	defer func() {
		_ = e.c.TerminateWorkflow(context.Background(), id, "", "bench over")
		e.restoreWorker()
	}()
	if err := e.useWorker(cfg, slow); err != nil {
		return nil, err
	}

	progress("storm: %d alerts from %d senders into %s", alerts, senders, id)
	var next, ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= alerts {
				if _, err := e.ic.Send(e.ctx, workflows.Occurrence{Count: 1, Alert: alert}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	want := int(ok.Load())
	progress("storm: %d sends got a 2xx, %d failed, in %s; waiting for the incident to count them", want, failed.Load(), sent.Round(time.Millisecond))

	// Counted: the status query agrees with the 2xx count and stays there.
	counted, shown := -1, -1
	var countedAt time.Duration
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if inc, err := e.ic.Get(e.ctx, id); err == nil {
			counted = inc.Occurrences
			if counted > want {
				break
			}
			if counted == want && countedAt == 0 {
				countedAt = time.Since(start)
			}
		}
		if shown, _ = slow.snapshot(id); countedAt > 0 && shown == want {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	shownAt := time.Since(start)
	shown, calls := slow.snapshot(id)
	runs, err := runsOf(e, id)
	if err != nil {
		return nil, err
	}
	figure := map[string]any{
		"what":                 "one incident, 10,000 single-occurrence alerts via client.Client.Send from 50 senders; the notifier takes 10 s per call; max_signals_per_run forces continue-as-new",
		"alerts":               alerts,
		"senders":              senders,
		"notifier_call_s":      callTime.Seconds(),
		"max_signals_per_run":  perRun,
		"sends_2xx":            want,
		"sends_failed":         failed.Load(),
		"occurrences_counted":  counted,
		"counted_equals_2xx":   counted == want,
		"message_shows":        shown,
		"runs":                 runs,
		"notifier_calls":       calls,
		"sends_s":              round2(sent.Seconds()),
		"counted_after_s":      round2(countedAt.Seconds()),
		"message_up_to_date_s": round2(shownAt.Seconds()),
	}
	if e, _ := firstErr.Load().(string); e != "" {
		figure["first_send_error"] = e
	}
	out := map[string]any{"incident_storm_continue_as_new": figure}
	if counted != want {
		return out, fmt.Errorf("%d sends got a 2xx but the incident counts %d occurrences", want, counted)
	}
	return out, nil
}

// runsOf counts the runs of the incident's chain: the latest, then each one it
// continued from.
func runsOf(e *env, id string) (int, error) {
	desc, err := e.c.DescribeWorkflowExecution(e.ctx, id, "")
	if err != nil {
		return 0, fmt.Errorf("describe %s: %w", id, err)
	}
	run, n := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), 0
	for run != "" {
		n++
		it := e.c.GetWorkflowHistory(e.ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		first, err := it.Next()
		if err != nil {
			return n, fmt.Errorf("history of %s/%s: %w", id, run, err)
		}
		run = first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
	}
	return n, nil
}
