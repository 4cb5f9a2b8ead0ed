package testenv

import (
	"context"
	"errors"
	"sync"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// Call is one notifier call the Recorder saw.
type Call struct {
	Method     string // Post, Update, Event
	IncidentID string
	Status     incident.Status
	// Occurrences is the count the incident showed at the call.
	Occurrences int
	Event       activities.Event
	Ref         incident.MessageRef
	// Enriched and Metrics say what context the incident carried at the call.
	Enriched bool
	Metrics  int
}

// Recorder is a Notifier that remembers every call, for tests. Find works like a
// real notifier's metadata lookup, so the post-once contract is exercised.
type Recorder struct {
	mu     sync.Mutex
	calls  []Call
	posted map[string]incident.MessageRef
	// FailAfterPost, when > 0, fails that many Post calls after they "posted",
	// like a Slack post whose response never reached the activity.
	FailAfterPost int
	// FailUpdates, when > 0, fails that many Update calls with a retryable error.
	FailUpdates int
}

func (r *Recorder) Name() string { return "recorder" }

func (r *Recorder) Find(_ context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref, ok := r.posted[inc.ID+"/"+inc.OpenedAt.String()]; ok {
		return &ref, nil
	}
	return nil, nil
}

func (r *Recorder) Post(_ context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.posted == nil {
		r.posted = map[string]incident.MessageRef{}
	}
	ref := incident.MessageRef{Notifier: "recorder", Channel: "#test", ID: inc.ID + "/" + inc.OpenedAt.String()}
	r.posted[inc.ID+"/"+inc.OpenedAt.String()] = ref
	r.calls = append(r.calls, Call{Method: "Post", IncidentID: inc.ID, Status: inc.Status, Occurrences: inc.Occurrences, Ref: ref,
		Enriched: inc.Enrichment != nil, Metrics: len(inc.CloudWatch)})
	if r.FailAfterPost > 0 {
		r.FailAfterPost--
		return nil, context.DeadlineExceeded
	}
	return &ref, nil
}

func (r *Recorder) Update(_ context.Context, ref incident.MessageRef, inc *incident.Incident) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.FailUpdates > 0 {
		r.FailUpdates--
		return errors.New("update failed: slack unavailable")
	}
	r.calls = append(r.calls, Call{Method: "Update", IncidentID: inc.ID, Status: inc.Status, Occurrences: inc.Occurrences, Ref: ref,
		Enriched: inc.Enrichment != nil, Metrics: len(inc.CloudWatch)})
	return nil
}

func (r *Recorder) Event(_ context.Context, ref incident.MessageRef, inc *incident.Incident, ev activities.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: "Event", IncidentID: inc.ID, Status: inc.Status, Event: ev, Ref: ref})
	return nil
}

// Calls returns the calls so far, optionally only those of one method.
func (r *Recorder) Calls(method string) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Events returns the Event calls of one kind.
func (r *Recorder) Events(kind incident.EntryKind) []Call {
	var out []Call
	for _, c := range r.Calls("Event") {
		if c.Event.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// For returns the calls about one incident, optionally of one method.
func (r *Recorder) For(incidentID, method string) []Call {
	var out []Call
	for _, c := range r.Calls(method) {
		if c.IncidentID == incidentID {
			out = append(out, c)
		}
	}
	return out
}

// Shown is the occurrence count the incident's message shows now: that of the
// latest post or edit.
func (r *Recorder) Shown(incidentID string) int {
	shown := 0
	for _, c := range r.For(incidentID, "") {
		if c.Method == "Post" || c.Method == "Update" {
			shown = c.Occurrences
		}
	}
	return shown
}
