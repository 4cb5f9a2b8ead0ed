// irflow side by side with ElastAlert2 (via elastalert/run_rules.py) on the
// whole deploy/rules pack: the same node, index and time range for both,
// matches compared one by one and every difference given its reason.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/rules"
)

// sideIndexTag is in every side-by-side index name, so the counting proxy
// tells ElastAlert2's rule queries from its writeback requests.
const sideIndexTag = "bench-ea-"

// sideKinds are the fixture files of a pack rule: fires must match, quiet
// must not (deploy/rules/README.md).
var sideKinds = []string{"fires", "quiet"}

// sideReasons explain, case by case ("<rule>/<kind>"), why irflow and
// ElastAlert2 differ. Each was checked against both engines' code on this
// data; a difference without an entry is reported as unexplained, an entry
// whose case turned identical is reported as stale.
var sideReasons = map[string]string{}

// notInElastAlert2 says why a pack rule has no ElastAlert2 counterpart to
// compare with ("" when it has one): Sigma files, and irflow's baseline types.
func notInElastAlert2(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if rules.IsSigma(data) {
		return "a Sigma rule: ElastAlert2 needs an external converter (sigma-cli) to run it", nil
	}
	r, err := rules.LoadFile(path)
	if err != nil {
		return "", err
	}
	switch r.Type {
	case rules.TypeAnomaly, rules.TypeRare:
		return "type " + r.Type + " is irflow's own (baselines); ElastAlert2 has no such rule type", nil
	}
	return "", nil
}

// sideCase is one pack rule over one of its fixture files.
type sideCase struct {
	rule, kind string
	r          *rules.Rule
	// (from, to] is what both engines sweep, in run_every steps.
	from, to time.Time
	eaName   string
}

func (c sideCase) id() string { return c.rule + "/" + c.kind }

// sideMatch is one match as run_rules.py prints it.
type sideMatch struct {
	TS  string `json:"@timestamp"`
	Key string `json:"key"`
}

// eaResult is one rule's run in run_rules.py.
type eaResult struct {
	Error   string      `json:"error"`
	Seconds float64     `json:"seconds"`
	Runs    int         `json:"runs"`
	Hits    int         `json:"hits"`
	Matches []sideMatch `json:"matches"`
}

