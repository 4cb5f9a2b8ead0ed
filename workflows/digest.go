package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// The daily digest's names. They live here rather than in names.go to keep
// the digest in one file; nothing else spells them.
const (
	DigestWorkflowName = "DigestWorkflow"
	// DigestScheduleID is the daily Temporal Schedule (internal/schedules.ApplyDigest).
	DigestScheduleID = "irflow-digest"
	// DigestWorkflowIDPrefix starts the ID of every digest run: the
	// Schedule's runs are digest-<scheduled time> (Temporal appends it),
	// `starter digest run` uses DigestRunWorkflowID.
	DigestWorkflowIDPrefix = "digest"
	// DefaultDigestSince is the window of a digest whose input names none.
	DefaultDigestSince = 24 * time.Hour
)

// DigestRunWorkflowID is the workflow ID of a digest started by hand at t.
func DigestRunWorkflowID(t time.Time) string {
	return DigestWorkflowIDPrefix + "-run-" + t.UTC().Format("20060102T150405.000Z")
}

// DigestInput is the argument of DigestWorkflow (and of the Schedule's action).
type DigestInput struct {
	// Since is the window's length (DefaultDigestSince when 0).
	Since time.Duration `json:"since"`
	// To ends the window. Zero is the time the Schedule meant to start the
	// run (so a late run still covers its own day), else its start time.
	To time.Time `json:"to,omitzero"`
	// Channel is where the digest goes; empty is the worker's digest.channel.
	Channel string `json:"channel,omitempty"`
	// DryRun builds the digest and returns it: nothing is posted or saved.
	DryRun bool `json:"dry_run,omitempty"`
}

// DigestResult is what DigestWorkflow returns.
type DigestResult struct {
	Digest   incident.Digest `json:"digest"`
	Markdown string          `json:"markdown"`
	// Channel is where it was posted and ArchiveURLs where it was saved
	// (JSON, then Markdown); both empty on a dry run.
	Channel     string   `json:"channel,omitempty"`
	ArchiveURLs []string `json:"archive_urls,omitempty"`
}

// Activity options. Collecting reads every incident of the day, so it gets
// minutes (and heartbeats every 30 s); posting is retried a few times (a
// permanent Slack error fails at once), then the run fails for people to see.
var (
	collectDigestOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	}
	publishDigestOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 5},
	}
)

var digestActs *activities.Digest

// scheduledStartTime is the search attribute a Schedule sets on the runs it
// starts: the time it meant to start them.
var scheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// digestEnd is the end of the window when the input gives none.
func digestEnd(ctx workflow.Context) time.Time {
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartTime); ok && !t.IsZero() {
		return t.UTC()
	}
	return workflow.GetInfo(ctx).WorkflowStartTime.UTC()
}

// DigestWorkflow builds the digest of [To-Since, To) and, unless DryRun,
// saves and posts it:
//
//	collect the window's incidents and build the digest (one activity, so
//	the incidents never enter history) → render Markdown → publish.
func DigestWorkflow(ctx workflow.Context, in DigestInput) (DigestResult, error) {
	to := in.To
	if to.IsZero() {
		to = digestEnd(ctx)
	}
	since := in.Since
	if since <= 0 {
		since = DefaultDigestSince
	}
	window := activities.CollectInput{From: to.Add(-since), To: to}

	var d incident.Digest
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, collectDigestOptions), digestActs.CollectDigest, window).Get(ctx, &d)
	if err != nil {
		return DigestResult{}, fmt.Errorf("collect the incidents of %s to %s: %w",
			window.From.Format(time.RFC3339), window.To.Format(time.RFC3339), err)
	}
	res := DigestResult{Digest: d, Markdown: d.Markdown()}
	workflow.GetLogger(ctx).Info("digest built", "from", window.From, "to", window.To,
		"headline", d.Headline(), "still_open", len(d.StillOpen), "dry_run", in.DryRun)
	if in.DryRun {
		return res, nil
	}

	var pub activities.PublishResult
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, publishDigestOptions), digestActs.PublishDigest,
		activities.PublishInput{Digest: d, Channel: in.Channel}).Get(ctx, &pub)
	if err != nil {
		return res, fmt.Errorf("publish the digest: %w", err)
	}
	res.Channel, res.ArchiveURLs = pub.Channel, pub.URLs
	return res, nil
}
