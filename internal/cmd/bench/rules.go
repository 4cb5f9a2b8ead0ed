package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/irflow/irflow/internal/checkout"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goccy/go-yaml"
	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/rules"
)

func init() { sections = append(sections, section{"rules", benchRules}) }

// benchRules: issue 6's figures. The Go evaluator's throughput per rule type,
// the cost of an aggregation sweep as the index grows 100x, and irflow side by
// side with ElastAlert2 on the same node, rules and data.
func benchRules(e *env) (map[string]any, error) {
	out := map[string]any{}
	progress("rules: Go evaluator throughput (GOMAXPROCS=1)")
	out["rules_evaluator"] = evaluatorThroughput()

	home, err := os.MkdirTemp("", "irflow-bench-opensearch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	progress("rules: starting OpenSearch in %s", home)
	node, err := opensearch.Start(e.ctx, opensearch.Options{Home: home, Heap: "1g", DeleteHomeOnExit: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer node.Stop()
	ct := &countingTransport{next: http.DefaultTransport}
	client, err := opensearchgo.NewClient(opensearchgo.Config{Addresses: []string{node.URL()}, Transport: ct, MaxRetries: 5,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}})
	if err != nil {
		return nil, err
	}
	ob := &osBench{ctx: e.ctx, c: client, ct: ct}
	if err := ob.putTemplate(); err != nil {
		return nil, err
	}
	sweep, err := ob.sweepCost()
	if err != nil {
		return nil, fmt.Errorf("sweep cost: %w", err)
	}
	out["rules_sweep_cost"] = sweep
	out["rules_vs_elastalert2"] = ob.sideBySide(node.URL(), home)
	return out, nil
}

// ---- 1. evaluator throughput ----

var evalBenchRules = []struct{ name, yaml string }{
	{"any", "type: any\n"},
	{"blacklist", "type: blacklist\ncompare_key: client_ip\nblacklist: [10.0.0.1]\n"},
	{"change", "type: change\nquery_key: client_ip\ncompare_key: user.name\nignore_null: true\n"},
	{"frequency", "type: frequency\nnum_events: 1000000\ntimeframe: {minutes: 5}\n"},
	{"frequency_query_key", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\n"},
	{"frequency_query_key_filtered", "type: frequency\nnum_events: 1000\ntimeframe: {minutes: 5}\nquery_key: client_ip\nfilter:\n- range: {status: {gte: 500}}\n"},
	{"spike", "type: spike\ntimeframe: {minutes: 1}\nspike_height: 3\nspike_type: both\nthreshold_cur: 5\nquery_key: client_ip\n"},
	{"flatline", "type: flatline\ntimeframe: {minutes: 5}\nthreshold: 1\nquery_key: client_ip\n"},
	{"new_term", "type: new_term\nfields: [[client_ip, user.name]]\n"},
	{"cardinality", "type: cardinality\ntimeframe: {minutes: 5}\ncardinality_field: user.name\nmax_cardinality: 100\nquery_key: client_ip\n"},
	{"metric_aggregation", "type: metric_aggregation\nmetric_agg_key: response_time_ms\nmetric_agg_type: avg\nmax_threshold: 100000\nquery_key: client_ip\n"},
	{"percentage_match", "type: percentage_match\nmax_percentage: 50\nmatch_bucket_filter:\n- term: {status: 500}\nquery_key: client_ip\n"},
}

var benchT0 = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// evalEvents are n events 1 ms apart over 1000 client IPs and 50 users, with
// RFC 3339 timestamps as they arrive from OpenSearch.
func evalEvents(n int) []rules.Event {
	out := make([]rules.Event, n)
	for i := range out {
		out[i] = rules.Event{
			"@timestamp":       benchT0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"client_ip":        fmt.Sprintf("10.0.%d.%d", i%1000/250, i%250),
			"status":           float64(200 + 300*(i%7/6)),
			"user":             map[string]any{"name": fmt.Sprintf("user%d", i%50)},
			"response_time_ms": float64(i % 1500),
			"request":          map[string]any{"path": "/api/v1/login"},
		}
	}
	return out
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// evaluatorThroughput evaluates each rule type over 200k in-memory events in
// one sweep, repeated for at least 0.4 s, on one P (GOMAXPROCS=1).
func evaluatorThroughput() map[string]any {
	const n = 200_000
	events := evalEvents(n)
	end := benchT0.Add(n * time.Millisecond)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	perType := map[string]any{}
	for _, br := range evalBenchRules {
		r, err := rules.Parse(br.name+".yaml", []byte("name: bench\nindex: i\n"+br.yaml))
		if err != nil {
			perType[br.name] = map[string]any{"error": err.Error()}
			continue
		}
		runtime.GC()
		var total int
		var matches int
		cpu0, began := cpuNow(), time.Now()
		for time.Since(began) < 400*time.Millisecond {
			ms, err := r.Evaluate(&rules.State{}, events, benchT0.Add(-time.Second), end)
			if err != nil {
				perType[br.name] = map[string]any{"error": err.Error()}
				break
			}
			total += n
			matches = len(ms)
		}
		wall, cpu := time.Since(began), cpuNow()-cpu0
		fig := map[string]any{"events": total, "events_per_s": round2(float64(total) / wall.Seconds()), "matches_per_sweep": matches}
		if cpu > 0 {
			fig["events_per_cpu_s"] = round2(float64(total) / cpu.Seconds())
		}
		perType[br.name] = fig
	}
	return map[string]any{
		"what":     "Rule.Evaluate over 200k in-memory events (1000 client IPs, 50 users) in one sweep, GOMAXPROCS=1; events_per_cpu_s is per process CPU-second (GC included)",
		"target":   "frequency_query_key >= 1M events/s on one core",
		"per_type": perType,
	}
}

// ---- shared OpenSearch plumbing ----

// countingTransport counts requests and response body bytes (as received,
// before any decompression the client might do; none is requested here).
type countingTransport struct {
	next     http.RoundTripper
	requests atomic.Int64
	bytes    atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	res, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	res.Body = &countingBody{ReadCloser: res.Body, n: &t.bytes}
	return res, nil
}

func (t *countingTransport) reset() (requests, bytes int64) {
	return t.requests.Swap(0), t.bytes.Swap(0)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type osBench struct {
	ctx context.Context
	c   *opensearchgo.Client
	ct  *countingTransport
}

func (o *osBench) do(res *opensearchapi.Response, err error, v any) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.IsError() {
		return fmt.Errorf("%s: %.500s", res.Status(), b)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// putTemplate maps every string of the bench indices as keyword, as irflow
// expects for query keys and compared fields (docs/rules.md).
func (o *osBench) putTemplate() error {
	body := `{"index_patterns": ["bench-*"], "template": {
		"settings": {"number_of_shards": 1, "number_of_replicas": 0},
		"mappings": {"dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
			"properties": {"@timestamp": {"type": "date"}}}}}`
	res, err := o.c.Indices.PutIndexTemplate("bench", strings.NewReader(body), o.c.Indices.PutIndexTemplate.WithContext(o.ctx))
	return o.do(res, err, nil)
}

func (o *osBench) bulk(index string, body []byte) error {
	res, err := o.c.Bulk(bytes.NewReader(body), o.c.Bulk.WithIndex(index), o.c.Bulk.WithContext(o.ctx))
	var resp struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Error any `json:"error"`
		} `json:"items"`
	}
	if err := o.do(res, err, &resp); err != nil {
		return err
	}
	if resp.Errors {
		for _, it := range resp.Items {
			for _, v := range it {
				if v.Error != nil {
					return fmt.Errorf("bulk into %s: %v", index, v.Error)
				}
			}
		}
	}
	return nil
}

func (o *osBench) refresh(index string) error {
	res, err := o.c.Indices.Refresh(o.c.Indices.Refresh.WithIndex(index), o.c.Indices.Refresh.WithContext(o.ctx))
	return o.do(res, err, nil)
}

// sweep runs one sweep of r over (start, end] through the client and returns
// the matches; documents are paged with search_after.
func (o *osBench) sweep(r *rules.Rule, st *rules.State, start, end time.Time) ([]rules.Match, error) {
	var after []any
	var docs []rules.Event
	for {
		s := r.BuildSearch(start, end, after)
		body, err := json.Marshal(s.Body)
		if err != nil {
			return nil, err
		}
		var resp map[string]any
		res, err := o.c.Search(o.c.Search.WithContext(o.ctx), o.c.Search.WithIndex(s.Index), o.c.Search.WithBody(bytes.NewReader(body)))
		if err := o.do(res, err, &resp); err != nil {
			return nil, fmt.Errorf("search %s: %w", s.Index, err)
		}
		if !s.Docs {
			return r.AggregationMatches(st, resp, start, end)
		}
		hits, _ := resp["hits"].(map[string]any)
		list, _ := hits["hits"].([]any)
		for _, h := range list {
			hm, _ := h.(map[string]any)
			src, _ := hm["_source"].(map[string]any)
			docs = append(docs, rules.Event(src))
			after, _ = hm["sort"].([]any)
		}
		if len(list) < rules.PageSize {
			return r.EvaluateHits(st, docs, start, end)
		}
	}
}

// ---- 2. sweep cost as the index grows ----

const sweepIndex = "bench-sweep"

// sweepDocs appends n small bulk-index lines, timestamps spread over the
// 10-minute sweep window starting at benchT0 (offset by phase so batches
// interleave), 1000 client IPs and 5000 users.
func sweepDocs(buf []byte, from, n, total int, phase time.Duration) []byte {
	step := 10 * time.Minute / time.Duration(total)
	for i := from; i < from+n; i++ {
		ts := benchT0.Add(phase + time.Duration(i)*step + time.Millisecond)
		buf = append(buf, `{"index":{}}`+"\n"+`{"@timestamp":"`...)
		buf = ts.AppendFormat(buf, "2006-01-02T15:04:05.000Z")
		buf = append(buf, `","client_ip":"10.1.`...)
		buf = strconv.AppendInt(buf, int64(i%1000/250), 10)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(i%250), 10)
		buf = append(buf, `","user":{"name":"u`...)
		buf = strconv.AppendInt(buf, int64(i*7919%5000), 10)
		buf = append(buf, `"},"status":`...)
		buf = strconv.AppendInt(buf, int64(200+300*(i%7/6)), 10)
		buf = append(buf, "}\n"...)
	}
	return buf
}

// indexSweepDocs bulk-indexes n docs in 10k-doc requests from two writers.
func (o *osBench) indexSweepDocs(n int, phase time.Duration) (time.Duration, error) {
	const per = 10_000
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, per*160)
			for {
				from := int(next.Add(per)) - per
				if from >= n {
					return
				}
				buf = sweepDocs(buf[:0], from, min(per, n-from), n, phase)
				if err := o.bulk(sweepIndex, buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(began), o.refresh(sweepIndex)
}

func (o *osBench) sweepCost() (map[string]any, error) {
	res, err := o.c.Indices.Create(sweepIndex, o.c.Indices.Create.WithContext(o.ctx), o.c.Indices.Create.WithBody(strings.NewReader(
		`{"settings": {"refresh_interval": "-1", "translog.durability": "async"}}`)))
	if err := o.do(res, err, nil); err != nil {
		return nil, err
	}
	ruleYAML := map[string]string{
		"frequency_query_key": "type: frequency\nnum_events: 100\ntimeframe: {minutes: 10}\nquery_key: client_ip\n",
		"cardinality":         "type: cardinality\ncardinality_field: user.name\nmax_cardinality: 50\ntimeframe: {minutes: 10}\nquery_key: client_ip\n",
		"metric_aggregation":  "type: metric_aggregation\nmetric_agg_key: status\nmetric_agg_type: avg\nmax_threshold: 400\nquery_key: client_ip\n",
	}
	start, end := benchT0, benchT0.Add(10*time.Minute)
	measure := func() (map[string]any, error) {
		out := map[string]any{}
		for name, y := range ruleYAML {
			r, err := rules.Parse(name+".yaml", []byte("name: "+name+"\nindex: "+sweepIndex+"\n"+y))
			if err != nil {
				return nil, err
			}
			var durs []time.Duration
			var q, b int64
			var matches int
			for i := range 5 {
				o.ct.reset()
				began := time.Now()
				ms, err := o.sweep(r, &rules.State{}, start, end)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				durs = append(durs, time.Since(began))
				if i == 0 {
					q, b = o.ct.reset()
					matches = len(ms)
				}
			}
			slices.Sort(durs)
			out[name] = map[string]any{"queries": q, "response_bytes": b, "matches": matches, "median_ms": round2(float64(durs[2].Microseconds()) / 1000)}
		}
		return out, nil
	}

	// BENCH_RULES_EVENTS lowers the large size for quick runs.
	const small = 10_000
	large := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_RULES_EVENTS")); err == nil && v > small {
		large = v
	}
	progress("rules: bulk-indexing %d docs", small)
	took, err := o.indexSweepDocs(small, 0)
	if err != nil {
		return nil, err
	}
	at10k, err := measure()
	if err != nil {
		return nil, err
	}
	// What a document-fetching sweep (ElastAlert2's default for these types)
	// pulls for the same window, measured at 10k.
	anyRule, err := rules.Parse("any.yaml", []byte("name: any\nindex: "+sweepIndex+"\ntype: any\nquery_key: client_ip\n"))
	if err != nil {
		return nil, err
	}
	o.ct.reset()
	if _, err := o.sweep(anyRule, &rules.State{}, start, end); err != nil {
		return nil, err
	}
	docQ, docB := o.ct.reset()

	progress("rules: bulk-indexing %d more docs (10k-doc bulk requests, 2 writers)", large-small)
	took2, err := o.indexSweepDocs(large-small, 250*time.Microsecond)
	if err != nil {
		return nil, err
	}
	at1M, err := measure()
	if err != nil {
		return nil, err
	}
	ratio := map[string]any{}
	for name := range ruleYAML {
		a, b := at10k[name].(map[string]any), at1M[name].(map[string]any)
		ratio[name] = map[string]any{
			"queries":        round2(float64(b["queries"].(int64)) / float64(a["queries"].(int64))),
			"response_bytes": round2(float64(b["response_bytes"].(int64)) / float64(a["response_bytes"].(int64))),
			"median_ms":      round2(b["median_ms"].(float64) / a["median_ms"].(float64)),
		}
	}
	return map[string]any{
		"what":                    "one sweep over a 10-minute window holding every indexed event (1000 client IPs, 5000 users), aggregation path; queries and response bytes counted by an http.RoundTripper on the opensearch-go client",
		"at_10k":                  at10k,
		"at_1m":                   at1M,
		"ratio_1m_over_10k":       ratio,
		"doc_fetch_at_10k":        map[string]any{"queries": docQ, "response_bytes": docB, "note": "type any with query_key, documents paged 1000 at a time with _source filtered; grows linearly with events (1M would be ~1000 pages)"},
		"bulk_index_10k_s":        round2(took.Seconds()),
		"bulk_index_rest_s":       round2(took2.Seconds()),
		"bulk_index_docs_per_s":   round2(float64(large-small) / took2.Seconds()),
		"indexed_events_at_large": large,
	}, nil
}

// ---- 3. side by side with ElastAlert2 ----

// sideRules are deploy/rules files both engines support, one per type here.
var sideRules = []string{"login-failures-per-ip", "many-users-per-ip", "fe-5xx-burst", "waf-blocked-spike", "waf-xss-body", "admin-from-outside"}

type sideMatch struct {
	TS  string `json:"@timestamp"`
	Key string `json:"key"`
}

func (o *osBench) sideBySide(nodeURL, home string) map[string]any {
	out := map[string]any{"what": "the same deploy/rules files (index renamed to one bench index each, alerters dropped) over their .fires.ndjson data on the same node and time range. " +
		"irflow_sweep: irflow's live path (BuildSearch + AggregationMatches/Evaluate, one sweep per run_every = 1m); irflow_backtest: rules.Backtest in memory (no I/O); " +
		"elastalert2_live_1m: ElastAlert2 2.19.0 run_rule per 1-minute window in sequence, as live with run_every 1m; elastalert2_once: one run_rule over the range (elastalert --start/--end --debug). " +
		"Bytes are response bodies counted on the wire (RoundTripper for irflow, a counting reverse proxy for ElastAlert2). Match = @timestamp + query_key value (irflow's spike key \"all\" without query_key read as empty)."}
	fail := func(err error) map[string]any {
		out["error"] = err.Error()
		return out
	}
	root, err := checkout.Root()
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(home, "elastalert")
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		return fail(err)
	}
	var lo, hi time.Time
	loaded := map[string]*rules.Rule{}
	data := map[string][]rules.Event{}
	for _, name := range sideRules {
		path := filepath.Join(root, "deploy", "rules", name+".yaml")
		r, err := rules.LoadFile(path)
		if err != nil {
			return fail(err)
		}
		index := "bench-ea-" + name
		r.Index = index
		events, err := rules.ReadNDJSONFile(filepath.Join(root, "deploy", "rules", "testdata", name+".fires.ndjson"))
		if err != nil {
			return fail(err)
		}
		var buf []byte
		for _, ev := range events {
			b, _ := json.Marshal(ev)
			buf = append(append(append(buf, `{"index":{}}`+"\n"...), b...), '\n')
			if t, err := r.Time(ev); err == nil {
				if lo.IsZero() || t.Before(lo) {
					lo = t
				}
				if t.After(hi) {
					hi = t
				}
			}
		}
		if err := o.bulk(index, buf); err != nil {
			return fail(err)
		}
		if err := o.refresh(index); err != nil {
			return fail(err)
		}
		if err := writeEARule(path, filepath.Join(root, "deploy", "rules"), filepath.Join(dir, "rules", name+".yaml"), index); err != nil {
			return fail(err)
		}
		loaded[name], data[name] = r, events
	}
	start := lo.Truncate(time.Minute).Add(-time.Minute)
	end := hi.Truncate(time.Minute).Add(2 * time.Minute)
	out["range"] = map[string]string{"start": start.Format(time.RFC3339), "end": end.Format(time.RFC3339)}

	matches := map[string]map[string][]string{} // rule -> engine -> normalised matches
	put := func(rule, engine string, ms []string) {
		if matches[rule] == nil {
			matches[rule] = map[string][]string{}
		}
		matches[rule][engine] = ms
	}
	irOut := map[string]any{}
	var irQ, irB int64
	var irWall time.Duration
	for _, name := range sideRules {
		r := loaded[name]
		st := &rules.State{}
		o.ct.reset()
		began := time.Now()
		var ms []rules.Match
		sweeps := 0
		for s := start; s.Before(end); s = s.Add(r.RunEvery) {
			got, err := o.sweep(r, st, s, s.Add(r.RunEvery))
			if err != nil {
				return fail(fmt.Errorf("irflow sweep %s: %w", name, err))
			}
			ms = append(ms, got...)
			sweeps++
		}
		wall := time.Since(began)
		q, b := o.ct.reset()
		irQ, irB, irWall = irQ+q, irB+b, irWall+wall
		put(name, "irflow_sweep", normGo(r, ms))
		irOut[name] = map[string]any{"type": r.Type, "matches": len(ms), "sweeps": sweeps, "queries": q, "response_bytes": b, "ms": round2(float64(wall.Microseconds()) / 1000)}

		bt, err := rules.Backtest(r, data[name], r.RunEvery)
		if err != nil {
			return fail(fmt.Errorf("irflow backtest %s: %w", name, err))
		}
		put(name, "irflow_backtest", normGo(r, bt.Matches))
	}
	out["irflow_sweep"] = map[string]any{"per_rule": irOut, "queries": irQ, "response_bytes": irB, "ms": round2(float64(irWall.Microseconds()) / 1000)}

	proxy, err := startCountingProxy(nodeURL)
	if err != nil {
		return fail(err)
	}
	defer proxy.Close()
	if err := createEAIndex(root, dir, proxy); err != nil {
		out["elastalert2"] = map[string]any{"ran": false, "error": err.Error()}
		return out
	}
	for _, run := range []struct {
		name string
		step time.Duration
	}{{"elastalert2_live_1m", time.Minute}, {"elastalert2_once", 0}} {
		ea, eaMatches, err := runElastAlert2(root, dir, proxy, start, end, run.step)
		if err != nil {
			out[run.name] = map[string]any{"ran": false, "error": err.Error()}
			continue
		}
		out[run.name] = ea
		for _, name := range sideRules {
			put(name, run.name, normEA(eaMatches[name]))
		}
		tag := strings.TrimPrefix(run.name, "elastalert2_")
		if eaB := ea["rule_query_bytes"].(int64); irB > 0 {
			out["ratio_bytes_elastalert2_"+tag+"_over_irflow_sweep"] = round2(float64(eaB) / float64(irB))
		}
		if irWall > 0 {
			out["ratio_time_elastalert2_"+tag+"_over_irflow_sweep"] = round2(ea["run_rule_ms"].(float64) / (float64(irWall.Microseconds()) / 1000))
		}
	}
	out["matches"] = matches
	for _, pair := range [][2]string{{"irflow_sweep", "elastalert2_live_1m"}, {"irflow_backtest", "elastalert2_live_1m"}, {"irflow_backtest", "elastalert2_once"}} {
		verdicts := map[string]string{}
		for _, name := range sideRules {
			verdicts[name] = verdict(matches[name][pair[0]], matches[name][pair[1]])
		}
		out[pair[0]+"_vs_"+pair[1]] = verdicts
	}
	return out
}

// verdict compares two engines' matches: identical, the same alerts (same
// keys, same count) stamped at different times, or different.
func verdict(a, b []string) string {
	if b == nil {
		return "elastalert2 did not run"
	}
	if slices.Equal(a, b) {
		return "identical"
	}
	keys := func(ms []string) []string {
		out := []string{}
		for _, m := range ms {
			_, k, _ := strings.Cut(m, " ")
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if slices.Equal(keys(a), keys(b)) {
		return "same alerts, different @timestamp"
	}
	return "different"
}

func normGo(r *rules.Rule, ms []rules.Match) []string {
	out := []string{}
	for _, m := range ms {
		key := m.Key
		if len(r.QueryKey) == 0 && key == "all" {
			key = ""
		}
		out = append(out, m.Time.UTC().Format("15:04:05.000")+" "+key)
	}
	sort.Strings(out)
	return out
}

func normEA(ms []sideMatch) []string {
	out := []string{}
	for _, m := range ms {
		ts := m.TS
		if t, err := time.Parse(time.RFC3339Nano, m.TS); err == nil {
			ts = t.UTC().Format("15:04:05.000")
		}
		out = append(out, ts+" "+m.Key)
	}
	sort.Strings(out)
	return out
}

// writeEARule writes an ElastAlert2 copy of a deploy/rules file: the imported
// partial merged in (the child wins), the index renamed, alerters replaced by
// debug (they would otherwise need Slack credentials).
func writeEARule(path, dir, dest, index string) error {
	load := func(p string) (map[string]any, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return m, nil
	}
	child, err := load(path)
	if err != nil {
		return err
	}
	merged := map[string]any{}
	if imp, ok := child["import"].(string); ok {
		parent, err := load(filepath.Join(dir, imp))
		if err != nil {
			return err
		}
		for k, v := range parent {
			merged[k] = v
		}
	}
	for k, v := range child {
		merged[k] = v
	}
	for k := range merged {
		if k == "import" || k == "alert" || strings.HasPrefix(k, "slack_") || strings.HasPrefix(k, "sns_") {
			delete(merged, k)
		}
	}
	merged["index"] = index
	merged["alert"] = []string{"debug"}
	b, err := yaml.Marshal(merged)
	if err != nil {
		return err
	}
	return os.WriteFile(dest, b, 0o644)
}

// countingProxy forwards ElastAlert2's requests to the node and counts
// response bytes: searches, counts and scrolls on the bench indices apart
// from everything else (writeback index, GET /).
type countingProxy struct {
	srv                          *http.Server
	port                         int
	ruleQ, ruleB, otherQ, otherB atomic.Int64
}

func startCountingProxy(nodeURL string) (*countingProxy, error) {
	target, err := url.Parse(nodeURL)
	if err != nil {
		return nil, err
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		q, b := &p.otherQ, &p.otherB
		if path := r.Request.URL.Path; strings.Contains(path, "bench-ea-") && (strings.Contains(path, "_search") || strings.Contains(path, "_count")) || strings.HasPrefix(path, "/_search/scroll") {
			q, b = &p.ruleQ, &p.ruleB
		}
		q.Add(1)
		r.Body = &countingBody{ReadCloser: r.Body, n: b}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: rp}
	p.port = l.Addr().(*net.TCPAddr).Port
	go p.srv.Serve(l)
	return p, nil
}

func (p *countingProxy) Close() error { return p.srv.Close() }

func (p *countingProxy) reset() (ruleQ, ruleB, otherQ, otherB int64) {
	return p.ruleQ.Swap(0), p.ruleB.Swap(0), p.otherQ.Swap(0), p.otherB.Swap(0)
}

// createEAIndex writes ElastAlert2's config and creates its writeback
// indices on the node with elastalert-create-index from .venv.
func createEAIndex(root, dir string, p *countingProxy) error {
	bin := filepath.Join(root, ".venv", "bin", "elastalert-create-index")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no %s: run `make venv` (creates .venv with elastalert2==2.19.0)", bin)
	}
	cfg := fmt.Sprintf("rules_folder: %s\nrun_every: {minutes: 1}\nbuffer_time: {minutes: 15}\nes_host: 127.0.0.1\nes_port: %d\nwriteback_index: bench_elastalert_status\nalert_time_limit: {days: 2}\nold_query_limit: {weeks: 520}\nmax_query_size: 10000\n",
		filepath.Join(dir, "rules"), p.port)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	var stderr bytes.Buffer
	create := exec.Command(bin, "--config", filepath.Join(dir, "config.yaml"))
	create.Stdout, create.Stderr = &stderr, &stderr
	if err := create.Run(); err != nil {
		return fmt.Errorf("elastalert-create-index: %v: %s", err, tail(stderr.String(), 1500))
	}
	return nil
}

// runElastAlert2 runs run_rules.py from .venv over (start, end], in one call
// (step 0) or in consecutive windows of step, through the counting proxy.
func runElastAlert2(root, dir string, p *countingProxy, start, end time.Time, step time.Duration) (map[string]any, map[string][]sideMatch, error) {
	py := filepath.Join(root, ".venv", "bin", "python")
	p.reset()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, filepath.Join(root, "internal", "cmd", "bench", "elastalert", "run_rules.py"),
		"--config", filepath.Join(dir, "config.yaml"), "--step-seconds", strconv.Itoa(int(step.Seconds())),
		"--start", start.Format("2006-01-02T15:04:05Z"), "--end", end.Format("2006-01-02T15:04:05Z"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	wall := time.Since(began)
	if err != nil {
		return nil, nil, fmt.Errorf("run_rules.py: %v: %s", err, tail(stderr.String(), 1500))
	}
	var got map[string]struct {
		Seconds float64     `json:"seconds"`
		Runs    int         `json:"runs"`
		Hits    int         `json:"hits"`
		Matches []sideMatch `json:"matches"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		return nil, nil, fmt.Errorf("run_rules.py output: %v: %.500s", err, stdout.String())
	}
	if len(got) != len(sideRules) {
		return nil, nil, fmt.Errorf("ElastAlert2 loaded %d of %d rules: %s", len(got), len(sideRules), tail(stderr.String(), 1500))
	}
	matches := map[string][]sideMatch{}
	perRule := map[string]any{}
	var runMs float64
	for name, g := range got {
		matches[name] = g.Matches
		runMs += g.Seconds * 1000
		perRule[name] = map[string]any{"matches": len(g.Matches), "runs": g.Runs, "hits": g.Hits, "ms": round2(g.Seconds * 1000)}
	}
	ruleQ, ruleB, otherQ, otherB := p.reset()
	return map[string]any{
		"ran":              true,
		"version":          "2.19.0",
		"per_rule":         perRule,
		"rule_queries":     ruleQ,
		"rule_query_bytes": ruleB,
		"other_requests":   otherQ,
		"other_bytes":      otherB,
		"run_rule_ms":      round2(runMs),
		"process_wall_ms":  round2(float64(wall.Microseconds()) / 1000),
	}, matches, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
