package activities_test

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

// TestAnomalyFirstSweepSeeds: 8 days of hourly counts on 5 keys with a
// daily pattern (hour_of_day seasonality, 5 baseline buckets a slot needed,
// so without history a rule waits 5 days), one key jumping 5x and one
// dropping to a tenth in the last bucket. The rule's first sweep on the real
// node reads baseline_window of history in the same paged aggregation
// (2 keys a page) and fires at once, for the spike with direction up, the
// drop with down, both with both, with the scores the Go evaluator reaches
// after sweeping all 8 days; the quiet keys stay quiet. Without the seed
// (a state that already has a baseline, here an empty one) nothing fires.
func TestAnomalyFirstSweepSeeds(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	end := base.Add(8 * 24 * time.Hour) // the last bucket is [end-1h, end)
	var events []rules.Event
	for _, ns := range []string{"quiet1", "quiet2", "quiet3", "spiky", "dropping"} {
		for h := range 8 * 24 {
			at := base.Add(time.Duration(h) * time.Hour)
			n := 40 + int(30*math.Sin(float64(at.Hour())*math.Pi/12)) + rng.Intn(7) - 3
			if h == 8*24-1 {
				switch ns {
				case "spiky":
					n *= 5
				case "dropping":
					n /= 10
				}
			}
			for i := range n {
				ts := at.Add(time.Duration(i+1) * time.Hour / time.Duration(n+1))
				events = append(events, rules.Event{"@timestamp": ts.Format(time.RFC3339Nano), "ns": ns})
			}
		}
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"ns":{"type":"keyword"}}`, events)
	search := &activities.Search{Client: client, KeysPerPage: 2}
	for _, tc := range []struct{ direction, want string }{
		{"up", "spiky"},
		{"down", "dropping"},
		{"both", "dropping spiky"},
	} {
		t.Run(tc.direction, func(t *testing.T) {
			y := "name: seed\nindex: " + index + "\ntype: anomaly\nquery_key: ns\nbucket_span: {hours: 1}\nbaseline_window: {days: 7}\n" +
				"seasonality: [hour_of_day]\nmin_baseline_buckets: 5\nthreshold: 6\nbuffer_time: {hours: 2}\nrealert: {minutes: 0}\ndirection: " + tc.direction + "\n"
			r := mustRule(t, y)
			st := &rules.State{}
			res, ms, err := search.Sweep(context.Background(), r, st, end)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, m := range ms {
				keys = append(keys, m.Key)
			}
			if strings.Join(keys, " ") != tc.want {
				t.Fatalf("first sweep matched %v, want %s", baselineSummary(ms), tc.want)
			}
			// The Go evaluator, sweeping the whole 8 days an hour at a
			// time, scores the last bucket against the same 7 values of its
			// slot.
			back, err := rules.Backtest(r, events, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var last []rules.Match
			for _, m := range back.Matches {
				if m.Time.Equal(end) {
					last = append(last, m)
				}
			}
			if g, o := strings.Join(baselineSummary(last), "\n"), strings.Join(baselineSummary(ms), "\n"); g != o {
				t.Errorf("Go evaluator over 8 days:\n%s\nseeded first sweep:\n%s", g, o)
			}
			// The next sweep reads only its own buckets.
			next, _, err := search.Sweep(context.Background(), r, st, end.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if next.Queries >= res.Queries {
				t.Errorf("the second sweep sent %d requests, the seeding one %d", next.Queries, res.Queries)
			}
			t.Logf("seeding first sweep: %d requests, %d response bytes; the next: %d requests, %d bytes",
				res.Queries, res.Bytes, next.Queries, next.Bytes)

			if tc.direction == "up" {
				// The rule file changes under the sweep workflow, which keeps
				// its state: a new threshold keeps the baselines, a new
				// bucket_span seeds again (7 days of 30-minute buckets).
				at := end.Add(time.Hour)
				for _, change := range []struct {
					from, to string
					seeds    bool
				}{
					{"threshold: 6\n", "threshold: 8\n", false},
					{"bucket_span: {hours: 1}\n", "bucket_span: {minutes: 30}\n", true},
				} {
					at = at.Add(time.Hour)
					changed := mustRule(t, strings.Replace(y, change.from, change.to, 1))
					res, _, err := search.Sweep(context.Background(), changed, st, at)
					if err != nil {
						t.Fatal(err)
					}
					if seeded := res.Queries > 1; seeded != change.seeds {
						t.Errorf("%s → %s: %d requests; seeded %v, want %v", change.from, change.to, res.Queries, seeded, change.seeds)
					}
					if k := st.Anomaly.Keys["quiet1"]; k == nil || (change.seeds && len(k.V) != 7*48) {
						t.Errorf("%s → %s: quiet1's baseline %v", change.from, change.to, k)
					}
				}
			}

			// No seed: a state that has a baseline already (an empty one).
			unseeded := &rules.State{Anomaly: &rules.AnomalyState{Since: end.Add(-2 * time.Hour)}}
			if _, ms, err := search.Sweep(context.Background(), r, unseeded, end); err != nil || len(ms) > 0 {
				t.Errorf("without the seed the first sweep matched %v (%v); want nothing", baselineSummary(ms), err)
			}
		})
	}
}
