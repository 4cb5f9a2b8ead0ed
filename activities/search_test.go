package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/irflow/irflow/internal/testenv"
	"io"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

// mustIndex starts (or reuses) the shared node, creates a fresh index with
// mapping and bulk-loads events.
func mustIndex(t *testing.T, mapping string, events []rules.Event) (*opensearchgo.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	c, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	res, err := c.Indices.Create(index, c.Indices.Create.WithBody(strings.NewReader(`{"mappings":{"properties":`+mapping+`}}`)))
	mustOK(t, res, err)
	t.Cleanup(func() { _, _ = c.Indices.Delete([]string{index}) })
	for len(events) > 0 {
		n := min(len(events), 2000)
		var b strings.Builder
		for _, e := range events[:n] {
			doc, _ := json.Marshal(e)
			fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
		}
		res, err := c.Bulk(strings.NewReader(b.String()), c.Bulk.WithIndex(index), c.Bulk.WithRefresh("true"))
		mustOK(t, res, err)
		events = events[n:]
	}
	return c, index
}

func mustOK(t *testing.T, res *opensearchapi.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.IsError() || strings.Contains(string(b), `"errors":true`) {
		t.Fatalf("%s: %.500s", res.Status(), b)
	}
}

func mustRule(t *testing.T, y string) *rules.Rule {
	t.Helper()
	r, err := rules.Parse("rule.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// TestSweepAgreesWithEvaluateOnRandomEvents is a property test: on seeded
// random event sets, a sweep through the real node (aggregations pushed down
// to OpenSearch) gives the Go evaluator's matches for every counting type.
// frequency and cardinality run both as one sweep over the whole set and as
// six consecutive one-minute sweeps carrying state, as do the sweep-by-sweep
// types. Matches agree on sweep, key, time and the type's value.
func TestSweepAgreesWithEvaluateOnRandomEvents(t *testing.T) {
	const cases = 20
	rng := rand.New(rand.NewSource(20261122))
	byCase := make([][]rules.Event, cases)
	var all []rules.Event
	ips := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	for c := range byCase {
		n := 3 + rng.Intn(25)
		for i := 0; i < n; i++ {
			e := rules.Event{
				"@timestamp": base.Add(time.Duration(1+rng.Intn(360)) * time.Second).Format(time.RFC3339Nano),
				"case":       c,
				"ip":         ips[rng.Intn(len(ips))],
				"user":       fmt.Sprintf("u%d", rng.Intn(5)),
				"rt":         float64(rng.Intn(2500)),
				"status":     []int{200, 200, 200, 404, 500, 503}[rng.Intn(6)],
			}
			byCase[c] = append(byCase[c], e)
			all = append(all, e)
		}
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"case":{"type":"integer"},"ip":{"type":"keyword"},
		"user":{"type":"keyword"},"rt":{"type":"double"},"status":{"type":"integer"}}`, all)
	search := &activities.Search{Client: client}

	types := []struct {
		name, yaml string
		sweeps     int
	}{
		{"frequency", "type: frequency\nnum_events: 6\ntimeframe: {hours: 1}\nquery_key: ip\nrealert: {hours: 2}\n", 1},
		{"cardinality", "type: cardinality\ncardinality_field: user\nmax_cardinality: 3\ntimeframe: {hours: 1}\nquery_key: ip\nrealert: {hours: 2}\n", 1},
		// Spread over six one-minute sweeps, with windows short enough that
		// events leave them: state must carry each key's window across sweeps.
		{"frequency over sweeps", "type: frequency\nnum_events: 4\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 0}\n", 6},
		{"cardinality over sweeps", "type: cardinality\ncardinality_field: user\nmax_cardinality: 2\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 10}\n", 6},
		{"metric_aggregation", "type: metric_aggregation\nuse_run_every_query_size: true\nmetric_agg_key: rt\nmetric_agg_type: avg\nmax_threshold: 1700\nmin_threshold: 800\nquery_key: ip\nrealert: {minutes: 0}\n", 1},
		{"percentage_match", "type: percentage_match\nuse_run_every_query_size: true\nmax_percentage: 40\nmin_denominator: 2\nquery_key: ip\nrealert: {minutes: 0}\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\n", 6},
		{"spike_aggregation", "type: spike_aggregation\nuse_run_every_query_size: true\nmetric_agg_key: rt\nmetric_agg_type: sum\nspike_height: 2\nspike_type: both\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 0}\n", 6},
	}
	for _, typ := range types {
		t.Run(typ.name, func(t *testing.T) {
			matched := 0
			for c := 0; c < cases; c++ {
				r := mustRule(t, fmt.Sprintf("name: prop\nindex: %s\nbuffer_time: {hours: 1}\nfilter:\n- term: {case: %d}\n%s", index, c, typ.yaml))
				goSide, osSide, queries := sweepBoth(t, search, r, byCase[c], typ.sweeps)
				if queries != typ.sweeps {
					t.Fatalf("%d sweeps took %d queries, want one each", typ.sweeps, queries)
				}
				g, o := strings.Join(goSide, "; "), strings.Join(osSide, "; ")
				if g != o {
					t.Errorf("case %d (%d events):\nGo evaluator %s\nOpenSearch   %s", c, len(byCase[c]), g, o)
				}
				if len(goSide) > 0 {
					matched++
				}
			}
			// Random sets that never match would prove nothing.
			if matched == 0 || matched == cases {
				t.Errorf("%d of %d cases matched; want a mix", matched, cases)
			}
		})
	}
}

// sweepBoth runs the Go evaluator and the production sweep (Search.Sweep on
// the real node) over the same consecutive sweeps of the six minutes after
// base, carrying each side's state, and returns both sides' match
// summaries and the queries the sweeps sent.
func sweepBoth(t *testing.T, search *activities.Search, r *rules.Rule, events []rules.Event, sweeps int) (goSide, osSide []string, queries int) {
	t.Helper()
	span := 6 * time.Minute / time.Duration(sweeps)
	goSt, osSt := &rules.State{LastRunEnd: base}, &rules.State{LastRunEnd: base}
	for s := 1; s <= sweeps; s++ {
		start, end := base.Add(time.Duration(s-1)*span), base.Add(time.Duration(s)*span)
		ms, err := r.Evaluate(goSt, events, start, end)
		if err != nil {
			t.Fatal(err)
		}
		goSide = append(goSide, summary(r, s, ms)...)
		res, ms, err := search.Sweep(context.Background(), r, osSt, end)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Start.Equal(start) {
			t.Fatalf("sweep %d covered (%s, %s], want (%s, %s]", s, res.Start, res.End, start, end)
		}
		queries += res.Queries
		osSide = append(osSide, summary(r, s, ms)...)
	}
	return goSide, osSide, queries
}

// summary is what both sides must agree on: sweep, key and the type's value.
func summary(r *rules.Rule, sweep int, ms []rules.Match) []string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("sweep %d key %s at %s", sweep, m.Key, m.Time.Format(time.RFC3339Nano))
		for _, f := range []string{"num_hits", "cardinality", "metric_agg_value", "percentage", "denominator", "spike_count", "reference_count"} {
			if v, ok := m.Fields[f]; ok {
				if x, ok := v.(float64); ok {
					v = math.Round(x*1000) / 1000
				}
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestSweepPagesDocuments checks a document-fetching rule reads every page.
func TestSweepPagesDocuments(t *testing.T) {
	var events []rules.Event
	for i := 0; i < 2*rules.PageSize+500; i++ {
		events = append(events, rules.Event{"@timestamp": base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano), "level": "error"})
	}
	// Every tenth timestamp is shared by two documents: search_after must
	// break the tie on _id rather than skip or repeat.
	for i := 0; i < len(events); i += 10 {
		events = append(events, rules.Event{"@timestamp": events[i]["@timestamp"], "level": "error"})
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"level":{"type":"keyword"}}`, events)
	r := mustRule(t, fmt.Sprintf("name: errors\ntype: any\nindex: %s\nrealert: {minutes: 0}\nfilter:\n- term: {level: error}\n", index))
	st := &rules.State{LastRunEnd: base.Add(-time.Second)}
	res, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, st, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(events) || res.Docs != len(events) || res.Queries != 3 || res.Bytes == 0 {
		t.Fatalf("%d matches, %d docs, %d queries, %d bytes; want %d matches and docs in 3 queries",
			len(ms), res.Docs, res.Queries, res.Bytes, len(events))
	}
	if !st.LastRunEnd.Equal(base.Add(time.Minute)) {
		t.Errorf("state last run end = %s", st.LastRunEnd)
	}
}

// TestSweepSeesEveryKeyOnRandomEvents is the property test at real
// cardinality: each case has 60 to 140 keys, so a terms aggregation of the
// default 50 would miss some, and the sweep pages through them 16 at a time.
// Every counting type must give the Go evaluator's matches (sweep, key, time
// and value) over six consecutive sweeps carrying state.
func TestSweepSeesEveryKeyOnRandomEvents(t *testing.T) {
	const cases = 6
	rng := rand.New(rand.NewSource(20261201))
	byCase := make([][]rules.Event, cases)
	var all []rules.Event
	for c := range byCase {
		keys := 60 + rng.Intn(81)
		for k := 0; k < keys; k++ {
			// Most keys are quiet, a few are busy, so every type has
			// something to find and something to ignore.
			n := 1 + rng.Intn(4)
			if rng.Intn(8) == 0 {
				n = 8 + rng.Intn(30)
			}
			burst := rng.Intn(300)
			for i := 0; i < n; i++ {
				at := 1 + rng.Intn(360)
				if i%2 == 0 {
					at = 1 + (burst+rng.Intn(40))%360
				}
				e := rules.Event{
					"@timestamp": base.Add(time.Duration(at) * time.Second).Format(time.RFC3339Nano),
					"case":       c,
					"ip":         fmt.Sprintf("10.%d.%d.%d", c, k/200, k%200),
					"user":       fmt.Sprintf("u%d", rng.Intn(6)),
					"rt":         float64(rng.Intn(2500)),
					"status":     []int{200, 200, 200, 404, 500, 503}[rng.Intn(6)],
				}
				byCase[c] = append(byCase[c], e)
				all = append(all, e)
			}
		}
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"case":{"type":"integer"},"ip":{"type":"keyword"},
		"user":{"type":"keyword"},"rt":{"type":"double"},"status":{"type":"integer"}}`, all)
	search := &activities.Search{Client: client, KeysPerPage: 16}
	types := []struct{ name, yaml string }{
		{"frequency", "type: frequency\nnum_events: 20\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 0}\n"},
		// Busy keys hold more than 2×num_events events a sweep: only the
		// first and last num_events are listed, and a realert of one
		// run_every lets one match a key a sweep through.
		{"frequency busy keys", "type: frequency\nnum_events: 6\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 1}\n"},
		{"flatline", "type: flatline\nthreshold: 2\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 0}\n"},
		{"spike", "type: spike\nspike_height: 3\nspike_type: up\nthreshold_cur: 3\ntimeframe: {minutes: 1}\nquery_key: ip\nrealert: {minutes: 0}\n"},
		{"cardinality", "type: cardinality\ncardinality_field: user\nmax_cardinality: 3\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 10}\n"},
		{"metric_aggregation", "type: metric_aggregation\nuse_run_every_query_size: true\nmetric_agg_key: rt\nmetric_agg_type: max\nmax_threshold: 2400\nquery_key: ip\nrealert: {minutes: 0}\n"},
		{"percentage_match", "type: percentage_match\nuse_run_every_query_size: true\nmax_percentage: 60\nmin_denominator: 3\nquery_key: ip\nrealert: {minutes: 0}\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\n"},
		{"spike_aggregation", "type: spike_aggregation\nuse_run_every_query_size: true\nmetric_agg_key: rt\nmetric_agg_type: sum\nspike_height: 4\nspike_type: up\ntimeframe: {minutes: 1}\nquery_key: ip\nrealert: {minutes: 0}\n"},
	}
	for _, typ := range types {
		t.Run(typ.name, func(t *testing.T) {
			matched := 0
			for c := 0; c < cases; c++ {
				r := mustRule(t, fmt.Sprintf("name: prop\nindex: %s\nbuffer_time: {hours: 1}\nfilter:\n- term: {case: %d}\n%s", index, c, typ.yaml))
				goSide, osSide, pages := sweepBoth(t, search, r, byCase[c], 6)
				if pages <= 6*2 {
					t.Errorf("case %d: %d queries over 6 sweeps; want several pages a sweep", c, pages)
				}
				if g, o := strings.Join(goSide, "\n"), strings.Join(osSide, "\n"); g != o {
					t.Errorf("case %d (%d events):\nGo evaluator\n%s\nOpenSearch\n%s", c, len(byCase[c]), g, o)
				}
				matched += len(goSide)
			}
			if matched == 0 {
				t.Errorf("no case matched; the property proves nothing")
			}
		})
	}
}

// TestSweepStrftimeIndex: a use_strftime_index rule reads the daily index
// of each day its window touches, and a day whose index does not exist yet
// holds no events instead of failing the sweep, as in ElastAlert2.
func TestSweepStrftimeIndex(t *testing.T) {
	midnight := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	var events []rules.Event
	for i := 0; i < 4; i++ {
		events = append(events, rules.Event{"@timestamp": midnight.Add(-time.Duration(i+1) * time.Minute).Format(time.RFC3339Nano), "ip": "203.0.113.9"})
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"ip":{"type":"keyword"}}`, events)
	// Rename the index after the day of the events (2024-03-01): the rule's
	// pattern names it, and the next day's index does not exist.
	daily := index + "-2024.03.01"
	res, err := client.Indices.PutAlias([]string{index}, daily)
	mustOK(t, res, err)
	for _, y := range []string{
		"type: frequency\nnum_events: 4\ntimeframe: {minutes: 10}\nquery_key: ip\n",
		"type: any\n",
	} {
		r := mustRule(t, "name: daily\nindex: "+index+"-%Y.%m.%d\nuse_strftime_index: true\nrealert: {minutes: 0}\n"+y)
		// (23:55, 00:05]: two daily indices, the second missing.
		st := &rules.State{LastRunEnd: midnight.Add(-5 * time.Minute)}
		_, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, st, midnight.Add(5*time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", r.Type, err)
		}
		want := map[string]int{rules.TypeFrequency: 1, rules.TypeAny: 4}[r.Type]
		if len(ms) != want {
			t.Errorf("%s: %d matches, want %d", r.Type, len(ms), want)
		}
	}
	// A pattern that matches no index at all is an empty sweep too.
	r := mustRule(t, "name: none\nindex: "+index+"-nothing-*\ntype: frequency\nnum_events: 1\ntimeframe: {minutes: 10}\nquery_key: ip\n")
	if _, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, &rules.State{}, base); err != nil || len(ms) != 0 {
		t.Errorf("no index: %d matches, %v", len(ms), err)
	}
}

