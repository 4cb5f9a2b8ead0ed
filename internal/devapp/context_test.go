package devapp

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/testenv"
)

// `make run` shows context without an AWS account: the demo attackers are
// known bad and located, and a WAF alert finds the WAF's metrics in moto.
func TestDemoContext(t *testing.T) {
	if _, err := devstack.FindMoto(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	m := &Main{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer m.Close()
	cfg := config.Default()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	enrichLine, cwLine, err := m.startContext(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enrichLine, "demo GeoIP + threat list in ") || !strings.HasPrefix(cwLine, "moto at http://127.0.0.1:") {
		t.Fatalf("banner lines %q, %q", enrichLine, cwLine)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("dev config invalid: %v", err)
	}

	e, err := enrich.New(cfg.Enrich, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	waf := incident.Alert{Source: "rules", Rule: "waf-sqli-burst", Category: "waf",
		Fields: map[string]any{"_index": "waf-logs-2026.12.01", "httpRequest": map[string]any{"clientIp": "203.0.113.201"}}}
	res, err := e.Enrich(ctx, enrich.EnrichInput{Alert: waf})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Enrichment
	if got.Owner == nil || got.Owner.Team != "secops" || len(got.Geo) != 1 || got.Geo[0].CountryISO != "SG" ||
		len(got.ThreatIntel) != 1 || got.ThreatIntel[0].Source != "irflow-demo-feed" {
		t.Fatalf("demo enrichment = %+v", got)
	}

	os.Setenv("AWS_REGION", cfg.CloudWatch.Region)
	cw := &activities.CloudWatch{AWS: testenv.AWSConfig(cfg.CloudWatch.Endpoint), Section: cfg.CloudWatch}
	corr, err := cw.Correlate(ctx, activities.CorrelateInput{Alert: waf, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(corr.Metrics) != 2 || corr.Metrics[0].Metric != "BlockedRequests" || corr.Metrics[0].Baseline == 0 {
		t.Fatalf("demo WAF metrics = %+v, want blocks and counts with a baseline from the published demo minutes", corr.Metrics)
	}
}
