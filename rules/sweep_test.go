package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeAggs answers the first AggSweep page for events the way OpenSearch
// does, for rules with one query_key field and keys that fit one page: the
// timeline's first and last hits and deciles, and cardinality's values
// (newest first, cut to the terms size).
func fakeAggs(tb testing.TB, r *Rule, events []Event, start, end time.Time) map[string]any {
	tb.Helper()
	c := r.comp()
	byKey := map[string][]timed{}
	for _, e := range events {
		t, err := r.Time(e)
		if err != nil {
			tb.Fatal(err)
		}
		if t.After(start) && !t.After(end) && r.pass(e) {
			byKey[c.key(e)] = append(byKey[c.key(e)], timed{t, e})
		}
	}
	var buckets []any
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		evs := byKey[k]
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
		b := map[string]any{"key": map[string]any{"k0": k}, "doc_count": float64(len(evs))}
		first, last := map[string]time.Time{}, map[string]time.Time{}
		for _, ev := range evs {
			if v, ok := c.card.get(ev.e); ok && r.Type == TypeCardinality {
				s := keyString(v)
				if f, ok := first[s]; !ok || ev.t.Before(f) {
					first[s] = ev.t
				}
				if ev.t.After(last[s]) {
					last[s] = ev.t
				}
			}
		}
		// Distinct timestamps with their counts, first and last k of them.
		var distinct []map[string]any
		for _, ev := range evs {
			ms := float64(ev.t.UnixMilli())
			if l := len(distinct); l > 0 && distinct[l-1]["key"] == ms {
				distinct[l-1]["doc_count"] = distinct[l-1]["doc_count"].(float64) + 1
				continue
			}
			distinct = append(distinct, map[string]any{"key": ms, "doc_count": 1.0})
		}
		list := func(bs []map[string]any) map[string]any {
			var l []any
			for _, b := range bs {
				l = append(l, b)
			}
			return map[string]any{"buckets": l}
		}
		k := min(len(distinct), r.timelineHits())
		b["first"] = list(distinct[:k])
		rev := slices.Clone(distinct)
		slices.Reverse(rev)
		b["last"] = list(rev[:k])
		dec := map[string]any{}
		for p := 10; p <= 90; p += 10 {
			dec[fmt.Sprintf("%d.0", p)] = float64(evs[(len(evs)-1)*p/100].t.UnixMilli())
		}
		b["spread"] = map[string]any{"values": dec}
		if r.Type == TypeCardinality {
			list := func(name string, at map[string]time.Time, less func(a, b string) bool) map[string]any {
				vals := slices.Sorted(maps.Keys(last))
				sort.SliceStable(vals, func(i, j int) bool { return less(vals[i], vals[j]) })
				if len(vals) > r.cardinalityCap() {
					vals = vals[:r.cardinalityCap()]
				}
				var vb []any
				for _, v := range vals {
					vb = append(vb, map[string]any{"key": v, "doc_count": 1.0,
						name: map[string]any{"value": float64(at[v].UnixMilli())}})
				}
				return map[string]any{"buckets": vb}
			}
			b["values"] = list("last", last, func(a, b string) bool { return last[a].After(last[b]) })
			b["earliest"] = list("first", first, func(a, b string) bool { return first[a].Before(first[b]) })
		}
		buckets = append(buckets, b)
	}
	return map[string]any{"aggregations": map[string]any{"keys": map[string]any{"buckets": buckets}}}
}

// sweepBoth runs the Go evaluator and the aggregation path over the same
// one-minute sweeps, passing each side's state through JSON between sweeps.
func sweepBoth(t *testing.T, r *Rule, events []Event, sweeps int) (goSide, aggSide []Match) {
	t.Helper()
	goSt, aggSt := &State{}, &State{}
	for s := 0; s < sweeps; s++ {
		start, end := ts(time.Duration(s)*time.Minute), ts(time.Duration(s+1)*time.Minute)
		ms, err := r.Evaluate(goSt, events, start, end)
		if err != nil {
			t.Fatal(err)
		}
		goSide = append(goSide, ms...)
		ms, err = r.AggregationMatches(aggSt, fakeAggs(t, r, events, start, end), start, end)
		if err != nil {
			t.Fatal(err)
		}
		aggSide = append(aggSide, ms...)
		goSt, aggSt = roundTrip(t, goSt), roundTrip(t, aggSt)
	}
	return goSide, aggSide
}

func matchTimes(ms []Match) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Key+"@"+m.Time.Format("15:04:05"))
	}
	return strings.Join(out, " ")
}

