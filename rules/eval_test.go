package rules

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

const quiet = "realert: {minutes: 0}\n"

func TestFrequency(t *testing.T) {
	base := "name: f\ntype: frequency\nindex: i\n" + quiet + "timeframe: {hours: 1}\n"
	tests := []struct {
		name    string
		extra   string
		events  []Event
		want    int
		wantKey string
	}{
		{"59 of 60 in an hour", "num_events: 59\n", hits(60, "username", "qlo"), 1, ""},
		{"with query_key", "num_events: 59\nquery_key: username\n", hits(60, "username", "qlo"), 1, "qlo"},
		{"not enough", "num_events: 61\n", hits(60, "username", "qlo"), 0, ""},
		{"keys counted apart", "num_events: 40\nquery_key: username\n",
			append(hits(30, "username", "a"), hits(30, "username", "b")...), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustParse(t, base+tt.extra)
			ms := run(t, r, &State{}, tt.events, ts(time.Hour))
			if len(ms) != tt.want {
				t.Fatalf("got %d matches, want %d", len(ms), tt.want)
			}
			if tt.want == 1 {
				m := ms[0]
				// The match is the newest event in the window, carrying the count.
				if !m.Time.Equal(ts(58*time.Second)) || fieldOf(m, "num_hits") != "59" || m.Key != tt.wantKey {
					t.Fatalf("match = %v key %q num_hits %v", m.Time, m.Key, m.Fields["num_hits"])
				}
			}
		})
	}
}

func TestFrequencyWindowIsHalfOpen(t *testing.T) {
	r := MustParse(t, "name: f\ntype: frequency\nindex: i\n"+quiet+"timeframe: {seconds: 10}\nnum_events: 2\n")
	if ms := run(t, r, &State{}, []Event{ev(0), ev(10 * time.Second)}, ts(time.Minute)); len(ms) != 0 {
		t.Fatalf("events exactly a timeframe apart matched: %v", ms)
	}
	if ms := run(t, r, &State{}, []Event{ev(0), ev(9999 * time.Millisecond)}, ts(time.Minute)); len(ms) != 1 {
		t.Fatalf("events inside the timeframe gave %d matches, want 1", len(ms))
	}
}

func TestFrequencyClearsWindowAfterMatch(t *testing.T) {
	r := MustParse(t, "name: f\ntype: frequency\nindex: i\n"+quiet+"timeframe: {minutes: 1}\nnum_events: 3\n")
	ms := run(t, r, &State{}, hits(7), ts(time.Minute))
	var got []time.Duration
	for _, m := range ms {
		got = append(got, m.Time.Sub(t0))
	}
	if fmt.Sprint(got) != "[2s 5s]" {
		t.Fatalf("matches at %v, want [2s 5s]", got)
	}
}

func TestStateCarriesAcrossRuns(t *testing.T) {
	r := MustParse(t, "name: f\ntype: frequency\nindex: i\n"+quiet+"timeframe: {hours: 1}\nnum_events: 59\nquery_key: username\n")
	events := hits(60, "username", "qlo")
	st := &State{}
	var ms []Match
	for i := 0; i < 3; i++ {
		start, end := ts(time.Duration(i*20)*time.Second-time.Millisecond), ts(time.Duration(i*20+19)*time.Second)
		got, err := r.Evaluate(st, events, start, end)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, got...)
		st = roundTrip(t, st)
	}
	if len(ms) != 1 || !ms[0].Time.Equal(ts(58*time.Second)) {
		t.Fatalf("matches over three runs = %v, want one at +58s", ms)
	}
	if !st.LastRunEnd.Equal(ts(59 * time.Second)) {
		t.Fatalf("LastRunEnd = %v", st.LastRunEnd)
	}
}

