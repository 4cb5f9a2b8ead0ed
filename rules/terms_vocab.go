package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// A new_term rule's vocabulary can outgrow what a workflow may carry (one
// Temporal payload is at most 2 MB; a field with 1M terms is tens of MB), so a
// sweep keeps it outside State (activities/terms.go keeps it in OpenSearch)
// and asks only about the terms its own events hold. The functions here stay
// pure: they list those terms, evaluate with a lookup, and build the seeding
// requests. Backtest and Evaluate still keep known terms in State.Terms.

// DefaultWindowStepSize is ElastAlert2's window_step_size default.
const DefaultWindowStepSize = 24 * time.Hour

// Term is one term of a new_term rule: the field entry as State.Terms names it
// (names joined by ","), the value (composite parts joined by "\x1f") and the
// time of its first event in the run that lists it.
type Term struct {
	Field string    `json:"field"`
	Value string    `json:"value"`
	First time.Time `json:"first,omitzero"`
}

// TermsIn lists the distinct terms of hits with timestamps in (runStart,
// runEnd], each at its earliest time, in order of that time. Like
// EvaluateHits it trusts that OpenSearch applied the rule's filters.
func (r *Rule) TermsIn(hits []Event, runStart, runEnd time.Time) ([]Term, error) {
	c := r.comp()
	type fv struct{ field, value string }
	at := map[fv]int{}
	var out []Term
	for i, e := range hits {
		t, err := r.eventTime(c, i, e)
		if err != nil {
			return nil, err
		}
		if !t.After(runStart) || t.After(runEnd) {
			continue
		}
		for _, fs := range c.terms {
			val, ok := termValue(fs, e)
			if !ok {
				continue
			}
			k := fv{termsFieldName(fs), val}
			if j, seen := at[k]; seen {
				if t.Before(out[j].First) {
					out[j].First = t
				}
				continue
			}
			at[k] = len(out)
			out = append(out, Term{Field: k.field, Value: k.value, First: t})
		}
	}
	// Stable, so terms sharing a time keep the order of the hits.
	sort.SliceStable(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out, nil
}

// EvaluateNewTerms is EvaluateHits for a new_term rule whose known terms live
// outside st: known reports whether a term (one of TermsIn's) was known before
// runStart. Terms still in st.Terms (a state from before the vocabulary moved
// out) count as known too, and st.Terms is left as it was. It returns the
// matches and the run's new terms, every term of the run known was false for:
// the caller records them, as evalNewTerm records them in State.Terms.
func (r *Rule) EvaluateNewTerms(st *State, hits []Event, runStart, runEnd time.Time, known func(Term) bool) ([]Match, []Term, error) {
	if r.Type != TypeNewTerm {
		return nil, nil, fmt.Errorf("rule %s: EvaluateNewTerms on type %s", r.Name, r.Type)
	}
	terms, err := r.TermsIn(hits, runStart, runEnd)
	if err != nil {
		return nil, nil, err
	}
	saved := st.Terms
	defer func() { st.Terms = saved }()
	// evalNewTerm reads State.Terms: give it exactly the run's known terms.
	st.Terms = map[string]map[string]bool{}
	var fresh []Term
	for _, t := range terms {
		if saved[t.Field][t.Value] || known(t) {
			st.addTerm(t.Field, t.Value)
			continue
		}
		fresh = append(fresh, t)
	}
	ms, err := r.evaluate(st, hits, runStart, runEnd, false)
	if err != nil {
		return nil, nil, err
	}
	return ms, fresh, nil
}

// TermsSeedStep is one seeding request's time range, [From, To).
type TermsSeedStep struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// TermsSeedSteps splits terms_window_size before end into window_step_size
// steps (one day unless set), oldest first, as ElastAlert2's get_all_terms
// does; the last step ends at end.
func (r *Rule) TermsSeedSteps(end time.Time) []TermsSeedStep {
	step := r.WindowStepSize
	if step <= 0 {
		step = DefaultWindowStepSize
	}
	var out []TermsSeedStep
	for from := end.Add(-r.TermsWindowSize); from.Before(end); from = from.Add(step) {
		out = append(out, TermsSeedStep{From: from, To: minTime(from.Add(step), end)})
	}
	return out
}

// TermsSeedPage is the request for one page of field entry i's terms over
// step: a composite aggregation "terms" with one terms source per name of the
// entry, size buckets, resuming after the previous page's after key (nil for
// the first page). ElastAlert2 asks for every term of a step in one terms
// aggregation of size 2³¹−1, which fails once a step holds more terms than
// search.max_buckets; pages of a composite aggregation get the same terms at
// any count. Decode the response with TermsFromSeedPage.
func (r *Rule) TermsSeedPage(i int, step TermsSeedStep, after map[string]any, size int) Search {
	var sources []any
	for j, name := range r.Fields[i] {
		sources = append(sources, map[string]any{
			fmt.Sprintf("f%d", j): map[string]any{"terms": map[string]any{"field": r.seedField(name)}},
		})
	}
	comp := map[string]any{"size": size, "sources": sources}
	if after != nil {
		comp["after"] = after
	}
	rng := map[string]any{"gte": r.timeValue(step.From), "lt": r.timeValue(step.To)}
	clauses := []any{map[string]any{"range": map[string]any{r.TimestampField: rng}}}
	for _, f := range r.RawFilter {
		clauses = append(clauses, f)
	}
	return Search{Index: r.IndexFor(step.From, step.To), Body: map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": clauses}},
		"aggs":             map[string]any{"terms": map[string]any{"composite": comp}},
	}}
}

// TermsFromSeedPage decodes a TermsSeedPage response of field entry i asked
// with size: the page's terms (values as TermsIn gives them; buckets with an
// empty part are skipped, as events with an empty value hold no term) and the
// after key of the next page, nil when this page was the last.
func (r *Rule) TermsFromSeedPage(i int, resp map[string]any, size int) ([]string, map[string]any, error) {
	aggs, ok := resp["aggregations"].(map[string]any)
	if !ok {
		// No aggregations: the index pattern matched no index.
		return nil, nil, nil
	}
	comp := mapOf(aggs["terms"])
	if comp == nil {
		return nil, nil, fmt.Errorf("rule %s: seed page has no terms aggregation", r.Name)
	}
	buckets, _ := comp["buckets"].([]any)
	n := len(r.Fields[i])
	values := make([]string, 0, len(buckets))
	for _, b := range buckets {
		key := mapOf(mapOf(b)["key"])
		parts := make([]string, 0, n)
		for j := range n {
			v := keyString(key[fmt.Sprintf("f%d", j)])
			if v == "" {
				break
			}
			parts = append(parts, v)
		}
		if len(parts) == n {
			values = append(values, strings.Join(parts, "\x1f"))
		}
	}
	after := mapOf(comp["after_key"])
	if len(buckets) < size || after == nil {
		after = nil
	}
	return values, after, nil
}

// TermsFieldNames are the field entries' names as Term.Field and State.Terms
// give them, in the order of Rule.Fields.
func (r *Rule) TermsFieldNames() []string {
	c := r.comp()
	out := make([]string, len(c.terms))
	for i, fs := range c.terms {
		out[i] = termsFieldName(fs)
	}
	return out
}