func (o *osBench) sideBySide(nodeURL string) map[string]any {
	out := map[string]any{"what": "every deploy/rules ElastAlert2 rule (the 25 of ElastAlert2's types; Sigma files and irflow's anomaly and rare rules are listed in not_compared; _*.yaml partials merged in) over its testdata fires and quiet fixtures, each fixture alone in an index under the real index template (deploy/opensearch) on one node. " +
		"irflow: activities.Search.Backtest, the production sweep (Search.Sweep) looped over consecutive run_every windows with one carried state, as the rule's Schedule runs it. " +
		"elastalert2_live: ElastAlert2 2.19.0 run_rule at every run_every over the same range with its clock (ts_now) at the run's end, as a live ElastAlert2 (buffer_time windows, realert silences) computes it; " +
		"elastalert2_once: one run_rule over the range on the real clock (elastalert --start/--end --debug), for its cost and match count only. " +
		"ElastAlert2's copy of each rule: index renamed, alert: [debug], irflow-only keys dropped (severity, env, slack_*, sns_*). " +
		"A match is its @timestamp (ms) and its query_key value (none for a rule without query_key, where both engines put a placeholder: ElastAlert2's flatline \"all\", irflow's spike \"all\", irflow's flatline \"\"); identical means the same multiset of matches. " +
		"Bytes are response bodies counted on the wire: an http.RoundTripper under irflow's client, a counting reverse proxy for ElastAlert2."}
	fail := func(err error) map[string]any {
		out["error"] = err.Error()
		return out
	}
	root, err := checkout.Root()
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "irflow-bench-elastalert-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		return fail(err)
	}
	if err := opensearch.InstallLogAssets(o.ctx, o.c, "", slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return fail(err)
	}
	pack := filepath.Join(root, "deploy", "rules")
	files, err := rules.Files(pack)
	if err != nil {
		return fail(err)
	}
	progress("rules-elastalert2: indexing the fixtures of %d rules", len(files))
	var cases []sideCase
	var skipped []map[string]string
	for _, f := range files {
		// Rules ElastAlert2 has no counterpart for are listed, not compared.
		if why, err := notInElastAlert2(f); err != nil {
			return fail(err)
		} else if why != "" {
			skipped = append(skipped, map[string]string{"rule": f, "why": why})
			continue
		}
		for _, kind := range sideKinds {
			c, err := o.loadSideCase(pack, f, kind, dir)
			if os.IsNotExist(err) && kind != "fires" {
				continue
			}
			if err != nil {
				return fail(err)
			}
			cases = append(cases, c)
		}
	}

	// irflow: the production sweep path, through the counting client.
	progress("rules-elastalert2: irflow Search.Backtest over %d fixtures", len(cases))
	irMatches := map[string][]string{}
	irPer := map[string]any{}
	var irQ, irB int64
	var irWall time.Duration
	for _, c := range cases {
		o.ct.reset()
		began := time.Now()
		res, err := o.search.Backtest(o.ctx, c.r, c.from, c.to, 0, nil)
		wall := time.Since(began)
		if err != nil {
			return fail(fmt.Errorf("irflow backtest %s: %w", c.id(), err))
		}
		q, b := o.ct.reset()
		irQ, irB, irWall = irQ+q, irB+b, irWall+wall
		irMatches[c.id()] = normGo(c.r, res.Matches)
		irPer[c.id()] = map[string]any{"matches": len(res.Matches), "sweeps": res.Sweeps, "queries": q, "response_bytes": b, "ms": ms(wall)}
	}
	out["irflow"] = map[string]any{"per_fixture": irPer, "queries": irQ, "response_bytes": irB, "ms": ms(irWall)}

	proxy, err := startCountingProxy(nodeURL)
	if err != nil {
		return fail(err)
	}
	defer proxy.Close()
	if err := createEAIndex(root, dir, proxy); err != nil {
		out["elastalert2"] = map[string]any{"ran": false, "error": err.Error()}
		return out
	}
	eaRuns := map[string]map[string]eaResult{}
	for _, mode := range []string{"live", "once"} {
		progress("rules-elastalert2: ElastAlert2 %s", mode)
		plan, err := writePlan(dir, mode, cases)
		if err != nil {
			return fail(err)
		}
		figs, got, err := runElastAlert2(root, dir, plan, proxy, mode, cases)
		if err != nil {
			out["elastalert2_"+mode] = map[string]any{"ran": false, "error": err.Error()}
			continue
		}
		eaRuns[mode] = got
		out["elastalert2_"+mode] = figs
		if eaB := figs["rule_query_bytes"].(int64); irB > 0 {
			out["ratio_bytes_elastalert2_"+mode+"_over_irflow"] = round2(float64(eaB) / float64(irB))
		}
		if irWall > 0 {
			out["ratio_time_elastalert2_"+mode+"_over_irflow"] = round2(figs["run_rule_ms"].(float64) / ms(irWall))
		}
	}
	per, summary := compareSide(cases, irMatches, eaRuns["live"], eaRuns["once"])
	out["per_rule"], out["summary"] = per, summary
	out["not_compared"] = skipped
	return out
}

// loadSideCase loads rule file f, indexes its <kind> fixture into an index
// of its own and writes ElastAlert2's copy of the rule into dir/rules.
func (o *osBench) loadSideCase(pack, f, kind, dir string) (sideCase, error) {
	base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
	events, err := rules.ReadNDJSONFile(filepath.Join(pack, "testdata", base+"."+kind+".ndjson"))
	if err != nil {
		return sideCase{}, err
	}
	r, err := rules.LoadFile(f)
	if err != nil {
		return sideCase{}, err
	}
	// A name the rule's index pattern covers, so the real template maps it.
	pattern := strings.TrimSpace(strings.Split(r.Index, ",")[0])
	r.Index = strings.TrimSuffix(pattern, "*") + sideIndexTag + base + "-" + kind
	if err := o.createIndex(r.Index); err != nil {
		return sideCase{}, err
	}
	var buf []byte
	var lo, hi time.Time
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return sideCase{}, err
		}
		buf = append(append(append(buf, `{"index":{}}`+"\n"...), b...), '\n')
		t, err := r.Time(ev)
		if err != nil {
			return sideCase{}, fmt.Errorf("%s.%s.ndjson line %d: %w", base, kind, i+1, err)
		}
		if i == 0 || t.Before(lo) {
			lo = t
		}
		if i == 0 || t.After(hi) {
			hi = t
		}
	}
	if err := o.bulk(r.Index, buf); err != nil {
		return sideCase{}, err
	}
	if err := o.refresh(r.Index); err != nil {
		return sideCase{}, err
	}
	// From the run_every step holding the first event to the one holding the
	// last, as deploy/rules/pack_sweep_test.go sweeps the pack.
	from := lo.Truncate(r.RunEvery)
	if !lo.After(from) {
		from = from.Add(-r.RunEvery)
	}
	if r.Type == rules.TypeNewTerm {
		// The first step's events are the history both engines load their
		// known terms from (terms_window_size before from), as the pack's
		// NDJSON backtest takes its first sweep as known terms.
		from = from.Add(r.RunEvery)
	}
	steps := (hi.Sub(from) + r.RunEvery - 1) / r.RunEvery
	c := sideCase{rule: base, kind: kind, r: r, from: from, to: from.Add(steps * r.RunEvery), eaName: base + "." + kind}
	if err := writeEARule(f, pack, filepath.Join(dir, "rules", c.eaName+".yaml"), c.eaName, r.Index); err != nil {
		return c, err
	}
	return c, nil
}

