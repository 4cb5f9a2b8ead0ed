package rules

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// dig walks decoded JSON by keys and slice indexes.
func dig(tb testing.TB, v any, path ...any) any {
	tb.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				tb.Fatalf("at %q: not an object: %v", k, v)
			}
			v, ok = m[k]
			if !ok {
				tb.Fatalf("missing %q in %v", k, m)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				tb.Fatalf("at [%d]: not a long enough list: %v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

// asJSON normalizes a body through JSON so tests see what OpenSearch sees.
func asJSON(tb testing.TB, v any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestBuildSearchDocuments(t *testing.T) {
	r := MustParse(t, `
name: waf change
type: change
index: waf-logs-*
query_key: httpRequest.clientIp
compare_key: httpRequest.country
ignore_null: true
alert_text_args: [terminatingRuleId]
filter:
- term: {action: BLOCK}
`)
	start, end := ts(0), ts(time.Minute)
	s := r.BuildSearch(start, end, nil)
	body := asJSON(t, s.Body)
	if !s.Docs || s.Index != "waf-logs-*" {
		t.Fatalf("search = docs %v index %q", s.Docs, s.Index)
	}
	rng := dig(t, body, "query", "bool", "filter", 0, "range", "@timestamp")
	if fmt.Sprint(rng) != "map[format:strict_date_optional_time gt:2014-09-26T12:00:00.000000000Z lte:2014-09-26T12:01:00.000000000Z]" {
		t.Fatalf("range = %v", rng)
	}
	if got := dig(t, body, "query", "bool", "filter", 1); fmt.Sprint(got) != "map[term:map[action:BLOCK]]" {
		t.Fatalf("rule filter not passed through: %v", got)
	}
	if got := fmt.Sprint(body["_source"]); got != "[@timestamp httpRequest.clientIp httpRequest.country terminatingRuleId]" {
		t.Fatalf("_source = %s", got)
	}
	if got := fmt.Sprint(body["sort"]); got != "[map[@timestamp:map[order:asc]] map[_id:map[order:asc]]]" {
		t.Fatalf("sort = %s", got)
	}
	if _, ok := body["search_after"]; ok {
		t.Fatal("first page has search_after")
	}
	next := asJSON(t, r.BuildSearch(start, end, []any{1411732800000.0, "abc"}).Body)
	if fmt.Sprint(next["search_after"]) != "[1.4117328e+12 abc]" {
		t.Fatalf("search_after = %v", next["search_after"])
	}
}

func TestBuildSearchAggregations(t *testing.T) {
	start, end := ts(0), ts(5*time.Minute)
	tests := []struct {
		name string
		rule string
		// path to the leaf aggregation and what must be there
		path []any
		want string
	}{
		{"frequency by namespace pages every key", "type: frequency\nnum_events: 5\ntimeframe: {minutes: 5}\nquery_key: kubernetes.namespace_name\n",
			[]any{"aggs", "keys", "composite"}, "map[size:1000 sources:[map[k0:map[terms:map[field:kubernetes.namespace_name]]]]]"},
		{"frequency lists the first num_events times", "type: frequency\nnum_events: 5\ntimeframe: {minutes: 5}\n",
			[]any{"aggs", "all", "aggs", "first", "terms"}, "map[field:@timestamp order:map[_key:asc] size:5]"},
		{"compound key: one source per field", "type: frequency\nnum_events: 5\ntimeframe: {minutes: 5}\nquery_key: [a, b]\n",
			[]any{"aggs", "keys", "composite", "sources", 1}, "map[k1:map[terms:map[field:b]]]"},
		{"cardinality", "type: cardinality\ntimeframe: {minutes: 5}\ncardinality_field: user.name\nmax_cardinality: 3\nquery_key: client_ip\n",
			[]any{"aggs", "keys", "aggs", "values", "terms"}, "map[field:user.name order:map[last:desc] size:4]"},
		{"cardinality pages stay under max_buckets", "type: cardinality\ntimeframe: {minutes: 5}\ncardinality_field: user.name\nmax_cardinality: 99\nquery_key: client_ip\n",
			[]any{"aggs", "keys", "composite", "size"}, "99"},
		{"spike lists the last 50 times", "type: spike\nspike_height: 2\nspike_type: up\ntimeframe: {minutes: 5}\nquery_key: client_ip\n",
			[]any{"aggs", "keys", "aggs", "last", "terms", "size"}, "50"},
		{"metric", "type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 1000\n",
			[]any{"aggs", "all", "aggs", "metric_response_time_ms_avg", "avg"}, "map[field:response_time_ms]"},
		{"percentage", "type: percentage_match\nmax_percentage: 5\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\n",
			[]any{"aggs", "all", "aggs", "percentage_match_aggs", "filters"},
			"map[filters:map[match_bucket:map[bool:map[must:[map[range:map[status:map[gte:500]]]]]]] other_bucket_key:_other_]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustParse(t, "name: x\nindex: uc-be-*\n"+tt.rule)
			s := r.BuildSearch(start, end, nil)
			body := asJSON(t, s.Body)
			if s.Docs || body["size"] != 0.0 || body["_source"] != nil {
				t.Fatalf("counting rule fetches documents: %v", body)
			}
			if got := fmt.Sprint(dig(t, body, tt.path...)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if got := fmt.Sprint(dig(t, body, "query", "bool", "filter", 0, "range", "@timestamp", "gt")); got != "2014-09-26T12:00:00.000000000Z" {
				t.Fatalf("range start %s", got)
			}
		})
	}
}

func TestTimestampTypesInRange(t *testing.T) {
	r := MustParse(t, "name: x\nindex: i\ntype: any\ntimestamp_type: unix_ms\ntimestamp_field: ts\n")
	body := asJSON(t, r.BuildSearch(ts(0), ts(time.Second), nil).Body)
	rng := dig(t, body, "query", "bool", "filter", 0, "range", "ts")
	if fmt.Sprint(rng) != "map[gt:1.4117328e+12 lte:1.411732801e+12]" {
		t.Fatalf("range = %v", rng)
	}
}

func decodeJSON(tb testing.TB, s string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// The aggregation path must agree with the Go evaluator. The responses are
// what OpenSearch returns for the events below.
func TestAggregationMatchesAgreeWithEvaluate(t *testing.T) {
	start, end := ts(0), ts(time.Minute)
	metric := MustParse(t, "name: m\ntype: metric_aggregation\nindex: i\n"+quiet+"metric_agg_key: ms\nmetric_agg_type: avg\nmax_threshold: 1000\nquery_key: path\n")
	pct := MustParse(t, "name: p\ntype: percentage_match\nindex: i\n"+quiet+"max_percentage: 25\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\nquery_key: path\n")
	freq := MustParse(t, "name: f\ntype: frequency\nindex: i\n"+quiet+"num_events: 3\ntimeframe: {minutes: 5}\nquery_key: path\n")
	events := []Event{
		ev(time.Second, "path", "/login", "ms", 1500.0, "status", 500),
		ev(2*time.Second, "path", "/login", "ms", 900.0, "status", 200),
		ev(3*time.Second, "path", "/login", "ms", 1200.0, "status", 503),
		ev(4*time.Second, "path", "/home", "ms", 100.0, "status", 200),
		ev(5*time.Second, "path", "/home", "ms", 300.0, "status", 200),
	}
	tests := []struct {
		rule *Rule
		resp string
	}{
		{metric, `{"aggregations": {"keys": {"after_key": {"k0": "/login"}, "buckets": [
			{"key": {"k0": "/home"}, "doc_count": 2, "metric_ms_avg": {"value": 200}},
			{"key": {"k0": "/login"}, "doc_count": 3, "metric_ms_avg": {"value": 1200}}]}}}`},
		{pct, `{"aggregations": {"keys": {"buckets": [
			{"key": {"k0": "/home"}, "doc_count": 2, "percentage_match_aggs": {"buckets": {"match_bucket": {"doc_count": 0}, "_other_": {"doc_count": 2}}}},
			{"key": {"k0": "/login"}, "doc_count": 3, "percentage_match_aggs": {"buckets": {"match_bucket": {"doc_count": 2}, "_other_": {"doc_count": 1}}}}]}}}`},
		{freq, `{"aggregations": {"keys": {"buckets": [
			{"key": {"k0": "/home"}, "doc_count": 2,
				"first": {"buckets": [{"key": 1411732804000, "doc_count": 1}, {"key": 1411732805000, "doc_count": 1}]},
				"last": {"buckets": [{"key": 1411732805000, "doc_count": 1}, {"key": 1411732804000, "doc_count": 1}]}},
			{"key": {"k0": "/login"}, "doc_count": 3,
				"first": {"buckets": [{"key": 1411732801000, "doc_count": 1}, {"key": 1411732802000, "doc_count": 1}, {"key": 1411732803000, "doc_count": 1}]},
				"last": {"buckets": [{"key": 1411732803000, "doc_count": 1}, {"key": 1411732802000, "doc_count": 1}, {"key": 1411732801000, "doc_count": 1}]}}]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.rule.Type, func(t *testing.T) {
			goSide, err := tt.rule.Evaluate(&State{}, events, start, end)
			if err != nil {
				t.Fatal(err)
			}
			osSide, err := tt.rule.AggregationMatches(&State{}, decodeJSON(t, tt.resp), start, end)
			if err != nil {
				t.Fatal(err)
			}
			g, o := summarize(goSide, tt.rule), summarize(osSide, tt.rule)
			if len(goSide) == 0 || g != o {
				t.Fatalf("Go evaluator %s\nOpenSearch    %s", g, o)
			}
		})
	}
}

// summarize prints the fields a user sees for each match, ignoring the
// document body (OpenSearch-side counting has no document).
func summarize(ms []Match, r *Rule) string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("%s@%s", m.Key, m.Time.Format(time.RFC3339))
		for _, f := range []string{"num_hits", "percentage", "denominator", "metric_agg_value", r.metricKey(), "cardinality"} {
			if v, ok := m.Fields[f]; ok {
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}
