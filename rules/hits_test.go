package rules

import (
	"testing"
	"time"
)

// Documents a sweep fetched carry only the fields evaluation reads, not the
// filter fields; they already passed the filter in OpenSearch. EvaluateHits
// must match them, where Evaluate (which filters in Go) cannot.
func TestEvaluateHitsTrustsTheServerSideFilter(t *testing.T) {
	r, err := Parse("admin.yaml", []byte(`
name: admin from outside
type: any
index: uc-be-*
query_key: client_ip
filter:
  - query_string: {query: 'request.path:"/admin"'}
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	hit := Event{"@timestamp": t0.Add(30 * time.Second).Format(time.RFC3339), "client_ip": "203.0.113.9"}
	if fields := r.sourceFields(); contains(fields, "request.path") {
		t.Fatalf("_source %v now includes the filter field; this test no longer tests the fetched shape", fields)
	}
	ms, err := r.Evaluate(&State{}, []Event{hit}, t0, t0.Add(time.Minute))
	if err != nil || len(ms) != 0 {
		t.Fatalf("Evaluate on a fetched hit: %d matches, %v; want 0 (it lacks request.path)", len(ms), err)
	}
	ms, err = r.EvaluateHits(&State{}, []Event{hit}, t0, t0.Add(time.Minute))
	if err != nil || len(ms) != 1 || ms[0].Key != "203.0.113.9" {
		t.Fatalf("EvaluateHits: %+v, %v; want one match for 203.0.113.9", ms, err)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
