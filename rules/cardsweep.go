package rules

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// cardinalityCap is how many distinct values per key a cardinality sweep asks
// for and State keeps: the newest max_cardinality+1 (or min_cardinality)
// values decide every later check, because the values still inside the
// timeframe at any time are always the newest ones.
func (r *Rule) cardinalityCap() int {
	n := 1
	if r.MaxCardinality != nil && *r.MaxCardinality+1 > n {
		n = *r.MaxCardinality + 1
	}
	if r.MinCardinality != nil && *r.MinCardinality > n {
		n = *r.MinCardinality
	}
	return n
}

// cardinalityAggs lists a key's distinct cardinality_field values in the
// sweep twice, cardinalityCap of each: the earliest to appear with their first
// timestamp ("earliest", which decide when the count crosses a threshold) and
// the most recently seen with their last ("values", which State keeps).
func (r *Rule) cardinalityAggs() map[string]any {
	list := func(name, agg, order string) map[string]any {
		return map[string]any{
			"terms": map[string]any{"field": r.CardinalityField, "size": r.cardinalityCap(), "order": map[string]any{name: order}},
			"aggs":  map[string]any{name: map[string]any{agg: map[string]any{"field": r.TimestampField}}},
		}
	}
	return map[string]any{
		"values":   list("last", "max", "desc"),
		"earliest": list("first", "min", "asc"),
	}
}

type seenValue struct {
	value       string
	first, last time.Time
}

// sweepValues merges the two lists. A value only in "values" first appeared
// after every listed earliest value, when the count is already over the cap,
// so its last time stands in for its first; a value only in "earliest" was
// last seen before every listed recent value, so State would not keep it and
// its first time stands in for its last.
func (r *Rule) sweepValues(leaf map[string]any) []seenValue {
	var out []seenValue
	at := map[string]int{}
	for _, name := range []string{"earliest", "values"} {
		list, _ := mapOf(leaf[name])["buckets"].([]any)
		for _, b := range list {
			m := mapOf(b)
			v := keyString(m["key"])
			if s, ok := m["key_as_string"].(string); ok {
				v = s
			}
			first, okFirst := r.aggTime(m["first"])
			last, okLast := r.aggTime(m["last"])
			if !okFirst && !okLast {
				continue
			}
			i, ok := at[v]
			if !ok {
				i = len(out)
				at[v] = i
				out = append(out, seenValue{value: v})
			}
			if okFirst {
				out[i].first = first
			}
			if okLast {
				out[i].last = last
			}
		}
	}
	for i := range out {
		if out[i].first.IsZero() {
			out[i].first = out[i].last
		}
		if out[i].last.IsZero() {
			out[i].last = out[i].first
		}
	}
	return out
}

// cardinalitySweep carries one key's distinct values across sweeps the way
// evalCardinality does event by event. The sweep only knows each value's
// first and last time in it, so the rule is checked at those times: the count
// can only grow when a value first appears, so the first crossing of
// max_cardinality is found at the event ElastAlert2 names; later matches
// (once realert lets them through) land on the next first/last time rather
// than on any event in between.
func (r *Rule) cardinalitySweep(st *State, key string, leaf map[string]any, emit func(Match)) {
	vals := r.sweepValues(leaf)
	if len(vals) == 0 {
		return
	}
	if st.Cardinality == nil {
		st.Cardinality = map[string]map[string]time.Time{}
	}
	prev := st.Cardinality[key]
	if prev == nil {
		prev = map[string]time.Time{}
		st.Cardinality[key] = prev
	}
	inSweep := make(map[string]bool, len(vals))
	var checks []time.Time
	for _, v := range vals {
		inSweep[v.value] = true
		checks = append(checks, v.first, v.last)
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].Before(checks[j]) })
	if _, ok := st.FirstEvent[key]; !ok {
		st.FirstEvent[key] = checks[0]
	}
	var last time.Time
	for _, t := range checks {
		if t.Equal(last) {
			continue
		}
		last = t
		if _, ok := st.FirstEvent[key]; !ok {
			st.FirstEvent[key] = t
		}
		// Values seen by t: this sweep's from their first time on (a sweep is
		// shorter than timeframe, so none of them expires within it), earlier
		// sweeps' while still inside timeframe.
		n, fresh := 0, 0
		var crossing string
		for _, v := range vals {
			if !v.first.After(t) {
				n++
				if v.first.Equal(t) {
					fresh++
					if crossing == "" {
						crossing = v.value
					}
				}
			} else if seen, ok := prev[v.value]; ok && t.Sub(seen) <= r.Timeframe {
				n++
			}
		}
		for v, seen := range prev {
			if !inSweep[v] && t.Sub(seen) <= r.Timeframe {
				n++
			}
		}
		// Values first seen at the same instant arrive one at a time, as
		// documents do: the match is at the one that crosses.
		if r.MaxCardinality != nil && fresh > 1 && n-fresh <= *r.MaxCardinality && n > *r.MaxCardinality {
			n = *r.MaxCardinality + 1
		}
		over := r.MaxCardinality != nil && n > *r.MaxCardinality
		under := r.MinCardinality != nil && n < *r.MinCardinality && t.Sub(st.FirstEvent[key]) > r.Timeframe
		if !over && !under {
			continue
		}
		delete(st.FirstEvent, key)
		doc := Event{r.TimestampField: t.Format(time.RFC3339Nano)}
		r.setKeyFields(doc, key)
		if crossing != "" {
			doc[r.CardinalityField] = crossing
		}
		emit(r.match(t, key, doc, map[string]any{"cardinality": n}))
	}
	for _, v := range vals {
		if seen, ok := prev[v.value]; !ok || v.last.After(seen) {
			prev[v.value] = v.last
		}
	}
}

// cardinalityGC drops values over a timeframe old at end, keeps each key's
// newest cardinalityCap values (the bound on State), forgets empty keys, and
// checks min_cardinality at end as evalCardinality's garbage collection does.
func (r *Rule) cardinalityGC(st *State, end time.Time, emit func(Match)) {
	limit := r.cardinalityCap()
	for _, k := range slices.Sorted(maps.Keys(st.Cardinality)) {
		vals := st.Cardinality[k]
		for v, last := range vals {
			if end.Sub(last) > r.Timeframe {
				delete(vals, v)
			}
		}
		if len(vals) > limit {
			type tv struct {
				v string
				t time.Time
			}
			all := make([]tv, 0, len(vals))
			for v, t := range vals {
				all = append(all, tv{v, t})
			}
			sort.Slice(all, func(i, j int) bool {
				if !all[i].t.Equal(all[j].t) {
					return all[i].t.After(all[j].t)
				}
				return all[i].v < all[j].v
			})
			for _, x := range all[limit:] {
				delete(vals, x.v)
			}
		}
		if r.MinCardinality != nil {
			first, ok := st.FirstEvent[k]
			if !ok {
				first = end
			}
			if n := len(vals); n < *r.MinCardinality && end.Sub(first) > r.Timeframe {
				delete(st.FirstEvent, k)
				doc := Event{r.TimestampField: end.UTC().Format(time.RFC3339Nano)}
				r.setKeyFields(doc, k)
				emit(r.match(end, k, doc, map[string]any{"cardinality": n}))
			}
			continue
		}
		if len(vals) == 0 {
			delete(st.Cardinality, k)
			delete(st.FirstEvent, k)
		}
	}
}
