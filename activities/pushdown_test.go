package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/rules"
)

// TestOpenSearchAgreesWithEvaluate indexes events into a real node, runs the
// sweep request BuildSearch produces, and checks AggregationMatches gives the
// Go evaluator's matches for the counting types.
func TestOpenSearchAgreesWithEvaluate(t *testing.T) {
	at := func(d time.Duration, kv ...any) rules.Event {
		e := rules.Event{"@timestamp": base.Add(d).Format(time.RFC3339Nano)}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i].(string)] = kv[i+1]
		}
		return e
	}
	var events []rules.Event
	// Inside the sweep (0, 5m]: a brute-force IP, a quiet IP, a slow route.
	for i := 0; i < 8; i++ {
		events = append(events, at(time.Duration(i+1)*10*time.Second, "client_ip", "203.0.113.9", "user", map[string]any{"name": fmt.Sprintf("u%d", i)},
			"request", map[string]any{"path": "/login"}, "response_time_ms", 1200.0+float64(i), "status", 401))
	}
	for i := 0; i < 2; i++ {
		events = append(events, at(time.Duration(i+1)*7*time.Second, "client_ip", "198.51.100.7", "user", map[string]any{"name": "alice"},
			"request", map[string]any{"path": "/home"}, "response_time_ms", 80.0, "status", 200))
	}
	// Outside the sweep: at the start (excluded) and after the end.
	events = append(events,
		at(0, "client_ip", "203.0.113.9", "user", map[string]any{"name": "edge"}, "request", map[string]any{"path": "/login"}, "response_time_ms", 5000.0, "status", 500),
		at(6*time.Minute, "client_ip", "198.51.100.7", "user", map[string]any{"name": "late"}, "request", map[string]any{"path": "/home"}, "response_time_ms", 9000.0, "status", 500))
	client, index := mustIndex(t, `{"@timestamp": {"type": "date"}, "client_ip": {"type": "keyword"}, "user": {"properties": {"name": {"type": "keyword"}}},
		"request": {"properties": {"path": {"type": "keyword"}}}, "response_time_ms": {"type": "double"}, "status": {"type": "integer"}}`, events)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	start, end := base, base.Add(5*time.Minute)
	for _, y := range []string{
		"type: frequency\nnum_events: 8\ntimeframe: {minutes: 5}\nquery_key: client_ip\n",
		"type: cardinality\ncardinality_field: user.name\nmax_cardinality: 7\ntimeframe: {minutes: 5}\nquery_key: client_ip\n",
		"type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 1000\nquery_key: request.path\n",
		"type: percentage_match\nmax_percentage: 50\nmatch_bucket_filter:\n- range: {status: {gte: 400}}\n",
	} {
		r := mustRule(t, "name: agree\nindex: "+index+"\nrealert: {minutes: 0}\n"+y)
		t.Run(r.Type, func(t *testing.T) {
			s := r.BuildSearch(start, end, nil)
			body, _ := json.Marshal(s.Body)
			res, err := client.Search(client.Search.WithContext(ctx), client.Search.WithIndex(s.Index), client.Search.WithBody(strings.NewReader(string(body))))
			var resp map[string]any
			mustDecode(t, res, err, &resp)
			osSide, err := r.AggregationMatches(&rules.State{}, resp, start, end)
			if err != nil {
				t.Fatal(err)
			}
			goSide, err := r.Evaluate(&rules.State{}, events, start, end)
			if err != nil {
				t.Fatal(err)
			}
			g, o := summarizeMatches(goSide), summarizeMatches(osSide)
			if len(goSide) == 0 || g != o {
				t.Fatalf("Go evaluator %s\nOpenSearch    %s", g, o)
			}
		})
	}
}

// summarizeMatches prints the fields a user sees for each match, ignoring
// the document body (OpenSearch-side counting has no document).
func summarizeMatches(ms []rules.Match) string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("%s@%s", m.Key, m.Time.Format(time.RFC3339))
		for _, f := range []string{"num_hits", "percentage", "denominator", "metric_agg_value", "metric_response_time_ms_avg", "cardinality"} {
			if v, ok := m.Fields[f]; ok {
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

func mustDecode(t *testing.T, res *opensearchapi.Response, err error, v any) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.IsError() {
		t.Fatalf("%s: %.500s", res.Status(), b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
