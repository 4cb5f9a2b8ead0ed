// The rules-sigma section: how fast the Sigma pack (deploy/rules/sigma)
// loads and compiles in-process, and what sweeping the whole pack costs per
// minute of logs on the real node (queries, response bytes, time).

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/rules"
)

// sigmaMinute is the minute of logs the pack sweeps: demo logs (seed 1) at
// ten times the demo rates, plus ALB and CloudTrail records built from the
// pack's own fixtures. It starts with the first WAF SQL injection burst the
// demo plays after 10:00 on 2026-11-22, so the WAF rules have work.
var sigmaMinute = func() time.Time {
	from := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, sc := range demologs.Scenarios(1, from, from.Add(time.Hour), sigmaDemoRates) {
		if sc.Kind == demologs.ScenarioWAFSQLiBurst && !sc.Start.Before(from) {
			return sc.Start
		}
	}
	return from
}()

const (
	sigmaALBPerSecond        = 30
	sigmaCloudTrailPerSecond = 5
)

var sigmaDemoRates = demologs.Options{AppPerSecond: 50, FrontendPerSecond: 20, WAFPerSecond: 30}

func benchRulesSigma(e *env) (map[string]any, error) {
	root, err := checkout.Root()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "deploy", "rules", "sigma")
	files, err := rules.Files(dir)
	if err != nil {
		return nil, err
	}
	progress("rules-sigma: compiling the pack (%d rules)", len(files))
	compile, err := sigmaCompileRate(files)
	if err != nil {
		return nil, err
	}
	ob, _, stop, err := startBenchNode(e)
	if err != nil {
		return nil, err
	}
	defer stop()
	sweep, err := ob.sigmaSweepCost(dir, files)
	if err != nil {
		return nil, fmt.Errorf("sigma sweep cost: %w", err)
	}
	return map[string]any{"rules_sigma_compile": compile, "rules_sigma_sweep": sweep}, nil
}

// sigmaCompileRate loads the pack file after file for about a second, one
// goroutine, through rules.Parse (what the worker does with a rule file:
// parse, read _sigma.yaml, compile to the OpenSearch query and the Go
// predicate; a correlation file to its rule type), and, as the baseline in
// the same run, decodes the same bytes with go-yaml alone.
func sigmaCompileRate(files []string) (map[string]any, error) {
	type src struct {
		file string
		data []byte
	}
	var pack []src
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pack = append(pack, src{f, data})
	}
	perSecond := func(one func(s src) error) (float64, error) {
		n := 0
		began := time.Now()
		for time.Since(began) < time.Second {
			for _, s := range pack {
				if err := one(s); err != nil {
					return 0, fmt.Errorf("%s: %w", s.file, err)
				}
				n++
			}
		}
		return float64(n) / time.Since(began).Seconds(), nil
	}
	load, err := perSecond(func(s src) error { _, err := rules.Parse(s.file, s.data); return err })
	if err != nil {
		return nil, err
	}
	decode, err := perSecond(func(s src) error { var v any; return yaml.Unmarshal(s.data, &v) })
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"what":                  "the deploy/rules/sigma pack loaded file after file for about a second, one goroutine, through rules.Parse (parse, read _sigma.yaml from disk, compile to the OpenSearch query and the Go predicate: what the worker does with a rule file), beside a bare go-yaml decode of the same bytes (the baseline)",
		"rules":                 len(pack),
		"rules_compiled_per_s":  round2(load),
		"yaml_decode_per_s":     round2(decode),
		"compile_over_decode_x": round2(decode / load),
	}, nil
}

// sigmaFixtureDocs reads the fires and quiet fixtures of the pack rules
// whose file name starts with prefix.
func sigmaFixtureDocs(dir, prefix string) (quiet, fires []map[string]any, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "testdata", prefix+"*.ndjson"))
	if err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		evs, err := rules.ReadNDJSONFile(p)
		if err != nil {
			return nil, nil, err
		}
		for _, ev := range evs {
			if strings.HasSuffix(p, ".fires.ndjson") {
				fires = append(fires, ev)
			} else {
				quiet = append(quiet, ev)
			}
		}
	}
	return quiet, fires, nil
}

// indexFixtureMinute bulk-indexes perSecond documents a second over the
// minute, cycling the quiet fixtures with tsField rewritten, and each fires
// fixture once: background traffic with a few attacks in it.
func (o *osBench) indexFixtureMinute(index, tsField, layout string, quiet, fires []map[string]any, perSecond int) (int, error) {
	var buf bytes.Buffer
	n := 0
	add := func(doc map[string]any, t time.Time) error {
		d := make(map[string]any, len(doc))
		for k, v := range doc {
			d[k] = v
		}
		d[tsField] = t.UTC().Format(layout)
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		buf.WriteString("{\"index\":{}}\n")
		buf.Write(b)
		buf.WriteByte('\n')
		n++
		return nil
	}
	total := 60 * perSecond
	for i := range total {
		if err := add(quiet[i%len(quiet)], sigmaMinute.Add(time.Duration(i)*time.Minute/time.Duration(total))); err != nil {
			return 0, err
		}
	}
	for i, doc := range fires {
		if err := add(doc, sigmaMinute.Add(time.Duration(i+1)*time.Minute/time.Duration(len(fires)+1))); err != nil {
			return 0, err
		}
	}
	if err := o.bulk(index, buf.Bytes()); err != nil {
		return 0, err
	}
	return n, o.refresh(index)
}

