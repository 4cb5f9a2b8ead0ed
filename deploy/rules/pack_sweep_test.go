package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/rules"
)

// TestRulePackSweeps runs every pack rule's fires/quiet fixtures through the
// sweep path on the real node: each fixture goes into a fresh index under the
// real index template, and Search.Backtest sweeps it as the rule's Schedule
// would (Search.Sweep, aggregations or document pages, one carried state).
// Fires must fire, quiet must stay quiet, and the number of matches must be
// the NDJSON evaluator's (TestRulePack).
func TestRulePackSweeps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := opensearch.InstallLogAssets(ctx, client, "../opensearch", nil); err != nil {
		t.Fatal(err)
	}
	files, err := rules.Files(".")
	if err != nil || len(files) < minRules {
		t.Fatalf("rule files: %v (%d)", err, len(files))
	}
	search := &activities.Search{Client: client}
	run := time.Now().UnixNano()
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		t.Run(base, func(t *testing.T) {
			for _, kind := range []string{"fires", "quiet"} {
				r, err := rules.LoadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(filepath.Dir(f), "testdata", base+"."+kind+".ndjson") // sigma/ keeps its own
				events, err := rules.ReadNDJSONFile(path)
				if err != nil {
					t.Fatal(err)
				}
				want, err := rules.Backtest(r, events, 0)
				if err != nil {
					t.Fatal(err)
				}
				// A fresh index the rule's pattern names, so the template maps it,
				// and only this fixture in it.
				pattern := strings.TrimSpace(strings.Split(r.Index, ",")[0])
				r.Index = fmt.Sprintf("%spacksweep-%s-%s-%d", strings.TrimSuffix(pattern, "*"), base, kind, run)
				mustLoad(t, client, r.Index, events)

				from, to := fixtureRange(t, r, events)
				if r.Type == rules.TypeNewTerm || r.Type == rules.TypeRare {
					// rules.Backtest takes its first sweep as the known terms; a
					// sweep seeds from what lies before its first window.
					from = from.Add(r.RunEvery)
				}
				got, err := search.Backtest(ctx, r, from, to, 0, nil)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				switch {
				case kind == "fires" && len(got.Matches) == 0:
					t.Errorf("%s: the sweep path matched nothing in %d sweeps (%d queries)", path, got.Sweeps, got.Queries)
				case kind == "quiet" && len(got.Matches) > 0:
					m := got.Matches[0]
					t.Errorf("%s: the sweep path matched %d times, first at %s key %q: %v", path, len(got.Matches), m.Time, m.Key, m.Fields)
				}
				if len(got.Matches) != len(want.Matches) {
					t.Errorf("%s: %d matches through the sweep path, %d through the NDJSON evaluator\nsweep:\n%s\nNDJSON:\n%s",
						path, len(got.Matches), len(want.Matches), matchList(got.Matches), matchList(want.Matches))
				}
			}
		})
	}
}

// fixtureRange is the span rules.Backtest sweeps: from the run_every sweep
// holding the first event to the one holding the last.
func fixtureRange(t *testing.T, r *rules.Rule, events []rules.Event) (from, to time.Time) {
	t.Helper()
	for i, e := range events {
		ts, err := r.Time(e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 || ts.Before(from) {
			from = ts
		}
		if i == 0 || ts.After(to) {
			to = ts
		}
	}
	start := from.Truncate(r.RunEvery)
	if !from.After(start) {
		start = start.Add(-r.RunEvery)
	}
	return start, to
}

func matchList(ms []rules.Match) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %s key=%q\n", m.Time.UTC().Format(time.RFC3339Nano), m.Key)
	}
	return b.String()
}

// mustLoad creates index (the template maps it) and bulk-loads events as they
// are: the fixtures are stored documents, so the template's default ingest
// pipeline is switched off for this index.
func mustLoad(t *testing.T, c *opensearchgo.Client, index string, events []rules.Event) {
	t.Helper()
	res, err := c.Indices.Create(index, c.Indices.Create.WithBody(strings.NewReader(`{"settings":{"index.default_pipeline":"_none"}}`)))
	mustOK(t, res, err)
	t.Cleanup(func() { _, _ = c.Indices.Delete([]string{index}) })
	for len(events) > 0 {
		n := min(len(events), 2000)
		var b strings.Builder
		for _, e := range events[:n] {
			doc, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
		}
		res, err := c.Bulk(strings.NewReader(b.String()), c.Bulk.WithIndex(index), c.Bulk.WithRefresh("true"))
		mustOK(t, res, err)
		events = events[n:]
	}
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
