package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/internal/opensearch"
)

// TestOpenSearchAgreesWithEvaluate indexes events into a real node, runs the
// sweep request BuildSearch produces, and checks AggregationMatches gives the
// Go evaluator's matches for the counting types.
func TestOpenSearchAgreesWithEvaluate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := opensearch.MustStartShared(t)
	client, err := opensearch.NewClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const index = "irflow-test-rules-agree"
	do := func(res *opensearchapi.Response, err error, v any) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.IsError() {
			t.Fatalf("%s: %s", res.Status(), b)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, _ = client.Indices.Delete([]string{index}, client.Indices.Delete.WithIgnoreUnavailable(true))
	res, err := client.Indices.Create(index, client.Indices.Create.WithContext(ctx), client.Indices.Create.WithBody(strings.NewReader(`{
		"mappings": {"properties": {
			"@timestamp": {"type": "date"}, "client_ip": {"type": "keyword"}, "user": {"properties": {"name": {"type": "keyword"}}},
			"request": {"properties": {"path": {"type": "keyword"}}}, "response_time_ms": {"type": "double"}, "status": {"type": "integer"}}}
	}`)))
	do(res, err, nil)

	var events []Event
	var bulk strings.Builder
	add := func(e Event) {
		events = append(events, e)
		b, _ := json.Marshal(e)
		fmt.Fprintf(&bulk, "{\"index\":{\"_id\":\"%d\"}}\n%s\n", len(events), b)
	}
	// Inside the sweep (0, 5m]: a brute-force IP, a quiet IP, a slow route.
	for i := 0; i < 8; i++ {
		add(ev(time.Duration(i+1)*10*time.Second, "client_ip", "203.0.113.9", "user", map[string]any{"name": fmt.Sprintf("u%d", i)},
			"request", map[string]any{"path": "/login"}, "response_time_ms", 1200.0+float64(i), "status", 401))
	}
	for i := 0; i < 2; i++ {
		add(ev(time.Duration(i+1)*7*time.Second, "client_ip", "198.51.100.7", "user", map[string]any{"name": "alice"},
			"request", map[string]any{"path": "/home"}, "response_time_ms", 80.0, "status", 200))
	}
	// Outside the sweep: at the start (excluded) and after the end.
	add(ev(0, "client_ip", "203.0.113.9", "user", map[string]any{"name": "edge"}, "request", map[string]any{"path": "/login"}, "response_time_ms", 5000.0, "status", 500))
	add(ev(6*time.Minute, "client_ip", "198.51.100.7", "user", map[string]any{"name": "late"}, "request", map[string]any{"path": "/home"}, "response_time_ms", 9000.0, "status", 500))
	res, err = client.Bulk(strings.NewReader(bulk.String()), client.Bulk.WithIndex(index), client.Bulk.WithRefresh("true"))
	do(res, err, nil)

	start, end := ts(0), ts(5*time.Minute)
	rules := []string{
		"type: frequency\nnum_events: 8\ntimeframe: {minutes: 5}\nquery_key: client_ip\n",
		"type: cardinality\ncardinality_field: user.name\nmax_cardinality: 7\ntimeframe: {minutes: 5}\nquery_key: client_ip\n",
		"type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 1000\nquery_key: request.path\n",
		"type: percentage_match\nmax_percentage: 50\nmatch_bucket_filter:\n- range: {status: {gte: 400}}\n",
	}
	for _, y := range rules {
		r := MustParse(t, "name: agree\nindex: "+index+"\n"+quiet+y)
		t.Run(r.Type, func(t *testing.T) {
			s := r.BuildSearch(start, end, nil)
			body, _ := json.Marshal(s.Body)
			var resp map[string]any
			res, err := client.Search(client.Search.WithContext(ctx), client.Search.WithIndex(s.Index), client.Search.WithBody(strings.NewReader(string(body))))
			do(res, err, &resp)
			osSide, err := r.AggregationMatches(&State{}, resp, start, end)
			if err != nil {
				t.Fatal(err)
			}
			goSide, err := r.Evaluate(&State{}, events, start, end)
			if err != nil {
				t.Fatal(err)
			}
			g, o := summarize(goSide, r), summarize(osSide, r)
			if len(goSide) == 0 || g != o {
				t.Fatalf("Go evaluator %s\nOpenSearch    %s", g, o)
			}
		})
	}
}
