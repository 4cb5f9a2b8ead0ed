package rules

import (
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
// workflow seeds from OpenSearch in steps instead (TermsSeedSteps, TermsSeedPage).
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
