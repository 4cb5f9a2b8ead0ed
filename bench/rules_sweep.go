// Cost of one aggregation sweep (queries, response bytes, time) on the real
// OpenSearch node as the index grows from 10k to 1M events, for every
// counting type (anomaly and rare included), grouped by a query_key with 10
// and with 10,000 values.

package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/rules"
)

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
		buf = append(buf, `"},"k10":"a`...)
		buf = strconv.AppendInt(buf, int64(i%10), 10)
		buf = append(buf, `","k10k":"b`...)
		buf = strconv.AppendInt(buf, int64(i%10000), 10)
		buf = append(buf, `","status":`...)
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
		"frequency":          "type: frequency\nnum_events: 20\ntimeframe: {minutes: 10}\n",
		"spike":              "type: spike\nspike_height: 3\nspike_type: up\ntimeframe: {minutes: 5}\n",
		"flatline":           "type: flatline\nthreshold: 5\ntimeframe: {minutes: 5}\n",
		"cardinality":        "type: cardinality\ncardinality_field: user.name\nmax_cardinality: 50\ntimeframe: {minutes: 10}\n",
		"metric_aggregation": "type: metric_aggregation\nmetric_agg_key: status\nmetric_agg_type: avg\nmax_threshold: 400\n",
		"spike_aggregation":  "type: spike_aggregation\nmetric_agg_key: status\nmetric_agg_type: avg\nspike_height: 2\nspike_type: up\ntimeframe: {minutes: 5}\n",
		"percentage_match":   "type: percentage_match\nmax_percentage: 10\nmatch_bucket_filter:\n- range: {status: {gte: 500}}\n",
		"anomaly":            "type: anomaly\nbucket_span: {minutes: 1}\nbaseline_window: {hours: 1}\nthreshold: 6\n",
		// rare's key is its by_field (and over_field): {key} stands for the
		// keyed field, and query_key is refused.
		"rare": "type: rare\nby_field: {key}\nover_field: client_ip\nbaseline_window: {days: 1}\n",
	}
	keyFields := map[string]string{"keys_10": "k10", "keys_10000": "k10k"}
	start, end := benchT0, benchT0.Add(10*time.Minute)
	measure := func() (map[string]any, error) {
		out := map[string]any{}
		for name, y := range ruleYAML {
			byKeys := map[string]any{}
			for keys, field := range keyFields {
				keyed := "query_key: " + field + "\n" + y
				if strings.Contains(y, "{key}") {
					keyed = strings.ReplaceAll(y, "{key}", field)
				}
				r, err := rules.Parse(name+".yaml", []byte("name: "+name+"\nindex: "+sweepIndex+"\n"+keyed))
				if err != nil {
					return nil, err
				}
				var durs []time.Duration
				var first activities.SweepResult
				var matches int
				for i := range 3 {
					began := time.Now()
					// A rule's steady state: an anomaly baseline exists, so the
					// sweep reads only its window (a first sweep reads
					// baseline_window of history once, to seed it).
					st := &rules.State{LastRunEnd: start, Anomaly: &rules.AnomalyState{Since: start.Add(-time.Hour)}}
					res, ms, err := o.search.Sweep(o.ctx, r, st, end)
					if err != nil {
						return nil, fmt.Errorf("%s %s: %w", name, keys, err)
					}
					durs = append(durs, time.Since(began))
					if i == 0 {
						first, matches = res, len(ms)
					}
				}
				slices.Sort(durs)
				byKeys[keys] = map[string]any{"queries": first.Queries, "response_bytes": first.Bytes, "keys": first.Keys,
					"bytes_per_key": round2(float64(first.Bytes) / float64(max(first.Keys, 1))), "matches": matches,
					"median_ms": round2(float64(durs[1].Microseconds()) / 1000)}
			}
			out[name] = byKeys
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
	if _, err := o.sweep(anyRule, start, end); err != nil {
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
		byKeys := map[string]any{}
		for keys := range keyFields {
			a := at10k[name].(map[string]any)[keys].(map[string]any)
			b := at1M[name].(map[string]any)[keys].(map[string]any)
			byKeys[keys] = map[string]any{
				"queries":        round2(float64(b["queries"].(int)) / float64(a["queries"].(int))),
				"response_bytes": round2(float64(b["response_bytes"].(int64)) / float64(a["response_bytes"].(int64))),
				"median_ms":      round2(b["median_ms"].(float64) / a["median_ms"].(float64)),
			}
		}
		ratio[name] = byKeys
	}
	return map[string]any{
		"what": "one production sweep (activities.Search.Sweep) over a 10-minute window holding every indexed event, per counting type, grouped by a query_key with 10 and with 10,000 values; every key is paged through (composite, up to 1000 keys a page). " +
			"anomaly reads per key a date_histogram of 1-minute buckets (10 a key); rare (over_field client_ip, by_field the key field) pages its pairs, then counts them over baseline_window 1000 pairs a request. " +
			"frequency, spike and flatline list each key's first and last timestamps (num_events, 50 and threshold of them) and its deciles, so bytes per key are bounded: they grow with events only until each key has that many in the sweep. Queries and response bytes as read by the sweep.",
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
