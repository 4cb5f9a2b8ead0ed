package activities_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

// historyEvents are 15 minutes of events for four rules, told apart by kind.
func historyEvents() []rules.Event {
	at := func(d time.Duration, kv ...string) rules.Event {
		e := rules.Event{"@timestamp": base.Add(d).Format(time.RFC3339Nano)}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	s := time.Second
	var events []rules.Event
	// frequency: two bursts from A (the second across the 8m sweep boundary),
	// four slow events from B, five spread-out ones from C.
	for k := 0; k < 6; k++ {
		events = append(events, at(125*s+time.Duration(k)*7*s, "kind", "freq", "ip", "A"))
	}
	for k := 0; k < 5; k++ {
		events = append(events, at(470*s+time.Duration(k)*9*s, "kind", "freq", "ip", "A"))
	}
	for k := 0; k < 4; k++ {
		events = append(events, at(180*s+time.Duration(k)*13*s, "kind", "freq", "ip", "B"))
	}
	for k := 0; k < 5; k++ {
		events = append(events, at(600*s+time.Duration(k)*50*s, "kind", "freq", "ip", "C"))
	}
	// flatline: a heartbeat every 20 s, silent from 6m to 11m.
	for d := 10 * s; d <= 15*time.Minute; d += 20 * s {
		if d <= 6*time.Minute || d >= 11*time.Minute {
			events = append(events, at(d, "kind", "beat"))
		}
	}
	// any: errors, two sharing a timestamp.
	for _, d := range []time.Duration{90 * s, 285 * s, 285 * s, 721 * s} {
		events = append(events, at(d, "kind", "err", "level", "error"))
	}
	// new_term: u1 and u2 in the first sweep (the known terms), then u3 and u4 new.
	for _, u := range []struct {
		d    time.Duration
		user string
	}{{20 * s, "u1"}, {40 * s, "u2"}, {181 * s, "u1"}, {315 * s, "u3"}, {375 * s, "u3"}, {870 * s, "u4"}} {
		events = append(events, at(u.d, "kind", "login", "user", u.user))
	}
	return events
}

// backtestRange is the span rules.Backtest sweeps over events: from the
// sweep holding the first event to the one holding the last.
func backtestRange(t *testing.T, r *rules.Rule, events []rules.Event, every time.Duration) (from, to time.Time) {
	t.Helper()
	for i, e := range events {
		ts, err := r.Time(e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 || ts.Before(from) {
			from = ts
		}
		if i == 0 || ts.After(to) {
			to = ts
		}
	}
	start := from.Truncate(every)
	if !from.After(start) {
		start = start.Add(-every)
	}
	return start, to
}

// historySummary is what both paths must agree on: time, key and the match
// fields. The document behind a match differs (a sweep fetches only the
// fields the rule reads; counting types have no document).
func historySummary(ms []rules.Match) string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("%s key=%q", m.Time.UTC().Format(time.RFC3339Nano), m.Key)
		for _, f := range []string{"num_hits", "count", "threshold", "new_field", "user"} {
			if v, ok := m.Fields[f]; ok {
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestHistoryBacktestAgreesWithNDJSON indexes events into the real node and
// replays four rule types through Search.Backtest (Search.Sweep, as the
// schedules run it) and through rules.Backtest on the same events: the same
// matches, in the same number of sweeps.
func TestHistoryBacktestAgreesWithNDJSON(t *testing.T) {
	events := historyEvents()
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"kind":{"type":"keyword"},"ip":{"type":"keyword"},
		"level":{"type":"keyword"},"user":{"type":"keyword"}}`, events)
	search := &activities.Search{Client: client}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name, yaml string
		matches    int
	}{
		{"frequency", "type: frequency\nnum_events: 5\ntimeframe: {minutes: 2}\nquery_key: ip\nfilter:\n- term: {kind: freq}\n", 2},
		{"flatline", "type: flatline\nthreshold: 3\ntimeframe: {minutes: 2}\nrealert: {minutes: 2}\nfilter:\n- term: {kind: beat}\n", 2},
		{"any", "type: any\nrealert: {minutes: 0}\nfilter:\n- term: {level: error}\n", 4},
		{"new_term", "type: new_term\nfields: [user]\nuse_keyword_postfix: false\nrealert: {minutes: 0}\nfilter:\n- term: {kind: login}\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRule(t, "name: history\nindex: "+index+"\n"+tc.yaml)
			want, err := rules.Backtest(r, events, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			from, to := backtestRange(t, r, events, time.Minute)
			sweeps := want.Sweeps
			if r.Type == rules.TypeNewTerm {
				// rules.Backtest's first sweep is the new_term history; a
				// history backtest seeds from what lies before from instead.
				from = from.Add(time.Minute)
				sweeps--
			}
			var progress []int
			got, err := search.Backtest(ctx, r, from, to, time.Minute, func(done, total int) {
				if total != sweeps {
					t.Errorf("progress total %d, want %d", total, sweeps)
				}
				progress = append(progress, done)
			})
			if err != nil {
				t.Fatal(err)
			}
			w, g := historySummary(want.Matches), historySummary(got.Matches)
			if len(want.Matches) != tc.matches || w != g {
				t.Fatalf("rules.Backtest (%d matches, want %d):\n%s\nhistory (%d matches):\n%s", len(want.Matches), tc.matches, w, len(got.Matches), g)
			}
			// One query a sweep here (few keys, few documents); new_term also
			// seeds and looks up its known terms, in as many requests as its
			// vocabulary store needs.
			queries := got.Sweeps
			if r.Type == rules.TypeNewTerm && got.Queries > queries {
				queries = got.Queries
			}
			if got.Sweeps != sweeps || len(progress) != sweeps || got.Queries != queries || got.Bytes == 0 ||
				!got.From.Equal(from) || !got.To.Equal(from.Add(time.Duration(sweeps)*time.Minute)) {
				t.Errorf("%d sweeps (progress %v), %d queries, %d bytes over (%s, %s]; want %d sweeps, %d queries from %s",
					got.Sweeps, progress, got.Queries, got.Bytes, got.From, got.To, sweeps, queries, from)
			}
		})
	}
}

// TestHistoryFirstSweepStartsAtFrom: a live first sweep looks back
// buffer_time, a history backtest does not; new_term still seeds its known
// terms from before from, as the live first sweep does.
func TestHistoryFirstSweepStartsAtFrom(t *testing.T) {
	from := base.Add(10 * time.Minute)
	var events []rules.Event
	for _, u := range []struct {
		d    time.Duration
		user string
	}{{-5 * time.Minute, "old"}, {-30 * time.Second, "old"}, {30 * time.Second, "old"}, {90 * time.Second, "new"}, {150 * time.Second, "late"}} {
		events = append(events, rules.Event{"@timestamp": from.Add(u.d).Format(time.RFC3339Nano), "user": u.user})
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"user":{"type":"keyword"}}`, events)
	search := &activities.Search{Client: client}
	ctx := context.Background()

	anyRule := mustRule(t, "name: first\ntype: any\nindex: "+index+"\nrealert: {minutes: 0}\n")
	res, err := search.Backtest(ctx, anyRule, from, from.Add(2*time.Minute), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := historySummary(res.Matches); len(res.Matches) != 2 || !strings.Contains(got, "T12:10:30Z") || !strings.Contains(got, "T12:11:30Z") || res.Sweeps != 2 {
		t.Errorf("any over (%s, +2m] in %d sweeps:\n%s\nwant the two events inside, not the ones before", from, res.Sweeps, got)
	}

	name := fmt.Sprintf("first-%d", time.Now().UnixNano())
	termRule := mustRule(t, "name: "+name+"\ntype: new_term\nfields: [user]\nuse_keyword_postfix: false\nindex: "+index+"\nrealert: {minutes: 0}\n")
	res, err = search.Backtest(ctx, termRule, from, from.Add(3*time.Minute), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := historySummary(res.Matches); len(res.Matches) != 2 || strings.Contains(got, "user=old") || res.Sweeps != 3 {
		t.Errorf("new_term in %d sweeps:\n%s\nwant new and late (old is seeded from before from) in 3 sweeps", res.Sweeps, got)
	}

	// Whatever a sweep keeps in OpenSearch under the rule's name (new_term's
	// known terms) is the live rule's: a backtest must leave it alone.
	res2, err := client.Count(client.Count.WithIndex("*"), client.Count.WithBody(strings.NewReader(fmt.Sprintf(`{"query":{"term":{"rule":%q}}}`, name))))
	var count struct{ Count int }
	mustDecode(t, res2, err, &count)
	if count.Count != 0 {
		t.Errorf("%d documents under the live rule's name %q after a backtest", count.Count, name)
	}

	if _, err := search.Backtest(ctx, anyRule, from, from, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "is not before") {
		t.Errorf("empty range: %v", err)
	}
}
