package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/irflow/irflow/rules"
)

// seedTerms loads a new_term rule's known terms from terms_window_size of
// history before start, as ElastAlert2 does before the rule's first run.
func (s *Search) seedTerms(ctx context.Context, r *rules.Rule, st *rules.State, start time.Time, res *SweepResult) error {
	var resp map[string]any
	if err := s.search(ctx, r.TermsSeedQuery(start), &resp, res); err != nil {
		return fmt.Errorf("rule %s: seed terms: %w", r.Name, err)
	}
	return r.SeedTermsFromAggregation(st, resp)
}
