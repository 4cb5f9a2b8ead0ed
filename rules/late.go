package rules

import (
	"slices"
	"time"
)

// MaxProcessed bounds State.Processed, which travels in every sweep's
// workflow payload: a document rule whose buffer_time holds more matching
// documents than this re-reads a shorter span (the newest MaxProcessed
// documents' worth), still evaluating each document once.
const MaxProcessed = 5000

// Hit is one document a sweep fetched: its _id and _source.
type Hit struct {
	ID     string
	Source Event
}

// FreshHits returns the documents of a document sweep over (start, end] that
// no earlier sweep evaluated, and records them in st (see SweepWindow); late
// counts those stamped at or before the last run's end, indexed after the
// sweep that covered them. Call it before EvaluateHits, which sets
// LastRunEnd.
func (r *Rule) FreshHits(st *State, hits []Hit, start, end time.Time) (fresh []Event, late int) {
	lastEnd := st.LastRunEnd
	if st.ProcessedSince.IsZero() || st.LastRunEnd.IsZero() {
		// First run, or a state from before late documents were tracked:
		// what was processed is everything up to the last end.
		st.ProcessedSince = start
		if !st.LastRunEnd.IsZero() && st.LastRunEnd.After(start) {
			st.ProcessedSince = st.LastRunEnd
		}
		clear(st.Processed)
	}
	if st.Processed == nil {
		st.Processed = map[string]int64{}
	}
	out := make([]Event, 0, len(hits))
	for _, h := range hits {
		if _, done := st.Processed[h.ID]; done && h.ID != "" {
			continue
		}
		t, err := r.Time(h.Source)
		if err != nil {
			out = append(out, h.Source) // EvaluateHits reports it
			continue
		}
		if h.ID != "" {
			st.Processed[h.ID] = t.UnixMilli()
		}
		if !lastEnd.IsZero() && !t.After(lastEnd) {
			late++
		}
		out = append(out, h.Source)
	}
	r.pruneProcessed(st, end.Add(-r.BufferTime))
	return out, late
}

// pruneProcessed forgets documents at or before floor (the next sweep will
// not read them), then the oldest beyond MaxProcessed, moving
// ProcessedSince up so the next sweep does not read back past what is kept.
func (r *Rule) pruneProcessed(st *State, floor time.Time) {
	if floor.After(st.ProcessedSince) {
		st.ProcessedSince = floor
	}
	cut := st.ProcessedSince.UnixMilli()
	for id, ms := range st.Processed {
		if ms <= cut {
			delete(st.Processed, id)
		}
	}
	if len(st.Processed) <= MaxProcessed {
		return
	}
	times := make([]int64, 0, len(st.Processed))
	for _, ms := range st.Processed {
		times = append(times, ms)
	}
	slices.Sort(times)
	// Drop everything at or before the newest time that must go, so no
	// document at that instant is half remembered.
	cut = times[len(times)-MaxProcessed-1]
	for id, ms := range st.Processed {
		if ms <= cut {
			delete(st.Processed, id)
		}
	}
	st.ProcessedSince = time.UnixMilli(cut).UTC()
}
