// The anomaly section: precision and recall of the anomaly rule type on the
// planted-anomaly set (internal/anomalydata), beside ElastAlert2's spike
// rule on the same events in the same run.

package main

import (
	"encoding/json"
	"time"

	"github.com/irflow/irflow/internal/anomalydata"
	"github.com/irflow/irflow/rules"
)

// anomalyBenchConfig is the set TestAnomalyPlanted asserts floors on: 14
// days of 10-minute counts on 16 keys, 10 planted anomalies (4 spikes, 3
// steps, 3 slow drifts) and 3 keys with a seasonal nightly batch.
var anomalyBenchConfig = anomalydata.Config{Seed: 7, Days: 14, Span: 10 * time.Minute, Rate: 12,
	Quiet: 3, Batch: 3, Spike: 4, Step: 3, Drift: 3}

const anomalyBenchCommon = "index: x\nquery_key: ns\nrealert: {hours: 1}\n"

var anomalyBenchRules = []struct{ name, yaml string }{
	{"anomaly_mad_hour_of_day", "type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 7}\nthreshold: 5\nmin_baseline_buckets: 12\nmethod: mad\nseasonality: [hour_of_day]\n"},
	{"anomaly_ewma_hour_of_day", "type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 7}\nthreshold: 5\nmin_baseline_buckets: 12\nmethod: ewma\nseasonality: [hour_of_day]\n"},
	{"anomaly_mad_no_seasonality", "type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 7}\nthreshold: 5\nmin_baseline_buckets: 12\nmethod: mad\n"},
	// ElastAlert2's answer to the same question: the last hour against the
	// hour before, 3x up, with at least 20 events now.
	{"spike", "type: spike\ntimeframe: {hours: 1}\nspike_height: 3\nspike_type: up\nthreshold_cur: 20\n"},
	{"spike_2x_10m", "type: spike\ntimeframe: {minutes: 10}\nspike_height: 2\nspike_type: up\nthreshold_cur: 20\n"},
}

// benchRulesAnomaly backtests each rule over the planted set (10-minute
// sweeps) and scores its matches against the planted truth.
func benchRulesAnomaly(*env) (map[string]any, error) {
	progress("rules-anomaly: generating the planted set")
	set := anomalydata.Generate(anomalyBenchConfig)
	out := map[string]any{"events": len(set.Events), "keys": anomalyBenchConfig.Quiet + anomalyBenchConfig.Batch +
		anomalyBenchConfig.Spike + anomalyBenchConfig.Step + anomalyBenchConfig.Drift, "days": anomalyBenchConfig.Days,
		"planted": len(set.Truth)}
	results := map[string]any{}
	for _, rr := range anomalyBenchRules {
		progress("rules-anomaly: %s", rr.name)
		r, err := rules.Parse(rr.name+".yaml", []byte("name: "+rr.name+"\n"+anomalyBenchCommon+rr.yaml))
		if err != nil {
			return nil, err
		}
		began := time.Now()
		res, err := rules.Backtest(r, set.Events, 10*time.Minute)
		if err != nil {
			return nil, err
		}
		sc := set.Evaluate(res.Matches, 0)
		row := map[string]any{"precision": round3(sc.Precision), "recall": round3(sc.Recall), "matches": sc.Matches,
			"right": sc.Right, "found": sc.Found, "missed": sc.Missed, "backtest_s": round3(time.Since(began).Seconds())}
		if r.Type == rules.TypeAnomaly {
			st := &rules.State{}
			// The state a sweep workflow would carry at the end: run again
			// to the end and measure it.
			if _, err := r.Evaluate(st, set.Events, set.Start, set.Start.Add(time.Duration(anomalyBenchConfig.Days)*24*time.Hour)); err == nil {
				b, _ := json.Marshal(st)
				row["state_bytes"] = len(b)
			}
		}
		results[rr.name] = row
	}
	out["rules"] = results
	return map[string]any{"rules_anomaly_planted": out}, nil
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }
