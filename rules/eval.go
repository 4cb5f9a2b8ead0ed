package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// State is everything a rule remembers between runs. It is plain data (JSON
// round-trips exactly) so a Temporal workflow can carry it from sweep to sweep
// or through continue-as-new. A zero State is a rule that never ran.
type State struct {
	LastRunEnd time.Time `json:"last_run_end,omitzero"`
	// Windows are per-key event windows (frequency, flatline, spike's current
	// window); RefWindows are spike's reference windows.
	Windows    map[string]*Window `json:"windows,omitempty"`
	RefWindows map[string]*Window `json:"ref_windows,omitempty"`
	// FirstEvent is when each key was first seen (flatline, spike, cardinality).
	FirstEvent    map[string]time.Time `json:"first_event,omitempty"`
	SkipUntil     map[string]time.Time `json:"skip_until,omitempty"`
	RefFilledOnce bool                 `json:"ref_filled_once,omitempty"`
	// LastValue is change's last compare_key value per query_key.
	LastValue map[string]Seen `json:"last_value,omitempty"`
	// Terms are new_term's known terms per field (composite fields joined by ",").
	Terms map[string]map[string]bool `json:"terms,omitempty"`
	// Cardinality maps key → value → last time seen.
	Cardinality map[string]map[string]time.Time `json:"cardinality,omitempty"`
	// Silences are realert silences per match key ("" without query_key).
	Silences map[string]Silence `json:"silences,omitempty"`
	// Late documents (late.go): Processed holds the _id and timestamp (Unix
	// ms) of every document a document sweep evaluated with a timestamp in
	// (ProcessedSince, LastRunEnd], so the next sweep can read buffer_time
	// again and evaluate only what was indexed late.
	Processed      map[string]int64 `json:"processed,omitempty"`
	ProcessedSince time.Time        `json:"processed_since,omitzero"`
	// Anomaly is an anomaly rule's baselines (anomaly.go); Rare the Go
	// evaluator's recent times per rare pair (rare.go; sweeps keep none).
	Anomaly *AnomalyState      `json:"anomaly,omitempty"`
	Rare    map[string][]int64 `json:"rare,omitempty"`
	// Temporal maps key → referenced rule → its newest event's time, within
	// timeframe (temporal.go).
	Temporal map[string]map[string]time.Time `json:"temporal,omitempty"`
}

// Seen is a remembered value and when it was seen.
type Seen struct {
	Value any       `json:"value"`
	Time  time.Time `json:"time"`
}

// Silence suppresses matches for a key until Until; Exponent counts
// exponential_realert doublings.
type Silence struct {
	Until    time.Time `json:"until"`
	Exponent int       `json:"exponent,omitempty"`
}

// Entry is one event (or count) in a window. Times are Unix nanoseconds to keep
// the hot path and the JSON small.
type Entry struct {
	T           int64   `json:"t"`
	N           float64 `json:"n"`
	Placeholder bool    `json:"p,omitempty"`
	Doc         Event   `json:"doc,omitempty"`
}

// Window is ElastAlert2's EventWindow: entries sorted by time, holding less
// than one timeframe between the oldest and the newest (half-open).
type Window struct {
	Entries []Entry `json:"e"`
	Count   float64 `json:"c"`
}

func (w *Window) add(e Entry, timeframe time.Duration, removed func(Entry)) {
	i := len(w.Entries)
	for i > 0 && w.Entries[i-1].T > e.T {
		i--
	}
	if i == len(w.Entries) {
		w.Entries = append(w.Entries, e)
	} else {
		w.Entries = append(w.Entries, Entry{})
		copy(w.Entries[i+1:], w.Entries[i:])
		w.Entries[i] = e
	}
	w.Count += e.N
	tf := int64(timeframe)
	drop := 0
	last := w.Entries[len(w.Entries)-1].T
	for drop < len(w.Entries) && last-w.Entries[drop].T >= tf {
		w.Count -= w.Entries[drop].N
		if removed != nil {
			removed(w.Entries[drop])
		}
		drop++
	}
	if drop > 0 {
		if drop == len(w.Entries) {
			w.Entries = w.Entries[:0]
		} else if drop > len(w.Entries)/2 && len(w.Entries) > 64 {
			// Compact instead of reslicing forever so memory tracks the window.
			n := copy(w.Entries, w.Entries[drop:])
			w.Entries = w.Entries[:n]
		} else {
			w.Entries = w.Entries[drop:]
		}
	}
}

func (w *Window) clear() { w.Entries, w.Count = nil, 0 }

func (w *Window) newest() int64 { return w.Entries[len(w.Entries)-1].T }

// compiled holds the rule's field paths resolved once.
type compiled struct {
	ts       field
	qk       []field
	compare  []field
	card     field
	metric   field
	terms    [][]field
	tsLayout string
}

