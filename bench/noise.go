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
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// noiseWindow is how much demo log the dedup figure replays.
const noiseWindow = 30 * time.Minute

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
	end := time.Now().UTC().Truncate(time.Minute)
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
		"announced":                  announced,
		"dedup_ratio":                round2(ratio),
		"alerts_per_announcement":    round2(annRatio),
		"target_ratio":               5,
		"scenarios_played":           len(scenarios),
		"scenarios_without_incident": merged,
		"incidents_by_rule":          byRule,
		"how":                        "every deploy/rules rule backtested at its run_every over 30 min of demo logs (seed 1); each match sent through client.Send to the worker on the dev server",
	}, nil
}
