package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
)

// `rules test --opensearch` sweeps the history the node holds through the
// Schedules' sweep code and prints what `rules test --data` prints for the
// same events.
func TestRulesTestOpenSearchMatchesData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var ndjson, bulk strings.Builder
	add := func(sec int, ip string) {
		doc := fmt.Sprintf(`{"@timestamp":%q,"client_ip":%q}`, base.Add(time.Duration(sec)*time.Second).Format(time.RFC3339), ip)
		ndjson.WriteString(doc + "\n")
		bulk.WriteString("{\"index\":{}}\n" + doc + "\n")
	}
	// 203.0.113.9 reaches 3 in a minute three times (once across a sweep
	// boundary, once on a sweep's last instant); 198.51.100.7 never does.
	for _, s := range []int{15, 20, 41, 47, 170, 178, 185, 290, 295, 300} {
		add(s, "203.0.113.9")
	}
	for _, s := range []int{30, 95, 160, 225} {
		add(s, "198.51.100.7")
	}

	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-rules-cli-%d", time.Now().UnixNano())
	res, err := client.Indices.Create(index, client.Indices.Create.WithBody(strings.NewReader(
		`{"mappings":{"properties":{"@timestamp":{"type":"date"},"client_ip":{"type":"keyword"}}}}`)))
	if err != nil || res.IsError() {
		t.Fatalf("create index: %v %v", err, res)
	}
	res.Body.Close()
	t.Cleanup(func() { _, _ = client.Indices.Delete([]string{index}) })
	res, err = client.Bulk(strings.NewReader(bulk.String()), client.Bulk.WithIndex(index), client.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	res.Body.Close()

	dir := t.TempDir()
	rule := filepath.Join(dir, "bursts.yaml")
	data := filepath.Join(dir, "events.ndjson")
	// The rule names an index that does not exist: --index points it at the test's.
	os.WriteFile(rule, []byte("name: bursts\ntype: frequency\nindex: nothing-here-*\nnum_events: 3\ntimeframe: {minutes: 1}\nquery_key: client_ip\nrealert: {minutes: 0}\n"), 0o644)
	os.WriteFile(data, []byte(ndjson.String()), 0o644)

	want, _, err := runLogs(t, "rules", "test", "--rule", rule, "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	history := []string{"rules", "test", "--rule", rule, "--opensearch", node.URL(), "--index", index,
		"--from", "2024-03-01T12:00:20Z", "--to", "2024-03-01T12:05:00Z"}
	got, errOut, err := runLogs(t, history...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	wantLines, gotLines := strings.Split(strings.TrimSpace(want), "\n"), strings.Split(strings.TrimSpace(got), "\n")
	if len(wantLines) != 4 || wantLines[3] != "3 matches, 14 events, 5 sweeps" {
		t.Fatalf("--data printed:\n%s", want)
	}
	// --from rounds down to 12:00, the last sweep ends at 12:05: the sweeps --data ran.
	if strings.Join(gotLines[:len(gotLines)-1], "\n") != strings.Join(wantLines[:3], "\n") ||
		!strings.HasPrefix(gotLines[len(gotLines)-1], "3 matches, 5 sweeps over (2024-03-01T12:00:00Z, 2024-03-01T12:05:00Z], 5 queries, ") {
		t.Fatalf("--opensearch printed:\n%s\nwant the matches of --data:\n%s", got, want)
	}
	if errOut != "" {
		t.Errorf("stderr without a terminal: %q", errOut)
	}

	out, errOut, err := runLogs(t, append(history, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["key"] != "203.0.113.9" || m["num_hits"] != 3.0 {
			t.Errorf("--json line %q: %v", l, err)
		}
	}
	if len(lines) != 3 || !strings.HasPrefix(errOut, "3 matches, 5 sweeps over ") {
		t.Errorf("--json: stdout %q, stderr %q", out, errOut)
	}

}

func TestRulesTestFlagErrors(t *testing.T) {
	rule := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(rule, []byte("name: r\ntype: any\nindex: x-*\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "e.ndjson", "--opensearch", "http://127.0.0.1:1"}, "--data and --opensearch: give one (events from a file, or history from OpenSearch)"},
		{nil, "--data or --opensearch: required"},
		{[]string{"--opensearch", "http://127.0.0.1:1"}, "--from: required with --opensearch (RFC 3339, or now-DURATION like now-30d)"},
		{[]string{"--data", "e.ndjson", "--from", "now-1h"}, "--from: only with --opensearch (--data replays the whole file)"},
		{[]string{"--data", "e.ndjson", "--index", "y-*"}, "--index: only with --opensearch (--data replays the whole file)"},
		{[]string{"--opensearch", "http://127.0.0.1:1", "--from", "yesterday"}, `--from: want RFC 3339 (2026-11-22T10:00:00Z), now or now-DURATION (now-30d), got "yesterday"`},
		{[]string{"--opensearch", "http://127.0.0.1:1", "--from", "now-3x"}, `--from: bad duration "3x" (want like 30d, 2w, 90m)`},
		{[]string{"--opensearch", "http://127.0.0.1:1", "--from", "2024-03-02T00:00:00Z", "--to", "2024-03-01T00:00:00Z"},
			"--from 2024-03-02T00:00:00Z is not before --to 2024-03-01T00:00:00Z"},
		{[]string{"--opensearch", "http://127.0.0.1:1", "--from", "2999-01-01T00:00:00Z", "--to", "2999-01-01T00:00:30Z"}, "no whole sweep of 1m0s between it and now"},
		{[]string{"--opensearch", "http://127.0.0.1:1", "--from", "now-1h", "--run-every", "-1m"}, "--run-every: must be positive, like 1m"},
	} {
		_, _, err := runLogs(t, append([]string{"rules", "test", "--rule", rule}, tc.args...)...)
		if msg := incident.ErrorMessage(err); err == nil || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: error %q, want %q", tc.args, msg, tc.want)
		}
	}
}

func TestHistoryRange(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	for _, tc := range []struct {
		from, to string
		every    time.Duration
		delay    time.Duration
		want     string
	}{
		{"now-30d", "now", time.Minute, 0, "2026-10-23T10:07:00Z 2026-11-22T10:07:00Z"},
		{"-2w", "now-1h", 5 * time.Minute, 0, "2026-11-08T10:05:00Z 2026-11-22T09:10:00Z"},
		{"2026-11-22T09:00:30Z", "2026-11-22T09:10:01Z", time.Minute, 0, "2026-11-22T09:00:00Z 2026-11-22T09:11:00Z"},
		// The last sweep the Schedule could have run: now minus query_delay, rounded down.
		{"now-1h", "2027-01-01T00:00:00Z", time.Minute, 2 * time.Minute, "2026-11-22T09:07:00Z 2026-11-22T10:05:00Z"},
		// 7m sweeps fall on multiples of 7m since the Unix epoch, as the Schedule fires.
		{"2026-11-22T09:00:00Z", "now", 7 * time.Minute, 0, "2026-11-22T08:58:00Z 2026-11-22T10:01:00Z"},
	} {
		from, to, err := historyRange(tc.from, tc.to, now, tc.every, tc.delay)
		if got := from.Format(time.RFC3339) + " " + to.Format(time.RFC3339); err != nil || got != tc.want {
			t.Errorf("%s..%s every %s: %s %v, want %s", tc.from, tc.to, tc.every, got, err, tc.want)
		}
	}
}
