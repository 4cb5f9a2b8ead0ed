package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

// TestBaselineSweepAgreesWithEvaluate is the property test of the anomaly
// and rare types: over 12 hours of seeded random events on 20 keys (paged 8
// at a time), consecutive 7-minute sweeps through the real node (buckets of
// 15 minutes straddle sweeps; the sweep's State goes through JSON each time,
// as between workflow runs) give the Go evaluator's matches: key, time,
// actual, expected, score and baseline size; for rare, key, time, seen_count
// and count.
func TestBaselineSweepAgreesWithEvaluate(t *testing.T) {
	rng := rand.New(rand.NewSource(20260105))
	start := base
	const hours = 12 // swept 7 minutes at a time; the seasonal case sweeps all 36, 37 minutes at a time
	var events []rules.Event
	for k := range 20 {
		ns := fmt.Sprintf("ns%02d", k)
		users := []string{"alice", "bob", "carol"}[:1+k%3]
		for b := range 3 * hours * 4 {
			n := 1 + rng.Intn(8)
			if rng.Intn(15) == 0 {
				n *= 5 // a burst
			}
			if k == 3 && b%8 == 0 {
				n = 0 // a key with empty buckets
			}
			for range n {
				at := start.Add(time.Duration(b)*15*time.Minute + time.Duration(1+rng.Intn(15*60*1000-1))*time.Millisecond)
				user := users[rng.Intn(len(users))]
				if rng.Intn(200) == 0 {
					user = fmt.Sprintf("rare%d", rng.Intn(4))
				}
				events = append(events, rules.Event{"@timestamp": at.Format(time.RFC3339Nano), "ns": ns, "ip": fmt.Sprintf("10.0.0.%d", k),
					"user": user, "rt": float64(50 + rng.Intn(100))})
			}
		}
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"ns":{"type":"keyword"},"ip":{"type":"keyword"},
		"user":{"type":"keyword"},"rt":{"type":"double"}}`, events)
	search := &activities.Search{Client: client, KeysPerPage: 8}
	common := "name: prop\nindex: " + index + "\nbuffer_time: {hours: 1}\nrealert: {minutes: 0}\n"
	for _, tc := range []struct {
		name, yaml string
		step, span time.Duration
	}{
		{"anomaly mad count", "type: anomaly\nquery_key: ns\nbucket_span: {minutes: 15}\nbaseline_window: {hours: 4}\nthreshold: 2\nmin_baseline_buckets: 4\n", 7 * time.Minute, hours * time.Hour},
		{"anomaly ewma sum", "type: anomaly\nquery_key: ns\nbucket_span: {minutes: 15}\nbaseline_window: {hours: 4}\nthreshold: 2\nmin_baseline_buckets: 4\nmethod: ewma\nmetric_agg_type: sum\nmetric_agg_key: rt\n", 7 * time.Minute, hours * time.Hour},
		{"anomaly mad avg seasonal", "type: anomaly\nquery_key: ns\nbucket_span: {minutes: 15}\nbaseline_window: {hours: 48}\nthreshold: 1\nmin_baseline_buckets: 2\nseasonality: [hour_of_day]\nmetric_agg_type: avg\nmetric_agg_key: rt\n", 37 * time.Minute, 3 * hours * time.Hour},
		{"anomaly without query_key", "type: anomaly\nbucket_span: {minutes: 15}\nbaseline_window: {hours: 4}\nthreshold: 1.5\nmin_baseline_buckets: 4\n", 7 * time.Minute, hours * time.Hour},
		{"rare", "type: rare\nover_field: ip\nby_field: user\nmax_seen: 2\nbaseline_window: {hours: 3}\n", 7 * time.Minute, hours * time.Hour},
		{"rare without over_field", "type: rare\nby_field: user\nmax_seen: 3\nbaseline_window: {hours: 2}\n", 7 * time.Minute, hours * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRule(t, common+tc.yaml)
			goSt, osSt := &rules.State{LastRunEnd: start}, &rules.State{LastRunEnd: start}
			var goSide, osSide []string
			queries, sweeps := 0, 0
			for end := start.Add(tc.step); !end.After(start.Add(tc.span)); end = end.Add(tc.step) {
				ms, err := r.Evaluate(goSt, events, end.Add(-tc.step), end)
				if err != nil {
					t.Fatal(err)
				}
				goSide = append(goSide, baselineSummary(ms)...)
				b, _ := json.Marshal(osSt)
				*osSt = rules.State{}
				if err := json.Unmarshal(b, osSt); err != nil {
					t.Fatal(err)
				}
				res, ms, err := search.Sweep(context.Background(), r, osSt, end)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Start.Equal(end.Add(-tc.step)) {
					t.Fatalf("sweep covered (%s, %s]", res.Start, res.End)
				}
				queries += res.Queries
				sweeps++
				osSide = append(osSide, baselineSummary(ms)...)
			}
			sort.Strings(goSide)
			sort.Strings(osSide)
			if g, o := strings.Join(goSide, "\n"), strings.Join(osSide, "\n"); g != o {
				t.Errorf("Go evaluator (%d)\n%s\nOpenSearch (%d)\n%s", len(goSide), g, len(osSide), o)
			}
			if len(goSide) < 3 {
				t.Errorf("%d matches; the property proves little", len(goSide))
			}
			if len(r.QueryKey) > 0 && queries <= sweeps {
				t.Errorf("%d queries over %d sweeps; want pages", queries, sweeps)
			}
			t.Logf("%d matches, %d sweeps, %d queries", len(goSide), sweeps, queries)
		})
	}
}

func baselineSummary(ms []rules.Match) []string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("%s key %s", m.Time.Format(time.RFC3339Nano), m.Key)
		for _, f := range []string{"actual", "expected", "score", "baseline_size", "seen_count", "count"} {
			if v, ok := m.Fields[f]; ok {
				if x, ok := v.(float64); ok {
					v = fmt.Sprintf("%.3f", x)
				}
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	return out
}
