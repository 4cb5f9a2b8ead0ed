package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// MaxRareSeen caps max_seen: the Go evaluator keeps that many timestamps per
// pair.
const MaxRareSeen = 1000

// rarePairsPerLookup is how many of a sweep's pairs one baseline request
// asks about (two terms filters of at most this many values each).
const rarePairsPerLookup = 1000

// A rare rule's sweep over (start, end] finds each (over_field, by_field)
// pair of its events and counts the pair over the baseline_window before the
// sweep, (start − baseline_window, start]. A pair seen fewer than max_seen
// times there is rare: one match per pair and sweep, at the pair's first
// event in the sweep, with seen_count (the baseline count) and count (its
// events in the sweep). The key is "over, by" (query_key is the two fields).

type rarePair struct {
	key    string
	values []any
	first  time.Time
	count  int
	seen   int
}

func (r *Rule) rareMatch(p *rarePair) Match {
	doc := Event{r.TimestampField: p.first.UTC().Format(time.RFC3339Nano),
		"seen_count": p.seen, "count": p.count, "max_seen": r.MaxSeen}
	r.setKeyFields(doc, p.key)
	return Match{Time: p.first, Key: p.key, Fields: doc}
}

func (r *Rule) emitRare(pairs []*rarePair, emit func(Match)) {
	sort.Slice(pairs, func(i, j int) bool {
		if !pairs[i].first.Equal(pairs[j].first) {
			return pairs[i].first.Before(pairs[j].first)
		}
		return pairs[i].key < pairs[j].key
	})
	for _, p := range pairs {
		if p.seen < r.MaxSeen {
			emit(r.rareMatch(p))
		}
	}
}

// evalRare is the Go evaluator. State.Rare keeps, per pair, the times of its
// newest max_seen events (Unix ms): when a pair was seen fewer than max_seen
// times in the window, all of those times are there, so its count is exact
// exactly when it matters. Pairs whose newest event left the window are
// forgotten; the State grows with the pairs seen in baseline_window (the
// sweep path keeps none, it asks OpenSearch).
func (r *Rule) evalRare(c *compiled, st *State, in []timed, runStart, runEnd time.Time, emit func(Match)) {
	if st.Rare == nil {
		st.Rare = map[string][]int64{}
	}
	byKey := map[string]*rarePair{}
	var times = map[string][]int64{}
	for _, ev := range in {
		var parts []string
		ok := true
		for _, f := range c.qk {
			v, has := f.get(ev.e)
			if !has || v == nil {
				ok = false
				break
			}
			parts = append(parts, keyString(v))
		}
		if !ok {
			continue // as a composite aggregation skips a document missing a source
		}
		key := joinKey(parts)
		p := byKey[key]
		if p == nil {
			p = &rarePair{key: key, first: ev.t}
			byKey[key] = p
		}
		p.count++
		times[key] = append(times[key], ev.t.UnixMilli())
	}
	from := runStart.Add(-r.BaselineWindow).UnixMilli()
	pairs := make([]*rarePair, 0, len(byKey))
	for key, p := range byKey {
		for _, t := range st.Rare[key] {
			if t > from && t <= runStart.UnixMilli() {
				p.seen++
			}
		}
		pairs = append(pairs, p)
	}
	r.emitRare(pairs, emit)
	for key, ts := range times {
		all := append(st.Rare[key], ts...)
		st.Rare[key] = slices.Clone(all[max(0, len(all)-r.MaxSeen):])
	}
	horizon := runEnd.Add(-r.BaselineWindow).UnixMilli()
	for key, ts := range st.Rare {
		if len(ts) == 0 || ts[len(ts)-1] <= horizon {
			delete(st.Rare, key)
		}
	}
}

func joinKey(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}

