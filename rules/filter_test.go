package rules

import (
	"encoding/json"
	"testing"
)

func TestFilters(t *testing.T) {
	var doc Event
	if err := json.Unmarshal([]byte(`{
		"@timestamp": "2026-11-22T10:00:00Z",
		"status": 503, "log": {"level": "ERROR"}, "kubernetes.namespace_name": "shop",
		"message": "upstream connect error: Connection refused",
		"request": {"path": "/api/v1/login", "method": "POST"},
		"response_time_ms": 1250.5,
		"action": "BLOCK",
		"labels": [{"name": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"}],
		"tags": ["edge", "eu"]
	}`), &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query string
		want  bool
	}{
		{"term number", `{"term": {"status": 503}}`, true},
		{"term number as string", `{"term": {"status": "503"}}`, true},
		{"term miss", `{"term": {"status": 500}}`, false},
		{"term nested", `{"term": {"log.level": "ERROR"}}`, true},
		{"term dotted key", `{"term": {"kubernetes.namespace_name": "shop"}}`, true},
		{"term value form", `{"term": {"request.method": {"value": "POST"}}}`, true},
		{"term array element", `{"term": {"tags": "eu"}}`, true},
		{"terms", `{"terms": {"status": [500, 502, 503]}}`, true},
		{"terms miss", `{"terms": {"status": [500, 502]}}`, false},
		{"range", `{"range": {"status": {"gte": 500, "lt": 600}}}`, true},
		{"range excl", `{"range": {"status": {"gt": 503}}}`, false},
		{"range float", `{"range": {"response_time_ms": {"gt": 1000}}}`, true},
		{"range date", `{"range": {"@timestamp": {"gte": "2026-11-22T09:00:00Z", "lte": "2026-11-22T10:00:00Z"}}}`, true},
		{"range date miss", `{"range": {"@timestamp": {"gt": "2026-11-22T10:00:00Z"}}}`, false},
		{"exists", `{"exists": {"field": "request.path"}}`, true},
		{"exists miss", `{"exists": {"field": "user.name"}}`, false},
		{"wildcard", `{"wildcard": {"request.path": "/api/*/login"}}`, true},
		{"wildcard ?", `{"wildcard": {"request.path": "/api/v?/log*"}}`, true},
		{"wildcard array of objects", `{"wildcard": {"labels.name": "awswaf:managed:aws:core-rule-set:*"}}`, true},
		{"match_phrase", `{"match_phrase": {"message": "connection refused"}}`, true},
		{"match_phrase order", `{"match_phrase": {"message": "refused connection"}}`, false},
		{"bool must/must_not", `{"bool": {"must": [{"term": {"status": 503}}], "must_not": [{"term": {"action": "ALLOW"}}]}}`, true},
		{"bool should", `{"bool": {"should": [{"term": {"status": 500}}, {"term": {"status": 503}}]}}`, true},
		{"bool should none", `{"bool": {"should": [{"term": {"status": 500}}, {"term": {"status": 502}}]}}`, false},
		{"bool filter", `{"bool": {"filter": {"term": {"action": "BLOCK"}}}}`, true},
		{"old query wrapper", `{"query": {"query_string": {"query": "status:503"}}}`, true},
		{"qs field", `{"query_string": {"query": "status:503"}}`, true},
		{"qs and", `{"query_string": {"query": "status:503 AND log.level:error"}}`, true},
		{"qs and miss", `{"query_string": {"query": "status:503 AND log.level:warn"}}`, false},
		{"qs or", `{"query_string": {"query": "status:500 OR status:503"}}`, true},
		{"qs implicit or", `{"query_string": {"query": "status:500 status:503"}}`, true},
		{"qs not", `{"query_string": {"query": "NOT action:ALLOW"}}`, true},
		{"qs minus", `{"query_string": {"query": "status:503 -action:BLOCK"}}`, true},
		{"qs and not", `{"query_string": {"query": "status:503 AND NOT action:BLOCK"}}`, false},
		{"qs parens", `{"query_string": {"query": "(status:500 OR status:503) AND request.method:POST"}}`, true},
		{"qs field group", `{"query_string": {"query": "status:(500 OR 503)"}}`, true},
		{"qs phrase", `{"query_string": {"query": "message:\"connection refused\""}}`, true},
		{"qs phrase miss", `{"query_string": {"query": "message:\"connection reset\""}}`, false},
		{"qs word in text", `{"query_string": {"query": "message:upstream"}}`, true},
		{"qs wildcard", `{"query_string": {"query": "request.path:\\/api\\/*"}}`, true},
		{"qs range", `{"query_string": {"query": "status:[500 TO 599]"}}`, true},
		{"qs range excl", `{"query_string": {"query": "status:{400 TO 503}"}}`, false},
		{"qs range open", `{"query_string": {"query": "response_time_ms:[1000 TO *]"}}`, true},
		{"qs compare", `{"query_string": {"query": "response_time_ms:>1000"}}`, true},
		{"qs compare miss", `{"query_string": {"query": "status:<500"}}`, false},
		{"qs exists", `{"query_string": {"query": "_exists_:request.path"}}`, true},
		{"qs bare term", `{"query_string": {"query": "refused"}}`, true},
		{"qs bare miss", `{"query_string": {"query": "timeout"}}`, false},
		{"qs escaped colon", `{"query_string": {"query": "labels.name:awswaf\\:managed\\:aws\\:core-rule-set\\:CrossSiteScripting_Body"}}`, true},
		{"qs escaped colon wildcard", `{"query_string": {"query": "labels.name:awswaf\\:managed\\:aws\\:core-rule-set*"}}`, true},
		{"qs default field", `{"query_string": {"query": "login", "default_field": "request.path"}}`, true},
		{"qs case insensitive", `{"query_string": {"query": "action:block"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q map[string]any
			if err := json.Unmarshal([]byte(tt.query), &q); err != nil {
				t.Fatal(err)
			}
			f, err := CompileFilter(q)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(doc); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct{ query, want string }{
		{`{"term": {"a": 1}, "range": {"b": {"gt": 1}}}`, "query must have exactly one type, got 2 (range, term)"},
		{`{"range": {"a": {"above": 1}}}`, `range: unknown operator "above" (want gt, gte, lt, lte)`},
		{`{"range": {"@timestamp": {"gte": "now-5m"}}}`, `range: date math "now-5m" is not supported`},
		{`{"bool": {"musts": []}}`, `bool: unknown clause "musts"`},
		{`{"query_string": {"query": "a:\"open"}}`, "query_string: unterminated phrase at offset 2"},
		{`{"query_string": {"query": "a AND"}}`, "query_string: unexpected end of query"},
		{`{"query_string": {"query": "status:[1 TO]"}}`, "query_string: range [1 TO]: want [low TO high]"},
		{`{"exists": {"name": "a"}}`, "exists: field must be a string"},
	}
	for _, tt := range tests {
		var q map[string]any
		if err := json.Unmarshal([]byte(tt.query), &q); err != nil {
			t.Fatal(err)
		}
		_, err := CompileFilter(q)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.query, err, tt.want)
		}
	}
}
