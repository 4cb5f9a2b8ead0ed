package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// top_count_keys, as ElastAlert2 computes them: for each match, the most
// frequent values of each listed field among the rule's events with the
// match's query_key value, from timeframe (twice that for flatline, 10
// minutes without one) before the match to 10 minutes after it. They land in
// the match as top_events_<field> (value → count) and in the alert text.

// topCountWindow is the span a match's top counts cover.
func (r *Rule) topCountWindow(m Match) (start, end time.Time) {
	tf := r.Timeframe
	if tf == 0 {
		tf = 10 * time.Minute
	}
	if r.Type == TypeFlatline {
		tf *= 2
	}
	return m.Time.Add(-tf), m.Time.Add(10 * time.Minute)
}

// topCountField is the field counted for a top_count_keys entry: with
// raw_count_keys (the default) its ".keyword" sub-field.
func (r *Rule) topCountField(key string) string {
	if (r.RawCountKeys == nil || *r.RawCountKeys) && !strings.HasSuffix(key, ".keyword") {
		return key + ".keyword"
	}
	return key
}

func (r *Rule) topCountNumber() int {
	if r.TopCountNumber > 0 {
		return r.TopCountNumber
	}
	return 5
}

// TopCountsSearch is the terms request for one match and one top_count_keys
// entry; hand its response to AddTopCounts.
func (r *Rule) TopCountsSearch(m Match, key string) Search {
	start, end := r.topCountWindow(m)
	clauses := r.filterClauses(start, end)
	for f, v := range QueryKeyValues(r, m.Key) {
		clauses = append(clauses, map[string]any{"term": map[string]any{f: v}})
	}
	return Search{Index: r.IndexFor(start, end), IgnoreUnavailable: true, Body: map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": clauses}},
		"aggs": map[string]any{"counts": map[string]any{"terms": map[string]any{
			"field": r.topCountField(key), "size": r.topCountNumber(),
		}}},
	}}
}

// AddTopCounts records a TopCountsSearch response in the match as
// top_events_<key>.
func (r *Rule) AddTopCounts(m *Match, key string, resp map[string]any) {
	counts := map[string]any{}
	list, _ := mapOf(mapOf(mapOf(resp["aggregations"])["counts"]))["buckets"].([]any)
	for _, b := range list {
		bm := mapOf(b)
		k := keyString(bm["key"])
		if s, ok := bm["key_as_string"].(string); ok {
			k = s
		}
		n, _ := number(bm["doc_count"])
		counts[k] = int(n)
	}
	r.setTopCounts(m, key, counts)
}

func (r *Rule) setTopCounts(m *Match, key string, counts map[string]any) {
	if m.Fields == nil {
		m.Fields = Event{}
	}
	m.Fields["top_events_"+key] = counts
}

// TopCountsFromEvents computes the matches' top counts from events in memory
// (the NDJSON backtest), over the same windows a sweep queries.
func (r *Rule) TopCountsFromEvents(ms []Match, events []Event) {
	if len(r.TopCountKeys) == 0 {
		return
	}
	c := r.comp()
	for i := range ms {
		start, end := r.topCountWindow(ms[i])
		for _, key := range r.TopCountKeys {
			f := newField(strings.TrimSuffix(key, ".keyword"))
			n := map[string]int{}
			for _, e := range events {
				t, err := r.Time(e)
				if err != nil || !t.After(start) || t.After(end) || !r.pass(e) {
					continue
				}
				if len(r.QueryKey) > 0 && c.key(e) != ms[i].Key {
					continue
				}
				if v, ok := f.get(e); ok && v != nil {
					n[keyString(v)]++
				}
			}
			vals := make([]string, 0, len(n))
			for v := range n {
				vals = append(vals, v)
			}
			// OpenSearch's terms order: count, then value.
			sort.Slice(vals, func(a, b int) bool {
				if n[vals[a]] != n[vals[b]] {
					return n[vals[a]] > n[vals[b]]
				}
				return vals[a] < vals[b]
			})
			counts := map[string]any{}
			for _, v := range vals[:min(len(vals), r.topCountNumber())] {
				counts[v] = n[v]
			}
			r.setTopCounts(&ms[i], key, counts)
		}
	}
}

// topCountsText is ElastAlert2's _add_top_counts: per key, "key:" then
// "value: count" lines, most frequent first, or "No events found.".
func (r *Rule) topCountsText(m Match) string {
	var b strings.Builder
	for _, key := range r.TopCountKeys {
		counts, ok := m.Fields["top_events_"+key].(map[string]any)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", key)
		if len(counts) == 0 {
			b.WriteString("No events found.\n\n")
			continue
		}
		type tc struct {
			v string
			n int
		}
		var l []tc
		for v, n := range counts {
			x, _ := numberOf(n)
			l = append(l, tc{v, int(x)})
		}
		sort.Slice(l, func(i, j int) bool {
			if l[i].n != l[j].n {
				return l[i].n > l[j].n
			}
			return l[i].v < l[j].v
		})
		for _, x := range l {
			b.WriteString(x.v + ": " + strconv.Itoa(x.n) + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}