// rareSweep is the aggregation side: phase 1 pages a composite over the pairs
// of (start, end] with each pair's first time; phase 2 counts those pairs
// over (start − baseline_window, start], rarePairsPerLookup pairs a request
// (terms filters on both fields, composite over the pairs again), so the
// State holds nothing but the last run end.
type rareSweep struct {
	r          *Rule
	start, end time.Time
	size       int
	phase1     composite
	pairs      map[string]*rarePair
	order      []*rarePair
	chunk      int // index into order of the lookup under way
	phase2     *composite
}

func (r *Rule) newRareSweep(start, end time.Time, keysPerPage int) *rareSweep {
	if keysPerPage <= 0 {
		keysPerPage = maxKeysPerPage
	}
	return &rareSweep{r: r, start: start, end: end, size: keysPerPage,
		phase1: composite{fields: r.QueryKey, size: keysPerPage}, pairs: map[string]*rarePair{}}
}

func (s *rareSweep) chunkPairs() []*rarePair {
	return s.order[s.chunk:min(len(s.order), s.chunk+rarePairsPerLookup)]
}

func (s *rareSweep) next() (Search, bool) {
	r := s.r
	if !s.phase1.done() {
		leaf := map[string]any{"first": map[string]any{"min": map[string]any{"field": r.TimestampField}}}
		return r.searchBody(r.IndexFor(s.start, s.end), r.rangeClause(map[string]time.Time{"gt": s.start, "lte": s.end}), nil, s.phase1.agg(leaf)), true
	}
	if s.chunk >= len(s.order) {
		return Search{}, false
	}
	if s.phase2 == nil {
		s.phase2 = &composite{fields: r.QueryKey, size: s.size}
	}
	// Terms filters on each field narrow the count to this chunk's values;
	// pairs of other combinations come back too and are ignored.
	var extra []any
	for i, f := range r.QueryKey {
		seen := map[string]bool{}
		var vals []any
		for _, p := range s.chunkPairs() {
			if k := keyString(p.values[i]); !seen[k] {
				seen[k] = true
				vals = append(vals, p.values[i])
			}
		}
		extra = append(extra, map[string]any{"terms": map[string]any{f: vals}})
	}
	from := s.start.Add(-r.BaselineWindow)
	return r.searchBody(r.IndexFor(from, s.start), r.rangeClause(map[string]time.Time{"gt": from, "lte": s.start}), extra, s.phase2.agg(nil)), true
}

func (s *rareSweep) add(resp map[string]any) error {
	r := s.r
	if !s.phase1.done() {
		page, err := s.phase1.add(r.Name, resp)
		if err != nil {
			return err
		}
		for _, b := range page {
			first, ok := r.aggTime(b.leaf["first"])
			if !ok {
				return fmt.Errorf("rule %s: pair %s has no first time", r.Name, b.key())
			}
			n, _ := number(b.leaf["doc_count"])
			p := &rarePair{key: b.key(), values: b.values, first: first, count: int(n)}
			s.pairs[p.key] = p
			s.order = append(s.order, p)
		}
		return nil
	}
	page, err := s.phase2.add(r.Name, resp)
	if err != nil {
		return err
	}
	for _, b := range page {
		if p, ok := s.pairs[b.key()]; ok {
			n, _ := number(b.leaf["doc_count"])
			p.seen += int(n)
		}
	}
	if s.phase2.done() {
		s.chunk += rarePairsPerLookup
		s.phase2 = nil
	}
	return nil
}

func (s *rareSweep) keys() int { return len(s.pairs) }

func (s *rareSweep) matches(st *State) ([]Match, error) {
	r := s.r
	if !s.phase1.done() || s.chunk < len(s.order) {
		return nil, fmt.Errorf("rule %s: sweep has pages left", r.Name)
	}
	var out []Match
	r.emitRare(slices.Collect(maps.Values(s.pairs)), func(m Match) {
		if !r.silenced(st, m) {
			out = append(out, m)
		}
	})
	st.LastRunEnd = s.end
	return out, nil
}