func (r *Rule) comp() *compiled {
	if r.c != nil {
		return r.c
	}
	c := &compiled{ts: newField(r.TimestampField), card: newField(r.CardinalityField), metric: newField(r.MetricAggKey)}
	if c.ts.name == "" {
		c.ts = newField("@timestamp")
	}
	for _, k := range r.QueryKey {
		c.qk = append(c.qk, newField(k))
	}
	for _, k := range r.CompareKey {
		c.compare = append(c.compare, newField(k))
	}
	for _, fs := range r.Fields {
		var l []field
		for _, f := range fs {
			l = append(l, newField(f))
		}
		c.terms = append(c.terms, l)
	}
	r.c = c
	return c
}

// key is the event's query_key value; compound keys join with ", ".
func (c *compiled) key(e Event) string {
	switch len(c.qk) {
	case 0:
		return ""
	case 1:
		v, _ := c.qk[0].get(e)
		return keyString(v)
	}
	parts := make([]string, len(c.qk))
	for i, f := range c.qk {
		v, _ := f.get(e)
		parts[i] = keyString(v)
	}
	return strings.Join(parts, ", ")
}

type timed struct {
	t time.Time
	e Event
}

// Evaluate runs the rule over one sweep: events with timestamps in
// (runStart, runEnd] that pass the filter are added in time order, then the
// end-of-run checks (flatline, spike placeholders, cardinality minimums) run at
// runEnd. Aggregating types (metric_aggregation, percentage_match,
// spike_aggregation) aggregate over the sweep window. Matches silenced by
// realert are dropped. st is updated in place.
func (r *Rule) Evaluate(st *State, events []Event, runStart, runEnd time.Time) ([]Match, error) {
	return r.evaluate(st, events, runStart, runEnd, true)
}

// EvaluateHits is Evaluate for documents a sweep fetched with BuildSearch:
// OpenSearch already applied the rule's filters, and _source holds only the
// fields evaluation reads, so filtering them again in Go would drop every hit.
func (r *Rule) EvaluateHits(st *State, hits []Event, runStart, runEnd time.Time) ([]Match, error) {
	return r.evaluate(st, hits, runStart, runEnd, false)
}

func (r *Rule) evaluate(st *State, events []Event, runStart, runEnd time.Time, filter bool) ([]Match, error) {
	c := r.comp()
	in := make([]timed, 0, len(events))
	for i, e := range events {
		t, err := r.eventTime(c, i, e)
		if err != nil {
			return nil, err
		}
		if !t.After(runStart) || t.After(runEnd) {
			continue
		}
		if filter && !r.pass(e) {
			continue
		}
		in = append(in, timed{t, e})
	}
	if !sort.SliceIsSorted(in, func(i, j int) bool { return in[i].t.Before(in[j].t) }) {
		sort.SliceStable(in, func(i, j int) bool { return in[i].t.Before(in[j].t) })
	}
	var out []Match
	emit := func(m Match) {
		if r.silenced(st, m) {
			return
		}
		out = append(out, m)
	}
	switch r.Type {
	case TypeAny, TypeBlacklist, TypeWhitelist:
		r.evalList(c, in, emit)
	case TypeChange:
		r.evalChange(c, st, in, emit)
	case TypeFrequency:
		r.evalFrequency(c, st, in, runEnd, emit)
	case TypeFlatline:
		r.evalFlatline(c, st, in, runEnd, emit)
	case TypeSpike:
		r.evalSpike(c, st, in, runEnd, emit)
	case TypeNewTerm:
		r.evalNewTerm(c, st, in, emit)
	case TypeCardinality:
		r.evalCardinality(c, st, in, runEnd, emit)
	case TypeMetricAggregation:
		r.evalMetric(c, in, runEnd, emit)
	case TypeSpikeAggregation:
		r.evalSpikeAggregation(c, st, in, runEnd, emit)
	case TypePercentageMatch:
		r.evalPercentage(c, in, runEnd, emit)
	case TypeAnomaly:
		r.evalAnomaly(c, st, in, runStart, runEnd, emit)
	case TypeRare:
		r.evalRare(c, st, in, runStart, runEnd, emit)
	case TypeTemporal:
		r.evalTemporal(c, st, in, runEnd, emit)
	default:
		return nil, fmt.Errorf("rule %s: unknown type %q", r.Name, r.Type)
	}
	st.LastRunEnd = runEnd
	return out, nil
}

func (r *Rule) pass(e Event) bool {
	for _, f := range r.Filter {
		if !f.Match(e) {
			return false
		}
	}
	return true
}

