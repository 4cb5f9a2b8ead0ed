package opensearch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// TestURLEnv points tests at an existing cluster instead of starting a node.
const TestURLEnv = "IRFLOW_TEST_OPENSEARCH_URL"

var shared struct {
	once sync.Once
	node *Node
	err  error
}

// MustStartShared returns the one node shared by every test in the test binary,
// starting it on first use with its data in a temporary directory. The node outlives
// individual tests: it stops when the test binary exits (its stdin closes), so tests
// must use their own index names. With IRFLOW_TEST_OPENSEARCH_URL set it uses that
// cluster instead. When java or the launcher jars are missing it skips the test, or
// fails it under CI=true, naming what to install or build.
func MustStartShared(tb testing.TB) *Node {
	tb.Helper()
	shared.once.Do(func() {
		if url := os.Getenv(TestURLEnv); url != "" {
			shared.node = &Node{url: url}
			return
		}
		home, err := os.MkdirTemp("", "irflow-opensearch-*")
		if err != nil {
			shared.err = err
			return
		}
		shared.node, shared.err = Start(context.Background(), Options{
			Home:             home,
			DeleteHomeOnExit: true,
			Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if shared.err != nil {
			os.RemoveAll(home) // no JVM is left to delete it
		}
	})
	if err := shared.err; err != nil {
		if errors.Is(err, ErrJarsMissing) || errors.Is(err, ErrJavaMissing) {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("OpenSearch node needed but unavailable (run `make opensearch-jars`; needs JDK 17+ and Maven): %v", err)
			}
			tb.Skipf("OpenSearch node unavailable (run `make opensearch-jars`; needs JDK 17+ and Maven): %v", err)
		}
		tb.Fatalf("start shared OpenSearch node: %v", err)
	}
	return shared.node
}

// StopShared stops the shared node if one was started; for TestMain functions
// that want the JVM gone before the binary exits.
func StopShared() error {
	if shared.node == nil {
		return nil
	}
	return shared.node.Stop()
}