// createIndex creates index under the real template with its default
// ingest pipeline off: the fixtures are stored documents already.
func (o *osBench) createIndex(index string) error {
	res, err := o.c.Indices.Create(index, o.c.Indices.Create.WithContext(o.ctx),
		o.c.Indices.Create.WithBody(strings.NewReader(`{"settings":{"index.default_pipeline":"_none"}}`)))
	return o.do(res, err, nil)
}

// compareSide builds the per-rule table and the summary: ElastAlert2 live
// against irflow, each difference with its reason.
func compareSide(cases []sideCase, ir map[string][]string, live, once map[string]eaResult) (map[string]any, map[string]any) {
	per := map[string]any{}
	var compared, identical int
	var cannotLoad, unexplained, stale []string
	differences := []map[string]string{}
	for _, c := range cases {
		row, _ := per[c.rule].(map[string]any)
		if row == nil {
			row = map[string]any{"type": c.r.Type}
			per[c.rule] = row
		}
		got := ir[c.id()]
		fig := map[string]any{"irflow": len(got), "range": c.from.UTC().Format(time.RFC3339) + " .. " + c.to.UTC().Format(time.RFC3339)}
		row[c.kind] = fig
		if o, ok := once[c.eaName]; ok && o.Error == "" {
			fig["elastalert2_once"] = len(o.Matches)
		}
		ea, ok := live[c.eaName]
		switch {
		case live == nil:
			fig["reason"] = "ElastAlert2 did not run"
			continue
		case !ok:
			fig["reason"] = "ElastAlert2 printed no result for " + c.eaName
			cannotLoad = append(cannotLoad, c.id())
			continue
		case ea.Error != "":
			fig["reason"] = "ElastAlert2 cannot load or run it: " + ea.Error
			cannotLoad = append(cannotLoad, c.id())
			continue
		}
		compared++
		want := normEA(c.r, ea.Matches)
		fig["elastalert2"] = len(want)
		same := slices.Equal(got, want)
		fig["identical"] = same
		reason, known := sideReasons[c.id()]
		if same {
			identical++
			if known {
				stale = append(stale, c.id())
			}
			continue
		}
		onlyIr, onlyEA := diffSorted(got, want)
		fig["only_irflow"], fig["only_elastalert2"] = onlyIr, onlyEA
		if !known {
			reason = "not explained yet"
			unexplained = append(unexplained, c.id())
		}
		fig["reason"] = reason
		differences = append(differences, map[string]string{"case": c.id(), "reason": reason})
	}
	rulesSeen := map[string]bool{}
	for _, c := range cases {
		rulesSeen[c.rule] = true
	}
	return per, map[string]any{
		"rules":                   len(rulesSeen),
		"fixtures":                len(cases),
		"compared":                compared,
		"identical":               identical,
		"different":               compared - identical,
		"differences":             differences,
		"unexplained":             nonNil(unexplained),
		"elastalert2_cannot_load": nonNil(cannotLoad),
		"stale_reasons":           nonNil(stale),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// diffSorted returns what only a holds and what only b holds, both sorted.
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	onlyA, onlyB = []string{}, []string{}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return onlyA, onlyB
}

func ms(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }

// normGo renders irflow's matches as "HH:MM:SS.mmm key", sorted; a rule
// without query_key has no key, as ElastAlert2's get_query_key_value.
func normGo(r *rules.Rule, matches []rules.Match) []string {
	out := []string{}
	for _, m := range matches {
		key := m.Key
		if len(r.QueryKey) == 0 {
			key = ""
		}
		out = append(out, m.Time.UTC().Format("15:04:05.000")+" "+key)
	}
	sort.Strings(out)
	return out
}

// normEA renders ElastAlert2's matches as normGo does; a rule without
// query_key has no key (ElastAlert2's flatline names it "all", irflow's
// leaves it empty: a placeholder on both sides, not a query_key value).
func normEA(r *rules.Rule, ms []sideMatch) []string {
	out := []string{}
	for _, m := range ms {
		ts := m.TS
		if t, err := time.Parse(time.RFC3339Nano, m.TS); err == nil {
			ts = t.UTC().Format("15:04:05.000")
		}
		key := m.Key
		if len(r.QueryKey) == 0 {
			key = ""
		}
		out = append(out, ts+" "+key)
	}
	sort.Strings(out)
	return out
}

// eaDropped are rule keys only irflow reads; ElastAlert2's copy goes
// without them (owner, priority, category and description are ElastAlert2's
// own and stay).
var eaDropped = map[string]bool{"import": true, "alert": true, "severity": true, "env": true}

// writeEARule writes an ElastAlert2 copy of a deploy/rules file: the imported
// partial merged in (the child wins), renamed, the index renamed, alerters
// replaced by debug (they would otherwise need Slack credentials) and the
// irflow-only keys dropped.
func writeEARule(path, dir, dest, name, index string) error {
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
		if eaDropped[k] || strings.HasPrefix(k, "slack_") || strings.HasPrefix(k, "sns_") {
			delete(merged, k)
		}
	}
	merged["name"] = name
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
		if path := r.Request.URL.Path; strings.Contains(path, sideIndexTag) && (strings.Contains(path, "_search") || strings.Contains(path, "_count")) || strings.HasPrefix(path, "/_search/scroll") {
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

// writePlan writes run_rules.py's plan for mode: each case's rule file, range
// and run_every.
func writePlan(dir, mode string, cases []sideCase) (string, error) {
	type entry struct {
		Rule        string `json:"rule"`
		Name        string `json:"name"`
		Start       string `json:"start"`
		End         string `json:"end"`
		StepSeconds int    `json:"step_seconds"`
	}
	plan := []entry{}
	for _, c := range cases {
		plan = append(plan, entry{Rule: filepath.Join(dir, "rules", c.eaName+".yaml"), Name: c.eaName,
			Start: c.from.UTC().Format(time.RFC3339), End: c.to.UTC().Format(time.RFC3339), StepSeconds: int(c.r.RunEvery.Seconds())})
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "plan-"+mode+".json")
	return path, os.WriteFile(path, b, 0o644)
}

// runElastAlert2 runs run_rules.py from .venv over the plan in mode (live
// or once), through the counting proxy.
func runElastAlert2(root, dir, plan string, p *countingProxy, mode string, cases []sideCase) (map[string]any, map[string]eaResult, error) {
	py := filepath.Join(root, ".venv", "bin", "python")
	p.reset()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, filepath.Join(root, "bench", "elastalert", "run_rules.py"),
		"--config", filepath.Join(dir, "config.yaml"), "--plan", plan, "--mode", mode)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	wall := time.Since(began)
	if err != nil {
		return nil, nil, fmt.Errorf("run_rules.py: %v: %s", err, tail(stderr.String(), 1500))
	}
	var got map[string]eaResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		return nil, nil, fmt.Errorf("run_rules.py output: %v: %.500s", err, stdout.String())
	}
	perFixture := map[string]any{}
	var runMs float64
	var loaded int
	for _, c := range cases {
		g, ok := got[c.eaName]
		if !ok || g.Error != "" {
			continue
		}
		loaded++
		runMs += g.Seconds * 1000
		perFixture[c.id()] = map[string]any{"matches": len(g.Matches), "runs": g.Runs, "hits": g.Hits, "ms": round2(g.Seconds * 1000)}
	}
	ruleQ, ruleB, otherQ, otherB := p.reset()
	return map[string]any{
		"ran":              true,
		"version":          "2.19.0",
		"mode":             mode,
		"fixtures_run":     loaded,
		"per_fixture":      perFixture,
		"rule_queries":     ruleQ,
		"rule_query_bytes": ruleB,
		"other_requests":   otherQ,
		"other_bytes":      otherB,
		"run_rule_ms":      round2(runMs),
		"process_wall_ms":  ms(wall),
	}, got, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