func TestRunRangeStartExclusiveEndInclusive(t *testing.T) {
	r := MustParse(t, "name: a\ntype: any\nindex: i\n"+quiet)
	ms, err := r.Evaluate(&State{}, hits(4), ts(0), ts(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !ms[0].Time.Equal(ts(time.Second)) || !ms[1].Time.Equal(ts(2*time.Second)) {
		t.Fatalf("matches = %v, want +1s and +2s", ms)
	}
}

func TestRealertPerKey(t *testing.T) {
	r := MustParse(t, "name: a\ntype: any\nindex: i\nquery_key: user\nrealert: {minutes: 1}\n")
	events := []Event{ev(0, "user", "a"), ev(10*time.Second, "user", "a"), ev(20*time.Second, "user", "b"),
		ev(61*time.Second, "user", "a")}
	ms := run(t, r, &State{}, events, ts(time.Hour))
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s@%v", m.Key, m.Time.Sub(t0)))
	}
	if fmt.Sprint(got) != "[a@0s b@20s a@1m1s]" {
		t.Fatalf("matches %v, want [a@0s b@20s a@1m1s]", got)
	}
}

func TestExponentialRealert(t *testing.T) {
	r := MustParse(t, "name: a\ntype: any\nindex: i\nrealert: {minutes: 1}\nexponential_realert: {minutes: 4}\n")
	var events []Event
	for i := 0; i < 12; i++ {
		events = append(events, ev(time.Duration(i)*time.Minute))
	}
	ms := run(t, r, &State{}, events, ts(time.Hour))
	var got []time.Duration
	for _, m := range ms {
		got = append(got, m.Time.Sub(t0))
	}
	// Silences double 1m → 2m → 4m and stay at the 4m cap.
	if fmt.Sprint(got) != "[0s 1m0s 3m0s 7m0s 11m0s]" {
		t.Fatalf("matches at %v", got)
	}
}

func doubled(events []Event) []Event {
	out := append([]Event{}, events[:50]...)
	for _, e := range events[50:] {
		t, _ := parseTime(e["@timestamp"], "")
		out = append(out, e, Event{"@timestamp": t.Add(time.Millisecond).Format(time.RFC3339Nano)})
	}
	return out
}

func TestSpike(t *testing.T) {
	const tf10 = "timeframe: {seconds: 10}\n"
	events := hits(100)
	down := append(append([]Event{}, events[:50]...), events[75:]...)
	tests := []struct {
		name   string
		opts   string
		events []Event
		want   int
	}{
		{"constant rate", "spike_height: 2\nspike_type: both\nthreshold_ref: 10\n" + tf10, events, 0},
		{"doubled rate", "spike_height: 2\nspike_type: up\nthreshold_ref: 10\n" + tf10, doubled(events), 1},
		{"not high enough", "spike_height: 3\nspike_type: up\nthreshold_ref: 10\n" + tf10, doubled(events), 0},
		{"downward", "spike_height: 3\nspike_type: down\nthreshold_ref: 10\n" + tf10, down, 1},
		{"below threshold_ref", "spike_height: 2\nspike_type: up\nthreshold_ref: 11\n" + tf10, doubled(events), 0},
		{"below threshold_cur", "spike_height: 2\nspike_type: up\nthreshold_ref: 10\nthreshold_cur: 30\n" + tf10, doubled(events), 0},
		// As ElastAlert2's test: alert_on_new_data needs a query_key, so this
		// still waits two timeframes, then the doubled rate trips it.
		{"alert_on_new_data without query_key", "spike_height: 2\nspike_type: up\nthreshold_cur: 25\nalert_on_new_data: true\ntimeframe: {seconds: 30}\n", doubled(events), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustParse(t, "name: s\ntype: spike\nindex: i\n"+quiet+tt.opts)
			last, _ := r.Time(tt.events[len(tt.events)-1])
			ms := run(t, r, &State{}, tt.events, last)
			if len(ms) != tt.want {
				t.Fatalf("got %d matches, want %d: %v", len(ms), tt.want, ms)
			}
			if tt.want == 1 {
				if ms[0].Fields["spike_count"] == nil || ms[0].Fields["reference_count"] == nil {
					t.Fatalf("match lacks spike_count/reference_count: %v", ms[0].Fields)
				}
			}
		})
	}
}

