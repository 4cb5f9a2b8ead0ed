package opensearch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"
)

// decode fails the test on an error response and decodes the body into v.
func decode(tb testing.TB, res *opensearchapi.Response, err error, v any) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.IsError() {
		tb.Fatalf("request: %s: %s", res.Status(), body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			tb.Fatalf("decode %s: %v", body, err)
		}
	}
}

func TestSharedNodeIndexCountAggregate(t *testing.T) {
	node := testenv.OpenSearch(t)
	t.Logf("shared node at %s; cold start took %s", node.URL(), node.StartupTime().Round(time.Millisecond))

	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const index = "irflow-test-node-count"
	_, _ = client.Indices.Delete([]string{index}, client.Indices.Delete.WithIgnoreUnavailable(true))
	res, err := client.Indices.Create(index, client.Indices.Create.WithContext(ctx), client.Indices.Create.WithBody(strings.NewReader(`{
		"mappings": {"properties": {"status": {"type": "keyword"}, "namespace": {"type": "keyword"}, "@timestamp": {"type": "date"}}}
	}`)))
	decode(t, res, err, nil)

	docs := []struct {
		ns     string
		status string
	}{
		{"payments", "500"}, {"payments", "500"}, {"payments", "200"},
		{"checkout", "502"}, {"checkout", "200"}, {"search", "200"}, {"payments", "503"},
	}
	var bulk strings.Builder
	for i, d := range docs {
		fmt.Fprintf(&bulk, "{\"index\":{\"_id\":\"%d\"}}\n", i)
		fmt.Fprintf(&bulk, "{\"@timestamp\":\"2026-01-02T03:04:%02dZ\",\"namespace\":%q,\"status\":%q}\n", i, d.ns, d.status)
	}
	var bulkRes struct {
		Errors bool `json:"errors"`
		Items  []any
	}
	res, err = client.Bulk(strings.NewReader(bulk.String()), client.Bulk.WithIndex(index), client.Bulk.WithRefresh("true"))
	decode(t, res, err, &bulkRes)
	if bulkRes.Errors || len(bulkRes.Items) != len(docs) {
		t.Fatalf("bulk: errors=%v items=%d, want no errors and %d items", bulkRes.Errors, len(bulkRes.Items), len(docs))
	}

	var count struct{ Count int }
	res, err = client.Count(client.Count.WithIndex(index), client.Count.WithBody(strings.NewReader(
		`{"query":{"prefix":{"status":"5"}}}`)))
	decode(t, res, err, &count)
	if count.Count != 4 {
		t.Errorf("count of 5xx = %d, want 4", count.Count)
	}

	var search struct {
		Aggregations struct {
			ByNS struct {
				Buckets []struct {
					Key      string `json:"key"`
					DocCount int    `json:"doc_count"`
				} `json:"buckets"`
			} `json:"by_ns"`
		} `json:"aggregations"`
	}
	res, err = client.Search(client.Search.WithIndex(index), client.Search.WithBody(strings.NewReader(`{
		"size": 0,
		"query": {"range": {"status": {"gte": "500"}}},
		"aggs": {"by_ns": {"terms": {"field": "namespace"}}}
	}`)))
	decode(t, res, err, &search)
	got := map[string]int{}
	for _, b := range search.Aggregations.ByNS.Buckets {
		got[b.Key] = b.DocCount
	}
	want := map[string]int{"payments": 3, "checkout": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("5xx by namespace = %v, want %v", got, want)
	}

	// The single node must report green: replicas default to 0 there.
	var health struct{ Status string }
	res, err = client.Cluster.Health(client.Cluster.Health.WithIndex(index))
	decode(t, res, err, &health)
	if health.Status != "green" {
		t.Errorf("index health = %q, want green", health.Status)
	}
}

// Nodes of its own: a port in use fails fast, Stop ends the JVM and frees the
// port, and a restart on the same home keeps the data.
func TestStartStopAndPortConflict(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two JVMs")
	}
	first := testenv.OpenSearch(t) // skips/fails like the other tests when java or jars are missing
	if first.Home() == "" {
		t.Skip("external cluster in use; lifecycle needs a local node")
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(first.URL(), "http://"), ":")

	// Same port as the running shared node: refused at once, naming the port.
	began := time.Now()
	_, err := opensearch.Start(context.Background(), opensearch.Options{Home: t.TempDir(), HTTPPort: atoi(t, port)})
	if err == nil || !strings.Contains(err.Error(), "http port "+port+" is in use") {
		t.Fatalf("start on a used port: err = %v, want one saying the port is in use", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("port conflict took %s to report, want well under the JVM start time", d)
	}

	home := t.TempDir()
	node, err := opensearch.Start(context.Background(), opensearch.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second node at %s, started in its own home", node.URL())
	if _, err := os.Stat(filepath.Join(home, "data", "nodes")); err != nil {
		t.Errorf("node data not under home: %v", err)
	}
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Index("persist-me", strings.NewReader(`{"msg":"survives a restart"}`), client.Index.WithRefresh("true"))
	decode(t, res, err, nil)
	if err := node.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-node.Done():
	default:
		t.Fatal("JVM still running after Stop")
	}
	if _, err := http.Get(node.URL()); err == nil {
		t.Errorf("%s still answers after Stop", node.URL())
	}

	// Dev mode keeps its home (var/opensearch) across runs: data must survive.
	again, err := opensearch.Start(context.Background(), opensearch.Options{Home: home})
	if err != nil {
		t.Fatalf("restart on the same home: %v", err)
	}
	defer again.Stop()
	client, err = activities.NewSearchClient(again.URL())
	if err != nil {
		t.Fatal(err)
	}
	var count struct{ Count int }
	res, err = client.Count(client.Count.WithIndex("persist-me"))
	decode(t, res, err, &count)
	if count.Count != 1 {
		t.Errorf("docs after restart = %d, want 1", count.Count)
	}
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		tb.Fatalf("port %q: %v", s, err)
	}
	return n
}

func TestStartValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		o    opensearch.Options
		want string
		is   error
	}{
		{"no home", opensearch.Options{}, "Options.Home is required", nil},
		{"bad port", opensearch.Options{Home: t.TempDir(), HTTPPort: 70000}, "Options.HTTPPort 70000 out of range", nil},
		{"no java", opensearch.Options{Home: t.TempDir(), Java: "/nonexistent/java"}, "java not found", opensearch.ErrJavaMissing},
		{"no jars", opensearch.Options{Home: t.TempDir(), Java: os.Args[0], JarsDir: t.TempDir()}, "make opensearch-jars", opensearch.ErrJarsMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := opensearch.Start(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// A JVM that dies at once must be reported with its own words, not as a timeout.
func TestStartReportsJVMFailure(t *testing.T) {
	if _, err := opensearch.FindJars(""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the OpenSearch jars are missing (run `make opensearch-jars`): %v", err)
		}
		t.Skip(err)
	}
	_, err := opensearch.Start(context.Background(), opensearch.Options{Home: t.TempDir(), Heap: "1k"})
	if err == nil || !strings.Contains(err.Error(), "JVM exited before the node started") ||
		!strings.Contains(err.Error(), "heap") {
		t.Fatalf("err = %v, want the JVM's exit and its complaint about the heap", err)
	}
}

func TestNewClientTalksToNode(t *testing.T) {
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	res, err := client.Info()
	decode(t, res, err, &info)
	if info.Version.Distribution != "opensearch" || !strings.HasPrefix(info.Version.Number, "2.") {
		t.Errorf("info = %+v, want an OpenSearch 2.x node", info.Version)
	}
	var _ *opensearchgo.Client = client
}
