package sigma_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

// correlationRules are the referenced rules of the agreement test, each
// limited to one case's events.
const correlationRules = `---
title: Failed login
name: failed_login
logsource: {category: test}
detection:
  sel: {case: %[1]d, path: /login, status: 401}
  condition: sel
---
title: Admin page
name: admin_page
logsource: {category: test}
detection:
  sel: {case: %[1]d, path|startswith: /admin}
  condition: sel
---
title: Not found
name: not_found
logsource: {category: test}
detection:
  sel: {case: %[1]d, status: 404}
  condition: sel
`

// TestCorrelationSweepAgreesWithGo holds Sigma correlation rules to one
// behaviour on both paths: on seeded random events with more keys than a
// page holds, six consecutive one-minute sweeps through the real node
// (AggSweep) give the Go evaluator's matches: sweep, key, time and the
// count, distinct values or rules seen.
func TestCorrelationSweepAgreesWithGo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	const cases = 4
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewSource(20261201))
	byCase := make([][]rules.Event, cases)
	var all []rules.Event
	paths := []string{"/login", "/login", "/admin/users", "/admin", "/", "/shop"}
	for c := range byCase {
		keys := 120 + rng.Intn(60)
		for k := 0; k < keys; k++ {
			n := 1 + rng.Intn(5)
			if rng.Intn(6) == 0 {
				n = 8 + rng.Intn(25)
			}
			burst := rng.Intn(300)
			for i := 0; i < n; i++ {
				at := time.Duration(1+rng.Intn(360000)) * time.Millisecond
				if i%2 == 0 {
					at = time.Duration(1+(burst*1000+rng.Intn(60000))%360000) * time.Millisecond
				}
				if rng.Intn(5) == 0 && i > 0 {
					// The same instant as the key's previous event.
					prev, _ := time.Parse(time.RFC3339Nano, byCase[c][len(byCase[c])-1]["@timestamp"].(string))
					at = prev.Sub(base)
				}
				e := rules.Event{
					"@timestamp": base.Add(at).Format(time.RFC3339Nano),
					"case":       c,
					"ip":         fmt.Sprintf("10.%d.%d.%d", c, k/200, k%200),
					"user":       fmt.Sprintf("u%d", rng.Intn(6)),
					"path":       paths[rng.Intn(len(paths))],
					"status":     []int{200, 401, 401, 404, 500}[rng.Intn(5)],
				}
				byCase[c] = append(byCase[c], e)
				all = append(all, e)
			}
		}
	}
	client, index := mustIndex(t, `{"properties":{"@timestamp":{"type":"date"},"case":{"type":"integer"},"ip":{"type":"keyword"},
		"user":{"type":"keyword"},"path":{"type":"keyword"},"status":{"type":"integer"}}}`, all)
	search := &activities.Search{Client: client, KeysPerPage: 8}
	dir := t.TempDir()
	mapping := fmt.Sprintf("logsources:\n  - logsource: {category: test}\n    index: %s\n    keep_unmapped: true\n", index)
	if err := os.WriteFile(filepath.Join(dir, "_sigma.yaml"), []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
	// realert 0 compares every match; value_count keeps 10m, as the
	// cardinality sweep places matches after a key's first crossing on its
	// values' first and last times only (cardsweep.go).
	for _, tc := range []struct {
		name, corr string
		realert    time.Duration
	}{
		{"event_count", "type: event_count\n  rules: [failed_login]\n  group-by: [ip]\n  timespan: 2m\n  condition: {gte: 4}", 0},
		{"event_count of two rules, two fields", "type: event_count\n  rules: [failed_login, not_found]\n  group-by: [ip, user]\n  timespan: 90s\n  condition: {gt: 1}", 0},
		{"event_count without group-by", "type: event_count\n  rules: [admin_page]\n  timespan: 2m\n  condition: {gte: 40}", 0},
		{"value_count", "type: value_count\n  rules: [failed_login, admin_page]\n  group-by: [ip]\n  timespan: 2m\n  condition: {field: user, gte: 3}", 10 * time.Minute},
		{"temporal", "type: temporal\n  rules: [failed_login, admin_page, not_found]\n  group-by: [ip]\n  timespan: 2m", 0},
		{"temporal two of three", "type: temporal\n  rules: [failed_login, admin_page, not_found]\n  group-by: [ip]\n  timespan: 20s\n  condition: {gte: 2}", 0},
		{"temporal without group-by", "type: temporal\n  rules: [failed_login, admin_page]\n  timespan: 2s", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matched := 0
			for c := 0; c < cases; c++ {
				path := filepath.Join(dir, fmt.Sprintf("case%d.yml", c))
				text := "title: correlation\ncorrelation:\n  " + tc.corr + "\n"
				for _, doc := range strings.SplitAfter(fmt.Sprintf(correlationRules, c), "condition: sel\n") {
					if name, _, ok := strings.Cut(strings.SplitAfter(doc, "name: ")[len(strings.SplitAfter(doc, "name: "))-1], "\n"); ok && strings.Contains(tc.corr, name) {
						text += doc
					}
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				r, err := rules.LoadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				r.Realert, r.BufferTime = tc.realert, time.Hour
				goSide, osSide, queries := sweepBoth(t, search, r, byCase[c], base)
				if len(r.QueryKey) > 0 && queries <= 6*2 {
					t.Errorf("case %d: %d queries over 6 sweeps; want several pages a sweep", c, queries)
				}
				if g, o := strings.Join(goSide, "\n"), strings.Join(osSide, "\n"); g != o {
					t.Errorf("case %d (%d events): only in the Go evaluator:\n%s\nonly in OpenSearch:\n%s", c, len(byCase[c]),
						strings.Join(minus(goSide, osSide), "\n"), strings.Join(minus(osSide, goSide), "\n"))
				}
				matched += len(goSide)
			}
			if matched == 0 {
				t.Errorf("no case matched; the agreement proves nothing")
			}
			t.Logf("%d matches", matched)
		})
	}
}

