package workflows_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

// digestRig is the real digest activities over fake Temporal reads, a file
// archive and a poster that records.
type digestRig struct {
	acts    *activities.Digest
	dir     string
	mu      sync.Mutex
	asked   []time.Time // since of each read of Temporal
	posts   []string    // channel + headline of each post
	postErr error
}

func newDigestRig(t *testing.T, now time.Time, incs []incident.Incident) *digestRig {
	r := &digestRig{dir: t.TempDir()}
	r.acts = &activities.Digest{
		Incidents: func(_ context.Context, since, _ time.Time) ([]incident.Incident, int, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.asked = append(r.asked, since)
			return incs, 0, nil
		},
		Archive: activities.FileStore{Dir: r.dir}, Store: activities.FileStore{Dir: r.dir},
		Poster: digestPosterFunc(func(_ context.Context, channel string, d incident.Digest) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.posts = append(r.posts, channel+": "+d.Headline())
			return r.postErr
		}),
		Channel: "#security-digest",
		Now:     func() time.Time { return now },
	}
	return r
}

type digestPosterFunc func(ctx context.Context, channel string, d incident.Digest) error

func (f digestPosterFunc) PostDigest(ctx context.Context, channel string, d incident.Digest) error {
	return f(ctx, channel, d)
}

func (r *digestRig) run(t *testing.T, start time.Time, scheduled time.Time, in workflows.DigestInput) (workflows.DigestResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(testenv.QuietLogger())
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	if !scheduled.IsZero() {
		key := temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")
		if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(key.ValueSet(scheduled))); err != nil {
			t.Fatal(err)
		}
	}
	env.RegisterWorkflowWithOptions(workflows.DigestWorkflow, workflow.RegisterOptions{Name: workflows.DigestWorkflowName})
	env.RegisterActivity(r.acts.CollectDigest)
	env.RegisterActivity(r.acts.PublishDigest)
	env.ExecuteWorkflow(workflows.DigestWorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("digest workflow did not complete")
	}
	var res workflows.DigestResult
	if err := env.GetWorkflowError(); err != nil {
		return res, err
	}
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func digestIncidents(from time.Time) []incident.Incident {
	mk := func(id string, opened time.Duration, occ int) incident.Incident {
		return incident.Incident{ID: id, RunID: "run-" + id, Alert: incident.Alert{Source: "rules", Rule: "r"}, Severity: incident.SeverityHigh,
			Status: incident.StatusOpen, Occurrences: occ, OpenedAt: from.Add(opened)}
	}
	return []incident.Incident{mk("incident-a", time.Hour, 7), mk("incident-b", 2*time.Hour, 3), mk("incident-old", -time.Hour, 50)}
}

func TestDigestWorkflowDryRunPostsNothing(t *testing.T) {
	start := time.Date(2025, 3, 11, 8, 0, 0, 0, time.UTC)
	r := newDigestRig(t, start, digestIncidents(start.Add(-24*time.Hour)))
	res, err := r.run(t, start, time.Time{}, workflows.DigestInput{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// No To, no Since: the 24 h before the run started.
	d := res.Digest
	if !d.From.Equal(start.Add(-24*time.Hour)) || !d.To.Equal(start) || !reflect.DeepEqual(r.asked, []time.Time{start.Add(-24 * time.Hour)}) {
		t.Errorf("window %s to %s (Temporal asked since %v), want the 24h before %s", d.From, d.To, r.asked, start)
	}
	if d.Headline() != "10 alerts → 2 incidents (5.0:1)" || len(d.StillOpen) != 3 {
		t.Errorf("digest %q with %d still open, want 10 alerts → 2 incidents and 3 open", d.Headline(), len(d.StillOpen))
	}
	if res.Markdown != d.Markdown() || !strings.HasPrefix(res.Markdown, "# Security digest 2025-03-10 08:00 → 2025-03-11 08:00 UTC") {
		t.Errorf("markdown:\n%s", res.Markdown)
	}
	if len(r.posts) != 0 || res.Channel != "" || len(res.ArchiveURLs) != 0 {
		t.Errorf("dry run posted %v, saved %v", r.posts, res.ArchiveURLs)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "digests")); !os.IsNotExist(err) {
		t.Errorf("dry run saved the digest: %v", err)
	}
}

func TestDigestWorkflowPostsAndSaves(t *testing.T) {
	// The Schedule meant 08:00; the run started three minutes late.
	scheduled := time.Date(2025, 3, 11, 8, 0, 0, 0, time.UTC)
	r := newDigestRig(t, scheduled, digestIncidents(scheduled.Add(-24*time.Hour)))
	res, err := r.run(t, scheduled.Add(3*time.Minute), scheduled, workflows.DigestInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Digest.To.Equal(scheduled) {
		t.Errorf("a late run covers the window to %s, want the scheduled %s", res.Digest.To, scheduled)
	}
	if !reflect.DeepEqual(r.posts, []string{"#security-digest: 10 alerts → 2 incidents (5.0:1)"}) || res.Channel != "#security-digest" {
		t.Errorf("posted %v (result channel %q), want once to the configured channel", r.posts, res.Channel)
	}
	want := []string{"file://" + filepath.Join(r.dir, "digests", "2025-03-11.json"), "file://" + filepath.Join(r.dir, "digests", "2025-03-11.md")}
	if !reflect.DeepEqual(res.ArchiveURLs, want) {
		t.Errorf("archive URLs %v, want %v", res.ArchiveURLs, want)
	}
	if md, err := os.ReadFile(filepath.Join(r.dir, "digests", "2025-03-11.md")); err != nil || string(md) != res.Markdown {
		t.Errorf("saved markdown differs from the result's (%v)", err)
	}

	// An explicit window and channel.
	r.posts = nil
	to := time.Date(2025, 3, 10, 11, 0, 0, 0, time.UTC)
	res, err = r.run(t, scheduled, time.Time{}, workflows.DigestInput{To: to, Since: 2 * time.Hour, Channel: "#sec-leads"})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Digest; !d.From.Equal(to.Add(-2*time.Hour)) || d.IncidentsOpened != 2 || res.Channel != "#sec-leads" ||
		!reflect.DeepEqual(r.posts, []string{"#sec-leads: 10 alerts → 2 incidents (5.0:1)"}) {
		t.Errorf("window %s to %s, %d opened, posted %v", d.From, d.To, d.IncidentsOpened, r.posts)
	}
}

func TestDigestWorkflowFailsOnAChannelSlackRefuses(t *testing.T) {
	start := time.Date(2025, 3, 11, 8, 0, 0, 0, time.UTC)
	r := newDigestRig(t, start, nil)
	r.postErr = activities.Permanent(errors.New("channel_not_found"))
	_, err := r.run(t, start, time.Time{}, workflows.DigestInput{Channel: "#gone"})
	if err == nil || !strings.Contains(err.Error(), "publish the digest") || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("error = %v", err)
	}
	if len(r.posts) != 1 {
		t.Errorf("%d posts, want 1: a permanent failure is not retried", len(r.posts))
	}
}