func TestSpikeSilentUntilTwoTimeframes(t *testing.T) {
	r := MustParse(t, "name: s\ntype: spike\nindex: i\n"+quiet+"timeframe: {seconds: 10}\nspike_height: 2\nspike_type: up\n")
	// 1 event in the first 10 s, then 30 in the next 9 s: a spike, but fewer
	// than two timeframes have passed since the first event.
	events := []Event{ev(0)}
	for i := 0; i < 30; i++ {
		events = append(events, ev(10*time.Second+time.Duration(i)*300*time.Millisecond))
	}
	if ms := run(t, r, &State{}, events, ts(19*time.Second)); len(ms) != 0 {
		t.Fatalf("spike alerted before two timeframes: %v", ms)
	}
}

func TestSpikeQueryKey(t *testing.T) {
	r := MustParse(t, "name: s\ntype: spike\nindex: i\n"+quiet+"timeframe: {seconds: 10}\nspike_height: 2\nspike_type: both\nthreshold_ref: 10\nquery_key: username\n")
	qlo, bob := hits(100, "username", "qlo"), hits(100, "username", "bob")
	mixed := append([]Event{}, qlo[:50]...)
	same := append([]Event{}, qlo[:50]...)
	for i := 50; i < 99; i++ {
		mixed = append(mixed, bob[i], qlo[i])
		same = append(same, bob[i], qlo[i], qlo[i])
	}
	last := ts(98 * time.Second)
	if ms := run(t, r, &State{}, mixed, last); len(ms) != 0 {
		t.Fatalf("doubling spread over two keys matched: %v", ms)
	}
	ms := run(t, r, &State{}, same, last)
	if len(ms) != 1 || ms[0].Key != "qlo" {
		t.Fatalf("matches = %v, want one for qlo", ms)
	}
}

func TestFlatline(t *testing.T) {
	r := MustParse(t, "name: f\ntype: flatline\nindex: i\n"+quiet+"timeframe: {seconds: 30}\nthreshold: 2\n")
	events := hits(40)
	st := &State{}
	step := func(evs []Event, start, end time.Duration) int {
		t.Helper()
		ms, err := r.Evaluate(st, evs, ts(start), ts(end))
		if err != nil {
			t.Fatal(err)
		}
		st = roundTrip(t, st)
		return len(ms)
	}
	if n := step(events[0:10], -time.Second, 11*time.Second); n != 0 {
		t.Fatalf("alerted before a timeframe passed")
	}
	if n := step(nil, 11*time.Second, 45*time.Second); n != 1 {
		t.Fatalf("silent index: %d matches, want 1", n)
	}
	if n := step(nil, 45*time.Second, 50*time.Second); n != 1 {
		t.Fatalf("still silent: %d matches, want 1", n)
	}
	if n := step(events[30:], 29*time.Second, 55*time.Second); n != 0 {
		t.Fatalf("data within the timeframe still alerted")
	}
	if n := step(nil, 55*time.Second, 71*time.Second); n != 1 {
		t.Fatalf("silence after data: %d matches, want 1", n)
	}
}

func TestFlatlineQueryKey(t *testing.T) {
	r := MustParse(t, "name: f\ntype: flatline\nindex: i\n"+quiet+"timeframe: {seconds: 30}\nthreshold: 1\nquery_key: qk\n")
	st := &State{}
	events := []Event{ev(0, "qk", "key1"), ev(0, "qk", "key2"), ev(0, "qk", "key3")}
	if ms, _ := r.Evaluate(st, events, ts(-time.Second), ts(11*time.Second)); len(ms) != 0 {
		t.Fatalf("early alert %v", ms)
	}
	ms, _ := r.Evaluate(st, []Event{ev(20*time.Second, "qk", "key3")}, ts(11*time.Second), ts(45*time.Second))
	var keys []string
	for _, m := range ms {
		keys = append(keys, m.Key)
		if fieldOf(m, "count") != "0" || fieldOf(m, "key") != m.Key || !m.Time.Equal(ts(45*time.Second)) {
			t.Fatalf("match fields %v", m.Fields)
		}
	}
	if fmt.Sprint(keys) != "[key1 key2]" {
		t.Fatalf("flatlined keys %v, want [key1 key2]", keys)
	}
	ms, _ = r.Evaluate(st, nil, ts(45*time.Second), ts(80*time.Second))
	if len(ms) != 3 {
		t.Fatalf("next run: %d matches, want 3", len(ms))
	}
}

