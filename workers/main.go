// Command worker runs irflow's Temporal worker: the incident workflow and its
// activities, plus /metrics and /healthz.
//
//	worker [--config irflow.yaml]
//
// Env overrides: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// IRFLOW_METRICS_ADDR, IRFLOW_ARCHIVE_URL, IRFLOW_S3_ENDPOINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/workerapp"
)

func main() {
	path := flag.String("config", os.Getenv("IRFLOW_CONFIG"), "YAML config file (env IRFLOW_CONFIG); defaults apply when empty")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.Load(*path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &workerapp.Main{Config: cfg, Logger: logger, Console: os.Stdout}
	if err := m.Open(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	_ = m.Close()
}
