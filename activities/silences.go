package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
)

// silenceCacheTTL is how old a silences list CheckSilence may use: a storm of
// new incidents asks once a second, not once an incident. A silence added
// less than this ago may be missed by an incident opening meanwhile.
const silenceCacheTTL = time.Second

// Silences checks new incidents against the silences workflow and the
// configured maintenance windows.
type Silences struct {
	// Temporal queries and signals the silences workflow; nil checks the
	// maintenance windows only.
	Temporal client.Client
	Windows  []incident.MaintenanceWindow
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	once  sync.Once
	fetch chan struct{} // one query at a time; the others wait for its answer

	mu       sync.Mutex
	cacheKey string
	cachedAt time.Time
	cached   []incident.Silence
}

// CheckSilenceInput is the argument of CheckSilence. The silences
// workflow's ID, query and signal names come in with it because this
// package cannot import workflows.
type CheckSilenceInput struct {
	IncidentID string            `json:"incident_id"`
	Alert      incident.Alert    `json:"alert"`
	Severity   incident.Severity `json:"severity"`
	WorkflowID string            `json:"workflow_id"`
	Query      string            `json:"query"`
	HeldSignal string            `json:"held_signal"`
}

// CheckSilenceResult says what holds the incident back; a nil Match is nothing.
type CheckSilenceResult struct {
	Match *incident.SilenceMatch `json:"match,omitempty"`
}

// heldPayload is workflows.SilenceHeld, spelled out for the same reason.
type heldPayload struct {
	SilenceID  string `json:"silence_id"`
	IncidentID string `json:"incident_id"`
}

func (s *Silences) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CheckSilence finds the silence or maintenance window, active now, that
// holds the incident back (the one ending last). When it is a silence, the
// silences workflow is told it holds the incident, so it can tell the
// incident when the silence ends early.
func (s *Silences) CheckSilence(ctx context.Context, in CheckSilenceInput) (CheckSilenceResult, error) {
	silences, err := s.silences(ctx, in.WorkflowID, in.Query)
	if err != nil {
		return CheckSilenceResult{}, err
	}
	m, ok := incident.MatchSilence(silences, s.Windows, in.Alert, in.Severity, s.now())
	if !ok {
		return CheckSilenceResult{}, nil
	}
	if m.Kind == incident.SilenceKindSilence && in.IncidentID != "" {
		err := s.Temporal.SignalWorkflow(ctx, in.WorkflowID, "", in.HeldSignal, heldPayload{SilenceID: m.ID, IncidentID: in.IncidentID})
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			// The silences workflow is gone since the (cached) list: so is the silence.
			return CheckSilenceResult{}, nil
		case err != nil:
			return CheckSilenceResult{}, fmt.Errorf("tell %s that silence %s holds %s: %w", in.WorkflowID, m.ID, in.IncidentID, err)
		}
	}
	return CheckSilenceResult{Match: &m}, nil
}

// silences returns the silences workflow's list, at most silenceCacheTTL
// old. A workflow that is not running has no silences.
func (s *Silences) silences(ctx context.Context, workflowID, query string) ([]incident.Silence, error) {
	if s.Temporal == nil || workflowID == "" {
		return nil, nil
	}
	key := workflowID + "\x00" + query
	if list, ok := s.fresh(key); ok {
		return list, nil
	}
	s.once.Do(func() { s.fetch = make(chan struct{}, 1) })
	select {
	case s.fetch <- struct{}{}:
		defer func() { <-s.fetch }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Whoever held the fetch before us may have just refreshed the list.
	if list, ok := s.fresh(key); ok {
		return list, nil
	}
	list, err := s.query(ctx, workflowID, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cacheKey, s.cachedAt, s.cached = key, s.now(), list
	s.mu.Unlock()
	return list, nil
}

func (s *Silences) fresh(key string) ([]incident.Silence, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cacheKey != key || s.cachedAt.IsZero() {
		return nil, false
	}
	age := s.now().Sub(s.cachedAt)
	return s.cached, age >= 0 && age < silenceCacheTTL
}

func (s *Silences) query(ctx context.Context, workflowID, query string) ([]incident.Silence, error) {
	resp, err := s.Temporal.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflowID, QueryType: query,
		// A closed run's last state is no silence anyone can expire.
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return nil, nil // never started: nobody added a silence yet
	case err != nil:
		return nil, fmt.Errorf("query %s %s: %w", workflowID, query, err)
	case resp.QueryRejected != nil:
		return nil, nil
	}
	var list []incident.Silence
	if err := resp.QueryResult.Get(&list); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", workflowID, query, err)
	}
	return list, nil
}