func TestFlatlineNoData(t *testing.T) {
	r := MustParse(t, "name: f\ntype: flatline\nindex: i\n"+quiet+"timeframe: {seconds: 30}\nthreshold: 2\n")
	st := &State{}
	if ms, _ := r.Evaluate(st, nil, ts(-time.Minute), ts(0)); len(ms) != 0 {
		t.Fatal("alerted on the first empty run")
	}
	if ms, _ := r.Evaluate(st, nil, ts(0), ts(35*time.Minute)); len(ms) != 1 {
		t.Fatalf("got %d matches after a silent timeframe, want 1", len(ms))
	}
}

func TestNewTerm(t *testing.T) {
	r := MustParse(t, "name: n\ntype: new_term\nindex: i\n"+quiet+"fields: [a, b.c]\n")
	st := &State{}
	r.SeedTerms(st, []Event{ev(0, "a", "key1", "b", map[string]any{"c": "key1"}), ev(0, "a", "key2", "b", map[string]any{"c": "key2"})})
	cases := []struct {
		event Event
		want  string
	}{
		{ev(time.Second, "a", "key1", "b", map[string]any{"c": "key2"}), "[]"},
		{ev(2*time.Second, "a", "key2"), "[]"},
		{ev(3*time.Second, "a", "key2", "b", map[string]any{"c": "key3"}), "[b.c]"},
		{ev(4*time.Second, "a", "key2", "b", map[string]any{"c": "key3"}), "[]"},
	}
	for i, c := range cases {
		ms := run(t, r, st, []Event{c.event}, ts(time.Hour))
		var got []string
		for _, m := range ms {
			got = append(got, fieldOf(m, "new_field"))
		}
		if fmt.Sprint(got) != c.want {
			t.Fatalf("case %d: new_field %v, want %s", i, got, c.want)
		}
	}

	comp := MustParse(t, "name: n\ntype: new_term\nindex: i\n"+quiet+"fields: [[a, b], d]\nalert_on_missing_field: true\n")
	st = &State{}
	comp.SeedTerms(st, []Event{ev(0, "a", "k1", "b", "k2", "d", "x")})
	ms := run(t, comp, st, []Event{ev(time.Second, "a", "k1", "b", "k3", "d", "x"), ev(2*time.Second, "d", "x")}, ts(time.Hour))
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprint(m.Fields["new_field"], m.Fields["missing_field"]))
	}
	if fmt.Sprint(got) != "[[a b] <nil> <nil> [a b]]" {
		t.Fatalf("composite matches %v", got)
	}
}

