// Throughput of the Go rule evaluator (Rule.Evaluate) per rule type over
// in-memory events, on one core.

package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/irflow/irflow/rules"
)

var evalBenchRules = []struct{ name, yaml string }{
	{"any", "type: any\n"},
	{"blacklist", "type: blacklist\ncompare_key: client_ip\nblacklist: [10.0.0.1]\n"},
	{"change", "type: change\nquery_key: client_ip\ncompare_key: user.name\nignore_null: true\n"},
	{"frequency", "type: frequency\nnum_events: 1000000\ntimeframe: {minutes: 5}\n"},
	{"frequency_query_key", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\n"},
	{"frequency_query_key_filtered", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\nfilter:\n- range: {status: {gte: 500}}\n"},
	{"spike", "type: spike\ntimeframe: {minutes: 1}\nspike_height: 3\nspike_type: both\nthreshold_cur: 5\nquery_key: client_ip\n"},
	{"flatline", "type: flatline\ntimeframe: {minutes: 5}\nthreshold: 1\nquery_key: client_ip\n"},
	{"new_term", "type: new_term\nfields: [[client_ip, user.name]]\n"},
	{"cardinality", "type: cardinality\ntimeframe: {minutes: 5}\ncardinality_field: user.name\nmax_cardinality: 100\nquery_key: client_ip\n"},
	{"metric_aggregation", "type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 100000\nquery_key: client_ip\n"},
	{"percentage_match", "type: percentage_match\nmax_percentage: 50\nmatch_bucket_filter:\n- term: {status: 500}\nquery_key: client_ip\n"},
}

// evalEvents are n events 1 ms apart over 1000 client IPs and 50 users, with
// RFC 3339 timestamps as they arrive from OpenSearch.
func evalEvents(n int) []rules.Event {
	out := make([]rules.Event, n)
	for i := range out {
		out[i] = rules.Event{
			"@timestamp":       benchT0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"client_ip":        fmt.Sprintf("10.0.%d.%d", i%1000/250, i%250),
			"status":           float64(200 + 300*(i%7/6)),
			"user":             map[string]any{"name": fmt.Sprintf("user%d", i%50)},
			"response_time_ms": float64(i % 1500),
			"request":          map[string]any{"path": "/api/v1/login"},
		}
	}
	return out
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// evaluatorThroughput evaluates each rule type over 200k in-memory events in
// one sweep, repeated for at least 0.4 s, on one P (GOMAXPROCS=1).
func evaluatorThroughput() map[string]any {
	const n = 200_000
	events := evalEvents(n)
	end := benchT0.Add(n * time.Millisecond)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	perType := map[string]any{}
	for _, br := range evalBenchRules {
		r, err := rules.Parse(br.name+".yaml", []byte("name: bench\nindex: i\n"+br.yaml))
		if err != nil {
			perType[br.name] = map[string]any{"error": err.Error()}
			continue
		}
		runtime.GC()
		var total int
		var matches int
		cpu0, began := cpuNow(), time.Now()
		for time.Since(began) < 400*time.Millisecond {
			ms, err := r.Evaluate(&rules.State{}, events, benchT0.Add(-time.Second), end)
			if err != nil {
				perType[br.name] = map[string]any{"error": err.Error()}
				break
			}
			total += n
			matches = len(ms)
		}
		wall, cpu := time.Since(began), cpuNow()-cpu0
		fig := map[string]any{"events": total, "events_per_s": round2(float64(total) / wall.Seconds()), "matches_per_sweep": matches}
		if cpu > 0 {
			fig["events_per_cpu_s"] = round2(float64(total) / cpu.Seconds())
		}
		perType[br.name] = fig
	}
	return map[string]any{
		"what":     "Rule.Evaluate over 200k in-memory events (1000 client IPs, 50 users) in one sweep, GOMAXPROCS=1; events_per_cpu_s is per process CPU-second (GC included)",
		"target":   "frequency_query_key >= 1M events/s on one core",
		"per_type": perType,
	}
}