func (o *osBench) sigmaSweepCost(dir string, files []string) (map[string]any, error) {
	from, to := sigmaMinute, sigmaMinute.Add(time.Minute)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := opensearch.InstallLogAssets(o.ctx, o.c, "", quiet); err != nil {
		return nil, err
	}
	progress("rules-sigma: indexing one minute of demo logs at 10x the demo rates")
	f := &demologs.Feeder{Client: o.c, Seed: 1, Options: sigmaDemoRates, Logger: quiet}
	demo, err := f.IndexRange(o.ctx, from, to)
	if err != nil {
		return nil, err
	}
	docs := map[string]int{"demo_logs": demo}
	for _, s := range []struct {
		index, prefix, ts, layout string
		perSecond                 int
	}{
		{"alb-logs-bench", "alb-", "time", "2006-01-02T15:04:05.000000Z", sigmaALBPerSecond},
		{"cloudtrail-bench", "aws-", "eventTime", "2006-01-02T15:04:05Z", sigmaCloudTrailPerSecond},
	} {
		q, fi, err := sigmaFixtureDocs(dir, s.prefix)
		if err != nil {
			return nil, err
		}
		if len(q) == 0 {
			return nil, fmt.Errorf("no %s* quiet fixtures in %s/testdata", s.prefix, dir)
		}
		n, err := o.indexFixtureMinute(s.index, s.ts, s.layout, q, fi, s.perSecond)
		if err != nil {
			return nil, err
		}
		docs[s.index] = n
	}
	res, err := o.c.Indices.Refresh(o.c.Indices.Refresh.WithContext(o.ctx))
	if err := o.do(res, err, nil); err != nil {
		return nil, err
	}

	progress("rules-sigma: sweeping the pack over the minute (3 rounds)")
	perRule := map[string]any{}
	var queries, matches int
	var bytesRead int64
	var rounds, floors []time.Duration
	for round := range 3 {
		var took, floor time.Duration
		for _, file := range files {
			r, err := rules.LoadFile(file)
			if err != nil {
				return nil, err
			}
			w := *r
			w.BufferTime, w.QueryDelay = to.Sub(from), 0
			began := time.Now()
			sr, ms, err := o.search.Sweep(o.ctx, &w, &rules.State{}, to)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.Name, err)
			}
			took += time.Since(began)
			// The floor: one size-0 request on the same indices and minute.
			began = time.Now()
			body := fmt.Sprintf(`{"size":0,"track_total_hits":false,"query":{"range":{%q:{"gt":%q,"lte":%q}}}}`,
				r.TimestampField, from.Format(time.RFC3339), to.Format(time.RFC3339))
			fres, err := o.c.Search(o.c.Search.WithContext(o.ctx), o.c.Search.WithIndex(r.Index), o.c.Search.WithBody(strings.NewReader(body)))
			if err := o.do(fres, err, nil); err != nil {
				return nil, fmt.Errorf("%s: floor request: %w", r.Name, err)
			}
			floor += time.Since(began)
			if round == 0 {
				queries += sr.Queries
				bytesRead += sr.Bytes
				matches += len(ms)
				perRule[r.Name] = map[string]any{"index": r.Index, "queries": sr.Queries, "response_bytes": sr.Bytes, "docs": sr.Docs, "matches": len(ms)}
			}
		}
		rounds, floors = append(rounds, took), append(floors, floor)
	}
	slices.Sort(rounds)
	slices.Sort(floors)
	ms, floorMs := float64(rounds[1].Microseconds())/1000, float64(floors[1].Microseconds())/1000
	return map[string]any{
		"what": "every deploy/rules/sigma rule's production sweep (activities.Search.Sweep: document pages of the matching events only for type any, aggregations for a correlation) over one minute of logs on the real node, rule after rule: " +
			"demo logs (internal/demologs, seed 1, 50 back-end, 20 front-end and 30 WAF events a second; the minute starts with the demo's first WAF SQL injection burst after 10:00) under the real index template, and ALB (30/s) and CloudTrail (5/s) records cycled from the pack's quiet fixtures with each fires fixture once. " +
			"Totals for the pack per minute of logs; time is the median of 3 rounds, beside the floor: one size-0 request per rule on the same indices and minute",
		"minute":                    from.Format(time.RFC3339),
		"indexed":                   docs,
		"rules":                     len(files),
		"queries_per_minute":        queries,
		"response_bytes_per_minute": bytesRead,
		"matches":                   matches,
		"sweep_ms_per_minute":       round2(ms),
		"floor_ms":                  round2(floorMs),
		"sweep_over_floor":          round2(ms / floorMs),
		"per_rule":                  perRule,
	}, nil
}
