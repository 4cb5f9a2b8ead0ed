package rules

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

func TestTermsSeedSteps(t *testing.T) {
	end := ts(0)
	cases := []struct {
		yaml  string
		steps int
		first time.Duration // length of the first step
		last  time.Duration // length of the last step
	}{
		{"", 30, 24 * time.Hour, 24 * time.Hour},
		{"window_step_size: {days: 7}\n", 5, 7 * 24 * time.Hour, 2 * 24 * time.Hour},
		{"terms_window_size: {hours: 5}\nwindow_step_size: {hours: 2}\n", 3, 2 * time.Hour, time.Hour},
		{"terms_window_size: {hours: 1}\nwindow_step_size: {days: 1}\n", 1, time.Hour, time.Hour},
	}
	for _, c := range cases {
		r := MustParse(t, "name: n\ntype: new_term\nindex: i\nfields: [a]\n"+c.yaml)
		steps := r.TermsSeedSteps(end)
		if len(steps) != c.steps {
			t.Fatalf("%q: %d steps, want %d", c.yaml, len(steps), c.steps)
		}
		if !steps[0].From.Equal(end.Add(-r.TermsWindowSize)) || !steps[len(steps)-1].To.Equal(end) {
			t.Fatalf("%q: steps cover %s..%s, want the window before %s", c.yaml, steps[0].From, steps[len(steps)-1].To, end)
		}
		for i := 1; i < len(steps); i++ {
			if !steps[i].From.Equal(steps[i-1].To) {
				t.Fatalf("%q: gap between steps %d and %d", c.yaml, i-1, i)
			}
		}
		if d := steps[0].To.Sub(steps[0].From); d != c.first {
			t.Errorf("%q: first step %s, want %s", c.yaml, d, c.first)
		}
		if d := steps[len(steps)-1].To.Sub(steps[len(steps)-1].From); d != c.last {
			t.Errorf("%q: last step %s, want %s", c.yaml, d, c.last)
		}
	}
}

func TestTermsSeedPage(t *testing.T) {
	r := MustParse(t, "name: n\ntype: new_term\nindex: i\nfields: [x, [user.name, geo.country_iso_code]]\nuse_keyword_postfix: false\nfilter:\n- term: {action: login}\n")
	step := TermsSeedStep{From: ts(-time.Hour), To: ts(0)}
	body := asJSON(t, r.TermsSeedPage(1, step, map[string]any{"f0": "bob", "f1": "DE"}, 100).Body)
	comp := dig(t, body, "aggs", "terms", "composite").(map[string]any)
	if got := fmt.Sprint(comp["sources"], comp["size"], comp["after"]); got != "[map[f0:map[terms:map[field:user.name]]] map[f1:map[terms:map[field:geo.country_iso_code]]]] 100 map[f0:bob f1:DE]" {
		t.Fatalf("composite = %s", got)
	}
	if got := fmt.Sprint(dig(t, body, "query", "bool", "filter")); got != "[map[range:map[@timestamp:map[gte:2014-09-26T11:00:00.000000000Z lt:2014-09-26T12:00:00.000000000Z]]] map[term:map[action:login]]]" {
		t.Fatalf("filter = %s", got)
	}
	resp := decodeJSON(t, `{"aggregations": {"terms": {"after_key": {"f0": "carol", "f1": "FR"}, "buckets": [
		{"key": {"f0": "alice", "f1": "FR"}, "doc_count": 2},
		{"key": {"f0": "bob", "f1": ""}, "doc_count": 1},
		{"key": {"f0": "carol", "f1": "FR"}, "doc_count": 1}]}}}`)
	values, after, err := r.TermsFromSeedPage(1, resp, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%q %v", values, after) != `["alice\x1fFR" "carol\x1fFR"] map[f0:carol f1:FR]` {
		t.Fatalf("full page: %q %v", values, after)
	}
	if _, after, _ := r.TermsFromSeedPage(1, resp, 4); after != nil {
		t.Fatalf("short page: after %v, want nil (last page)", after)
	}
	if values, after, err := r.TermsFromSeedPage(0, map[string]any{"hits": map[string]any{}}, 3); values != nil || after != nil || err != nil {
		t.Fatalf("no index: %v %v %v", values, after, err)
	}
}