// silenced applies realert per key and records the silence when the match
// goes out. Time is the match's own time so backtests are deterministic.
func (r *Rule) silenced(st *State, m Match) bool {
	if r.Realert <= 0 {
		return false
	}
	s, ok := st.Silences[m.Key]
	if ok && m.Time.Before(s.Until) {
		return true
	}
	until, exp := r.nextAlert(s, ok, m.Time)
	if st.Silences == nil {
		st.Silences = map[string]Silence{}
	}
	st.Silences[m.Key] = Silence{Until: until, Exponent: exp}
	return false
}

// nextAlert is ElastAlert2's next_alert_time: the silence doubles while a key
// fires again within realert·2^exponent of its last silence ending, steps back
// one doubling per such span of quiet, and a wait that reaches
// exponential_realert is exponential_realert (the exponent then stays one
// below, so the next quick re-fire is capped again). Seconds are whole, as
// ElastAlert2's seconds() counts them.
func (r *Rule) nextAlert(last Silence, seen bool, now time.Time) (time.Time, int) {
	if !seen || r.ExponentialRealert <= 0 {
		return now.Add(r.Realert), 0
	}
	realert := float64(r.Realert / time.Second)
	span := func(exp int) float64 { return realert * math.Pow(2, float64(exp)) }
	diff := float64(now.Sub(last.Until) / time.Second)
	exp := last.Exponent
	if diff < span(exp) {
		exp++
	} else {
		for diff > span(exp) && exp > 0 {
			diff -= span(exp)
			exp--
		}
	}
	wait := time.Duration(span(exp) * float64(time.Second))
	if wait >= r.ExponentialRealert {
		return now.Add(r.ExponentialRealert), exp - 1
	}
	return now.Add(wait), exp
}

func (r *Rule) match(t time.Time, key string, doc Event, extra map[string]any) Match {
	f := make(map[string]any, len(doc)+len(extra))
	maps.Copy(f, doc)
	maps.Copy(f, extra)
	return Match{Time: t, Key: key, Fields: f}
}

func (r *Rule) evalList(c *compiled, in []timed, emit func(Match)) {
	for _, ev := range in {
		if r.Type != TypeAny {
			var v any
			ok := false
			if len(c.compare) > 0 {
				v, ok = c.compare[0].get(ev.e)
			}
			if r.Type == TypeBlacklist {
				if !ok || !inList(v, r.Blacklist) {
					continue
				}
			} else {
				if !ok || v == nil {
					if r.IgnoreNull {
						continue
					}
				} else if inList(v, r.Whitelist) {
					continue
				}
			}
		}
		emit(r.match(ev.t, c.key(ev.e), ev.e, nil))
	}
}

