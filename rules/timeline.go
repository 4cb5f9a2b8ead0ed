package rules

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A sweep learns when each key's events happened from three small leaf
// aggregations instead of one histogram bucket per step: the first and the
// last timelineHits timestamps (top_hits sorted both ways, sort values only)
// and the key's deciles. A key with at most 2×timelineHits events in the sweep
// is therefore known event by event, exactly as a document fetch would see it;
// a busier key is known exactly at both ends, with the events between placed
// at its deciles. Either way the cost per key is bounded and does not grow
// with the number of events.

// maxTopHits is OpenSearch's index.max_inner_result_window default: top_hits
// may not ask for more.
const maxTopHits = 100

// timelineHits is how many timestamps each end of a key's sweep lists: what
// the type needs to place its decisions exactly, at most maxTopHits. A
// frequency rule needs num_events of them to find its crossing, a flatline
// rule threshold of them (a key above that is not silent). A spike compares
// whole windows: spikeHits of them at each end, so a key with up to 100
// events a sweep is exact and a busier one costs no more.
func (r *Rule) timelineHits() int {
	switch {
	case r.Type == TypeFrequency && r.NumEvents > 0:
		return min(r.NumEvents, maxTopHits)
	case r.Type == TypeFlatline && r.Threshold > 0:
		return min(int(math.Ceil(r.Threshold)), maxTopHits)
	}
	return spikeHits
}

const spikeHits = 50

var decilePercents = []any{10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0}

// timelineAggs are the leaf aggregations timeline reads.
func (r *Rule) timelineAggs() map[string]any {
	hits := func(order string) map[string]any {
		return map[string]any{"top_hits": map[string]any{
			"size":    r.timelineHits(),
			"sort":    []any{map[string]any{r.TimestampField: map[string]any{"order": order}}},
			"_source": false,
		}}
	}
	return map[string]any{
		"first":  hits("asc"),
		"last":   hits("desc"),
		"spread": map[string]any{"percentiles": map[string]any{"field": r.TimestampField, "percents": decilePercents}},
	}
}

// timelineFilterPath trims what a timeline sweep reads back: hit metadata and
// the deciles' formatted copies are never used.
// (Exclusions rooted at "aggregations.**" drop the whole object on
// OpenSearch 2.19, hence the bare "**".)
const timelineFilterPath = "-**._index,-**._id,-**._score,-**.max_score,-**.hits.total,-**.spread.values.*_as_string"

// chunk is n events at t; exact is false for events placed at a decile.
type chunk struct {
	t     time.Time
	n     float64
	exact bool
}

// hitTimes reads a top_hits aggregation's sort values as times, in the
// order listed.
func (r *Rule) hitTimes(v any) []time.Time {
	list, _ := mapOf(mapOf(v)["hits"])["hits"].([]any)
	out := make([]time.Time, 0, len(list))
	for _, h := range list {
		sv, _ := mapOf(h)["sort"].([]any)
		if len(sv) == 0 {
			continue
		}
		if t, ok := r.aggTime(sv[0]); ok {
			out = append(out, t)
		}
	}
	return out
}

// timeline returns a key's events in the sweep as chunks in time order (see
// the comment at the top of this file).
func (r *Rule) timeline(leaf map[string]any) []chunk {
	total, _ := number(leaf["doc_count"])
	n := int(total)
	first := r.hitTimes(leaf["first"])
	last := r.hitTimes(leaf["last"])
	slices.Reverse(last)
	var out []chunk
	exact := func(ts []time.Time) {
		for _, t := range ts {
			if k := len(out) - 1; k >= 0 && out[k].exact && out[k].t.Equal(t) {
				out[k].n++
				continue
			}
			out = append(out, chunk{t: t, n: 1, exact: true})
		}
	}
	switch {
	case n <= len(first):
		exact(first[:n])
		return out
	case n <= len(first)+len(last):
		exact(first)
		exact(last[len(last)-(n-len(first)):])
		return out
	}
	exact(first)
	lo, hi := first[len(first)-1], last[0]
	deciles := r.deciles(leaf["spread"])
	m := n - len(first) - len(last)
	for j := 1; j <= 10; j++ {
		at := hi
		if j <= len(deciles) {
			at = clampTime(deciles[j-1], lo, hi)
		}
		if k := m*j/10 - m*(j-1)/10; k > 0 {
			out = append(out, chunk{t: at, n: float64(k)})
		}
	}
	exact(last)
	return out
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
	slices.SortFunc(ps, func(a, b pv) int {
		switch {
		case a.p < b.p:
			return -1
		case a.p > b.p:
			return 1
		}
		return 0
	})
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
