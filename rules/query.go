package rules

import (
	"fmt"
	"sort"
	"strconv"
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
	// (hand the response to AggSweep.Add).
	Docs bool `json:"docs"`
	// FilterPath, when set, is sent as filter_path to trim the response.
	FilterPath string `json:"filter_path,omitempty"`
	// IgnoreUnavailable is set for use_strftime_index rules: an index of
	// the window that does not exist yet (a quiet hour) holds no events,
	// as ElastAlert2 treats it, rather than failing the sweep.
	IgnoreUnavailable bool `json:"ignore_unavailable,omitempty"`
}

// BuildSearch returns the request a sweep over (start, end] sends. Counting
// types push the work down to OpenSearch with size 0 and aggregations; any,
// blacklist, whitelist, change and new_term fetch documents sorted by
// timestamp, with _source limited to the fields the rule needs. searchAfter is
// the last hit's sort values for the next page (nil for the first).
func (r *Rule) BuildSearch(start, end time.Time, searchAfter []any) Search {
	query := map[string]any{"bool": map[string]any{"filter": r.filterClauses(start, end)}}
	if r.Counting() {
		s, _ := r.NewAggSweep(start, end, 0).Next()
		return s
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
	return Search{Index: r.IndexFor(start, end), Body: body, Docs: true, IgnoreUnavailable: r.UseStrftimeIndex}
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
	// Every digit written: OpenSearch fills a bound's missing digits with
	// the highest value (lte 12:01:00Z means 12:01:00.999999999), which
	// would move sub-second events from one sweep into the one before.
	return t.UTC().Format(rangeLayout)
}

const rangeLayout = "2006-01-02T15:04:05.000000000Z07:00"

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
	add(r.FieldValue)
	return out
}

func (r *Rule) leafAggs() map[string]any {
	switch r.Type {
	case TypeFrequency, TypeSpike, TypeFlatline:
		return r.timelineAggs()
	case TypeCardinality:
		return r.cardinalityAggs()
	case TypeTemporal:
		return r.temporalAggs()
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
	return map[string]any{"max_ts": map[string]any{"max": map[string]any{"field": r.TimestampField}}}
}

// Every key, at any cardinality: a counting sweep groups by query_key with a
// composite aggregation and pages through it with after_key, so no key is
// left out however many there are (a terms aggregation would keep only the
// top few by count). A page holds at most maxKeysPerPage keys and
// maxPageBuckets buckets in all, under OpenSearch's search.max_buckets.
const (
	maxKeysPerPage = 1000
	maxPageBuckets = 20000
)

// keysPerPage is the composite page size for the rule: the leaf buckets of
// each key count against maxPageBuckets.
func (r *Rule) keysPerPage() int {
	per := 1
	switch r.Type {
	case TypeCardinality:
		per += 2 * r.cardinalityCap()
	case TypePercentageMatch:
		per += 2
	case TypeFrequency, TypeSpike, TypeFlatline:
		per += r.timelineBuckets()
	case TypeTemporal:
		per += len(r.Temporal) * (1 + r.timelineBuckets())
	}
	return max(1, min(maxKeysPerPage, maxPageBuckets/per))
}

// AggSweep is one counting sweep over (start, end]: Next gives each page's
// request, Add takes its decoded response, and Matches evaluates every key
// once all pages are in.
type AggSweep struct {
	r          *Rule
	start, end time.Time
	size       int
	after      map[string]any
	started    bool
	filtered   bool // filter_path set: empty parts of the response are dropped
	done       bool
	buckets    []aggBucket
	ext        aggExt // anomaly and rare page their own requests (baseline.go)
}

// NewAggSweep starts a counting sweep; keysPerPage 0 picks the rule's
// default page size (tests lower it to exercise paging).
func (r *Rule) NewAggSweep(start, end time.Time, keysPerPage int) *AggSweep {
	if ext := r.baselineSweep(start, end, keysPerPage); ext != nil {
		return &AggSweep{r: r, start: start, end: end, ext: ext}
	}
	if keysPerPage <= 0 {
		keysPerPage = r.keysPerPage()
	}
	return &AggSweep{r: r, start: start, end: end, size: keysPerPage}
}

// Next returns the next page's request; ok is false once every page is in.
func (a *AggSweep) Next() (s Search, ok bool) {
	if a.ext != nil {
		return a.ext.next()
	}
	if a.done || (a.started && a.after == nil) {
		return Search{}, false
	}
	r := a.r
	var aggs map[string]any
	if len(r.QueryKey) == 0 {
		aggs = map[string]any{"all": map[string]any{"filter": map[string]any{"match_all": map[string]any{}}, "aggs": r.leafAggs()}}
	} else {
		sources := make([]any, len(r.QueryKey))
		for i, f := range r.QueryKey {
			sources[i] = map[string]any{compositeSource(i): map[string]any{"terms": map[string]any{"field": f}}}
		}
		comp := map[string]any{"size": a.size, "sources": sources}
		if a.after != nil {
			comp["after"] = a.after
		}
		aggs = map[string]any{"keys": map[string]any{"composite": comp, "aggs": r.leafAggs()}}
	}
	s = Search{Index: r.IndexFor(a.start, a.end), IgnoreUnavailable: r.UseStrftimeIndex, Body: map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": r.filterClauses(a.start, a.end)}},
		"aggs":             aggs,
	}}
	switch r.Type {
	case TypeFrequency, TypeSpike, TypeFlatline, TypeTemporal:
		s.FilterPath = timelineFilterPath
		a.filtered = true
	}
	return s, true
}

func compositeSource(i int) string { return "k" + strconv.Itoa(i) }

