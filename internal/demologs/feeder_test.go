package demologs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/internal/opensearch"
)

func decode(tb testing.TB, res *opensearchapi.Response, err error, v any) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.IsError() {
		tb.Fatalf("request: %s: %s", res.Status(), body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			tb.Fatalf("decode %s: %v", body, err)
		}
	}
}

func count(tb testing.TB, c *opensearchgo.Client, index, query string) int {
	tb.Helper()
	var out struct{ Count int }
	res, err := c.Count(c.Count.WithIndex(index), c.Count.WithBody(strings.NewReader(query)))
	decode(tb, res, err, &out)
	return out.Count
}

func refresh(tb testing.TB, c *opensearchgo.Client) {
	tb.Helper()
	res, err := c.Indices.Refresh(c.Indices.Refresh.WithIndex("uc-be-*", "us-fe-*", "waf-logs-*"))
	decode(tb, res, err, nil)
}

// deleteIndices makes a test repeatable against a long-lived cluster (IRFLOW_TEST_OPENSEARCH_URL).
func deleteIndices(tb testing.TB, c *opensearchgo.Client, names ...string) {
	tb.Helper()
	res, err := c.Indices.Delete(names, c.Indices.Delete.WithIgnoreUnavailable(true))
	decode(tb, res, err, nil)
}

func TestFeederIndexesIntoNode(t *testing.T) {
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := opensearch.InstallLogAssets(ctx, client, "", nil); err != nil {
		t.Fatal(err)
	}

	// Four minutes of a past day, holding the 00:00 scenario. Expected numbers come
	// from the generator itself.
	from := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Minute)
	deleteIndices(t, client, "uc-be-2024.03.02", "us-fe-2024.03.02", "waf-logs-2024.03.02")
	want := map[string]int{}
	for d := range demologs.Generate(5, from, to, demologs.Options{}) {
		want[d.Index]++
	}
	f := &demologs.Feeder{Client: client, Seed: 5, BatchSize: 700}
	began := time.Now()
	n, err := f.IndexRange(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed %d docs in %s", n, time.Since(began).Round(time.Millisecond))
	refresh(t, client)
	total := 0
	for index, w := range want {
		total += w
		if got := count(t, client, index, `{"query":{"match_all":{}}}`); got != w {
			t.Errorf("count(%s) = %d, want %d", index, got, w)
		}
	}
	if n != total || f.Indexed() != int64(total) || len(want) != 3 {
		t.Errorf("IndexRange = %d, Indexed = %d, want %d docs in 3 indices (got %d indices)", n, f.Indexed(), total, len(want))
	}

	// The scenario at 00:00 must be findable the way a rule would look for it.
	s := demologs.Scenarios(5, from, to, demologs.Options{})
	if len(s) != 1 {
		t.Fatalf("scenarios = %v, want the one at 00:00", s)
	}
	sc := s[0]
	window := fmt.Sprintf(`{"range":{"@timestamp":{"gte":%q,"lt":%q}}}`, sc.Start.Format(time.RFC3339), sc.End.Format(time.RFC3339))
	var wantHits int
	var query, indices string
	switch sc.Kind {
	case demologs.Scenario5xxSpike:
		indices = "uc-be-*"
		query = fmt.Sprintf(`{"query":{"bool":{"filter":[%s,{"term":{"kubernetes.namespace_name":%q}},{"terms":{"status":["500","502","503"]}}]}}}`, window, sc.Namespace)
		for d := range demologs.Generate(5, sc.Start, sc.End, demologs.Options{}) {
			if st, _ := d.Source["status"].(int); st >= 500 && demologs.Field(d.Source, "kubernetes.namespace_name") == sc.Namespace && strings.HasPrefix(d.Index, demologs.AppIndexPrefix) {
				wantHits++
			}
		}
	case demologs.ScenarioWAFSQLiBurst:
		indices = "waf-logs-*"
		query = fmt.Sprintf(`{"query":{"bool":{"filter":[%s,{"term":{"httpRequest.clientIp":%q}},{"term":{"labels.name":%q}}]}}}`, window, sc.ClientIP, demologs.LabelSQLiQueryArguments)
		for d := range demologs.Generate(5, sc.Start, sc.End, demologs.Options{}) {
			if demologs.Field(d.Source, "httpRequest.clientIp") == sc.ClientIP {
				wantHits++
			}
		}
	case demologs.ScenarioLoginBruteForce, demologs.ScenarioSlowRoute:
		indices = "uc-be-*"
		query = fmt.Sprintf(`{"query":{"bool":{"filter":[%s,{"term":{"request.path":%q}},{"range":{"response_time_ms":{"gte":1200}}}]}}}`, window, sc.Path)
		if sc.Kind == demologs.ScenarioLoginBruteForce {
			query = fmt.Sprintf(`{"query":{"bool":{"filter":[%s,{"term":{"client_ip":%q}},{"term":{"status":"401"}}]}}}`, window, sc.ClientIP)
		}
		for d := range demologs.Generate(5, sc.Start, sc.End, demologs.Options{}) {
			if sc.Kind == demologs.ScenarioLoginBruteForce && d.Source["client_ip"] == sc.ClientIP ||
				sc.Kind == demologs.ScenarioSlowRoute && demologs.Field(d.Source, "request.path") == sc.Path && d.Source["response_time_ms"].(int) >= 1200 {
				wantHits++
			}
		}
	}
	got := count(t, client, indices, query)
	t.Logf("scenario %s: %d matching docs", sc, got)
	if got != wantHits || got < 50 {
		t.Errorf("scenario %s: OpenSearch counts %d, generator made %d (want equal and >= 50)", sc, got, wantHits)
	}
}

