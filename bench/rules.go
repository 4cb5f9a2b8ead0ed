// The rules sections (issue 6): the evaluator and sweep-cost measurements of
// rules_eval.go and rules_sweep.go ("rules"), and irflow side by side with
// ElastAlert2 on the whole rule pack, rules_elastalert.go ("rules-elastalert2").

package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/opensearch"
)

// benchRules: issue 6's figures. The Go evaluator's throughput per rule type
// and the cost of an aggregation sweep as the index grows 100x.
func benchRules(e *env) (map[string]any, error) {
	out := map[string]any{}
	progress("rules: Go evaluator throughput (GOMAXPROCS=1)")
	out["rules_evaluator"] = evaluatorThroughput()

	ob, _, stop, err := startBenchNode(e)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := ob.putTemplate(); err != nil {
		return nil, err
	}
	sweep, err := ob.sweepCost()
	if err != nil {
		return nil, fmt.Errorf("sweep cost: %w", err)
	}
	out["rules_sweep_cost"] = sweep
	return out, nil
}

// benchRulesElastAlert2: every deploy/rules rule through irflow's sweep path
// and through ElastAlert2 on the same node and data.
func benchRulesElastAlert2(e *env) (map[string]any, error) {
	ob, node, stop, err := startBenchNode(e)
	if err != nil {
		return nil, err
	}
	defer stop()
	return map[string]any{"rules_vs_elastalert2": ob.sideBySide(node.URL())}, nil
}

// startBenchNode starts an OpenSearch node in a temporary home and returns an
// osBench whose client, and the activities.Search on it, count bytes.
func startBenchNode(e *env) (*osBench, *opensearch.Node, func(), error) {
	home, err := os.MkdirTemp("", "irflow-bench-opensearch-")
	if err != nil {
		return nil, nil, nil, err
	}
	progress("rules: starting OpenSearch in %s", home)
	node, err := opensearch.Start(e.ctx, opensearch.Options{Home: home, Heap: "1g", DeleteHomeOnExit: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(home)
		return nil, nil, nil, err
	}
	stop := func() {
		node.Stop()
		os.RemoveAll(home)
	}
	ct := &countingTransport{next: http.DefaultTransport}
	client, err := opensearchgo.NewClient(opensearchgo.Config{Addresses: []string{node.URL()}, Transport: ct, MaxRetries: 5,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return &osBench{ctx: e.ctx, c: client, ct: ct, search: &activities.Search{Client: client}}, node, stop, nil
}

// benchT0 is the start of the synthetic events' time range, shared by the
// evaluator and sweep-cost data.
var benchT0 = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