// Add takes one page's decoded response.
func (a *AggSweep) Add(resp map[string]any) error {
	if a.ext != nil {
		return a.ext.add(resp)
	}
	r := a.r
	a.started = true
	aggs, ok := resp["aggregations"].(map[string]any)
	if shards, _ := number(mapOf(resp["_shards"])["total"]); !ok && (a.filtered || shards == 0) {
		// filter_path drops empty objects and lists, and an index pattern
		// that matches no index has no shards to aggregate: no key had events.
		aggs, ok = map[string]any{"all": map[string]any{"doc_count": 0.0}, "keys": map[string]any{"buckets": []any{}}}, true
		a.filtered = true
	}
	if !ok {
		return fmt.Errorf("rule %s: response has no aggregations", r.Name)
	}
	if len(r.QueryKey) == 0 {
		all, ok := aggs["all"].(map[string]any)
		if !ok {
			return fmt.Errorf("rule %s: response has no \"all\" aggregation", r.Name)
		}
		a.buckets = append(a.buckets, aggBucket{leaf: all})
		a.done = true
		return nil
	}
	keys, ok := aggs["keys"].(map[string]any)
	if !ok && a.filtered {
		keys, ok = map[string]any{}, true
	}
	if !ok {
		return fmt.Errorf("rule %s: response has no \"keys\" aggregation", r.Name)
	}
	list, ok := keys["buckets"].([]any)
	if !ok && !a.filtered {
		return fmt.Errorf("rule %s: keys: no buckets", r.Name)
	}
	for _, b := range list {
		m, ok := b.(map[string]any)
		if !ok {
			return fmt.Errorf("rule %s: keys: bucket is not an object", r.Name)
		}
		km := mapOf(m["key"])
		key := make([]string, len(r.QueryKey))
		for i := range r.QueryKey {
			key[i] = keyString(km[compositeSource(i)])
		}
		a.buckets = append(a.buckets, aggBucket{key: key, leaf: m})
	}
	a.after = mapOf(keys["after_key"])
	if len(list) < a.size {
		a.after = nil
	}
	a.done = a.after == nil
	return nil
}

// Keys says how many keys the pages held so far.
func (a *AggSweep) Keys() int {
	if a.ext != nil {
		return a.ext.keys()
	}
	return len(a.buckets)
}

type aggBucket struct {
	key  []string
	leaf map[string]any
}

func number(v any) (float64, bool) {
	if m, ok := v.(map[string]any); ok {
		v = m["value"]
	}
	return numberOf(v)
}

// AggregationMatches evaluates a counting sweep whose one response holds
// every key (see AggSweep for sweeps that page).
func (r *Rule) AggregationMatches(st *State, resp map[string]any, start, end time.Time) ([]Match, error) {
	if !r.Counting() {
		return nil, fmt.Errorf("rule %s: type %s fetches documents, not aggregations", r.Name, r.Type)
	}
	a := r.NewAggSweep(start, end, 0)
	if err := a.Add(resp); err != nil {
		return nil, err
	}
	if !a.done {
		return nil, fmt.Errorf("rule %s: the response has more pages of keys; use AggSweep", r.Name)
	}
	return a.Matches(st)
}

// Matches turns the sweep's buckets into matches, updating st as Evaluate
// does. metric_aggregation, spike_aggregation and percentage_match give
// exactly the Go evaluator's matches. frequency, spike and flatline feed each
// key's timeline (timeline.go) into its windows, event by event when the
// sweep listed every event. cardinality carries each value's first and last
// time (cardsweep.go).
func (a *AggSweep) Matches(st *State) ([]Match, error) {
	if a.ext != nil {
		return a.ext.matches(st)
	}
	r, end := a.r, a.end
	if !a.done {
		return nil, fmt.Errorf("rule %s: sweep has pages left", r.Name)
	}
	buckets := a.buckets
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
	// flatline checks once after the batch, for the key of the newest event.
	var flatKey string
	var flatAt time.Time
	for _, b := range buckets {
		key := strings.Join(b.key, ", ")
		switch r.Type {
		case TypeFrequency:
			r.frequencySweep(st, key, b.leaf, emit)
		case TypeFlatline:
			for _, c := range r.timeline(b.leaf) {
				st.window(&st.Windows, key).add(Entry{T: c.t.UnixNano(), N: c.n}, r.Timeframe, nil)
				if !c.t.Before(flatAt) {
					flatKey, flatAt = key, c.t
				}
			}
		case TypeSpike:
			spikeKey := key
			if len(r.QueryKey) == 0 {
				spikeKey = "all"
			}
			for _, c := range r.timeline(b.leaf) {
				doc := Event{r.TimestampField: c.t.Format(time.RFC3339Nano)}
				r.setKeyFields(doc, key)
				if !c.exact {
					r.spikeEvent(st, spikeKey, c.t, c.n, false, doc, emit)
					continue
				}
				// One at a time, as ElastAlert2 checks after every event.
				for range int(c.n) {
					r.spikeEvent(st, spikeKey, c.t, 1, false, doc, emit)
				}
			}
		case TypeCardinality:
			r.cardinalitySweep(st, key, b.leaf, emit)
		case TypeTemporal:
			r.temporalSweep(st, key, b.leaf, emit)
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
	case TypeTemporal:
		r.temporalGC(st, end)
	case TypeFlatline:
		if !flatAt.IsZero() {
			doc := Event{r.TimestampField: flatAt.Format(time.RFC3339Nano)}
			r.setKeyFields(doc, flatKey)
			r.flatCheck(st, flatKey, doc, flatAt, emit)
		}
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
