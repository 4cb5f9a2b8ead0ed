package rules

import (
	"fmt"
	"sort"
	"time"
)

// BacktestResult is what a backtest saw.
type BacktestResult struct {
	Matches []Match `json:"matches"`
	Events  int     `json:"events"`
	Sweeps  int     `json:"sweeps"`
}

// Backtest replays events through the rule as consecutive sweeps of runEvery
// (the rule's run_every when zero), each covering (start, start+runEvery], from
// the sweep holding the first event to the one holding the last (so a flatline
// shows up only where a gap lies between events). For new_term the first
// sweep seeds the known terms
// (ElastAlert2 loads terms_window_size of history before it starts) and does
// not alert.
func Backtest(r *Rule, events []Event, runEvery time.Duration) (*BacktestResult, error) {
	if runEvery <= 0 {
		runEvery = r.RunEvery
	}
	if runEvery <= 0 {
		return nil, fmt.Errorf("backtest %s: run_every must be positive", r.Name)
	}
	type te struct {
		t time.Time
		e Event
	}
	sorted := make([]te, 0, len(events))
	for i, e := range events {
		t, err := r.Time(e)
		if err != nil {
			return nil, fmt.Errorf("backtest %s: event %d: %w", r.Name, i, err)
		}
		sorted = append(sorted, te{t, e})
	}
	res := &BacktestResult{Events: len(events)}
	if len(sorted) == 0 {
		return res, nil
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].t.Before(sorted[j].t) })
	first, last := sorted[0].t, sorted[len(sorted)-1].t
	start := first.Truncate(runEvery)
	if !first.After(start) {
		start = start.Add(-runEvery)
	}
	end := last
	st := &State{}
	buf := make([]Event, 0, 1024)
	i, lo := 0, 0
	for s := start; s.Before(end); s = s.Add(runEvery) {
		e := s.Add(runEvery)
		buf = buf[:0]
		for i < len(sorted) && !sorted[i].t.After(e) {
			i++
		}
		ws := s
		if r.aggregatesBuffer() {
			// Each run aggregates the last buffer_time, as the sweep does.
			ws = e.Add(-r.BufferTime)
		}
		for lo < i && !sorted[lo].t.After(ws) {
			lo++
		}
		for _, x := range sorted[lo:i] {
			buf = append(buf, x.e)
		}
		res.Sweeps++
		if r.Type == TypeNewTerm && res.Sweeps == 1 {
			r.SeedTerms(st, buf)
			st.LastRunEnd = e
			continue
		}
		if r.Type == TypeRare && res.Sweeps == 1 {
			// As new_term: the first sweep is the history the pairs are counted in.
			if _, err := r.Evaluate(st, buf, ws, e); err != nil {
				return nil, err
			}
			continue
		}
		ms, err := r.Evaluate(st, buf, ws, e)
		if err != nil {
			return nil, err
		}
		res.Matches = append(res.Matches, ms...)
	}
	if len(r.TopCountKeys) > 0 {
		all := make([]Event, len(sorted))
		for i, x := range sorted {
			all[i] = x.e
		}
		r.TopCountsFromEvents(res.Matches, all)
	}
	return res, nil
}

// SweepWindow is the (start, end] a live sweep at now covers: end is now minus
// query_delay. A counting sweep starts at the last run's end, or buffer_time
// before end on the first run and after a gap longer than buffer_time
// (ElastAlert2 likewise never looks back further than buffer_time), so
// aggregating types aggregate over one run_every, the windows Backtest uses.
// A document sweep reads the whole buffer_time again each run, as
// ElastAlert2 does, and evaluates only the documents it has not processed
// (FreshHits): a document indexed late, up to buffer_time behind, is still
// seen once. It never reaches back past what State.Processed covers.
func (r *Rule) SweepWindow(st *State, now time.Time) (start, end time.Time) {
	end = now.Add(-r.QueryDelay)
	start = end.Add(-r.BufferTime)
	floor := st.LastRunEnd
	switch {
	case r.aggregatesBuffer():
		floor = time.Time{} // every run aggregates the whole buffer_time
	case !r.Counting() && !st.ProcessedSince.IsZero() && !st.LastRunEnd.IsZero():
		floor = st.ProcessedSince
	}
	if !floor.IsZero() && floor.After(start) {
		start = floor
	}
	if start.After(end) {
		start = end
	}
	return start, end
}
