package rules

import (
	"fmt"
	"testing"
	"time"
)

// benchEvents makes n events 1 ms apart over 1000 client IPs and 50 users,
// with RFC 3339 timestamps as they arrive from OpenSearch.
func benchEvents(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{
			"@timestamp":       t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"client_ip":        fmt.Sprintf("10.0.%d.%d", i%1000/250, i%250),
			"status":           float64(200 + 300*(i%7/6)),
			"user":             map[string]any{"name": fmt.Sprintf("user%d", i%50)},
			"response_time_ms": float64(i % 1500),
			"request":          map[string]any{"path": "/api/v1/login"},
		}
	}
	return out
}

var benchRules = []struct{ name, yaml string }{
	{"any", "type: any\n"},
	{"blacklist", "type: blacklist\ncompare_key: client_ip\nblacklist: [10.0.0.1]\n"},
	{"whitelist", "type: whitelist\ncompare_key: client_ip\nwhitelist: [10.0.0.1]\nignore_null: true\n"},
	{"change", "type: change\nquery_key: client_ip\ncompare_key: user.name\nignore_null: true\n"},
	{"frequency", "type: frequency\nnum_events: 1000000\ntimeframe: {minutes: 5}\n"},
	{"frequency_query_key", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\n"},
	{"frequency_query_key_filtered", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\nfilter:\n- range: {status: {gte: 500}}\n"},
	{"spike", "type: spike\ntimeframe: {minutes: 1}\nspike_height: 3\nspike_type: both\nthreshold_cur: 5\nquery_key: client_ip\n"},
	{"flatline", "type: flatline\ntimeframe: {minutes: 5}\nthreshold: 1\nquery_key: client_ip\n"},
	{"new_term", "type: new_term\nfields: [[client_ip, user.name]]\n"},
	{"cardinality", "type: cardinality\ntimeframe: {minutes: 5}\ncardinality_field: user.name\nmax_cardinality: 100\nquery_key: client_ip\n"},
	{"metric_aggregation", "type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 100000\nquery_key: client_ip\n"},
	{"spike_aggregation", "type: spike_aggregation\ntimeframe: {minutes: 5}\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nspike_height: 3\nspike_type: up\nquery_key: client_ip\n"},
	{"percentage_match", "type: percentage_match\nmax_percentage: 50\nmatch_bucket_filter:\n- term: {status: 500}\nquery_key: client_ip\n"},
}

// BenchmarkEvaluate runs each rule type over 100k events in one sweep and
// reports events/s (wall) and events/cpu-s (process CPU time, GC included).
// Run: go test ./rules -run '^$' -bench Evaluate -cpu 1
func BenchmarkEvaluate(b *testing.B) {
	const n = 100_000
	events := benchEvents(n)
	end := t0.Add(n * time.Millisecond)
	for _, br := range benchRules {
		b.Run(br.name, func(b *testing.B) {
			r := MustParse(b, "name: bench\nindex: i\n"+br.yaml)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := r.Evaluate(&State{}, events, t0.Add(-time.Second), end); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if cpu := cpuTime() - cpu0; cpu > 0 {
				// Per CPU-second: the honest figure when other processes share the cores.
				b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "events/cpu-s")
			}
		})
	}
}
