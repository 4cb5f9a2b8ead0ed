package devapp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
)

// `starter dev` feeds its demo logs through the log pipeline's transform:
// what lands in OpenSearch carries the CloudWatch Logs origin, the route's
// tags and, for the listed attackers, threat intel, and nothing bypasses it.
func TestDevDemoLogsGoThroughTheTransform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer m.Close()
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Enrich.GeoIPDB, cfg.Enrich.ThreatIntel = filepath.Join(dir, "geoip.mmdb"), []string{filepath.Join(dir, "intel.csv")}
	if err := demologs.WriteGeoIP(cfg.Enrich.GeoIPDB, demologs.DemoGeoIP()); err != nil {
		t.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(cfg.Enrich.ThreatIntel[0]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.startDemoLogs(ctx, cfg, node.URL()); err != nil {
		t.Fatal(err)
	}
	count := func(index, query string) int {
		res, err := client.Count(client.Count.WithIndex(index), client.Count.WithBody(strings.NewReader(query)), client.Count.WithIgnoreUnavailable(true))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Count int }
		if err := decodeBody(res.Body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Count
	}
	testenv.Eventually(t, 2*time.Minute, "the demo backfill", func() bool {
		client.Indices.Refresh(client.Indices.Refresh.WithIndex("uc-be-*", "us-fe-*", "waf-logs-*"))
		return count("uc-be-*,us-fe-*,waf-logs-*", `{"query":{"match_all":{}}}`) > 1000
	})
	if n := count("uc-be-*,us-fe-*,waf-logs-*", `{"query":{"bool":{"must_not":[{"exists":{"field":"aws.cloudwatch.log_group"}}]}}}`); n != 0 {
		t.Errorf("%d demo documents did not come through the transform", n)
	}
	if n := count("uc-be-*", `{"query":{"term":{"service.environment":"demo"}}}`); n == 0 {
		t.Error("no app document tagged env demo by the demo route")
	}
}

func decodeBody(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