// sweepBoth runs six one-minute sweeps after base through the Go evaluator
// and through Search.Sweep, each side carrying its own state.
func sweepBoth(t *testing.T, search *activities.Search, r *rules.Rule, events []rules.Event, base time.Time) (goSide, osSide []string, queries int) {
	t.Helper()
	goSt, osSt := &rules.State{LastRunEnd: base}, &rules.State{LastRunEnd: base}
	for s := 1; s <= 6; s++ {
		start, end := base.Add(time.Duration(s-1)*time.Minute), base.Add(time.Duration(s)*time.Minute)
		ms, err := r.Evaluate(goSt, events, start, end)
		if err != nil {
			t.Fatal(err)
		}
		goSide = append(goSide, matchSummary(s, ms)...)
		res, ms, err := search.Sweep(context.Background(), r, osSt, end)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Start.Equal(start) {
			t.Fatalf("sweep %d covered (%s, %s], want (%s, %s]", s, res.Start, res.End, start, end)
		}
		queries += res.Queries
		osSide = append(osSide, matchSummary(s, ms)...)
	}
	return goSide, osSide, queries
}

func matchSummary(sweep int, ms []rules.Match) []string {
	var out []string
	for _, m := range ms {
		s := fmt.Sprintf("sweep %d key %q at %s", sweep, m.Key, m.Time.Format(time.RFC3339Nano))
		for _, f := range []string{"num_hits", "cardinality", rules.TemporalField} {
			if v, ok := m.Fields[f]; ok {
				s += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// minus lists what a holds and b does not.
func minus(a, b []string) []string {
	in := map[string]int{}
	for _, x := range b {
		in[x]++
	}
	var out []string
	for _, x := range a {
		if in[x] > 0 {
			in[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}
