// The incident section (issue 3): distinct alerts/s through client.Client.Send
// against raw SignalWithStart, and alert-to-first-notify latency.

package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	temporalclient "go.temporal.io/sdk/client"

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