// TestEvaluateNewTermsAgreesWithEvaluate holds the sweep path (vocabulary
// outside State, looked up per term) to the reference (State.Terms) on random
// events: same matches, sweep by sweep, and a State that never holds terms.
func TestEvaluateNewTermsAgreesWithEvaluate(t *testing.T) {
	r := MustParse(t, "name: n\ntype: new_term\nindex: i\nquery_key: host\nrealert: {minutes: 2}\nfields: [user, [user, src]]\nalert_on_missing_field: true\n")
	rng := rand.New(rand.NewSource(7))
	var history []Event
	for i := range 3000 {
		history = append(history, ev(-time.Duration(i)*time.Second, "user", fmt.Sprintf("u%d", rng.Intn(2000)), "src", fmt.Sprintf("s%d", rng.Intn(3)), "host", "h"))
	}
	ref := &State{}
	r.SeedTerms(ref, history)
	vocab := map[Term]time.Time{} // field+value → first_seen, as TermsIndex keeps it
	for f, vs := range ref.Terms {
		for v := range vs {
			vocab[Term{Field: f, Value: v}] = ts(-time.Hour)
		}
	}
	st := &State{}
	matches := 0
	for sweep := range 20 {
		start, end := ts(time.Duration(sweep)*time.Minute), ts(time.Duration(sweep+1)*time.Minute)
		var events []Event
		for range rng.Intn(40) {
			e := ev(time.Duration(sweep)*time.Minute+time.Duration(1+rng.Intn(60_000))*time.Millisecond,
				"user", fmt.Sprintf("u%d", rng.Intn(2300)), "host", fmt.Sprintf("h%d", rng.Intn(3)))
			if rng.Intn(10) > 0 {
				e["src"] = fmt.Sprintf("s%d", rng.Intn(4))
			}
			events = append(events, e)
		}
		want, err := r.Evaluate(ref, events, start, end)
		if err != nil {
			t.Fatal(err)
		}
		got, fresh, err := r.EvaluateNewTerms(st, events, start, end, func(t Term) bool {
			first, ok := vocab[Term{Field: t.Field, Value: t.Value}]
			return ok && !first.After(start)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fresh {
			vocab[Term{Field: f.Field, Value: f.Value}] = f.First
		}
		if !reflect.DeepEqual(summarizeTerms(got), summarizeTerms(want)) {
			t.Fatalf("sweep %d: got %v, want %v", sweep, summarizeTerms(got), summarizeTerms(want))
		}
		if st.Terms != nil {
			t.Fatalf("sweep %d: state holds %d term fields", sweep, len(st.Terms))
		}
		matches += len(want)
		st = roundTrip(t, st)
	}
	if matches < 20 {
		t.Fatalf("%d matches in 20 sweeps: too few to compare", matches)
	}
	if len(vocab) != len(ref.Terms["user"])+len(ref.Terms["user,src"]) {
		t.Fatalf("vocabulary %d terms, reference %d", len(vocab), len(ref.Terms["user"])+len(ref.Terms["user,src"]))
	}
}

func summarizeTerms(ms []Match) []string {
	out := []string{}
	for _, m := range ms {
		b, _ := json.Marshal([]any{m.Fields["new_field"], m.Fields["missing_field"], m.Fields["user"], m.Fields["src"]})
		out = append(out, fmt.Sprintf("%s %s %s", m.Time.Format(time.RFC3339Nano), m.Key, b))
	}
	return out
}

// TestEvaluateNewTermsRetry: a term an earlier attempt of the same sweep
// recorded (first seen inside the window) is new again, so a retried sweep
// alerts as the lost attempt did; the next sweep knows it.
func TestEvaluateNewTermsRetry(t *testing.T) {
	r := MustParse(t, "name: n\ntype: new_term\nindex: i\n"+quiet+"fields: [user]\n")
	vocab := map[string]time.Time{"old": ts(-time.Hour)}
	known := func(start time.Time) func(Term) bool {
		return func(t Term) bool { first, ok := vocab[t.Value]; return ok && !first.After(start) }
	}
	events := []Event{ev(10*time.Second, "user", "old"), ev(20*time.Second, "user", "x"), ev(30*time.Second, "user", "x")}
	for attempt := range 2 {
		st := &State{LastRunEnd: ts(0)}
		ms, fresh, err := r.EvaluateNewTerms(st, events, ts(0), ts(time.Minute), known(ts(0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || fieldOf(ms[0], "user") != "x" || !ms[0].Time.Equal(ts(20*time.Second)) {
			t.Fatalf("attempt %d: matches %v, want x at +20s", attempt, ms)
		}
		if len(fresh) != 1 || fresh[0].Value != "x" || !fresh[0].First.Equal(ts(20*time.Second)) {
			t.Fatalf("attempt %d: new terms %v", attempt, fresh)
		}
		vocab["x"] = fresh[0].First
	}
	st := &State{LastRunEnd: ts(time.Minute)}
	ms, fresh, err := r.EvaluateNewTerms(st, []Event{ev(70*time.Second, "user", "x")}, ts(time.Minute), ts(2*time.Minute), known(ts(time.Minute)))
	if err != nil || len(ms) != 0 || len(fresh) != 0 {
		t.Fatalf("next sweep: %v %v %v, want nothing new", ms, fresh, err)
	}
}

func TestWindowStepSizeLoads(t *testing.T) {
	r := MustParse(t, "name: n\ntype: new_term\nindex: i\nfields: [a]\nwindow_step_size: {hours: 6}\n")
	if r.WindowStepSize != 6*time.Hour {
		t.Fatalf("window_step_size = %s", r.WindowStepSize)
	}
}