// A password spray spread over several one-minute sweeps must match once,
// at the event that brings the distinct user count over max_cardinality,
// as the Go evaluator (and ElastAlert2) do; one user fewer must stay quiet.
func TestCardinalityAcrossSweeps(t *testing.T) {
	r := MustParse(t, "name: spray\ntype: cardinality\nindex: i\nrealert: {minutes: 15}\n"+
		"query_key: ip\ncardinality_field: user\nmax_cardinality: 10\ntimeframe: {minutes: 10}\n")
	spray := func(users int) []Event {
		var out []Event
		// Four new users a minute (0:10, 0:25, 0:40, 0:55 past each minute),
		// each retried once, plus a quiet IP that reuses one user.
		for i := 0; i < users; i++ {
			at := time.Duration(i/4)*time.Minute + time.Duration(10+15*(i%4))*time.Second
			u := fmt.Sprintf("u%d", i)
			out = append(out, ev(at, "ip", "203.0.113.9", "user", u), ev(at+2*time.Second, "ip", "203.0.113.9", "user", u))
			out = append(out, ev(at, "ip", "198.51.100.7", "user", "alice"))
		}
		return out
	}
	t.Run("fires once", func(t *testing.T) {
		goSide, aggSide := sweepBoth(t, r, spray(14), 6)
		want := "203.0.113.9@12:02:40" // the 11th user, in the third sweep
		if got := matchTimes(goSide); got != want {
			t.Fatalf("Go evaluator matched %q, want %q", got, want)
		}
		if got := matchTimes(aggSide); got != want {
			t.Fatalf("aggregation path matched %q, want %q", got, want)
		}
		if n := aggSide[0].Fields["cardinality"]; n != 11 {
			t.Errorf("cardinality = %v, want 11", n)
		}
		if u := aggSide[0].Fields["user"]; u != "u10" {
			t.Errorf("user = %v, want the 11th user u10", u)
		}
	})
	t.Run("one short stays quiet", func(t *testing.T) {
		goSide, aggSide := sweepBoth(t, r, spray(10), 6)
		if len(goSide) != 0 || len(aggSide) != 0 {
			t.Fatalf("Go evaluator %q, aggregation path %q; want no match", matchTimes(goSide), matchTimes(aggSide))
		}
	})
	t.Run("users older than timeframe expire", func(t *testing.T) {
		// Six users, then six more eleven minutes later: never eleven within ten minutes.
		var events []Event
		for i := 0; i < 6; i++ {
			events = append(events, ev(time.Duration(10+i)*time.Second, "ip", "203.0.113.9", "user", fmt.Sprintf("a%d", i)))
			events = append(events, ev(11*time.Minute+time.Duration(10+i)*time.Second, "ip", "203.0.113.9", "user", fmt.Sprintf("b%d", i)))
		}
		goSide, aggSide := sweepBoth(t, r, events, 13)
		if len(goSide) != 0 || len(aggSide) != 0 {
			t.Fatalf("Go evaluator %q, aggregation path %q; want no match", matchTimes(goSide), matchTimes(aggSide))
		}
	})
}

// Users seen early and retried late push the crossing user out of the "most
// recently seen" list; the crossing must still be found at its first event.
func TestCardinalityCrossingAmongRetries(t *testing.T) {
	r := MustParse(t, "name: spray\ntype: cardinality\nindex: i\nrealert: {minutes: 15}\n"+
		"query_key: ip\ncardinality_field: user\nmax_cardinality: 3\ntimeframe: {minutes: 10}\n")
	var events []Event
	for i, at := range []int{5, 10, 15, 20, 40, 45} {
		events = append(events, ev(time.Duration(at)*time.Second, "ip", "203.0.113.9", "user", fmt.Sprintf("u%d", i)))
	}
	for i := 0; i < 3; i++ {
		events = append(events, ev(50*time.Second, "ip", "203.0.113.9", "user", fmt.Sprintf("u%d", i)))
	}
	goSide, aggSide := sweepBoth(t, r, events, 2)
	want := "203.0.113.9@12:00:20"
	if got := matchTimes(goSide); got != want {
		t.Fatalf("Go evaluator matched %q, want %q", got, want)
	}
	if got := matchTimes(aggSide); got != want {
		t.Fatalf("aggregation path matched %q, want %q", got, want)
	}
}

// State stays bounded: each key keeps at most max_cardinality+1 values.
func TestCardinalitySweepStateBound(t *testing.T) {
	r := MustParse(t, "name: spray\ntype: cardinality\nindex: i\nrealert: {minutes: 15}\n"+
		"query_key: ip\ncardinality_field: user\nmax_cardinality: 3\ntimeframe: {minutes: 10}\n")
	var events []Event
	for i := 0; i < 200; i++ {
		events = append(events, ev(time.Duration(i)*time.Second+time.Millisecond, "ip", "203.0.113.9", "user", fmt.Sprintf("u%d", i)))
	}
	st := &State{}
	for s := 0; s < 4; s++ {
		start, end := ts(time.Duration(s)*time.Minute), ts(time.Duration(s+1)*time.Minute)
		if _, err := r.AggregationMatches(st, fakeAggs(t, r, events, start, end), start, end); err != nil {
			t.Fatal(err)
		}
		if n := len(st.Cardinality["203.0.113.9"]); n != 4 {
			t.Fatalf("sweep %d: state holds %d values, want 4", s, n)
		}
	}
}

// A frequency burst spread over several sweeps (within timeframe) fires once.
func TestFrequencyAcrossSweeps(t *testing.T) {
	r := MustParse(t, "name: brute\ntype: frequency\nindex: i\nrealert: {minutes: 15}\n"+
		"query_key: ip\nnum_events: 10\ntimeframe: {minutes: 5}\n")
	burst := func(n int) []Event {
		var out []Event
		for i := 0; i < n; i++ {
			// Three failures a minute, at 0:20, 0:40 and 1:00 past each minute.
			out = append(out, ev(time.Duration(i+1)*20*time.Second, "ip", "203.0.113.9"))
		}
		return out
	}
	t.Run("fires once", func(t *testing.T) {
		goSide, aggSide := sweepBoth(t, r, burst(12), 6)
		want := "203.0.113.9@12:03:20"
		if got := matchTimes(goSide); got != want {
			t.Fatalf("Go evaluator matched %q, want %q", got, want)
		}
		if got := matchTimes(aggSide); got != want {
			t.Fatalf("aggregation path matched %q, want %q", got, want)
		}
	})
	t.Run("one short stays quiet", func(t *testing.T) {
		goSide, aggSide := sweepBoth(t, r, burst(9), 6)
		if len(goSide) != 0 || len(aggSide) != 0 {
			t.Fatalf("Go evaluator %q, aggregation path %q; want no match", matchTimes(goSide), matchTimes(aggSide))
		}
	})
}
