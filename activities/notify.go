// Package activities holds irflow's Temporal activities, one file per outside
// system. Each activity is a method on a struct holding injected clients.
package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// Notifier announces incidents to people. Slack and the console implement it.
//
// An incident is posted once and then edited in place: the workflow keeps the
// MessageRef that Post returns and passes it back. Find covers the gap where a
// post succeeded but the activity failed before the workflow learned the ref.
type Notifier interface {
	// Name identifies the notifier in MessageRef.Notifier ("slack", "console").
	Name() string
	// Find returns the message already announcing inc, or nil if there is none.
	// A lookup that cannot be made (no permission to read the channel) is
	// no reason to hold the announcement back: Find then Warns and returns nil.
	Find(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error)
	// Post announces inc and returns where.
	Post(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error)
	// Update edits the announcement to match inc.
	Update(ctx context.Context, ref incident.MessageRef, inc *incident.Incident) error
	// Event tells people about a change (acknowledged, escalated, re-scan result, ...),
	// next to the announcement (in Slack: its thread).
	Event(ctx context.Context, ref incident.MessageRef, inc *incident.Incident, ev Event) error
}

// Event is a change worth telling people about.
type Event struct {
	Kind  incident.EntryKind `json:"kind"`
	Actor string             `json:"actor,omitempty"`
	Text  string             `json:"text"`
	// Escalation is set for EntryEscalated: the level whose targets to mention.
	Escalation *incident.EscalationLevel `json:"escalation,omitempty"`
	// Level is the 0-based escalation level for EntryEscalated.
	Level int `json:"level,omitempty"`
}

// PermanentError marks a notifier failure that retrying cannot fix
// (channel_not_found, not_in_channel, invalid_auth). The activity fails
// without retries and the workflow records it in the timeline.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// RetryAfterError asks for the next attempt no sooner than After (Slack 429).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("%v (retry after %s)", e.Err, e.After) }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// NotifyInput is the argument of Notify.NotifyIncident.
type NotifyInput struct {
	Incident incident.Incident `json:"incident"`
	// Event, when set, is told next to the announcement after it is posted or updated.
	Event *Event `json:"event,omitempty"`
}

// NotifyResult is what NotifyIncident returns: where the announcement lives.
type NotifyResult struct {
	Message incident.MessageRef `json:"message"`
	// Posted is true when this call made the announcement (rather than editing it).
	Posted bool `json:"posted"`
	// Warnings are what the notifier could not do but carried on without (see
	// Warn), for the incident's timeline.
	Warnings []string `json:"warnings,omitempty"`
}

type warningsKey struct{}

type warnings struct {
	mu   sync.Mutex
	list []string
}

// Warn notes, for the incident's timeline, something a notifier could not do
// but carried on without: an announcement posted without the duplicate check,
// a group mentioned by name. NotifyIncident returns the notes in
// NotifyResult.Warnings; outside it Warn does nothing, so a notifier also logs.
func Warn(ctx context.Context, format string, args ...any) {
	w, ok := ctx.Value(warningsKey{}).(*warnings)
	if !ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.list, msg) {
		w.list = append(w.list, msg)
	}
}

// ErrTypeNotifyPermanent is the ApplicationError type of permanent notify failures.
const ErrTypeNotifyPermanent = "NotifyPermanent"

// Notify is the notification activity.
type Notify struct {
	Notifier Notifier
}

// NotifyIncident posts the incident if it has no announcement yet (after checking
// Find, so a retried post never posts twice), otherwise edits it, then tells the
// event, if any.
//
// Only a call that tells an event is retried in place. Any other failure that
// retrying may fix (a 429, a 5xx, a lost answer) returns at once as
// ErrTypeNotifyRetryLater, and the workflow posts or edits at its next slot,
// with the incident as it is then. Notify is a local activity: in-place
// retries (Retry-After, backoff) hold the workflow task open, and Temporal
// fails a task during which more than 100 signals arrive
// (history.maximumBufferedEventsBatch). In a storm every such task is failed
// and replayed: the incident stops moving, its message ref is never recorded,
// and the abandoned attempts' retries land late with old counts.
func (n *Notify) NotifyIncident(ctx context.Context, in NotifyInput) (res NotifyResult, err error) {
	warned := &warnings{}
	ctx = context.WithValue(ctx, warningsKey{}, warned)
	defer func() {
		if err == nil {
			res.Warnings = warned.list
			return
		}
		MetricsHandler(ctx).WithTags(map[string]string{MetricTagNotifier: n.Notifier.Name()}).Counter(MetricNotifyFailures).Inc(1)
	}()
	// An event is dropped if this call fails for good, so only then is it retried here.
	fail := func(what string, err error) error {
		if in.Event == nil {
			return retryLater(what, err)
		}
		return notifyError(what, err)
	}
	inc := &in.Incident
	if inc.Message == nil {
		ref, err := n.Notifier.Find(ctx, inc)
		if err != nil {
			return res, fail("find announcement", err)
		}
		if ref == nil {
			if ref, err = n.Notifier.Post(ctx, inc); err != nil {
				return res, fail("post", err)
			}
			res.Posted = true
		} else if err := n.Notifier.Update(ctx, *ref, inc); err != nil {
			return res, fail("update", err)
		}
		res.Message = *ref
	} else {
		res.Message = *inc.Message
		if err := n.Notifier.Update(ctx, res.Message, inc); err != nil {
			return res, fail("update", err)
		}
	}
	if in.Event != nil {
		if err := n.Notifier.Event(ctx, res.Message, inc, *in.Event); err != nil {
			return res, notifyError("tell "+string(in.Event.Kind), err)
		}
	}
	return res, nil
}

// ErrTypeNotifyRetryLater is the ApplicationError type of a post or edit that
// failed for a reason retrying may fix; it is not retried in place (see
// NotifyIncident) and the workflow tries again at its next slot.
const ErrTypeNotifyRetryLater = "NotifyRetryLater"

// retryLater is notifyError for calls the workflow retries itself. A 429's
// Retry-After travels as the error's NextRetryDelay, for the workflow to
// wait at least that long.
func retryLater(what string, err error) error {
	var perm *PermanentError
	if errors.As(err, &perm) {
		return notifyError(what, err)
	}
	opts := temporal.ApplicationErrorOptions{NonRetryable: true, Cause: err}
	var later *RetryAfterError
	if errors.As(err, &later) {
		opts.NextRetryDelay = later.After
	}
	return temporal.NewApplicationErrorWithOptions(what+": "+err.Error(), ErrTypeNotifyRetryLater, opts)
}

// notifyError turns notifier errors into Temporal's retry vocabulary.
func notifyError(what string, err error) error {
	var perm *PermanentError
	var later *RetryAfterError
	switch {
	case errors.As(err, &perm):
		return temporal.NewNonRetryableApplicationError(what+": "+err.Error(), ErrTypeNotifyPermanent, err)
	case errors.As(err, &later):
		return temporal.NewApplicationErrorWithOptions(what+": "+err.Error(), "NotifyRateLimited",
			temporal.ApplicationErrorOptions{NextRetryDelay: later.After, Cause: err})
	}
	return fmt.Errorf("%s: %w", what, err)
}