func TestFeederRunsLive(t *testing.T) {
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	// A clock far from the other test's data and from real time, advancing 10 s per tick.
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var ticks int
	now := func() time.Time { return start.Add(time.Duration(ticks) * 10 * time.Second) }
	f := &demologs.Feeder{Client: client, Seed: 11, Interval: 50 * time.Millisecond, Backfill: time.Minute,
		Now: func() time.Time { ticks++; return now() }}
	deleteIndices(t, client, "uc-be-2025.06.01", "us-fe-2025.06.01", "waf-logs-2025.06.01")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.After(20 * time.Second)
	for f.Indexed() == 0 || ticks < 6 {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-deadline:
			t.Fatalf("feeder indexed %d docs in 20s", f.Indexed())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	refresh(t, client)
	got := count(t, client, "uc-be-2025.06.01,us-fe-2025.06.01,waf-logs-2025.06.01", `{"query":{"match_all":{}}}`)
	if int64(got) != f.Indexed() || got < 300 {
		t.Errorf("docs in the live indices = %d, feeder reports %d (want equal, >= 300 for a minute of backfill)", got, f.Indexed())
	}
}

// A live batch the cluster rejects is retried on the next tick, and the stable
// document IDs keep the retry from duplicating anything.
func TestFeederRetriesFailedBatch(t *testing.T) {
	node := testenv.OpenSearch(t)
	target, _ := url.Parse(node.URL())
	var bulks atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Bulk 1 is the backfill; reject bulk 3 after the node has indexed it,
		// as a timeout would look to the feeder.
		if strings.HasSuffix(r.URL.Path, "/_bulk") && bulks.Add(1) == 3 {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			http.Error(w, `{"error":"injected"}`, http.StatusBadRequest)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client, err := activities.NewSearchClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 7, 1, 8, 0, 0, 0, time.UTC)
	var ticks atomic.Int32
	f := &demologs.Feeder{Client: client, Seed: 12, Interval: 30 * time.Millisecond, Backfill: 30 * time.Second,
		Now: func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 5 * time.Second) }}
	deleteIndices(t, client, "uc-be-2025.07.01", "us-fe-2025.07.01", "waf-logs-2025.07.01")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.After(20 * time.Second)
	for bulks.Load() < 6 {
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v", err)
		case <-deadline:
			t.Fatalf("only %d bulk requests in 20s", bulks.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	refresh(t, client)
	got := count(t, client, "uc-be-2025.07.01,us-fe-2025.07.01,waf-logs-2025.07.01", `{"query":{"match_all":{}}}`)
	if int64(got) != f.Indexed() {
		t.Errorf("docs in the cluster = %d, feeder reports %d; the retried batch was lost or duplicated", got, f.Indexed())
	}
}
