package rules_test

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/rules"
)

// `make run` promises incidents within minutes: every scenario the demo feed
// plays must fire at least one rule of the pack, on the indices the rule reads.
func TestDemoScenariosFirePackRules(t *testing.T) {
	end := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var docs []demologs.Doc
	for d := range demologs.Generate(1, end.Add(-45*time.Minute), end, demologs.Options{}) {
		docs = append(docs, d)
	}
	want := map[string][]string{
		// scenario → rules expected to see it
		"5xx spike":          {"be-5xx-burst-per-namespace", "be-5xx-spike-per-namespace"},
		"WAF core rule set":  {"waf-core-rule-set-burst"},
		"login brute force":  {"login-failures-per-ip", "login-failures-per-country"},
		"slow route (> 1 s)": {"latency-key-routes"},
	}
	for scenario, names := range want {
		fired := false
		for _, name := range names {
			r, err := rules.LoadFile(name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			var events []rules.Event
			for _, d := range docs {
				if indexMatches(r.Index, d.Index) {
					events = append(events, rules.Event(d.Source))
				}
			}
			res, err := rules.Backtest(r, events, 0)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(res.Matches) > 0 {
				fired = true
			}
		}
		if !fired {
			t.Errorf("demo scenario %q fires none of %v over 45 minutes of demo logs", scenario, names)
		}
	}
}

// indexMatches applies a rule's comma-separated index patterns the way OpenSearch would.
func indexMatches(patterns, index string) bool {
	for _, p := range strings.Split(patterns, ",") {
		if ok, _ := path.Match(strings.TrimSpace(p), index); ok {
			return true
		}
	}
	return false
}
