package rules

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// spikeValues returns the reference and current values: counts, or for
// spike_aggregation with avg/min/max the window's mean/min/max, or with
// field_value the mean of the field's values over the events in each window.
func (r *Rule) spikeValues(ref, cur *Window) (float64, float64, bool) {
	if r.FieldValue != "" {
		a, okA := windowMean(ref)
		b, okB := windowMean(cur)
		return a, b, okA && okB
	}
	if r.Type == TypeSpikeAggregation {
		switch r.MetricAggType {
		case "avg":
			a, okA := windowMean(ref)
			b, okB := windowMean(cur)
			return a, b, okA && okB
		case "min", "max":
			a, okA := windowExtreme(ref, r.MetricAggType == "max")
			b, okB := windowExtreme(cur, r.MetricAggType == "max")
			return a, b, okA && okB
		}
	}
	return ref.Count, cur.Count, true
}

// SpikeValues is what a spike rule compares for one key: reference and
// current counts, or window means (spike_aggregation avg, field_value), or
// minimums/maximums; ok is false while a window that needs a value has none.
// Windows hold one entry per event (N = 1, or the event's FieldValueCount)
// plus placeholders; a sweep path that aggregates must keep the same entries
// for means to be ElastAlert2's.
func (r *Rule) SpikeValues(ref, cur *Window) (refV, curV float64, ok bool) {
	return r.spikeValues(ref, cur)
}

// SpikeFound reports whether reference and current values are a spike, with
// ElastAlert2's threshold rules for the rule's kind (SpikeRule.find_matches).
func (r *Rule) SpikeFound(ref, cur float64) bool { return r.spikeFound(ref, cur) }

// FieldValueCount is what a spike rule with field_value adds to its windows
// for e, as ElastAlert2's SpikeRule.add_data reads it: only an event with a
// top-level key named exactly field_value counts (ElastAlert2 tests
// `field_value in event`, so a dotted name does not reach into nested
// objects), and its value goes through Python's int(): numbers truncate
// toward zero, booleans are 1 or 0, strings must be decimal integers
// (surrounding spaces, a sign and digit-separating underscores allowed).
// Anything else is skipped, as ElastAlert2 skips it.
func (r *Rule) FieldValueCount(e Event) (float64, bool) {
	v, ok := e[r.FieldValue]
	if !ok {
		return 0, false
	}
	return pythonInt(v)
}

func pythonInt(v any) (float64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, false
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		return parsePythonInt(x)
	}
	f, ok := toFloat(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return math.Trunc(f), true
}

