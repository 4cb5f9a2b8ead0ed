package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
)

// runLogs runs the real CLI in-process; the logs commands need no Temporal.
func runLogs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// The worked example of docs/log-pipeline.md, as written there.
func TestLogsTransformDocsExample(t *testing.T) {
	putBack := filepath.Join(t.TempDir(), "put-back.json")
	out, errOut, err := runLogs(t, "logs", "transform", "--demo", "--event", "../docs/examples/firehose-event.json", "--put-back", putBack)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var resp events.KinesisFirehoseResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("stdout is not the response JSON: %v\n%s", err, out)
	}
	var results []string
	for _, r := range resp.Records {
		results = append(results, r.Result)
	}
	if strings.Join(results, " ") != "Ok Dropped ProcessingFailed" {
		t.Fatalf("results = %v", results)
	}
	var doc map[string]any
	if err := json.Unmarshal(resp.Records[0].Data, &doc); err != nil || doc["threat_intel"] == nil || doc["irflow_index"] != "uc-be-2026.11.18" {
		t.Errorf("first document = %s", resp.Records[0].Data)
	}
	for _, want := range []string{
		"Ok\t3 events, 1 in the response, 2 put back",
		"Dropped\t1 events, 0 in the response, 0 put back\tCloudWatch Logs control message",
		"ProcessingFailed\t0 events, 0 in the response, 0 put back\tdecode CloudWatch Logs payload: not a CloudWatch Logs payload: want gzip or a JSON object",
		"3 records: 1 Ok, 1 Dropped, 1 ProcessingFailed; 2 events put back",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// The put-back events, run as Firehose runs them next: one document each.
	out, errOut, err = runLogs(t, "logs", "transform", "--demo", "--event", putBack)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Records) != 2 || resp.Records[0].Result != "Ok" || resp.Records[1].Result != "Ok" {
		t.Fatalf("second pass: %v\n%s", err, out)
	}

	if _, _, err := runLogs(t, "logs", "transform", "--event", "../docs/examples/firehose-event.json", "--config", ""); err == nil ||
		!strings.Contains(err.Error(), "logs.routes: the log transform needs at least one route") {
		t.Errorf("without routes: %v", err)
	}
}

func TestLogsReplayDocsExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := opensearch.InstallLogAssets(t.Context(), client, "../deploy/opensearch", nil); err != nil {
		t.Fatal(err)
	}
	client.Indices.Delete([]string{"uc-be-2026.11.18", "waf-logs-2026.11.18"}, client.Indices.Delete.WithIgnoreUnavailable(true))
	out, errOut, err := runLogs(t, "logs", "replay", "--demo", "--file", "../docs/examples/logs.ndjson", "--opensearch", node.URL())
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if !strings.HasPrefix(out, "indexed 9 of 9 events into "+node.URL()) || !strings.Contains(out, "(2 lines, 0 skipped, 0 failed)") {
		t.Fatalf("stdout = %q", out)
	}
	client.Indices.Refresh()
	res, err := client.Count(client.Count.WithIndex("waf-logs-2026.11.18"), client.Count.WithBody(strings.NewReader(`{"query":{"term":{"threat_intel.tags":"sqli"}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct{ Count int }
	json.NewDecoder(res.Body).Decode(&c)
	if c.Count != 6 {
		t.Errorf("%d WAF documents with threat_intel.tags sqli, want the example's 6", c.Count)
	}

	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, []byte("plain line without a log group\n"), 0o644)
	_, errOut, err = runLogs(t, "logs", "replay", "--demo", "--file", bad, "--opensearch", node.URL())
	if err == nil || !strings.Contains(err.Error(), "1 of 1 events failed") || !strings.Contains(errOut, "line 1: a bare log event needs a log group (--log-group)") {
		t.Errorf("failing line: %v\n%s", err, errOut)
	}
}