func TestCardinality(t *testing.T) {
	t.Run("max", func(t *testing.T) {
		r := MustParse(t, "name: c\ntype: cardinality\nindex: i\n"+quiet+"timeframe: {minutes: 10}\ncardinality_field: user\nmax_cardinality: 4\n")
		st := &State{}
		var n int
		for i, u := range []string{"bill", "coach", "zoey", "louis", "coach"} {
			n += len(run(t, r, st, []Event{ev(time.Duration(i)*time.Second, "user", u)}, ts(time.Duration(i)*time.Second)))
		}
		if n != 0 {
			t.Fatalf("4 distinct users matched")
		}
		ms := run(t, r, st, []Event{ev(6*time.Second, "user", "francis")}, ts(6*time.Second))
		if len(ms) != 1 || fieldOf(ms[0], "cardinality") != "5" {
			t.Fatalf("fifth user: %v", ms)
		}
		for i, u := range []string{"nick", "rochelle", "ellis"} {
			at := 15*time.Minute + time.Duration(i)*time.Second
			if ms := run(t, r, st, []Event{ev(at, "user", u)}, ts(at)); len(ms) != 0 {
				t.Fatalf("old users were not forgotten: %v", ms)
			}
		}
	})
	t.Run("min", func(t *testing.T) {
		r := MustParse(t, "name: c\ntype: cardinality\nindex: i\n"+quiet+"timeframe: {minutes: 10}\ncardinality_field: user\nmin_cardinality: 4\n")
		st := &State{}
		n := len(run(t, r, st, []Event{ev(0, "user", "foo"), ev(0, "user", "bar")}, ts(0)))
		n += len(run(t, r, st, []Event{ev(5*time.Minute, "user", "faz"), ev(5*time.Minute, "user", "fuz"), ev(5*time.Minute, "user", "fiz")}, ts(5*time.Minute)))
		if n != 0 {
			t.Fatalf("alerted before the timeframe passed")
		}
		if ms := run(t, r, st, []Event{ev(15*time.Minute, "user", "faz")}, ts(15*time.Minute)); len(ms) != 1 {
			t.Fatalf("got %d matches once users aged out, want 1", len(ms))
		}
	})
	t.Run("query_key", func(t *testing.T) {
		r := MustParse(t, "name: c\ntype: cardinality\nindex: i\n"+quiet+"timeframe: {minutes: 10}\ncardinality_field: foo\nmax_cardinality: 2\nquery_key: user\n")
		st := &State{}
		run(t, r, st, []Event{ev(0, "user", "foo", "foo", "foofoo"), ev(0, "user", "bar", "foo", "foobar"), ev(0, "user", "baz", "foo", "foobaz")}, ts(0))
		ms := run(t, r, st, []Event{ev(5*time.Minute, "user", "baz", "foo", "faz"), ev(5*time.Minute, "user", "baz", "foo", "fuz"), ev(5*time.Minute, "user", "baz", "foo", "fiz")}, ts(5*time.Minute))
		if len(ms) != 2 || fieldOf(ms[0], "foo") != "fuz" || fieldOf(ms[1], "foo") != "fiz" || ms[0].Key != "baz" {
			t.Fatalf("matches %v", ms)
		}
	})
}

func TestChange(t *testing.T) {
	events := hits(10, "username", "qlo", "term", "good")
	delete(events[8], "term")
	events[9]["term"] = "bad"
	base := "name: c\ntype: change\nindex: i\n" + quiet + "query_key: username\ncompare_key: term\n"
	tests := []struct {
		name   string
		opts   string
		events []Event
		want   string
	}{
		{"ignore null", "ignore_null: true\n", events, "[good→bad]"},
		{"keep null", "ignore_null: false\n", events, "[good→<nil> <nil>→bad]"},
		{"within timeframe", "ignore_null: true\ntimeframe: {seconds: 2}\n", events, "[good→bad]"},
		{"outside timeframe", "ignore_null: true\ntimeframe: {seconds: 1}\n", append(append([]Event{}, events[:8]...), events[9:]...), "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := run(t, MustParse(t, base+tt.opts), &State{}, tt.events, ts(time.Hour))
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%v→%v", m.Fields["old_value"], m.Fields["new_value"]))
			}
			if fmt.Sprint(got) != tt.want {
				t.Fatalf("changes %v, want %s", got, tt.want)
			}
		})
	}
}

func TestBlacklistWhitelist(t *testing.T) {
	events := []Event{ev(0, "term", "good"), ev(time.Second, "term", "bad"), ev(2*time.Second, "term", "ugly"), ev(3 * time.Second)}
	tests := []struct {
		name, rule, want string
	}{
		{"blacklist", "type: blacklist\ncompare_key: term\nblacklist: [bad, ugly]\n", "[bad ugly]"},
		{"whitelist ignore null", "type: whitelist\ncompare_key: term\nwhitelist: [good]\nignore_null: true\n", "[bad ugly]"},
		{"whitelist null matches", "type: whitelist\ncompare_key: term\nwhitelist: [good]\nignore_null: false\n", "[bad ugly <nil>]"},
		{"any", "type: any\n", "[good bad ugly <nil>]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := run(t, MustParse(t, "name: l\nindex: i\n"+quiet+tt.rule), &State{}, events, ts(time.Hour))
			var got []any
			for _, m := range ms {
				got = append(got, m.Fields["term"])
			}
			if fmt.Sprint(got) != tt.want {
				t.Fatalf("matched %v, want %s", got, tt.want)
			}
		})
	}
}

