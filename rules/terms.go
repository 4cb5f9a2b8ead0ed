package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// newFieldValue is the new_field/missing_field value of a match: the field
// name, or the list of names for a composite entry (ElastAlert2's tuple).
func newFieldValue(fs []field) any {
	if len(fs) == 1 {
		return fs[0].name
	}
	names := make([]any, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

func termsFieldName(fs []field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ",")
}

// termValue is the event's term for one new_term field entry; composite
// entries join their values with "\x1f"; ok is false when any part is missing.
func termValue(fs []field, e Event) (string, bool) {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		v, ok := f.get(e)
		if !ok || v == nil || v == "" {
			return "", false
		}
		parts = append(parts, keyString(v))
	}
	return strings.Join(parts, "\x1f"), true
}

// SeedTerms records the terms in events as already known, the way ElastAlert2
// loads terms_window_size of history before a new_term rule starts. A sweep
// workflow seeds from an OpenSearch terms aggregation (see TermsSeedQuery).
func (r *Rule) SeedTerms(st *State, events []Event) {
	c := r.comp()
	for _, e := range events {
		if !r.pass(e) {
			continue
		}
		for _, fs := range c.terms {
			if v, ok := termValue(fs, e); ok {
				st.addTerm(termsFieldName(fs), v)
			}
		}
	}
}

func (st *State) addTerm(fieldName, v string) bool {
	if st.Terms == nil {
		st.Terms = map[string]map[string]bool{}
	}
	known := st.Terms[fieldName]
	if known == nil {
		known = map[string]bool{}
		st.Terms[fieldName] = known
	}
	if known[v] {
		return false
	}
	known[v] = true
	return true
}

func (r *Rule) evalNewTerm(c *compiled, st *State, in []timed, emit func(Match)) {
	for _, ev := range in {
		for _, fs := range c.terms {
			name := termsFieldName(fs)
			v, ok := termValue(fs, ev.e)
			if !ok {
				if r.AlertOnMissing {
					emit(r.match(ev.t, c.key(ev.e), ev.e, map[string]any{"missing_field": newFieldValue(fs)}))
				}
				continue
			}
			if st.addTerm(name, v) {
				emit(r.match(ev.t, c.key(ev.e), ev.e, map[string]any{"new_field": newFieldValue(fs)}))
			}
		}
	}
}

// evalCardinality follows ElastAlert2's CardinalityRule: per key, the distinct
// values seen within timeframe; over max_cardinality matches at once, under
// min_cardinality only after a full timeframe since the key was first seen.
func (r *Rule) evalCardinality(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	if st.Cardinality == nil {
		st.Cardinality = map[string]map[string]time.Time{}
	}
	if st.FirstEvent == nil {
		st.FirstEvent = map[string]time.Time{}
	}
	var check func(key string, t time.Time, doc Event, gc bool)
	gcAt := func(t time.Time) {
		for _, k := range slices.Sorted(maps.Keys(st.Cardinality)) {
			for v, last := range st.Cardinality[k] {
				if t.Sub(last) > r.Timeframe {
					delete(st.Cardinality[k], v)
				}
			}
			if r.MinCardinality != nil {
				doc := Event{r.TimestampField: t.UTC().Format(time.RFC3339Nano)}
				r.setKeyFields(doc, k)
				check(k, t, doc, false)
			}
		}
	}
	check = func(key string, t time.Time, doc Event, gc bool) {
		first, ok := st.FirstEvent[key]
		if !ok {
			first = t
		}
		n := len(st.Cardinality[key])
		over := r.MaxCardinality != nil && n > *r.MaxCardinality
		under := r.MinCardinality != nil && n < *r.MinCardinality && t.Sub(first) > r.Timeframe
		if !over && !under {
			return
		}
		if gc {
			// Stale values only leave in garbage collection; do it before matching.
			gcAt(t)
			check(key, t, doc, false)
			return
		}
		delete(st.FirstEvent, key)
		emit(r.match(t, key, doc, map[string]any{"cardinality": n}))
	}
	cf := c.card
	for _, ev := range in {
		key := c.key(ev.e)
		if st.Cardinality[key] == nil {
			st.Cardinality[key] = map[string]time.Time{}
		}
		if _, ok := st.FirstEvent[key]; !ok {
			st.FirstEvent[key] = ev.t
		}
		v, ok := cf.get(ev.e)
		if !ok || v == nil {
			continue
		}
		st.Cardinality[key][keyString(v)] = ev.t
		check(key, ev.t, ev.e, true)
	}
	gcAt(runEnd)
	for k, vals := range st.Cardinality {
		if len(vals) == 0 && r.MinCardinality == nil {
			delete(st.Cardinality, k)
			delete(st.FirstEvent, k)
		}
	}
}

// TermsSeedQuery is the request that loads a new_term rule's known terms: one
// terms aggregation per field over terms_window_size before end (composite
// fields nest). Feed the response to SeedTermsFromAggregation.
//
// Deprecated: one request of 2³¹−1 buckets fails past search.max_buckets.
// Sweeps seed in window_step_size steps of composite pages (TermsSeedSteps,
// TermsSeedPage, TermsFromSeedPage).
func (r *Rule) TermsSeedQuery(end time.Time) Search {
	aggs := map[string]any{}
	for i, fs := range r.Fields {
		var inner map[string]any
		for j := len(fs) - 1; j >= 0; j-- {
			t := map[string]any{"terms": map[string]any{"field": fs[j], "size": 2147483647}}
			if inner != nil {
				t["aggs"] = inner
			}
			inner = map[string]any{"values": t}
		}
		aggs[fmt.Sprintf("field_%d", i)] = inner["values"]
	}
	start := end.Add(-r.TermsWindowSize)
	rng := map[string]any{"gte": r.timeValue(start), "lt": r.timeValue(end)}
	clauses := []any{map[string]any{"range": map[string]any{r.TimestampField: rng}}}
	for _, f := range r.RawFilter {
		clauses = append(clauses, f)
	}
	return Search{Index: r.Index, Body: map[string]any{
		"size": 0, "query": map[string]any{"bool": map[string]any{"filter": clauses}}, "aggs": aggs,
	}}
}

// SeedTermsFromAggregation records the terms in a TermsSeedQuery response.
//
// Deprecated: see TermsSeedQuery.
func (r *Rule) SeedTermsFromAggregation(st *State, resp map[string]any) error {
	aggs, ok := resp["aggregations"].(map[string]any)
	if !ok {
		return fmt.Errorf("rule %s: response has no aggregations", r.Name)
	}
	c := r.comp()
	for i, fs := range c.terms {
		node := mapOf(aggs[fmt.Sprintf("field_%d", i)])
		var walk func(n map[string]any, prefix []string)
		walk = func(n map[string]any, prefix []string) {
			list, _ := n["buckets"].([]any)
			for _, b := range list {
				m := mapOf(b)
				parts := append(append([]string{}, prefix...), keyString(m["key"]))
				if sub := mapOf(m["values"]); sub != nil {
					walk(sub, parts)
				} else {
					st.addTerm(termsFieldName(fs), strings.Join(parts, "\x1f"))
				}
			}
		}
		walk(node, nil)
	}
	return nil
}
