// Package testenv starts the real parts irflow's integration tests run against,
// once per test binary: the pinned Temporal dev server, an in-process S3
// (gofakes3 behind the real aws-sdk-go-v2), workers on demand.
//
// When a tool is missing, tests skip with the command that installs it, except
// under CI=true, where they fail with that message instead.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/workflows"
)

// Missing reports a missing tool: a failure under CI=true, a skip otherwise.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true and a required tool is missing: %s", msg)
	}
	tb.Skipf("skipping: %s", msg)
}

var (
	devOnce   sync.Once
	devServer *testsuite.DevServer
	devErr    error
	cleanups  []func()
	cleanupMu sync.Mutex
)

// Run runs the tests and then stops whatever testenv started. Use it from TestMain.
func Run(m *testing.M) {
	code := m.Run()
	cleanupMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanupMu.Unlock()
	os.Exit(code)
}

func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// QuietLogger drops SDK logs below warn.
func QuietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// DevServer is the shared Temporal dev server, started from the pinned binary
// with irflow's search attributes. Every caller gets the same server.
func DevServer(tb testing.TB) *testsuite.DevServer {
	tb.Helper()
	bin, err := devstack.FindTemporal()
	if err != nil {
		Missing(tb, "%v", err)
	}
	devOnce.Do(func() {
		var keys []temporal.SearchAttributeUpdate
		for _, k := range workflows.SearchAttributes {
			keys = append(keys, k.ValueSet(""))
		}
		sas := temporal.NewSearchAttributes(keys...)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		devServer, devErr = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath:     bin,
			ClientOptions:    &client.Options{Logger: QuietLogger()},
			LogLevel:         "error",
			SearchAttributes: sas,
			ExtraArgs:        []string{"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"},
			Stdout:           io.Discard,
			Stderr:           io.Discard,
		})
		if devErr == nil {
			atExit(func() { _ = devServer.Stop() })
		}
	})
	if devErr != nil {
		tb.Fatalf("start temporal dev server from %s: %v", bin, devErr)
	}
	return devServer
}

// Client dials the shared dev server. It is closed when the test ends.
func Client(tb testing.TB) client.Client {
	tb.Helper()
	srv := DevServer(tb)
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default", Logger: QuietLogger()})
	if err != nil {
		tb.Fatalf("dial dev server: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}
