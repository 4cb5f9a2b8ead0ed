package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// PageSize is how many documents a document-fetching sweep asks for per page.
const PageSize = 1000

// Search is one OpenSearch _search request: POST /<Index>/_search with Body.
type Search struct {
	Index string         `json:"index"`
	Body  map[string]any `json:"body"`
	// Docs is true when the sweep fetches documents (page with search_after and
	// hand the hits' _source to Evaluate); false when it reads aggregations
	// (hand the response to AggregationMatches).
	Docs bool `json:"docs"`
}

// BuildSearch returns the request a sweep over (start, end] sends. Counting
// types push the work down to OpenSearch with size 0 and aggregations; any,
// blacklist, whitelist, change and new_term fetch documents sorted by
// timestamp, with _source limited to the fields the rule needs. searchAfter is
// the last hit's sort values for the next page (nil for the first).
func (r *Rule) BuildSearch(start, end time.Time, searchAfter []any) Search {
	query := map[string]any{"bool": map[string]any{"filter": r.filterClauses(start, end)}}
	if r.counting() {
		return Search{Index: r.Index, Body: map[string]any{
			"size":             0,
			"track_total_hits": false,
			"query":            query,
			"aggs":             r.aggs(start, end),
		}}
	}
	body := map[string]any{
		"size":             PageSize,
		"track_total_hits": false,
		"query":            query,
		"_source":          r.sourceFields(),
		// _id breaks timestamp ties so search_after neither skips nor repeats.
		"sort": []any{
			map[string]any{r.TimestampField: map[string]any{"order": "asc"}},
			map[string]any{"_id": map[string]any{"order": "asc"}},
		},
	}
	if len(searchAfter) > 0 {
		body["search_after"] = searchAfter
	}
	return Search{Index: r.Index, Body: body, Docs: true}
}

// filterClauses is the time range (start-exclusive, end-inclusive, as the Go
// evaluator) followed by the rule's filters passed through unchanged.
func (r *Rule) filterClauses(start, end time.Time) []any {
	rng := map[string]any{"gt": r.timeValue(start), "lte": r.timeValue(end)}
	if r.TimestampType == "" || r.TimestampType == "iso" {
		rng["format"] = "strict_date_optional_time"
	}
	out := []any{map[string]any{"range": map[string]any{r.TimestampField: rng}}}
	for _, f := range r.RawFilter {
		out = append(out, f)
	}
	return out
}

