package logpipe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/logpipe"
	"github.com/irflow/irflow/rules"
)

func searchNode(t *testing.T) *opensearchgo.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := opensearch.InstallLogAssets(context.Background(), client, "../deploy/opensearch", quiet()); err != nil {
		t.Fatal(err)
	}
	return client
}

func do(t *testing.T, c *opensearchgo.Client, method, path, body string, v any) {
	t.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Perform(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, res.Status, raw)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, c *opensearchgo.Client, index, query string) int {
	t.Helper()
	var out struct{ Count int }
	do(t, c, "POST", "/"+index+"/_count?ignore_unavailable=true", query, &out)
	return out.Count
}

// ndjsonOf writes payloads as `starter logs replay` reads them: one
// CloudWatch Logs payload (decompressed) a line.
func ndjsonOf(t *testing.T, docs []demologs.Doc) []byte {
	t.Helper()
	var b bytes.Buffer
	for pl := range demologs.Payloads(slices.Values(docs)) {
		p := cwlPayload{MessageType: pl.MessageType, Owner: pl.Owner, LogGroup: pl.LogGroup, LogStream: pl.LogStream, SubscriptionFilters: pl.SubscriptionFilters}
		for _, e := range pl.Events {
			p.LogEvents = append(p.LogEvents, cwlEvent{ID: e.ID, Timestamp: e.Timestamp, Message: string(e.Message)})
		}
		line, _ := json.Marshal(p)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

const scannerRule = `name: logpipe-test-listed-scanner-blocked
type: frequency
index: waf-logs-*
timestamp_field: "@timestamp"
severity: high
category: waf
query_key: httpRequest.clientIp
num_events: 5
timeframe: {minutes: 5}
buffer_time: {minutes: 10}
filter:
- term: {threat_intel.tags: scanner}
- term: {action: BLOCK}
`

// Demo traffic with a WAF SQLi burst from a listed scanner, replayed from
// NDJSON into the real node: every event is indexed into its routed index,
// and a rule on an enriched field (threat_intel.tags) fires through the
// production sweep (activities.Search on the node) for the scanner alone,
// as the NDJSON evaluator finds on the same documents.
func TestReplayIntoOpenSearchAndAnEnrichedRuleFires(t *testing.T) {
	client := searchNode(t)
	ctx := context.Background()
	// A day of its own, so tests sharing the node do not see each other's logs.
	from := time.Date(2031, 5, 6, 10, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Minute)
	for _, ix := range []string{"uc-be-2031.05.06", "us-fe-2031.05.06", "waf-logs-2031.05.06"} {
		do(t, client, "DELETE", "/"+ix+"?ignore_unavailable=true", "", nil)
	}
	opts := demologs.Options{Scenarios: []demologs.ScenarioKind{demologs.ScenarioWAFSQLiBurst}}
	docs := slices.Collect(demologs.Generate(11, from, to, opts))
	sc := demologs.Scenarios(11, from, to, opts)
	if len(sc) != 1 || sc[0].ClientIP == "" {
		t.Fatalf("scenarios = %v", sc)
	}
	attacker := sc[0].ClientIP
	wantPerIndex, wantListed := map[string]int{}, 0
	for _, d := range docs {
		wantPerIndex[d.Index]++
		if hr, ok := d.Source["httpRequest"].(map[string]any); ok && hr["clientIp"] == attacker {
			wantListed++
		}
	}

	r := &logpipe.Replayer{Pipeline: demoPipeline(t, demoEnricher(t)), Client: client, BatchDocs: 500}
	res, err := r.NDJSON(ctx, bytes.NewReader(ndjsonOf(t, docs)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(docs) || res.Indexed != len(docs) || res.Failed != 0 {
		t.Fatalf("replay = %+v, want all %d events indexed", res, len(docs))
	}
	do(t, client, "POST", "/uc-be-*,us-fe-*,waf-logs-*/_refresh", "", nil)
	for index, want := range wantPerIndex {
		if got := count(t, client, index, `{"query":{"match_all":{}}}`); got != want {
			t.Errorf("%s holds %d documents, want %d", index, got, want)
		}
	}
	listed := `{"query":{"bool":{"filter":[{"term":{"threat_intel.tags":"scanner"}},{"range":{"@timestamp":{"gte":"2031-05-06T00:00:00Z","lt":"2031-05-07T00:00:00Z"}}}]}}}`
	if got := count(t, client, "waf-logs-*", listed); got != wantListed || wantListed < 100 {
		t.Errorf("%d WAF documents tagged scanner, want the scenario's %d", got, wantListed)
	}
	if got := count(t, client, "uc-be-2031.05.06", `{"query":{"exists":{"field":"irflow_index"}}}`); got != 0 {
		t.Errorf("%d documents kept irflow_index; the ingest pipeline removes it", got)
	}
	// Replaying the same file again overwrites (event IDs are document IDs).
	if _, err := r.NDJSON(ctx, bytes.NewReader(ndjsonOf(t, docs))); err != nil {
		t.Fatal(err)
	}
	do(t, client, "POST", "/waf-logs-2031.05.06/_refresh", "", nil)
	if got := count(t, client, "waf-logs-2031.05.06", `{"query":{"match_all":{}}}`); got != wantPerIndex["waf-logs-2031.05.06"] {
		t.Errorf("after a second replay waf-logs holds %d, want %d", got, wantPerIndex["waf-logs-2031.05.06"])
	}

	path := filepath.Join(t.TempDir(), "scanner.yaml")
	if err := os.WriteFile(path, []byte(scannerRule), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &activities.Search{Client: client}
	out, err := s.SweepRule(ctx, activities.SweepInput{Rule: rules.Ref{Name: "scanner", Path: path}, Now: to.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range out.Alerts {
		keys = append(keys, a.QueryKey["httpRequest.clientIp"])
	}
	if len(out.Alerts) == 0 || slices.ContainsFunc(keys, func(k string) bool { return k != attacker }) {
		t.Fatalf("sweep alerts for %v, want the listed scanner %s only", keys, attacker)
	}

	// The NDJSON evaluator on the same documents agrees.
	rule, err := rules.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := r.Pipeline.NewTransformer()
	var events []rules.Event
	for pl := range demologs.Payloads(slices.Values(docs)) {
		route, _ := tr.Route(pl.LogGroup, pl.LogStream)
		for k := range pl.Events {
			doc, _ := tr.Append(nil, pl, &pl.Events[k], route)
			var e rules.Event
			if err := json.Unmarshal(doc, &e); err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
	}
	bt, err := rules.Backtest(rule, events, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(bt.Matches) == 0 || slices.ContainsFunc(bt.Matches, func(m rules.Match) bool { return m.Key != attacker }) {
		t.Errorf("NDJSON evaluator matches %v, want the scanner %s only", bt.Matches, attacker)
	}
}

// Bare lines (not payloads) replay as events of --log-group/--log-stream;
// lines that fail are counted, never dropped silently.
func TestReplayBareLinesAndFailures(t *testing.T) {
	client := searchNode(t)
	ctx := context.Background()
	do(t, client, "DELETE", "/us-fe-2031.05.07?ignore_unavailable=true", "", nil)
	input := strings.Join([]string{
		`{"@timestamp":"2031-05-07T08:00:00.000Z","page":{"path":"/"},"client_ip":"203.0.113.190"}`,
		`{"@timestamp":"2031-05-07T08:00:01.000Z","page":{"path":"/cart"}}`,
		``,
		`{"messageType":"DATA_MESSAGE","logGroup":"/aws/lambda/unrouted","logStream":"s","logEvents":[{"id":"a","timestamp":1,"message":"x"},{"id":"b","timestamp":2,"message":"y"}]}`,
		`{"messageType":"CONTROL_MESSAGE","logGroup":"","logStream":"","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}`,
	}, "\n") + "\n"
	r := &logpipe.Replayer{Pipeline: demoPipeline(t, demoEnricher(t)), Client: client, LogGroup: demologs.DemoFrontendLogGroup, LogStream: "web-storefront",
		Now: func() time.Time { return time.Date(2031, 5, 7, 9, 0, 0, 0, time.UTC) }}
	res, err := r.NDJSON(ctx, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 5 || res.Events != 4 || res.Indexed != 2 || res.Failed != 2 || res.Skipped != 1 ||
		len(res.Errors) != 1 || !strings.Contains(res.Errors[0], `line 4: log group "/aws/lambda/unrouted", stream "s": no logs.routes entry matches`) {
		t.Fatalf("replay = %+v", res)
	}
	do(t, client, "POST", "/us-fe-2031.05.07/_refresh", "", nil)
	if got := count(t, client, "us-fe-2031.05.07", `{"query":{"term":{"threat_intel.tags":"scanner"}}}`); got != 1 {
		t.Errorf("%d enriched bare lines, want 1", got)
	}
	if got := count(t, client, "us-fe-2031.05.07", `{"query":{"term":{"service.name":"web-storefront"}}}`); got != 2 {
		t.Errorf("%d bare lines tagged from the route, want 2", got)
	}
}

// Firehose writes every document into the intake index; its pipeline
// routes each to the index the transform named and runs the log pipeline,
// so the stored document is the one a replay stores.
func TestIntakePipelineRoutesLikeReplay(t *testing.T) {
	client := searchNode(t)
	ctx := context.Background()
	do(t, client, "DELETE", "/uc-be-2031.05.08,"+opensearch.IntakeIndex+"?ignore_unavailable=true", "", nil)
	p := demoPipeline(t, demoEnricher(t))
	h := &logpipe.Handler{Pipeline: p, NDJSON: true, Logger: quiet()}
	ts := time.Date(2031, 5, 8, 12, 0, 0, 0, time.UTC).UnixMilli()
	payload := dataMessage(demologs.DemoAppLogGroup, "auth-api-7-x",
		cwlEvent{ID: "intake-1", Timestamp: ts, Message: `{"log":{"level":"ERROR"},"status":500,"client_ip":"203.0.113.211"}`},
		cwlEvent{ID: "intake-2", Timestamp: ts + 1, Message: "plain text line"})
	rep := h.Transform(ctx, firehoseEvent(t, gzipJSON(t, payload)))
	var body bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSuffix(rep.Response.Records[0].Data, []byte("\n")), []byte("\n")) {
		// What Firehose's OpenSearch destination sends: one index action a record, no ID.
		fmt.Fprintf(&body, `{"index":{"_index":%q}}`+"\n%s\n", opensearch.IntakeIndex, line)
	}
	do(t, client, "POST", "/_bulk?refresh=true", body.String(), nil)

	var hits struct {
		Hits struct {
			Hits []struct {
				Index  string         `json:"_index"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	do(t, client, "POST", "/uc-be-2031.05.08/_search", `{"query":{"match_all":{}},"sort":[{"@timestamp":"asc"}]}`, &hits)
	if len(hits.Hits.Hits) != 2 {
		t.Fatalf("%d documents routed to uc-be-2031.05.08, want 2", len(hits.Hits.Hits))
	}
	if n := count(t, client, opensearch.IntakeIndex, `{"query":{"match_all":{}}}`); n != 0 {
		t.Errorf("%d documents stayed in the intake index", n)
	}
	first := hits.Hits.Hits[0].Source
	if first["irflow_index"] != nil || first["event"] == nil || fmt.Sprint(first["log"]) != "map[level:error]" || first["threat_intel"] == nil {
		t.Errorf("routed document was not run through irflow-logs: %v", first)
	}

	// The same events replayed: the stored documents are the same, but for ingest time.
	do(t, client, "DELETE", "/uc-be-2031.05.08", "", nil)
	var d logpipe.Decoder
	var pl logpipe.Payload
	if err := d.Decode(gzipJSON(t, payload), &pl); err != nil {
		t.Fatal(err)
	}
	if _, err := (&logpipe.Replayer{Pipeline: p, Client: client}).Payloads(ctx, slices.Values([]*logpipe.Payload{&pl})); err != nil {
		t.Fatal(err)
	}
	do(t, client, "POST", "/uc-be-2031.05.08/_refresh", "", nil)
	var again struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	do(t, client, "POST", "/uc-be-2031.05.08/_search", `{"query":{"match_all":{}},"sort":[{"@timestamp":"asc"}]}`, &again)
	for i := range 2 {
		a, b := hits.Hits.Hits[i].Source, again.Hits.Hits[i].Source
		delete(a, "event")
		delete(b, "event")
		if !sameJSON(a, b) {
			t.Errorf("document %d via intake %v\nvia replay %v", i, a, b)
		}
	}
}
