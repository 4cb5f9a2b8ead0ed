package rules_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/anomalydata"
	"github.com/irflow/irflow/rules"
)

// PlantedRule is the anomaly rule the planted set is scored with; method
// and seasonality vary.
func plantedRule(t *testing.T, method, seasonality string) *rules.Rule {
	t.Helper()
	y := "name: planted\ntype: anomaly\nindex: x\nquery_key: ns\nbucket_span: {minutes: 10}\nbaseline_window: {days: 7}\n" +
		"threshold: 5\nmin_baseline_buckets: 12\nrealert: {hours: 1}\nmethod: " + method + "\n" + seasonality
	r, err := rules.Parse("planted.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var plantedConfig = anomalydata.Config{Seed: 7, Days: 14, Span: 10 * time.Minute, Rate: 12,
	Quiet: 3, Batch: 3, Spike: 4, Step: 3, Drift: 3}

// TestAnomalyPlanted: on a daily-patterned series with planted spikes, steps
// and slow drifts, and nightly batch peaks that are seasonal, the anomaly
// rule with hour_of_day seasonality finds the planted anomalies (recall) and
// little else (precision). Without seasonality the batch peaks alert, which
// is why the seasonal model exists.
func TestAnomalyPlanted(t *testing.T) {
	if testing.Short() {
		t.Skip("backtests 14 days of events")
	}
	set := anomalydata.Generate(plantedConfig)
	for _, tc := range []struct {
		method, season  string
		precision, rcll float64
	}{
		{"mad", "seasonality: [hour_of_day]\n", 0.9, 0.9},
		{"ewma", "seasonality: [hour_of_day]\n", 0.9, 0.9},
	} {
		t.Run(tc.method, func(t *testing.T) {
			r := plantedRule(t, tc.method, tc.season)
			res, err := rules.Backtest(r, set.Events, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			sc := set.Evaluate(res.Matches, 0)
			t.Logf("%s: %d events, precision %.3f recall %.3f (%d/%d matches right, %d/%d found, missed %v)",
				tc.method, len(set.Events), sc.Precision, sc.Recall, sc.Right, sc.Matches, sc.Found, sc.Planted, sc.Missed)
			if sc.Precision < tc.precision || sc.Recall < tc.rcll {
				for _, m := range res.Matches {
					t.Logf("  %s %s score=%v actual=%v expected=%v", m.Time.Format(time.RFC3339), m.Key, m.Fields["score"], m.Fields["actual"], m.Fields["expected"])
				}
				t.Errorf("precision %.3f recall %.3f; want at least %.2f and %.2f", sc.Precision, sc.Recall, tc.precision, tc.rcll)
			}
		})
	}
	t.Run("no seasonality alerts on the batch peaks", func(t *testing.T) {
		r := plantedRule(t, "mad", "")
		res, err := rules.Backtest(r, set.Events, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		batch := 0
		for _, m := range res.Matches {
			if t := m.Time.Add(-10 * time.Minute); t.Hour() == 2 && isBatchKey(m.Key) {
				batch++
			}
		}
		if batch == 0 {
			t.Errorf("no match on the nightly batches without seasonality; the seasonal case proves nothing")
		}
	})
}

// isBatchKey: Generate numbers keys quiet first, then batch.
func isBatchKey(k string) bool {
	for i := plantedConfig.Quiet; i < plantedConfig.Quiet+plantedConfig.Batch; i++ {
		if k == fmt.Sprintf("ns%02d", i) {
			return true
		}
	}
	return false
}

// TestAnomalyExactBuckets: hand-computed buckets. A key logging 10 events
// a bucket, then 40: the 40 is scored against median 10 and deviation
// √10 (a flat baseline); the open bucket is scored only once complete, with
// events from two runs counted once; a known key's empty bucket is a 0.
func TestAnomalyExactBuckets(t *testing.T) {
	r, err := rules.Parse("x.yaml", []byte("name: x\ntype: anomaly\nindex: x\nquery_key: ns\nbucket_span: {minutes: 10}\n"+
		"baseline_window: {hours: 1}\nthreshold: 3\nmin_baseline_buckets: 3\nrealert: {minutes: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var events []rules.Event
	add := func(bucket, n int) {
		for i := range n {
			at := t0.Add(time.Duration(bucket)*10*time.Minute + time.Duration(i+1)*time.Second*5)
			events = append(events, rules.Event{"@timestamp": at.Format(time.RFC3339Nano), "ns": "a"})
		}
	}
	for b := 1; b <= 4; b++ {
		add(b, 10)
	}
	add(5, 40)
	add(6, 10)
	// bucket 7 empty, bucket 8: 10 again
	add(8, 10)
	st := &rules.State{}
	var got []string
	// Sweeps of 7 minutes: buckets straddle sweeps; state goes through JSON.
	for s := t0; s.Before(t0.Add(90 * time.Minute)); s = s.Add(7 * time.Minute) {
		ms, err := r.Evaluate(st, events, s, s.Add(7*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			got = append(got, fmt.Sprintf("%s actual=%v expected=%v score=%v n=%v", m.Time.Format("15:04"), m.Fields["actual"], m.Fields["expected"], m.Fields["score"], m.Fields["baseline_size"]))
		}
		b, _ := json.Marshal(st)
		*st = rules.State{}
		if err := json.Unmarshal(b, st); err != nil {
			t.Fatal(err)
		}
	}
	// Bucket 0 starts at the first run's start (an event at 00:00 would be
	// outside it), so it is not scored; buckets 1-4 fill the baseline (3
	// needed); bucket 5 scores (40-10)/√10 = 9.487.
	want := "01:00 actual=40 expected=10 score=9.487 n=4"
	if strings.Join(got, "; ") != want {
		t.Errorf("matches\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	k := st.Anomaly.Keys["a"]
	if k == nil || fmt.Sprint(k.V) != "[10 10 40 10 0 10]" {
		t.Errorf("baseline %+v, want the last 6 buckets with the empty one as 0", k)
	}
}

// TestAnomalyDirection: a key logging 20 a bucket drops to 2 in bucket 5
// and jumps to 80 in bucket 7 (bucket 1 holds the first sweep's start and
// only opens the view). The drop scores (2-20)/√20 = -4.025 against median
// 20 and the deviation floor √20; the jump (80-20)/4.512 = 13.298, 4.512
// being 1.2533 × the mean absolute deviation 18/5 of buckets 2-6. up sees
// the jump, down the drop, both the two.
func TestAnomalyDirection(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var events []rules.Event
	for b, n := range []int{0, 20, 20, 20, 20, 2, 20, 80, 20} {
		for i := range n {
			at := t0.Add(time.Duration(b)*10*time.Minute + time.Duration(i+1)*time.Second*5)
			events = append(events, rules.Event{"@timestamp": at.Format(time.RFC3339Nano), "ns": "a"})
		}
	}
	for _, tc := range []struct{ direction, want string }{
		{"", "01:20 actual=80 score=13.298"},
		{"direction: up\n", "01:20 actual=80 score=13.298"},
		{"direction: down\n", "01:00 actual=2 score=-4.025"},
		{"direction: both\n", "01:00 actual=2 score=-4.025; 01:20 actual=80 score=13.298"},
	} {
		r, err := rules.Parse("x.yaml", []byte("name: x\ntype: anomaly\nindex: x\nquery_key: ns\nbucket_span: {minutes: 10}\n"+
			"baseline_window: {hours: 1}\nthreshold: 3\nmin_baseline_buckets: 3\nrealert: {minutes: 0}\n"+tc.direction))
		if err != nil {
			t.Fatal(err)
		}
		res, err := rules.Backtest(r, events, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range res.Matches {
			got = append(got, fmt.Sprintf("%s actual=%v score=%v", m.Time.Format("15:04"), m.Fields["actual"], m.Fields["score"]))
		}
		if strings.Join(got, "; ") != tc.want {
			t.Errorf("%q: matches %q, want %q", tc.direction, strings.Join(got, "; "), tc.want)
		}
	}
}

// TestAnomalyRuleChange: the sweep workflow keeps a rule's state when its
// file changes. A new threshold keeps the baselines; a new bucket_span
// (values of another meaning) starts them again.
func TestAnomalyRuleChange(t *testing.T) {
	const y = "name: x\ntype: anomaly\nindex: x\nquery_key: ns\nbucket_span: {minutes: 10}\nbaseline_window: {hours: 2}\nthreshold: 3\n"
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var events []rules.Event
	for m := range 180 {
		events = append(events, rules.Event{"@timestamp": t0.Add(time.Duration(m)*time.Minute + time.Second).Format(time.RFC3339), "ns": "a"})
	}
	st := &rules.State{}
	for i, tc := range []struct {
		from, to string
		values   int // the key's baseline after the next hour
	}{
		{"", "", 5},                              // 00:10-00:50
		{"threshold: 3\n", "threshold: 5\n", 11}, // kept: 00:10-01:50
		{"bucket_span: {minutes: 10}\n", "bucket_span: {minutes: 20}\n", 2}, // again: 02:20-02:40
	} {
		r, err := rules.Parse("x.yaml", []byte(strings.Replace(y, tc.from, tc.to, 1)))
		if err != nil {
			t.Fatal(err)
		}
		from := t0.Add(time.Duration(i) * time.Hour)
		if _, err := r.Evaluate(st, events, from, from.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if k := st.Anomaly.Keys["a"]; k == nil || len(k.V) != tc.values {
			t.Errorf("after %q: baseline %+v, want %d values", tc.to, k, tc.values)
		}
	}
}

// TestAnomalyEvictsKeys: a key silent for a whole baseline_window is
// forgotten, and the key cap keeps the most recently active.
func TestAnomalyEvictsKeys(t *testing.T) {
	r, err := rules.Parse("x.yaml", []byte("name: x\ntype: anomaly\nindex: x\nquery_key: ns\nbucket_span: {minutes: 10}\n"+
		"baseline_window: {hours: 1}\nthreshold: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	events := []rules.Event{
		{"@timestamp": t0.Add(15 * time.Minute).Format(time.RFC3339), "ns": "old"},
		{"@timestamp": t0.Add(75 * time.Minute).Format(time.RFC3339), "ns": "new"},
	}
	st := &rules.State{}
	if _, err := r.Evaluate(st, events, t0, t0.Add(70*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Anomaly.Keys["old"]; !ok {
		t.Fatalf("old key forgotten too early: %v", st.Anomaly.Keys)
	}
	if _, err := r.Evaluate(st, events, t0.Add(70*time.Minute), t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Anomaly.Keys["old"]; ok || st.Anomaly.Keys["new"] == nil {
		t.Errorf("keys after a silent baseline_window: %v; want only new", st.Anomaly.Keys)
	}
	// Cap: 100,000 values / 6 a key.
	var many []rules.Event
	for i := range rules.MaxAnomalyValues/6 + 50 {
		many = append(many, rules.Event{"@timestamp": t0.Add(95 * time.Minute).Format(time.RFC3339), "ns": fmt.Sprintf("k%05d", i)})
	}
	if _, err := r.Evaluate(st, many, t0.Add(90*time.Minute), t0.Add(110*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Anomaly.Keys); n != rules.MaxAnomalyValues/6 {
		t.Errorf("%d keys kept, want the cap %d", n, rules.MaxAnomalyValues/6)
	}
	if _, ok := st.Anomaly.Keys["new"]; ok {
		t.Errorf("the least recently active key survived the cap")
	}
}

func TestBaselineOptionErrors(t *testing.T) {
	const head = "name: x\nindex: x\n"
	for _, tc := range []struct{ yaml, want string }{
		{"type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 1}\n", "x.yaml:3: threshold: missing (required by type anomaly)"},
		{"type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {minutes: 25}\nthreshold: 3\n", "x.yaml:5: baseline_window: must be a multiple of bucket_span (10m0s), at least two"},
		{"type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 1}\nthreshold: 3\nmethod: mean\n", "x.yaml:7: method: unknown \"mean\" (want mad, ewma)"},
		{"type: anomaly\nbucket_span: {minutes: 10}\nbaseline_window: {days: 1}\nthreshold: 3\ndirection: sideways\n", "x.yaml:7: direction: unknown \"sideways\" (want up, down, both)"},
		{"type: rare\nby_field: user\ndirection: down\n", "x.yaml:5: direction: not supported with type rare (only anomaly read it)"},
		{"type: anomaly\nbucket_span: {minutes: 7}\nbaseline_window: {days: 7}\nthreshold: 3\nseasonality: [hour_of_day]\n", "x.yaml:7: seasonality: needs a bucket_span that divides a day, not 7m0s"},
		{"type: anomaly\nbucket_span: {hours: 1}\nbaseline_window: {days: 7}\nthreshold: 3\nseasonality: [hour_of_day, day_of_week]\nmin_baseline_buckets: 2\n", "x.yaml:8: min_baseline_buckets: must be between 1 and 1 (the buckets of one season slot in baseline_window)"},
		{"type: anomaly\nbucket_span: {hours: 1}\nbaseline_window: {days: 7}\nthreshold: 3\nmetric_agg_type: avg\n", "x.yaml:3: metric_agg_key: missing (metric_agg_type avg needs a field)"},
		{"type: anomaly\nbucket_span: {hours: 1}\nbaseline_window: {days: 7}\nthreshold: 3\nmax_seen: 2\n", "x.yaml:7: max_seen: not supported with type anomaly (only rare read it)"},
		{"type: frequency\nnum_events: 3\ntimeframe: {minutes: 1}\nbucket_span: {hours: 1}\n", "x.yaml:6: bucket_span: not supported with type frequency (only anomaly read it)"},
		{"type: rare\nover_field: ip\n", "x.yaml:3: by_field: missing (required by type rare)"},
		{"type: rare\nby_field: user\nquery_key: ip\n", "x.yaml:5: query_key: not supported with type rare"},
		{"type: rare\nby_field: user\nmax_seen: 0\n", "x.yaml:5: max_seen: must be between 1 and 1000"},
	} {
		_, err := rules.Parse("x.yaml", []byte(head+tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
