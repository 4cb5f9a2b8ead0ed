package demologs_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/logpipe"
)

// Every demo document has a log group and stream that a demo route sends
// back to the document's own index.
func TestDemoLogGroupsRouteBack(t *testing.T) {
	p, err := logpipe.New(config.Logs{Routes: demologs.LogRoutes()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.NewTransformer()
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n := 0
	for pl := range demologs.Payloads(demologs.Generate(2, from, from.Add(20*time.Minute), demologs.Options{})) {
		r, err := tr.Route(pl.LogGroup, pl.LogStream)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pl.Events {
			n++
			if got := tr.Index(r.Family, e.Timestamp); got[:len(got)-len("2026.03.02")] != r.Family+"-" {
				t.Fatalf("index %s for family %s", got, r.Family)
			}
		}
	}
	var want int
	for range demologs.Generate(2, from, from.Add(20*time.Minute), demologs.Options{}) {
		want++
	}
	if n != want {
		t.Fatalf("payloads hold %d events, the generator made %d", n, want)
	}
}

// The dev stack's feed through the log pipeline: the same documents in the
// same indices as the direct feed, now enriched and tagged.
func TestFeederThroughTheTransform(t *testing.T) {
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := opensearch.InstallLogAssets(ctx, client, "", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
		t.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(list); err != nil {
		t.Fatal(err)
	}
	e, err := enrich.New(config.Enrich{GeoIPDB: db, ThreatIntel: []string{list}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, err := logpipe.New(config.Logs{Routes: demologs.LogRoutes()}, e)
	if err != nil {
		t.Fatal(err)
	}
	// Four minutes of a past day holding the 00:00 scenario (a WAF SQLi burst from a listed scanner).
	from := time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Minute)
	opts := demologs.Options{Scenarios: []demologs.ScenarioKind{demologs.ScenarioWAFSQLiBurst}}
	deleteIndices(t, client, "uc-be-2024.03.09", "us-fe-2024.03.09", "waf-logs-2024.03.09")
	want, attacker := map[string]int{}, 0
	sc := demologs.Scenarios(8, from, to, opts)[0]
	for d := range demologs.Generate(8, from, to, opts) {
		want[d.Index]++
		if demologs.Field(d.Source, "httpRequest.clientIp") == sc.ClientIP {
			attacker++
		}
	}
	f := &demologs.Feeder{Client: client, Seed: 8, Options: opts, Pipeline: p, BatchSize: 700}
	n, err := f.IndexRange(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, client)
	total := 0
	for index, w := range want {
		total += w
		if got := count(t, client, index, `{"query":{"term":{"service.environment":"demo"}}}`); got != w {
			t.Errorf("%s: %d documents tagged by the route, want all %d", index, got, w)
		}
	}
	if n != total || f.Indexed() != int64(total) {
		t.Errorf("IndexRange = %d, Indexed = %d, want %d", n, f.Indexed(), total)
	}
	if got := count(t, client, "waf-logs-2024.03.09", `{"query":{"term":{"threat_intel.tags":"scanner"}}}`); got != attacker || attacker == 0 {
		t.Errorf("%d WAF documents from a listed scanner, want %d", got, attacker)
	}
	// Indexing the range again overwrites: the event IDs are the document IDs.
	if _, err := f.IndexRange(ctx, from, to); err != nil {
		t.Fatal(err)
	}
	refresh(t, client)
	if got := count(t, client, "waf-logs-2024.03.09", `{"query":{"match_all":{}}}`); got != want["waf-logs-2024.03.09"] {
		t.Errorf("after a second pass waf-logs holds %d, want %d", got, want["waf-logs-2024.03.09"])
	}
}
