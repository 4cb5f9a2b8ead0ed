package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// SweepInput is the argument of Search.SweepRule.
type SweepInput struct {
	Rule  rules.Ref   `json:"rule"`
	State rules.State `json:"state"`
	// Now is the sweep time (the workflow's clock); the sweep covers
	// rules.SweepWindow(State, Now).
	Now time.Time `json:"now"`
}

// SweepResult is one sweep: the new state, the alerts to raise and its cost.
type SweepResult struct {
	State   rules.State      `json:"state"`
	Start   time.Time        `json:"start"`
	End     time.Time        `json:"end"`
	Alerts  []incident.Alert `json:"alerts,omitempty"`
	Queries int              `json:"queries"`
	// Bytes is the size of the response bodies read.
	Bytes int64 `json:"bytes"`
	// Docs counts documents fetched (document-fetching types only).
	Docs int `json:"docs"`
	// Keys counts the query_key values a counting sweep saw, over all pages.
	Keys int `json:"keys,omitempty"`
	// Late counts documents evaluated by this sweep that were indexed after
	// the sweep that covered their timestamp (document types only).
	Late int `json:"late,omitempty"`
}

// Search runs rule queries against OpenSearch.
type Search struct {
	Client *opensearchgo.Client
	// KeysPerPage overrides the composite page size of counting sweeps
	// (0: the rule's default, up to 1000 keys a page); tests lower it.
	KeysPerPage int
}

// SweepRule runs one sweep of a rule: the aggregation request for counting
// types, or the document pages (search_after) for the others, evaluated
// against the state the workflow carries. A new_term rule's first sweep also
// loads its known terms (terms_window_size back).
func (s *Search) SweepRule(ctx context.Context, in SweepInput) (SweepResult, error) {
	r, err := in.Rule.Load()
	if err != nil {
		// A broken rule file will not heal by retrying.
		return SweepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("load rule %s: %v", in.Rule.Path, err), "BadRule", err)
	}
	st := in.State
	began := time.Now()
	res, ms, err := s.Sweep(ctx, r, &st, in.Now)
	m := MetricsHandler(ctx).WithTags(map[string]string{MetricTagRule: r.Name})
	m.Timer(MetricRuleSweepDuration).Record(time.Since(began))
	covered := in.State.LastRunEnd // a failed sweep covers nothing new
	if err != nil {
		m.Counter(MetricRuleSweepErrors).Inc(1)
	} else {
		covered = res.End
	}
	if !covered.IsZero() {
		m.Gauge(MetricRuleSweepLag).Update(max(time.Since(covered)-r.QueryDelay, 0).Seconds())
	}
	if err != nil {
		return res, err
	}
	res.State = st
	for _, m := range ms {
		res.Alerts = append(res.Alerts, rules.MatchAlert(r, m))
	}
	return res, nil
}

// Sweep runs one sweep of r at now, updating st, and returns its matches,
// with their top_count_keys counts when the rule lists some.
func (s *Search) Sweep(ctx context.Context, r *rules.Rule, st *rules.State, now time.Time) (SweepResult, []rules.Match, error) {
	res, ms, err := s.sweep(ctx, r, st, now)
	if err != nil || len(r.TopCountKeys) == 0 {
		return res, ms, err
	}
	for i := range ms {
		for _, key := range r.TopCountKeys {
			var resp map[string]any
			if err := s.search(ctx, r.TopCountsSearch(ms[i], key), &resp, &res); err != nil {
				return res, nil, fmt.Errorf("rule %s: top_count_keys %s: %w", r.Name, key, err)
			}
			r.AddTopCounts(&ms[i], key, resp)
		}
	}
	return res, ms, nil
}

func (s *Search) sweep(ctx context.Context, r *rules.Rule, st *rules.State, now time.Time) (SweepResult, []rules.Match, error) {
	if s.Client == nil {
		return SweepResult{}, nil, temporal.NewNonRetryableApplicationError("search: no OpenSearch client configured (search.url)", "NoSearch", nil)
	}
	start, end := r.SweepWindow(st, now)
	res := SweepResult{Start: start, End: end}
	if r.Type == rules.TypeNewTerm {
		if err := s.seedTerms(ctx, r, st, start, &res); err != nil {
			return res, nil, err
		}
	}
	if r.Counting() {
		// Counting types page through every key (composite after_key).
		agg := r.NewAggSweep(start, end, s.KeysPerPage)
		agg.Seed(st) // an anomaly rule's first sweep reads its baseline_window too
		for q, ok := agg.Next(); ok; q, ok = agg.Next() {
			var resp map[string]any
			if err := s.search(ctx, q, &resp, &res); err != nil {
				return res, nil, fmt.Errorf("rule %s: %w", r.Name, err)
			}
			if err := agg.Add(resp); err != nil {
				return res, nil, err
			}
		}
		res.Keys = agg.Keys()
		ms, err := agg.Matches(st)
		return res, ms, err
	}
	var hits []rules.Hit
	var after []any
	for {
		var resp struct {
			Hits struct {
				Hits []struct {
					ID     string      `json:"_id"`
					Source rules.Event `json:"_source"`
					Sort   []any       `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := s.search(ctx, r.BuildSearch(start, end, after), &resp, &res); err != nil {
			return res, nil, fmt.Errorf("rule %s: %w", r.Name, err)
		}
		page := resp.Hits.Hits
		for _, h := range page {
			hits = append(hits, rules.Hit{ID: h.ID, Source: h.Source})
		}
		res.Docs += len(page)
		if len(page) < rules.PageSize {
			break
		}
		after = page[len(page)-1].Sort
	}
	// What earlier sweeps processed is known; the rest (late documents
	// included) is evaluated now.
	knownAt := start
	if st.LastRunEnd.After(start) {
		knownAt = st.LastRunEnd
	}
	events, late := r.FreshHits(st, hits, start, end)
	res.Late = late
	ms, err := s.evaluateHits(ctx, r, st, events, start, end, knownAt, &res)
	return res, ms, err
}

// search POSTs one request and decodes the response into v.
func (s *Search) search(ctx context.Context, q rules.Search, v any, res *SweepResult) error {
	body, err := json.Marshal(q.Body)
	if err != nil {
		return fmt.Errorf("encode search: %w", err)
	}
	opts := []func(*opensearchapi.SearchRequest){s.Client.Search.WithContext(ctx), s.Client.Search.WithIndex(q.Index),
		s.Client.Search.WithBody(bytes.NewReader(body))}
	if q.FilterPath != "" {
		opts = append(opts, s.Client.Search.WithFilterPath(q.FilterPath))
	}
	if q.IgnoreUnavailable {
		opts = append(opts, s.Client.Search.WithIgnoreUnavailable(true))
	}
	resp, err := s.Client.Search(opts...)
	if err != nil {
		return fmt.Errorf("search %s: %w", q.Index, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	res.Queries++
	res.Bytes += int64(len(b))
	if err != nil {
		return fmt.Errorf("search %s: read response: %w", q.Index, err)
	}
	if resp.IsError() {
		msg := fmt.Sprintf("search %s: %s: %s", q.Index, resp.Status(), incident.Truncate(string(b), 512))
		// 4xx other than 429 means the query itself is wrong (a bad filter, a
		// missing index); retrying will not help.
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 429 {
			return temporal.NewNonRetryableApplicationError(msg, "BadQuery", nil)
		}
		return fmt.Errorf("%s", msg)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("search %s: decode response: %w", q.Index, err)
	}
	return nil
}