func (r *Rule) timeValue(t time.Time) any {
	switch r.TimestampType {
	case "unix":
		return t.Unix()
	case "unix_ms":
		return t.UnixMilli()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sourceFields lists what a document sweep must read back: the timestamp,
// keys, compared fields, new_term fields, alert text arguments and include.
func (r *Rule) sourceFields() []string {
	seen := map[string]bool{}
	var out []string
	add := func(fs ...string) {
		for _, f := range fs {
			if f != "" && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	add(r.TimestampField)
	add(r.QueryKey...)
	add(r.CompareKey...)
	for _, fs := range r.Fields {
		add(fs...)
	}
	add(r.AlertTextArgs...)
	add(r.AlertSubjectArgs...)
	add(r.TopCountKeys...)
	add(r.Include...)
	return out
}

func (r *Rule) leafAggs(start, end time.Time) map[string]any {
	maxTS := map[string]any{"max": map[string]any{"field": r.TimestampField}}
	switch r.Type {
	case TypeFrequency:
		return r.frequencyAggs(start, end)
	case TypeCardinality:
		return r.cardinalityAggs()
	case TypeMetricAggregation, TypeSpikeAggregation:
		return map[string]any{r.metricKey(): map[string]any{r.MetricAggType: map[string]any{"field": r.MetricAggKey}}}
	case TypePercentageMatch:
		must := make([]any, len(r.RawMatchBucketFilter))
		for i, f := range r.RawMatchBucketFilter {
			must[i] = f
		}
		return map[string]any{"percentage_match_aggs": map[string]any{"filters": map[string]any{
			"filters":          map[string]any{"match_bucket": map[string]any{"bool": map[string]any{"must": must}}},
			"other_bucket_key": "_other_",
		}}}
	}
	return map[string]any{"max_ts": maxTS}
}

// aggs nests one terms aggregation ("bucket_aggs") per query_key field, or
// wraps the leaf aggregations in a match-all filter ("all") without one, so
// every result is a bucket with doc_count.
func (r *Rule) aggs(start, end time.Time) map[string]any {
	inner := r.leafAggs(start, end)
	if len(r.QueryKey) == 0 {
		return map[string]any{"all": map[string]any{"filter": map[string]any{"match_all": map[string]any{}}, "aggs": inner}}
	}
	for i := len(r.QueryKey) - 1; i >= 0; i-- {
		inner = map[string]any{"bucket_aggs": map[string]any{
			"terms": map[string]any{"field": r.QueryKey[i], "size": r.TermsSize},
			"aggs":  inner,
		}}
	}
	return inner
}

type aggBucket struct {
	key  []string
	leaf map[string]any
}

func collectBuckets(node map[string]any, prefix []string, out *[]aggBucket) error {
	ba, ok := node["bucket_aggs"].(map[string]any)
	if !ok {
		*out = append(*out, aggBucket{key: prefix, leaf: node})
		return nil
	}
	buckets, ok := ba["buckets"].([]any)
	if !ok {
		return fmt.Errorf("bucket_aggs: no buckets")
	}
	for _, b := range buckets {
		m, ok := b.(map[string]any)
		if !ok {
			return fmt.Errorf("bucket_aggs: bucket is not an object")
		}
		k := keyString(m["key"])
		if s, ok := m["key_as_string"].(string); ok {
			k = s
		}
		if err := collectBuckets(m, append(append([]string{}, prefix...), k), out); err != nil {
			return err
		}
	}
	return nil
}

func number(v any) (float64, bool) {
	if m, ok := v.(map[string]any); ok {
		v = m["value"]
	}
	return numberOf(v)
}

// AggregationMatches turns the decoded response to BuildSearch's aggregation
// request into matches, updating st as Evaluate does. metric_aggregation,
// spike_aggregation and percentage_match give exactly the Go evaluator's
// matches. frequency (histogram steps) and cardinality (each value's first
// and last time) carry per-key windows of timeframe in st across sweeps, so a
// burst spread over many sweeps matches once, at the crossing event when the
// response pins it down (see frequencySweep, cardinalitySweep). flatline and
// spike add each key's count at the sweep end.
func (r *Rule) AggregationMatches(st *State, resp map[string]any, start, end time.Time) ([]Match, error) {
	if !r.counting() {
		return nil, fmt.Errorf("rule %s: type %s fetches documents, not aggregations", r.Name, r.Type)
	}
	aggs, ok := resp["aggregations"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rule %s: response has no aggregations", r.Name)
	}
	var buckets []aggBucket
	if len(r.QueryKey) == 0 {
		all, ok := aggs["all"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rule %s: response has no \"all\" aggregation", r.Name)
		}
		buckets = []aggBucket{{leaf: all}}
	} else if err := collectBuckets(aggs, nil, &buckets); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	sort.Slice(buckets, func(i, j int) bool {
		return strings.Join(buckets[i].key, ", ") < strings.Join(buckets[j].key, ", ")
	})
	var out []Match
	emit := func(m Match) {
		if !r.silenced(st, m) {
			out = append(out, m)
		}
	}
	if st.FirstEvent == nil {
		st.FirstEvent = map[string]time.Time{}
	}
	for _, b := range buckets {
		key := strings.Join(b.key, ", ")
		count, _ := number(b.leaf["doc_count"])
		at := end
		if ms, ok := number(b.leaf["max_ts"]); ok {
			at = time.UnixMilli(int64(ms)).UTC()
		}
		doc := Event{r.TimestampField: at.Format(time.RFC3339Nano)}
		r.setKeyFields(doc, key)
		switch r.Type {
		case TypeFrequency:
			r.frequencySweep(st, key, b.leaf, emit)
		case TypeFlatline:
			st.window(&st.Windows, key).add(Entry{T: end.UnixNano(), N: count}, r.Timeframe, nil)
			r.flatCheck(st, key, doc, end, emit)
		case TypeSpike:
			spikeKey := key
			if len(r.QueryKey) == 0 {
				spikeKey = "all"
			}
			r.spikeEvent(st, spikeKey, end, count, false, doc, emit)
		case TypeCardinality:
			r.cardinalitySweep(st, key, b.leaf, emit)
		case TypeMetricAggregation:
			if v, ok := number(b.leaf[r.metricKey()]); ok && r.crossed(v) {
				emit(r.metricMatch(end, key, v))
			}
		case TypeSpikeAggregation:
			if v, ok := number(b.leaf[r.metricKey()]); ok {
				d := Event{r.TimestampField: end.UTC().Format(time.RFC3339Nano), r.metricKey(): v}
				r.setKeyFields(d, key)
				spikeKey := key
				if len(r.QueryKey) == 0 {
					spikeKey = "all"
				}
				r.spikeEvent(st, spikeKey, end, v, false, d, emit)
			}
		case TypePercentageMatch:
			pm, _ := b.leaf["percentage_match_aggs"].(map[string]any)
			pb, _ := pm["buckets"].(map[string]any)
			hit, _ := number(mapOf(pb["match_bucket"])["doc_count"])
			other, _ := number(mapOf(pb["_other_"])["doc_count"])
			if m, ok := r.percentageMatch(end, key, int(hit), int(hit+other)); ok {
				emit(m)
			}
		}
	}
	switch r.Type {
	case TypeFrequency:
		r.freqGC(st, end)
	case TypeCardinality:
		r.cardinalityGC(st, end, emit)
	case TypeFlatline:
		r.flatGC(st, end, emit)
	case TypeSpike, TypeSpikeAggregation:
		r.spikeGC(st, end, emit)
	}
	st.LastRunEnd = end
	return out, nil
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
