package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/irflow/irflow/rules"
)

// HistoryResult is a backtest over stored history: what the rule's sweep
// workflow would have matched, and what its sweeps cost.
type HistoryResult struct {
	Matches []rules.Match `json:"matches"`
	// From and To bound what the sweeps covered: (From, To].
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Sweeps  int       `json:"sweeps"`
	Queries int       `json:"queries"`
	Bytes   int64     `json:"bytes"`
	Docs    int       `json:"docs"`
}

// Backtest replays r over the documents already in OpenSearch as the rule's
// sweep workflow would have swept them, through Sweep itself: consecutive
// sweeps (from, from+runEvery], (from+runEvery, from+2·runEvery], ... up to
// the first sweep end at or after to, carrying one rules.State that starts
// empty. runEvery defaults to the rule's run_every. Each sweep runs at
// now = its end + query_delay, so rules.SweepWindow gives that window.
//
// Two things differ from a freshly deployed rule, on purpose:
//   - a live first sweep looks back buffer_time; here the first sweep starts
//     at from (it runs with buffer_time cut to runEvery), so the sweeps cover
//     exactly (from, To]. A new_term rule's first sweep still seeds its known
//     terms from terms_window_size before from, as a live one does;
//   - the state goes through JSON between sweeps, as the workflow's activity
//     results do, so a value the state cannot carry shows here too;
//   - the sweeps run under the rule's name plus "@backtest-<nanos>", so what a
//     sweep keeps in OpenSearch under the rule's name (new_term's known terms
//     in TermsIndex) is the backtest's own, not the live rule's. Those
//     documents stay in TermsIndex afterwards.
//
// When runEvery is longer than buffer_time, each sweep reads only the last
// buffer_time of its span (SweepWindow never looks further back), live and
// here alike. progress, when not nil, is called after each sweep.
func (s *Search) Backtest(ctx context.Context, r *rules.Rule, from, to time.Time, runEvery time.Duration, progress func(done, total int)) (*HistoryResult, error) {
	if runEvery <= 0 {
		runEvery = r.RunEvery
	}
	if runEvery <= 0 {
		return nil, fmt.Errorf("backtest %s: run_every must be positive", r.Name)
	}
	if !to.After(from) {
		return nil, fmt.Errorf("backtest %s: from %s is not before to %s", r.Name, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	total := int((to.Sub(from) + runEvery - 1) / runEvery)
	res := &HistoryResult{From: from, To: from.Add(time.Duration(total) * runEvery)}
	// A new_term rule's known terms live in OpenSearch under the rule's name
	// (TermsIndex): the backtest sweeps under a name of its own, so it never
	// reads or rewrites the live rule's vocabulary.
	run := *r
	run.Name = fmt.Sprintf("%s@backtest-%d", r.Name, time.Now().UnixNano())
	// Only SweepWindow reads buffer_time, so a copy differing in it sweeps the
	// first window the same way, just not reaching back before from.
	first := run
	first.BufferTime = min(r.BufferTime, runEvery)
	var st rules.State
	for i := 1; i <= total; i++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		end := from.Add(time.Duration(i) * runEvery)
		rule := &run
		if i == 1 {
			rule = &first
		}
		sw, ms, err := s.Sweep(ctx, rule, &st, end.Add(r.QueryDelay))
		res.Queries += sw.Queries
		res.Bytes += sw.Bytes
		res.Docs += sw.Docs
		if err != nil {
			return res, fmt.Errorf("backtest %s: sweep %d of %d (%s, %s]: %w", r.Name, i, total,
				sw.Start.UTC().Format(time.RFC3339), sw.End.UTC().Format(time.RFC3339), err)
		}
		res.Sweeps++
		res.Matches = append(res.Matches, ms...)
		if st, err = carry(st); err != nil {
			return res, fmt.Errorf("backtest %s: sweep %d: %w", r.Name, i, err)
		}
		if progress != nil {
			progress(i, total)
		}
	}
	return res, nil
}

// carry round-trips the state through JSON, as Temporal's default data
// converter does between two SweepRule activities.
func carry(st rules.State) (rules.State, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return st, fmt.Errorf("encode state: %w", err)
	}
	var out rules.State
	if err := json.Unmarshal(b, &out); err != nil {
		return st, fmt.Errorf("decode state: %w", err)
	}
	return out, nil
}
