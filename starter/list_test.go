package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/workflows"
)

// incident list takes the console's filters: category, service and a time
// range (RFC 3339 or an age), all on search attributes.
func TestCLIListFilters(t *testing.T) {
	rule := fmt.Sprintf("list-filters-%d", time.Now().UnixNano())
	for _, a := range []string{
		`{"source":"cli-test","rule":"%s","service":"shop","category":"waf","query_key":{"n":"1"}}`,
		`{"source":"cli-test","rule":"%s","service":"auth","category":"waf","query_key":{"n":"2"}}`,
		`{"source":"cli-test","rule":"%s","service":"auth","category":"login","query_key":{"n":"3"}}`,
	} {
		if _, err := starter(t, "alert", "send", "--file", writeFile(t, fmt.Sprintf(a, rule))); err != nil {
			t.Fatal(err)
		}
	}
	list := func(args ...string) []workflows.Summary {
		t.Helper()
		out, err := starter(t, append([]string{"incident", "list", "--rule", rule, "--json"}, args...)...)
		if err != nil {
			t.Fatalf("list %v: %v", args, err)
		}
		var rows []workflows.Summary
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("list %v: %q: %v", args, out, err)
		}
		return rows
	}
	for deadline := time.Now().Add(20 * time.Second); len(list()) < 3; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("visibility did not list the 3 incidents in 20s")
		}
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--service", "auth"}, 2},
		{[]string{"--service", "auth", "--category", "waf"}, 1},
		{[]string{"--category", "login"}, 1},
		{[]string{"--since", "1h"}, 3},
		{[]string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 0},
		{[]string{"--until", "1h"}, 0},
	} {
		rows := list(tc.args...)
		if len(rows) != tc.want {
			t.Errorf("list %v: %d rows, want %d", tc.args, len(rows), tc.want)
		}
		for _, r := range rows {
			if r.Service == "" {
				t.Errorf("list %v: row %s has no service", tc.args, r.ID)
			}
		}
	}
	if _, err := starter(t, "incident", "list", "--since", "yesterday"); err == nil || !strings.Contains(err.Error(), "--since: ") {
		t.Errorf("--since yesterday: %v, want an error naming --since", err)
	}
}
