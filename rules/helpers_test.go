package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// MustParse parses inline rule YAML or fails the test.
func MustParse(tb testing.TB, y string) *Rule {
	tb.Helper()
	r, err := Parse("rule.yaml", []byte(strings.TrimLeft(y, "\n")))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return r
}

var t0 = time.Date(2014, 9, 26, 12, 0, 0, 0, time.UTC)

func ts(d time.Duration) time.Time { return t0.Add(d) }

// hits makes n events one second apart from t0, like ElastAlert2's tests.
func hits(n int, kv ...any) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = ev(time.Duration(i)*time.Second, kv...)
	}
	return out
}

func ev(at time.Duration, kv ...any) Event {
	e := Event{"@timestamp": t0.Add(at).Format(time.RFC3339Nano)}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

// run evaluates events in one sweep covering all of them.
func run(tb testing.TB, r *Rule, st *State, events []Event, end time.Time) []Match {
	tb.Helper()
	ms, err := r.Evaluate(st, events, t0.Add(-time.Hour), end)
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// roundTrip passes state through JSON as a workflow would.
func roundTrip(tb testing.TB, st *State) *State {
	tb.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		tb.Fatal(err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return &out
}

func fieldOf(m Match, name string) string { return fmt.Sprint(m.Fields[name]) }
