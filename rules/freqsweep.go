package rules

import (
	"time"
)

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

// frequencySweep feeds a key's events into its window in time order, from
// the key's timeline: event by event when the sweep listed them all, so the
// crossing is the event ElastAlert2 names.
func (r *Rule) frequencySweep(st *State, key string, leaf map[string]any, emit func(Match)) {
	for _, c := range r.timeline(leaf) {
		r.freqChunk(st, key, c.t, c.n, emit)
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
