package testenv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/irflow/irflow/internal/opensearch"
)

// OpenSearchURLEnv points tests at an existing cluster instead of starting a node.
const OpenSearchURLEnv = "IRFLOW_TEST_OPENSEARCH_URL"

var sharedOpenSearch struct {
	once sync.Once
	node *opensearch.Node
	err  error
}

// OpenSearch returns the one OpenSearch node shared by every test in the test binary,
// starting it on first use with its data in a temporary directory. The node outlives
// individual tests: it stops when the test binary exits (its stdin closes), so tests
// must use their own index names. With IRFLOW_TEST_OPENSEARCH_URL set it uses that
// cluster instead. When java or the launcher jars are missing it skips the test, or
// fails it under CI=true, naming what to install or build.
func OpenSearch(tb testing.TB) *opensearch.Node {
	tb.Helper()
	sharedOpenSearch.once.Do(func() {
		if url := os.Getenv(OpenSearchURLEnv); url != "" {
			sharedOpenSearch.node = opensearch.Attach(url)
			return
		}
		home, err := os.MkdirTemp("", "irflow-opensearch-*")
		if err != nil {
			sharedOpenSearch.err = err
			return
		}
		sharedOpenSearch.node, sharedOpenSearch.err = opensearch.Start(context.Background(), opensearch.Options{
			Home:             home,
			DeleteHomeOnExit: true,
			Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if sharedOpenSearch.err != nil {
			os.RemoveAll(home) // no JVM is left to delete it
		}
	})
	if err := sharedOpenSearch.err; err != nil {
		if errors.Is(err, opensearch.ErrJarsMissing) || errors.Is(err, opensearch.ErrJavaMissing) {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("OpenSearch node needed but unavailable (run `make opensearch-jars`; needs JDK 17+ and Maven): %v", err)
			}
			tb.Skipf("OpenSearch node unavailable (run `make opensearch-jars`; needs JDK 17+ and Maven): %v", err)
		}
		tb.Fatalf("start shared OpenSearch node: %v", err)
	}
	return sharedOpenSearch.node
}

// StopOpenSearch stops the shared node if one was started; for TestMain functions
// that want the JVM gone before the binary exits.
func StopOpenSearch() error {
	if sharedOpenSearch.node == nil {
		return nil
	}
	return sharedOpenSearch.node.Stop()
}