// parsePythonInt is int(str) in base 10.
func parsePythonInt(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	digits := strings.ReplaceAll(s, "_", "")
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(digits, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

func windowMean(w *Window) (float64, bool) {
	sum, n := 0.0, 0
	for _, e := range w.Entries {
		if !e.Placeholder {
			sum += e.N
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

func windowExtreme(w *Window, max bool) (float64, bool) {
	if len(w.Entries) == 0 {
		return 0, false
	}
	v := w.Entries[0].N
	for _, e := range w.Entries[1:] {
		if max {
			v = math.Max(v, e.N)
		} else {
			v = math.Min(v, e.N)
		}
	}
	return v, true
}

func (r *Rule) spikeFound(ref, cur float64) bool {
	if r.FieldValue != "" {
		// With field_value ElastAlert2 ignores threshold_ref/threshold_cur
		// and never matches while either mean is 0.
		if ref == 0 || cur == 0 {
			return false
		}
	} else if (r.ThresholdCur != nil && cur < *r.ThresholdCur) || (r.ThresholdRef != nil && ref < *r.ThresholdRef) {
		return false
	}
	down := cur <= ref/r.SpikeHeight
	up := cur >= ref*r.SpikeHeight
	return (up && (r.SpikeType == "up" || r.SpikeType == "both")) ||
		(down && (r.SpikeType == "down" || r.SpikeType == "both"))
}

// spikeEvent is SpikeRule.handle_event: add to the current window (whose
// evictions feed the reference window), stay silent until two timeframes have
// passed for the key, then compare.
func (r *Rule) spikeEvent(st *State, key string, t time.Time, n float64, placeholder bool, doc Event, emit func(Match)) {
	if st.FirstEvent == nil {
		st.FirstEvent = map[string]time.Time{}
	}
	if _, ok := st.FirstEvent[key]; !ok {
		st.FirstEvent[key] = t
	}
	ref := st.window(&st.RefWindows, key)
	cur := st.window(&st.Windows, key)
	cur.add(Entry{T: t.UnixNano(), N: n, Placeholder: placeholder, Doc: doc}, r.Timeframe, func(e Entry) {
		e.Doc = nil // the reference window only needs counts
		ref.add(e, r.Timeframe, nil)
	})
	if t.Sub(st.FirstEvent[key]) < 2*r.Timeframe {
		if !st.RefFilledOnce || !(len(r.QueryKey) > 0 && r.AlertOnNewData) {
			return
		}
		if skip, ok := st.SkipUntil[key]; ok && t.Before(skip) {
			return
		}
	} else {
		st.RefFilledOnce = true
	}
	refV, curV, ok := r.spikeValues(ref, cur)
	if !ok || !r.spikeFound(refV, curV) {
		return
	}
	// The match is the oldest real event in the current window: the oldest
	// with a count, or with field_value the oldest that is not a placeholder
	// (its value may be 0).
	var m *Entry
	for i := range cur.Entries {
		m = &cur.Entries[i]
		if !m.Placeholder && (m.N != 0 || r.FieldValue != "") {
			break
		}
	}
	mt := time.Unix(0, m.T).UTC()
	emit(r.match(mt, key, m.Doc, map[string]any{"spike_count": curV, "reference_count": refV}))
	ref.clear()
	delete(st.FirstEvent, key)
	if st.SkipUntil == nil {
		st.SkipUntil = map[string]time.Time{}
	}
	st.SkipUntil[key] = mt.Add(2 * r.Timeframe)
}

// spikeGC adds a placeholder at runEnd for every key so windows slide even
// without events, forgetting keys with nothing left in either window.
func (r *Rule) spikeGC(st *State, runEnd time.Time, emit func(Match)) {
	for _, k := range slices.Sorted(maps.Keys(st.Windows)) {
		if len(r.QueryKey) > 0 && st.Windows[k].Count == 0 && st.window(&st.RefWindows, k).Count == 0 {
			delete(st.Windows, k)
			delete(st.RefWindows, k)
			continue
		}
		doc := Event{r.TimestampField: runEnd.UTC().Format(time.RFC3339Nano), "placeholder": true}
		r.setKeyFields(doc, k)
		r.spikeEvent(st, k, runEnd, 0, true, doc, emit)
	}
}

func (r *Rule) evalSpike(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	for _, ev := range in {
		key := "all"
		if len(c.qk) > 0 {
			key = c.key(ev.e)
			if key == "" {
				key = "other"
			}
		}
		n := 1.0
		if r.FieldValue != "" {
			f, ok := r.FieldValueCount(ev.e)
			if !ok {
				continue
			}
			n = f
		}
		r.spikeEvent(st, key, ev.t, n, false, ev.e, emit)
	}
	r.spikeGC(st, runEnd, emit)
}

// evalSpikeAggregation feeds one aggregated value per key per run into the
// spike windows, as ElastAlert2's spike_aggregation does with its query result.
func (r *Rule) evalSpikeAggregation(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	groups := groupByKey(c, in)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		v, ok := aggregate(r.MetricAggType, c.metric, groups[k])
		if !ok {
			continue
		}
		key := k
		if len(c.qk) == 0 {
			key = "all"
		}
		doc := Event{r.TimestampField: runEnd.UTC().Format(time.RFC3339Nano), r.metricKey(): v}
		r.setKeyFields(doc, k)
		r.spikeEvent(st, key, runEnd, v, false, doc, emit)
	}
	r.spikeGC(st, runEnd, emit)
}
