package rules

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// TypeTemporal is a Sigma temporal correlation (sigma_correlation.go): per
// query_key, it matches when NumEvents of its Temporal rules (all of them by
// default) have each matched an event within timeframe, the newest at the
// match's time. Only Sigma correlation files make one; it is not an
// ElastAlert2 type, so `type: temporal` in a rule file is refused.
const TypeTemporal = "temporal"

// TemporalRule is one rule a temporal correlation waits for: its name for
// the match, its detection for the Go evaluator and for OpenSearch.
type TemporalRule struct {
	Name   string         `json:"name"`
	Filter Filter         `json:"-"`
	Query  map[string]any `json:"query"`
}

// TemporalField is the match field listing the rules seen within timeframe.
const TemporalField = "rules"

// Events at the same timestamp arrive together (a sweep cannot order them):
// the check runs once per timestamp, after all of them.

func (r *Rule) evalTemporal(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	for i := 0; i < len(in); {
		t := in[i].t
		seen := map[string][]bool{}
		for ; i < len(in) && in[i].t.Equal(t); i++ {
			key := c.key(in[i].e)
			s := seen[key]
			if s == nil {
				s = make([]bool, len(r.Temporal))
				seen[key] = s
			}
			for k, tr := range r.Temporal {
				s[k] = s[k] || tr.Filter.Match(in[i].e)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(seen)) {
			r.temporalAt(st, key, t, seen[key], emit)
		}
	}
	r.temporalGC(st, runEnd)
}

// temporalAt records which rules matched key's events at t and matches when
// enough rules have an event in (t-timeframe, t]; a match starts the key
// afresh, as frequency clears its window.
func (r *Rule) temporalAt(st *State, key string, t time.Time, seen []bool, emit func(Match)) {
	if st.Temporal == nil {
		st.Temporal = map[string]map[string]time.Time{}
	}
	last := st.Temporal[key]
	if last == nil {
		last = map[string]time.Time{}
		st.Temporal[key] = last
	}
	for k, ok := range seen {
		if ok {
			last[r.Temporal[k].Name] = t
		}
	}
	var names []any
	for _, tr := range r.Temporal {
		if at, ok := last[tr.Name]; ok && t.Sub(at) < r.Timeframe {
			names = append(names, tr.Name)
		}
	}
	if len(names) < r.NumEvents {
		return
	}
	delete(st.Temporal, key)
	doc := Event{r.TimestampField: t.UTC().Format(time.RFC3339Nano)}
	r.setKeyFields(doc, key)
	emit(r.match(t, key, doc, map[string]any{TemporalField: names}))
}

// temporalGC forgets rule times over a timeframe old at end, and empty keys.
func (r *Rule) temporalGC(st *State, end time.Time) {
	for k, last := range st.Temporal {
		for name, at := range last {
			if end.Sub(at) >= r.Timeframe {
				delete(last, name)
			}
		}
		if len(last) == 0 {
			delete(st.Temporal, k)
		}
	}
}

// temporalAggs: one filters bucket per rule, each with the timeline
// (timeline.go) of that rule's events for the key.
func (r *Rule) temporalAggs() map[string]any {
	filters := make(map[string]any, len(r.Temporal))
	for k, tr := range r.Temporal {
		filters[temporalBucket(k)] = tr.Query
	}
	return map[string]any{TemporalField: map[string]any{
		"filters": map[string]any{"filters": filters},
		"aggs":    r.timelineAggs(),
	}}
}

func temporalBucket(k int) string { return "r" + strconv.Itoa(k) }

// temporalSweep feeds one key's timelines, merged by timestamp, through
// temporalAt: exact when each rule's timeline lists every event time.
func (r *Rule) temporalSweep(st *State, key string, leaf map[string]any, emit func(Match)) {
	buckets := mapOf(mapOf(leaf[TemporalField])["buckets"])
	at := map[int64][]bool{}
	for k := range r.Temporal {
		for _, c := range r.timeline(mapOf(buckets[temporalBucket(k)])) {
			s := at[c.t.UnixNano()]
			if s == nil {
				s = make([]bool, len(r.Temporal))
				at[c.t.UnixNano()] = s
			}
			s[k] = true
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(at)) {
		r.temporalAt(st, key, time.Unix(0, ns).UTC(), at[ns], emit)
	}
}
