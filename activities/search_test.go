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
		{"metric_aggregation", "type: metric_aggregation\nmetric_agg_key: rt\nmetric_agg_type: avg\nmax_threshold: 1700\nmin_threshold: 800\nquery_key: ip\nrealert: {minutes: 0}\n", 1},
		{"percentage_match", "type: percentage_match\nmax_percentage: 40\nmin_denominator: 2\nquery_key: ip\nrealert: {minutes: 0}\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\n", 6},
		{"spike_aggregation", "type: spike_aggregation\nmetric_agg_key: rt\nmetric_agg_type: sum\nspike_height: 2\nspike_type: both\ntimeframe: {minutes: 2}\nquery_key: ip\nrealert: {minutes: 0}\n", 6},
	}
	for _, typ := range types {
		t.Run(typ.name, func(t *testing.T) {
			matched := 0
			for c := 0; c < cases; c++ {
				r := mustRule(t, fmt.Sprintf("name: prop\nindex: %s\nbuffer_time: {hours: 1}\nfilter:\n- term: {case: %d}\n%s", index, c, typ.yaml))
				span := 6 * time.Minute / time.Duration(typ.sweeps)
				goSt, osSt := &rules.State{LastRunEnd: base}, &rules.State{LastRunEnd: base}
				var goSide, osSide []string
				for s := 1; s <= typ.sweeps; s++ {
					start, end := base.Add(time.Duration(s-1)*span), base.Add(time.Duration(s)*span)
					ms, err := r.Evaluate(goSt, byCase[c], start, end)
					if err != nil {
						t.Fatal(err)
					}
					goSide = append(goSide, summary(r, s, ms)...)
					res, ms, err := search.Sweep(context.Background(), r, osSt, end)
					if err != nil {
						t.Fatal(err)
					}
					if !res.Start.Equal(start) || res.Queries != 1 {
						t.Fatalf("sweep %d covered (%s, %s] in %d queries, want (%s, %s] in 1", s, res.Start, res.End, res.Queries, start, end)
					}
					osSide = append(osSide, summary(r, s, ms)...)
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
