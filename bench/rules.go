// The rules section (issue 6): runs the evaluator, sweep-cost and ElastAlert2
// measurements of rules_eval.go, rules_sweep.go and rules_elastalert.go.

package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/internal/opensearch"
)

// benchRules: issue 6's figures. The Go evaluator's throughput per rule type,
// the cost of an aggregation sweep as the index grows 100x, and irflow side by
// side with ElastAlert2 on the same node, rules and data.
func benchRules(e *env) (map[string]any, error) {
	out := map[string]any{}
	progress("rules: Go evaluator throughput (GOMAXPROCS=1)")
	out["rules_evaluator"] = evaluatorThroughput()

	home, err := os.MkdirTemp("", "irflow-bench-opensearch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	progress("rules: starting OpenSearch in %s", home)
	node, err := opensearch.Start(e.ctx, opensearch.Options{Home: home, Heap: "1g", DeleteHomeOnExit: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer node.Stop()
	ct := &countingTransport{next: http.DefaultTransport}
	client, err := opensearchgo.NewClient(opensearchgo.Config{Addresses: []string{node.URL()}, Transport: ct, MaxRetries: 5,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}})
	if err != nil {
		return nil, err
	}
	ob := &osBench{ctx: e.ctx, c: client, ct: ct}
	if err := ob.putTemplate(); err != nil {
		return nil, err
	}
	sweep, err := ob.sweepCost()
	if err != nil {
		return nil, fmt.Errorf("sweep cost: %w", err)
	}
	out["rules_sweep_cost"] = sweep
	out["rules_vs_elastalert2"] = ob.sideBySide(node.URL(), home)
	return out, nil
}

// benchT0 is the start of the synthetic events' time range, shared by the
// evaluator and sweep-cost data.
var benchT0 = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