func TestMetricAggregation(t *testing.T) {
	r := MustParse(t, "name: m\ntype: metric_aggregation\nindex: i\n"+quiet+"metric_agg_key: cpu_pct\nmetric_agg_type: avg\nmin_threshold: 0.1\nmax_threshold: 0.8\nquery_key: host\n")
	events := []Event{
		ev(time.Second, "host", "ok", "cpu_pct", 0.5), ev(2*time.Second, "host", "ok", "cpu_pct", 0.5),
		ev(time.Second, "host", "hot", "cpu_pct", 0.9), ev(2*time.Second, "host", "hot", "cpu_pct", 1.0),
		ev(time.Second, "host", "idle", "cpu_pct", 0.05), ev(2*time.Second, "host", "idle"),
		ev(time.Second, "host", "boundary", "cpu_pct", 0.1),
	}
	ms, err := r.Evaluate(&State{}, events, ts(0), ts(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.Key] = fieldOf(m, "metric_cpu_pct_avg") + "/" + fieldOf(m, "metric_agg_value") + "/" + fieldOf(m, "host")
		if !m.Time.Equal(ts(time.Minute)) {
			t.Errorf("match time %v, want run end", m.Time)
		}
	}
	if fmt.Sprint(got) != "map[hot:0.95/0.95/hot idle:0.05/0.05/idle]" {
		t.Fatalf("matches %v", got)
	}
}

