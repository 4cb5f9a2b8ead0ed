package rules

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A sweep learns when each key's events happened from three small leaf
// aggregations instead of one histogram bucket per step: the key's first and
// last timelineHits distinct timestamps with their counts (terms
// aggregations on the timestamp ordered by value, read from doc values, with
// no fetch phase) and the key's deciles. A key whose events the two lists
// cover is therefore known event by event, exactly as a document fetch would
// see it; a busier key is known exactly at both ends, with the events between
// placed at its deciles. Either way the cost per key is bounded and does not
// grow with the number of events.

// maxTimelineHits bounds the timestamps each end of a key's timeline lists.
const maxTimelineHits = 100

// timelineHits is how many timestamps each end of a key's sweep lists: what
// the type needs to place its decisions exactly. A frequency rule needs
// num_events of them to find its crossing, a flatline rule threshold of them
// (a key above that is not silent). A spike compares whole windows:
// spikeHits of them at each end, so a key with up to 100 events a sweep is
// exact and a busier one costs no more; a temporal rule lists as many for
// each of its rules (temporal.go).
func (r *Rule) timelineHits() int {
	switch {
	case r.Type == TypeFrequency && r.NumEvents > 0:
		return min(r.NumEvents, maxTimelineHits)
	case r.Type == TypeFlatline && r.Threshold > 0:
		return min(int(math.Ceil(r.Threshold)), maxTimelineHits)
	}
	return spikeHits
}

const spikeHits = 50

var decilePercents = []any{10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0}

// timelineAggs are the leaf aggregations timeline reads.
func (r *Rule) timelineAggs() map[string]any {
	times := func(order string) map[string]any {
		return map[string]any{"terms": map[string]any{
			"field": r.TimestampField,
			"size":  r.timelineHits(),
			"order": map[string]any{"_key": order},
		}}
	}
	return map[string]any{
		"first":  times("asc"),
		"last":   times("desc"),
		"spread": map[string]any{"percentiles": map[string]any{"field": r.TimestampField, "percents": decilePercents}},
	}
}

// timelineBuckets is what the timeline's lists cost per key against
// search.max_buckets.
func (r *Rule) timelineBuckets() int { return 2 * r.timelineHits() }

// timelineFilterPath trims what a timeline sweep reads back: the formatted
// copies of timestamps and the terms aggregations' error bounds are never
// used. (Exclusions rooted at "aggregations.**" drop the whole object on
// OpenSearch 2.19, hence the bare "**".)
const timelineFilterPath = "-**.key_as_string,-**.doc_count_error_upper_bound,-**.sum_other_doc_count,-**.spread.values.*_as_string"

// chunk is n events at t; exact is false for events placed at a decile.
type chunk struct {
	t     time.Time
	n     float64
	exact bool
}

// listTimes reads a timeline list (terms on the timestamp) as chunks, in
// the order listed.
func (r *Rule) listTimes(v any) []chunk {
	list, _ := mapOf(v)["buckets"].([]any)
	out := make([]chunk, 0, len(list))
	for _, b := range list {
		m := mapOf(b)
		t, ok := r.aggTime(m["key"])
		n, _ := number(m["doc_count"])
		if ok && n > 0 {
			out = append(out, chunk{t: t, n: n, exact: true})
		}
	}
	return out
}

// timeline returns a key's events in the sweep as chunks in time order (see
// the comment at the top of this file).
func (r *Rule) timeline(leaf map[string]any) []chunk {
	total, _ := number(leaf["doc_count"])
	first := r.listTimes(leaf["first"])
	last := r.listTimes(leaf["last"])
	slices.Reverse(last)
	// The lists overlap when the key has few distinct timestamps: merge.
	out := slices.Clone(first)
	covered := 0.0
	for _, c := range first {
		covered += c.n
	}
	for _, c := range last {
		if len(first) > 0 && !c.t.After(first[len(first)-1].t) {
			continue
		}
		covered += c.n
	}
	if covered >= total || len(first) == 0 || len(last) == 0 {
		for _, c := range last {
			if len(first) == 0 || c.t.After(first[len(first)-1].t) {
				out = append(out, c)
			}
		}
		return out
	}
	lo, hi := first[len(first)-1].t, last[0].t
	deciles := r.deciles(leaf["spread"])
	m := int(total - covered)
	for j := 1; j <= 10; j++ {
		at := hi
		if j <= len(deciles) {
			at = clampTime(deciles[j-1], lo, hi)
		}
		if k := m*j/10 - m*(j-1)/10; k > 0 {
			out = append(out, chunk{t: at, n: float64(k)})
		}
	}
	return append(out, last...)
}

// deciles reads a percentiles aggregation, in percent order.
func (r *Rule) deciles(v any) []time.Time {
	vals := mapOf(mapOf(v)["values"])
	type pv struct {
		p float64
		t time.Time
	}
	var ps []pv
	for k, x := range vals {
		if strings.HasSuffix(k, "_as_string") {
			continue
		}
		p, err := strconv.ParseFloat(k, 64)
		if err != nil {
			continue
		}
		if t, ok := r.aggTime(x); ok {
			ps = append(ps, pv{p, t})
		}
	}
	slices.SortFunc(ps, func(a, b pv) int { return cmp.Compare(a.p, b.p) })
	out := make([]time.Time, len(ps))
	for i, x := range ps {
		out[i] = x.t
	}
	return out
}

func clampTime(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}
