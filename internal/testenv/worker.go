package testenv

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/workerapp"
)

// Worker starts the real worker program against c with the default config,
// changed by edit. It stops when the test ends (or earlier, by Close).
func Worker(tb testing.TB, c client.Client, edit func(*workerapp.Main)) *workerapp.Main {
	tb.Helper()
	cfg := config.Default()
	cfg.Worker.MetricsAddr = "127.0.0.1:0"
	cfg.Worker.ShutdownTimeout = config.Duration(2 * time.Second)
	cfg.Archive.URL = "file://" + tb.TempDir()
	// A package's tests share one dev server and mostly one env and service:
	// three high alerts of unrelated tests would open a correlation parent.
	// Tests of correlation turn it on with an env of their own.
	cfg.Correlation.Enabled = false
	m := &workerapp.Main{Config: cfg, Client: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if edit != nil {
		edit(m)
	}
	if err := m.Open(context.Background()); err != nil {
		tb.Fatalf("open worker: %v", err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// Eventually polls cond every 50 ms until it holds or timeout passes.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