func TestPercentageMatch(t *testing.T) {
	r := MustParse(t, `
name: p
type: percentage_match
index: i
realert: {minutes: 0}
match_bucket_filter:
- range: {status: {gte: 500}}
max_percentage: 10
min_denominator: 10
query_key: ns
`)
	var events []Event
	for i := 0; i < 100; i++ {
		events = append(events, ev(time.Duration(i)*time.Millisecond, "ns", "shop", "status", 200+300*boolInt(i%5 == 0)))
		events = append(events, ev(time.Duration(i)*time.Millisecond, "ns", "auth", "status", 200+300*boolInt(i == 0)))
	}
	for i := 0; i < 5; i++ {
		events = append(events, ev(time.Duration(i)*time.Millisecond, "ns", "tiny", "status", 503))
	}
	ms, _ := r.Evaluate(&State{}, events, ts(-time.Second), ts(time.Minute))
	if len(ms) != 1 || ms[0].Key != "shop" || fieldOf(ms[0], "percentage") != "20" || fieldOf(ms[0], "denominator") != "100" {
		t.Fatalf("matches %v, want shop at 20%% of 100", ms)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSpikeAggregation(t *testing.T) {
	r := MustParse(t, "name: s\ntype: spike_aggregation\nindex: i\n"+quiet+"timeframe: {minutes: 5}\nmetric_agg_key: ms\nmetric_agg_type: avg\nspike_height: 1.5\nspike_type: up\n")
	st := &State{}
	var fired []int
	for minute := 1; minute <= 20; minute++ {
		v := 100.0
		if minute >= 16 {
			v = 400
		}
		events := []Event{ev(time.Duration(minute)*time.Minute-30*time.Second, "ms", v)}
		ms, err := r.Evaluate(st, events, ts(time.Duration(minute-1)*time.Minute), ts(time.Duration(minute)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 0 {
			fired = append(fired, minute)
			if ms[0].Fields["metric_ms_avg"] == nil {
				t.Fatalf("match lacks metric field: %v", ms[0].Fields)
			}
		}
	}
	if len(fired) == 0 || fired[0] < 16 {
		t.Fatalf("fired at minutes %v, want first at or after 16", fired)
	}
}

func TestBacktest(t *testing.T) {
	r := MustParse(t, "name: f\ntype: frequency\nindex: i\nrealert: {minutes: 5}\ntimeframe: {minutes: 1}\nnum_events: 3\nquery_key: ip\n")
	var events []Event
	// Each IP bursts 3 events every 2 minutes for 10 minutes; realert keeps one
	// match per IP per 5 minutes.
	for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
		for m := 0; m < 10; m += 2 {
			for i := 0; i < 3; i++ {
				events = append(events, ev(time.Duration(m)*time.Minute+time.Duration(i)*time.Second, "ip", ip))
			}
		}
	}
	res, err := Backtest(r, events, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Matches {
		got = append(got, fmt.Sprintf("%s@%v", m.Key, m.Time.Sub(t0)))
	}
	sort.Strings(got)
	// Matches are at the 3rd event of a burst (+2s); sweeps run from the one
	// holding the first event, (-1m, 0], to the one holding the last, (8m, 9m].
	want := "[10.0.0.1@2s 10.0.0.1@6m2s 10.0.0.2@2s 10.0.0.2@6m2s]"
	if fmt.Sprint(got) != want || res.Events != 30 || res.Sweeps != 10 {
		t.Fatalf("backtest = %v (%d events, %d sweeps), want %s, 30 events, 10 sweeps", got, res.Events, res.Sweeps, want)
	}
}

func TestSweepWindow(t *testing.T) {
	r := MustParse(t, "name: a\ntype: any\nindex: i\nquery_delay: {minutes: 2}\nbuffer_time: {minutes: 10}\n")
	now := ts(time.Hour)
	tests := []struct {
		name       string
		last       time.Time
		start, end time.Time
	}{
		{"first run", time.Time{}, ts(48 * time.Minute), ts(58 * time.Minute)},
		{"continues", ts(57 * time.Minute), ts(57 * time.Minute), ts(58 * time.Minute)},
		{"after a long gap", ts(10 * time.Minute), ts(48 * time.Minute), ts(58 * time.Minute)},
		{"clock went back", ts(59 * time.Minute), ts(58 * time.Minute), ts(58 * time.Minute)},
	}
	for _, tt := range tests {
		s, e := r.SweepWindow(&State{LastRunEnd: tt.last}, now)
		if !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("%s: (%v, %v], want (%v, %v]", tt.name, s.Sub(t0), e.Sub(t0), tt.start.Sub(t0), tt.end.Sub(t0))
		}
	}
}

func TestSpikeAlertOnNewData(t *testing.T) {
	// userA fills its windows over 30 s; then userC appears with a burst.
	events := hits(30, "username", "userA")
	for i := 0; i < 60; i++ {
		events = append(events, ev(30*time.Second+time.Duration(i)*100*time.Millisecond, "username", "userC"))
	}
	base := "name: s\ntype: spike\nindex: i\n" + quiet + "timeframe: {seconds: 10}\nspike_height: 2\nspike_type: up\nthreshold_cur: 50\nquery_key: username\n"
	if ms := run(t, MustParse(t, base), &State{}, events, ts(36*time.Second)); len(ms) != 0 {
		t.Fatalf("new key alerted without alert_on_new_data: %v", ms)
	}
	ms := run(t, MustParse(t, base+"alert_on_new_data: true\n"), &State{}, events, ts(36*time.Second))
	if len(ms) != 1 || ms[0].Key != "userC" || fieldOf(ms[0], "reference_count") != "0" {
		t.Fatalf("matches %v, want one for userC with reference_count 0", ms)
	}
}

func TestRender(t *testing.T) {
	r := MustParse(t, `
name: login-failures-per-ip
type: frequency
index: i
num_events: 2
timeframe: {minutes: 1}
query_key: client_ip
alert_subject: "Brute force from {0}"
alert_subject_args: [client_ip]
alert_text: "{0} failures for {1} from {2}; {3}"
alert_text_args: [num_hits, user.name, geo.country, nope]
`)
	ms := run(t, r, &State{}, []Event{ev(0, "client_ip", "203.0.113.9"), ev(time.Second, "client_ip", "203.0.113.9", "user", map[string]any{"name": "root"})}, ts(time.Hour))
	if len(ms) != 1 {
		t.Fatalf("matches %v", ms)
	}
	subject, text := r.Render(ms[0])
	if subject != "Brute force from 203.0.113.9" || text != "2 failures for root from <MISSING VALUE>; <MISSING VALUE>" {
		t.Fatalf("rendered %q / %q", subject, text)
	}
	r.AlertSubject = ""
	if s, _ := r.Render(ms[0]); s != "login-failures-per-ip" {
		t.Fatalf("default subject %q", s)
	}
}