func inList(v any, list []string) bool {
	if v == nil {
		return false // ElastAlert2: None is in no list, not even one holding ""
	}
	s := keyString(v)
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

func (r *Rule) evalChange(c *compiled, st *State, in []timed, emit func(Match)) {
	if st.LastValue == nil {
		st.LastValue = map[string]Seen{}
	}
	for _, ev := range in {
		key := c.key(ev.e)
		// ignore_null skips the event when any compared value is falsy in
		// Python's sense (missing, null, 0, "", [], {}), booleans excepted,
		// as ElastAlert2's ChangeRule.compare does.
		var val any
		skip := false
		if len(c.compare) == 1 {
			v, _ := c.compare[0].get(ev.e)
			skip = falsy(v)
			val = v
		} else {
			vals := make([]any, len(c.compare))
			for i, f := range c.compare {
				v, _ := f.get(ev.e)
				skip = skip || falsy(v)
				vals[i] = v
			}
			val = vals
		}
		if skip && r.IgnoreNull {
			continue
		}
		prev, seen := st.LastValue[key]
		st.LastValue[key] = Seen{Value: val, Time: ev.t}
		if !seen || keyString(prev.Value) == keyString(val) && fmt.Sprint(prev.Value) == fmt.Sprint(val) {
			continue
		}
		// With a timeframe, only a change soon after the previous value counts.
		if r.Timeframe > 0 && ev.t.Sub(prev.Time) > r.Timeframe {
			continue
		}
		emit(r.match(ev.t, key, ev.e, map[string]any{"old_value": prev.Value, "new_value": val}))
	}
}

func (st *State) window(m *map[string]*Window, key string) *Window {
	if *m == nil {
		*m = map[string]*Window{}
	}
	w := (*m)[key]
	if w == nil {
		w = &Window{}
		(*m)[key] = w
	}
	return w
}

func (r *Rule) evalFrequency(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	for _, ev := range in {
		r.freqAdd(st, c.key(ev.e), ev.t, 1, ev.e, emit)
	}
	r.freqGC(st, runEnd)
}

// freqAdd adds n occurrences at t to the key's window and matches on the
// addition that reaches num_events, clearing the window.
func (r *Rule) freqAdd(st *State, key string, t time.Time, n float64, doc Event, emit func(Match)) {
	w := st.window(&st.Windows, key)
	w.add(Entry{T: t.UnixNano(), N: n}, r.Timeframe, nil)
	if w.Count >= float64(r.NumEvents) {
		emit(r.match(t, key, doc, map[string]any{"num_hits": int(w.Count)}))
		delete(st.Windows, key)
	}
}

// freqGC forgets keys whose newest event is over a timeframe old: they
// cannot match any more.
func (r *Rule) freqGC(st *State, runEnd time.Time) {
	end := runEnd.UnixNano()
	for k, w := range st.Windows {
		if len(w.Entries) == 0 || end-w.newest() > int64(r.Timeframe) {
			delete(st.Windows, k)
		}
	}
}

// flatCheck is FlatlineRule.check_for_match: nothing until a timeframe has
// passed since the key's first event, then a match while the count is under
// threshold, re-armed so it keeps firing until data returns.
func (r *Rule) flatCheck(st *State, key string, doc Event, t time.Time, emit func(Match)) {
	w := st.Windows[key]
	newest := time.Unix(0, w.newest()).UTC()
	first, ok := st.FirstEvent[key]
	if !ok {
		first = newest
		st.FirstEvent[key] = first
	}
	if newest.Sub(first) < r.Timeframe {
		return
	}
	if w.Count < r.Threshold {
		emit(r.match(t, key, doc, map[string]any{"key": key, "count": int(w.Count), "threshold": r.Threshold}))
		if r.ForgetKeys {
			// forget_keys: drop the key until it is seen again, so it fires
			// once rather than every run (without query_key, the next run
			// starts the one key afresh, as in ElastAlert2).
			delete(st.FirstEvent, key)
			delete(st.Windows, key)
			return
		}
		oldest := time.Unix(0, w.Entries[0].T).UTC()
		st.FirstEvent[key] = minTime(oldest, newest.Add(-r.Timeframe))
	}
}

func (r *Rule) evalFlatline(c *compiled, st *State, in []timed, runEnd time.Time, emit func(Match)) {
	if st.FirstEvent == nil {
		st.FirstEvent = map[string]time.Time{}
	}
	lastKey := ""
	var last *timed
	for i := range in {
		ev := &in[i]
		lastKey = c.key(ev.e)
		st.window(&st.Windows, lastKey).add(Entry{T: ev.t.UnixNano(), N: 1}, r.Timeframe, nil)
		last = ev
	}
	// ElastAlert2 checks once after the batch, for the last key added.
	if last != nil {
		r.flatCheck(st, lastKey, last.e, last.t, emit)
	}
	r.flatGC(st, runEnd, emit)
}

// flatGC slides every key's window to runEnd with an empty placeholder and
// checks it, so silence is noticed without events.
func (r *Rule) flatGC(st *State, runEnd time.Time, emit func(Match)) {
	if st.FirstEvent == nil {
		st.FirstEvent = map[string]time.Time{}
	}
	keys := slices.Sorted(maps.Keys(st.Windows))
	if len(keys) == 0 && len(r.QueryKey) == 0 {
		keys = []string{""}
	}
	for _, k := range keys {
		st.window(&st.Windows, k).add(Entry{T: runEnd.UnixNano(), Placeholder: true}, r.Timeframe, nil)
		if _, ok := st.FirstEvent[k]; !ok {
			st.FirstEvent[k] = runEnd
		}
		doc := Event{r.TimestampField: runEnd.UTC().Format(time.RFC3339Nano)}
		r.setKeyFields(doc, k)
		r.flatCheck(st, k, doc, runEnd, emit)
	}
}

// setKeyFields puts the query_key value(s) on a synthetic match document.
func (r *Rule) setKeyFields(doc Event, key string) {
	if len(r.QueryKey) == 1 {
		doc[r.QueryKey[0]] = key
	} else if len(r.QueryKey) > 1 {
		for i, v := range strings.SplitN(key, ", ", len(r.QueryKey)) {
			doc[r.QueryKey[i]] = v
		}
	}
}

// eventTime reads event i's timestamp through the compiled field path.
func (r *Rule) eventTime(c *compiled, i int, e Event) (time.Time, error) {
	v, ok := c.ts.get(e)
	if !ok {
		return time.Time{}, fmt.Errorf("rule %s: event %d: no %s", r.Name, i, c.ts.name)
	}
	t, ok := parseTime(v, r.TimestampType)
	if !ok {
		return time.Time{}, fmt.Errorf("rule %s: event %d: %s: cannot parse %v as a timestamp", r.Name, i, c.ts.name, v)
	}
	return t, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
