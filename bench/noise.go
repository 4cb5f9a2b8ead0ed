// The noise section (issue 13): the dedup ratio on the demo scenario stream,
// alerts in against incidents opened and announced, with every scenario the
// demo logs played still in an incident of its own.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
	temporalclient "go.temporal.io/sdk/client"
)

// noiseWindow is how much demo log the dedup figure replays, ending at
// noiseEnd (the demo generator is deterministic for a seed and a time).
const noiseWindow = 30 * time.Minute

var noiseEnd = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// demoAlerts replays window of demo logs through every rule of the pack at
// its run_every, as the schedules would, and returns the alerts the sweeps
// raise (what ElastAlert2 would have sent), tagged with env.
func demoAlerts(end time.Time, window time.Duration, env string) ([]incident.Alert, []demologs.Scenario, error) {
	root, err := checkout.Root()
	if err != nil {
		return nil, nil, err
	}
	from := end.Add(-window)
	var docs []demologs.Doc
	for d := range demologs.Generate(1, from, end, demologs.Options{}) {
		docs = append(docs, d)
	}
	files, err := filepath.Glob(filepath.Join(root, "deploy", "rules", "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	var alerts []incident.Alert
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "_") {
			continue // shared includes, not rules
		}
		r, err := rules.LoadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var events []rules.Event
		for _, d := range docs {
			if indexMatches(r.Index, d.Index) {
				events = append(events, rules.Event(d.Source))
			}
		}
		res, err := rules.Backtest(r, events, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		for _, m := range res.Matches {
			a := rules.MatchAlert(r, m)
			a.Env = env
			alerts = append(alerts, a)
		}
	}
	return alerts, demologs.Scenarios(1, from, end, demologs.Options{}), nil
}

// indexMatches applies a rule's comma-separated index patterns as OpenSearch would.
func indexMatches(patterns, index string) bool {
	for _, p := range strings.Split(patterns, ",") {
		if ok, _ := path.Match(strings.TrimSpace(p), index); ok {
			return true
		}
	}
	return false
}

// scenarioKey is what an incident of the scenario must name.
func scenarioKey(s demologs.Scenario) string {
	switch {
	case s.ClientIP != "":
		return s.ClientIP
	case s.Namespace != "":
		return s.Namespace
	}
	return s.Path
}

func benchNoise(e *env) (map[string]any, error) {
	ctx, ic := e.ctx, e.ic
	tag := "noise-" + e.runID
	// A fixed half hour, so every run replays the same scenarios.
	end := noiseEnd
	progress("replaying %s of demo logs through the rule pack", noiseWindow)
	alerts, scenarios, err := demoAlerts(end, noiseWindow, tag)
	if err != nil {
		return nil, err
	}
	progress("sending %d alerts", len(alerts))
	var mu sync.Mutex
	incidents := map[string]incident.Alert{}
	var waits []chan time.Time
	if _, err := rate(len(alerts), 8, func(i int) error {
		res, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alerts[i]})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := incidents[res.IncidentID]; !ok {
			incidents[res.IncidentID] = alerts[i]
			waits = append(waits, e.arr.wait(res.IncidentID))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Every incident is announced once (the bench notifier marks the first
	// post); wait for all of them.
	announced := 0
	deadline := time.After(3 * time.Minute)
wait:
	for _, ch := range waits {
		select {
		case t := <-ch:
			ch <- t // leave it for anyone else waiting
			announced++
		case <-deadline:
			break wait
		}
	}
	// Each scenario played must have an incident naming its key.
	var merged []string
	for _, s := range scenarios {
		key := scenarioKey(s)
		found := false
		for _, a := range incidents {
			b, _ := json.Marshal(a)
			if strings.Contains(string(b), key) {
				found = true
				break
			}
		}
		if !found {
			merged = append(merged, s.String())
		}
	}
	byRule := map[string]int{}
	for _, a := range incidents {
		byRule[a.Rule]++
	}
	// What the correlator made of them (the bench worker runs the default
	// config: correlation on).
	parents := map[string]bool{}
	paired := 0
	for id := range incidents {
		inc, err := ic.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if inc.ParentID != "" {
			parents[inc.ParentID] = true
		}
		if len(inc.Related) > 0 {
			paired++
		}
	}
	// A parent is an incident of its own, announced like the others.
	for id := range parents {
		select {
		case t := <-e.arr.wait(id):
			e.arr.wait(id) <- t
			announced++
		case <-time.After(time.Minute):
		}
	}
	ratio := 0.0
	if len(incidents) > 0 {
		ratio = float64(len(alerts)) / float64(len(incidents))
	}
	annRatio := 0.0
	if announced > 0 {
		annRatio = float64(len(alerts)) / float64(announced)
	}
	if len(merged) > 0 {
		fmt.Fprintf(os.Stderr, "bench: scenarios without an incident of their own: %v\n", merged)
	}
	return map[string]any{
		"window":                     noiseWindow.String(),
		"alerts_in":                  len(alerts),
		"incidents":                  len(incidents),
		"announced":                  announced, // the incidents and the parents the correlator opened
		"dedup_ratio":                round2(ratio),
		"alerts_per_announcement":    round2(annRatio),
		"target_ratio":               5,
		"scenarios_played":           len(scenarios),
		"scenarios_without_incident": merged,
		"incidents_by_rule":          byRule,
		"parents_opened":             len(parents),
		"incidents_in_pairs":         paired,
		"how":                        "every deploy/rules rule backtested at its run_every over demo logs (seed 1) 09:30-10:00Z 2026-11-22; each match sent through client.Send to the worker (default config: correlation on) on the dev server",
	}, nil
}

// benchCorrelator: how many incident reports per second one correlator
// absorbs (signalled and evaluated: its query counts them), against raw
// SignalWithStart of an empty workflow in the same run. Every report is a
// high-severity incident of its own source IP, so each is evaluated against
// the window for pairs and bursts without opening any.
func benchCorrelator(e *env) (map[string]any, error) {
	const n, conc = 1000, 16
	cfg := config.Default()
	rules := cfg.Correlation.Rules()
	var raws, absorbed []float64
	for round := range 2 {
		progress("correlator round %d: %d raw SignalWithStart, %d reports", round+1, n, n)
		r, err := e.rawRate(fmt.Sprint("corr", round), n, conc)
		if err != nil {
			return nil, err
		}
		raws = append(raws, r)
		id := fmt.Sprintf("correlator-bench-%s-%d", e.runID, round)
		start := time.Now()
		if _, err := rate(n, conc, func(i int) error {
			rep := workflows.CorrelatorReport{
				IncidentID: fmt.Sprintf("incident-bench-%d", i), Severity: incident.SeverityHigh, Status: incident.StatusOpen, OpenedAt: time.Now(),
				Alert: incident.Alert{Source: "bench", Rule: fmt.Sprintf("bench %d", i%7), Env: "bench", Category: "security",
					Fields: map[string]any{"source_ip": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}},
			}
			_, err := e.c.SignalWithStartWorkflow(e.ctx, id, workflows.SignalCorrelatorReport, rep,
				temporalclient.StartWorkflowOptions{TaskQueue: workflows.TaskQueue}, workflows.CorrelatorWorkflowName,
				workflows.CorrelatorInput{Scope: "bench", Rules: rules})
			return err
		}); err != nil {
			return nil, err
		}
		// Absorbed means evaluated: wait for the query to count all of them.
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var st workflows.CorrelatorStatus
			v, err := e.c.QueryWorkflow(e.ctx, id, "", workflows.QueryCorrelator)
			if err == nil && v.Get(&st) == nil && st.Reports >= n {
				if st.Reports != n || st.Parents != 0 {
					return nil, fmt.Errorf("correlator counted %d reports and %d parents, want %d and 0", st.Reports, st.Parents, n)
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("correlator %s absorbed %d of %d reports in 2 minutes", id, st.Reports, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		absorbed = append(absorbed, float64(n)/time.Since(start).Seconds())
		_ = e.c.TerminateWorkflow(e.ctx, id, "", "bench over")
	}
	best := func(xs []float64) float64 { return slices.Max(xs) }
	return map[string]any{
		"reports":                  n,
		"clients":                  conc,
		"raw_signal_with_start_ps": roundAll(raws),
		"reports_absorbed_ps":      roundAll(absorbed),
		"ratio_best":               round2(best(absorbed) / best(raws)),
		"how":                      "reports signalled to one correlator (SignalWithStart) until its query counts them all, against raw SignalWithStart of an empty workflow; rounds interleaved",
	}, nil
}
