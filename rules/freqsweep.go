package rules

import (
	"fmt"
	"sort"
	"time"
)

// maxSweepBuckets bounds the histogram buckets one frequency sweep asks for
// (OpenSearch refuses more than search.max_buckets, 65535 by default).
const maxSweepBuckets = 20000

// frequencyInterval is the histogram step of a frequency sweep over
// (start, end]: one second, coarser when timeframe/300 is (so a key's window
// in State holds at most about 300 entries) or when the sweep is long enough
// that terms_size keys × steps would pass maxSweepBuckets.
func (r *Rule) frequencyInterval(start, end time.Time) time.Duration {
	iv := time.Second
	if d := r.Timeframe / 300; d > iv {
		iv = d
	}
	keys := 1.0
	for range r.QueryKey {
		keys *= float64(max(r.TermsSize, 1))
	}
	if d := time.Duration(float64(end.Sub(start)) * keys / maxSweepBuckets); d > iv {
		iv = d
	}
	return (iv + time.Second - 1).Truncate(time.Second)
}

// frequencyAggs splits each key's events into histogram steps, each with its
// first and last timestamp, so counts enter the window near the time they
// happened instead of all at the sweep's newest event.
func (r *Rule) frequencyAggs(start, end time.Time) map[string]any {
	iv := r.frequencyInterval(start, end)
	hist := map[string]any{"field": r.TimestampField, "min_doc_count": 1}
	kind := "date_histogram"
	switch r.TimestampType {
	case "unix":
		kind, hist["interval"] = "histogram", iv.Seconds()
	case "unix_ms":
		kind, hist["interval"] = "histogram", iv.Milliseconds()
	default:
		hist["fixed_interval"] = fmt.Sprintf("%ds", int64(iv/time.Second))
	}
	return map[string]any{"steps": map[string]any{
		kind: hist,
		"aggs": map[string]any{
			"first": map[string]any{"min": map[string]any{"field": r.TimestampField}},
			"last":  map[string]any{"max": map[string]any{"field": r.TimestampField}},
		},
	}}
}

// aggTime reads a min/max aggregation of the timestamp field.
func (r *Rule) aggTime(v any) (time.Time, bool) {
	n, ok := number(v)
	if !ok {
		return time.Time{}, false
	}
	if r.TimestampType == "unix" {
		return time.Unix(0, int64(n*1e9)).UTC(), true
	}
	return time.UnixMilli(int64(n)).UTC(), true
}

// frequencySweep feeds a key's histogram steps into its window in time order.
// A step's first event enters at its own time and the rest at the step's last
// event, so a step holding one event (or events sharing a timestamp) is exact
// and otherwise the match is stamped at most one step late.
func (r *Rule) frequencySweep(st *State, key string, leaf map[string]any, emit func(Match)) {
	type step struct {
		first, last time.Time
		n           float64
	}
	var steps []step
	list, _ := mapOf(leaf["steps"])["buckets"].([]any)
	for _, b := range list {
		m := mapOf(b)
		n, _ := number(m["doc_count"])
		first, ok1 := r.aggTime(m["first"])
		last, ok2 := r.aggTime(m["last"])
		if n > 0 && ok1 && ok2 {
			steps = append(steps, step{first, last, n})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].first.Before(steps[j].first) })
	for _, s := range steps {
		if s.first.Equal(s.last) {
			r.freqChunk(st, key, s.first, s.n, emit)
			continue
		}
		r.freqChunk(st, key, s.first, 1, emit)
		r.freqChunk(st, key, s.last, s.n-1, emit)
	}
}

// freqChunk adds n events at t one batch at a time: when the window reaches
// num_events it matches and clears, and the events after the crossing one
// start the next window, as they would arriving one by one.
func (r *Rule) freqChunk(st *State, key string, t time.Time, n float64, emit func(Match)) {
	need := float64(r.NumEvents)
	for n > 0 {
		w := st.window(&st.Windows, key)
		// Slide the window to t with an empty entry, then fill it with as
		// many events as reach num_events.
		w.add(Entry{T: t.UnixNano()}, r.Timeframe, nil)
		take := min(n, max(need-w.Count, 1))
		for i := len(w.Entries) - 1; i >= 0; i-- {
			if e := &w.Entries[i]; e.T == t.UnixNano() && e.N == 0 {
				e.N = take
				break
			}
		}
		w.Count += take
		n -= take
		if w.Count >= need {
			doc := Event{r.TimestampField: t.Format(time.RFC3339Nano)}
			r.setKeyFields(doc, key)
			emit(r.match(t, key, doc, map[string]any{"num_hits": int(w.Count)}))
			delete(st.Windows, key)
		}
	}
}