// TestSweepCatchesLateDocuments: a document indexed after the sweep that
// covered its timestamp (a slow shipper, a Firehose retry) is still
// evaluated, once, by the next sweep within buffer_time, as ElastAlert2's
// buffer re-query does; documents already processed are not matched again.
func TestSweepCatchesLateDocuments(t *testing.T) {
	doc := func(d time.Duration, msg string) rules.Event {
		return rules.Event{"@timestamp": base.Add(d).Format(time.RFC3339Nano), "level": "error", "msg": msg}
	}
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"level":{"type":"keyword"},"msg":{"type":"keyword"}}`,
		[]rules.Event{doc(10*time.Second, "on time")})
	r := mustRule(t, fmt.Sprintf("name: errors\ntype: any\nindex: %s\nrealert: {minutes: 0}\nbuffer_time: {minutes: 5}\ninclude: [msg]\nfilter:\n- term: {level: error}\n", index))
	search := &activities.Search{Client: client}
	st := &rules.State{}
	sweep := func(end time.Duration) []string {
		t.Helper()
		next, _ := roundTripState(t, *st)
		st = &next
		res, ms, err := search.Sweep(context.Background(), r, st, base.Add(end))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprint(m.Fields["msg"]))
		}
		sort.Strings(out)
		return append(out, fmt.Sprintf("late=%d", res.Late))
	}
	if got := fmt.Sprint(sweep(time.Minute)); got != "[on time late=0]" {
		t.Fatalf("first sweep: %s", got)
	}
	// Indexed now, stamped inside the first sweep's window; plus one on time.
	indexDocs(t, client, index, doc(30*time.Second, "late"), doc(90*time.Second, "second"))
	if got := fmt.Sprint(sweep(2 * time.Minute)); got != "[late second late=1]" {
		t.Fatalf("second sweep: %s", got)
	}
	if got := fmt.Sprint(sweep(3 * time.Minute)); got != "[late=0]" {
		t.Fatalf("third sweep matched again: %s", got)
	}
	// Later than buffer_time is too late, as in ElastAlert2.
	indexDocs(t, client, index, doc(20*time.Second, "too late"))
	if got := fmt.Sprint(sweep(8 * time.Minute)); got != "[late=0]" {
		t.Fatalf("past buffer_time: %s", got)
	}
	// A state recorded before late documents were tracked (no processed
	// list) does not re-read what its sweeps covered.
	old := &rules.State{LastRunEnd: base.Add(time.Minute)}
	if _, ms, err := search.Sweep(context.Background(), r, old, base.Add(2*time.Minute)); err != nil || len(ms) != 1 {
		t.Fatalf("old state: %d matches (%v), want only the 1:30 document", len(ms), err)
	}
}

func indexDocs(t *testing.T, c *opensearchgo.Client, index string, events ...rules.Event) {
	t.Helper()
	var b strings.Builder
	for _, e := range events {
		doc, _ := json.Marshal(e)
		fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
	}
	res, err := c.Bulk(strings.NewReader(b.String()), c.Bulk.WithIndex(index), c.Bulk.WithRefresh("true"))
	mustOK(t, res, err)
}

// TestSweepTopCountKeys: a match carries top_events_<field> from the real
// node (with raw_count_keys counting the ".keyword" sub-field of a dynamic
// mapping, as ElastAlert2 does), equal to the NDJSON backtest's, and the
// alert text lists them most frequent first.
func TestSweepTopCountKeys(t *testing.T) {
	var events []rules.Event
	users := []string{"root", "root", "root", "admin", "admin", "bob", "carol", "dave", "erin"}
	for i, u := range users {
		events = append(events, rules.Event{"@timestamp": base.Add(time.Duration(i+1) * 5 * time.Second).Format(time.RFC3339Nano),
			"ip": "203.0.113.9", "user": u, "path": fmt.Sprintf("/p%d", i%2)})
	}
	events = append(events, rules.Event{"@timestamp": base.Add(20 * time.Second).Format(time.RFC3339Nano), "ip": "198.51.100.7", "user": "root", "path": "/p0"})
	// No mapping for user or path: dynamic mapping makes text + .keyword.
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"ip":{"type":"keyword"}}`, events)
	r := mustRule(t, "name: brute\nindex: "+index+"\ntype: frequency\nnum_events: 9\ntimeframe: {minutes: 5}\nquery_key: ip\n"+
		"top_count_keys: [user, path]\ntop_count_number: 3\nalert_text: brute force\n")
	st := &rules.State{LastRunEnd: base}
	_, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, st, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%d matches, want 1", len(ms))
	}
	want := "map[top_events_path:map[/p0:5 /p1:4] top_events_user:map[admin:2 bob:1 root:3]]"
	got := fmt.Sprint(map[string]any{"top_events_user": ms[0].Fields["top_events_user"], "top_events_path": ms[0].Fields["top_events_path"]})
	if got != want {
		t.Errorf("sweep top counts %s\nwant %s", got, want)
	}
	bt, err := rules.Backtest(r, events, time.Minute)
	if err != nil || len(bt.Matches) != 1 {
		t.Fatalf("backtest: %v, %d matches", err, len(bt.Matches))
	}
	if b := fmt.Sprint(map[string]any{"top_events_user": bt.Matches[0].Fields["top_events_user"], "top_events_path": bt.Matches[0].Fields["top_events_path"]}); b != got {
		t.Errorf("backtest top counts %s, sweep %s", b, got)
	}
	if _, text := r.Render(ms[0]); text != "brute force\n\nuser:\nroot: 3\nadmin: 2\nbob: 1\n\npath:\n/p0: 5\n/p1: 4" {
		t.Errorf("alert text %q", text)
	}
}
