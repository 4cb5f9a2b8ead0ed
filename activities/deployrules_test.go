package activities_test

import (
	"context"
	"github.com/irflow/irflow/internal/testenv"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/rules"
)

// TestDeployRulesSweepDemoLogs sweeps every rule in deploy/rules over ten
// minutes of demo logs, indexed with the real template: OpenSearch must accept
// every query the rule pack produces (filters, aggregations, paging).
func TestDeployRulesSweepDemoLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := opensearch.InstallLogAssets(ctx, client, "../deploy/opensearch", quiet); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	f := &demologs.Feeder{Client: client, Seed: 7, Logger: quiet, AssetsDir: "../deploy/opensearch"}
	n, err := f.IndexRange(ctx, now.Add(-10*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Indices.Refresh()
	mustOK(t, res, err)

	files, err := rules.Files("../deploy/rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("rule files: %v (%d)", err, len(files))
	}
	s := &activities.Search{Client: client}
	for _, file := range files {
		r, err := rules.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		st := &rules.State{}
		res, ms, err := s.Sweep(ctx, r, st, now.Add(time.Second))
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		t.Logf("%-40s %-18s %d queries %7d bytes %5d docs %3d matches", r.Name, r.Type, res.Queries, res.Bytes, res.Docs, len(ms))
	}
	t.Logf("%d demo documents", n)
}
