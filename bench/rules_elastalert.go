// irflow side by side with ElastAlert2 (via elastalert/run_rules.py) on the
// same node, rules and data: matches, queries, response bytes and time.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/rules"
)

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
	cmd := exec.Command(py, filepath.Join(root, "bench", "elastalert", "run_rules.py"),
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
