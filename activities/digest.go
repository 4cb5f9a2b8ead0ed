package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// Poster posts a digest to a channel. The Slack notifier and the console
// implement it.
type Poster interface {
	PostDigest(ctx context.Context, channel string, d incident.Digest) error
}

// Digest holds the daily digest's activities: CollectDigest reads the
// incidents of a window and builds the digest, PublishDigest saves it to the
// archive and posts it.
type Digest struct {
	// Incidents returns the state of every incident run running now or
	// started at or after since, and how many such runs it could not read.
	// workerapp wires it to internal/client (this package cannot import the
	// workflow names).
	Incidents func(ctx context.Context, since, until time.Time) (incidents []incident.Incident, unread int, err error)
	// Archive reads archived incident records; nil reads Temporal alone.
	Archive ArchiveReader
	// Store saves the digest as JSON and Markdown; nil saves nothing.
	Store Store
	// Poster posts the digest.
	Poster Poster
	// Channel is where the digest goes when the input names none (digest.channel).
	Channel string
	// Now is the clock, time.Now when nil: the archive is read up to today.
	Now func() time.Time
}

// CollectInput is the window of a digest: [From, To).
type CollectInput struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PublishInput is the argument of PublishDigest. An empty Channel is the
// configured one.
type PublishInput struct {
	Digest  incident.Digest `json:"digest"`
	Channel string          `json:"channel,omitempty"`
}

// PublishResult says where the digest went.
type PublishResult struct {
	Channel string   `json:"channel"`
	URLs    []string `json:"urls,omitempty"`
}

// maxArchiveDays bounds how many days of the archive one digest reads.
const maxArchiveDays = 400

// DigestKey is where a digest lands under the archive's prefix:
// digests/<date of To, UTC>.<ext>. A second digest ending the same day
// replaces the first.
func DigestKey(to time.Time, ext string) string {
	return "digests/" + to.UTC().Format("2006-01-02") + "." + ext
}

// CollectIncidents returns the incidents a digest of [From, To) needs, each
// once: those Temporal still has (every run open now or started since From,
// read through d.Incidents) and the archived records of incidents resolved
// since From's day, for runs that visibility retention has dropped.
//
// Records are keyed by resolution day (ArchiveKey), so the days from From
// to today are listed: an incident opened in the window may have resolved
// after To. Temporal's copy of an incident wins over its record (it also
// holds the archive URL); an incident is known by ID and run ID.
func (d *Digest) CollectIncidents(ctx context.Context, in CollectInput) ([]incident.Incident, error) {
	incs, _, err := d.collect(ctx, in)
	return incs, err
}

// CollectDigest collects the incidents of the window and builds the digest
// here, so only the digest (not every incident's timeline) travels back to
// the workflow: a busy day's incidents would pass Temporal's 2 MB payload
// limit.
func (d *Digest) CollectDigest(ctx context.Context, in CollectInput) (incident.Digest, error) {
	incs, leftOut, err := d.collect(ctx, in)
	if err != nil {
		return incident.Digest{}, err
	}
	dg := incident.BuildDigest(incs, in.From, in.To)
	dg.LeftOut = leftOut
	return dg, nil
}

func (d *Digest) collect(ctx context.Context, in CollectInput) ([]incident.Incident, int, error) {
	if !in.From.Before(in.To) {
		return nil, 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("digest window %s to %s is empty", in.From, in.To), "DigestWindow", nil)
	}
	if d.Incidents == nil {
		return nil, 0, temporal.NewNonRetryableApplicationError("collect incidents: no Temporal client", "DigestSetup", nil)
	}
	defer heartbeat(ctx, 30*time.Second)()
	live, leftOut, err := d.Incidents(ctx, in.From, in.To)
	if err != nil {
		return nil, 0, fmt.Errorf("read incidents since %s from Temporal: %w", in.From.UTC().Format(time.RFC3339), err)
	}
	seen := map[string]bool{}
	out := make([]incident.Incident, 0, len(live))
	for _, inc := range live {
		if k := runKey(&inc); !seen[k] {
			seen[k] = true
			out = append(out, inc)
		}
	}
	if d.Archive != nil {
		archived, unread, err := d.archived(ctx, in)
		if err != nil {
			return nil, 0, err
		}
		leftOut += unread
		for _, inc := range archived {
			if k := runKey(&inc); !seen[k] {
				seen[k] = true
				out = append(out, inc)
			}
		}
	}
	slices.SortFunc(out, func(a, b incident.Incident) int {
		return cmp.Or(a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID), cmp.Compare(a.RunID, b.RunID))
	})
	return out, leftOut, nil
}

// runKey names one incident: a re-fire is the same ID in a new run.
func runKey(inc *incident.Incident) string {
	if inc.RunID == "" {
		return inc.ID + "/" + inc.OpenedAt.UTC().Format(time.RFC3339Nano)
	}
	return inc.ID + "/" + inc.RunID
}

// archived reads the incident records of each day from From's to today's
// (or To's, if later), and counts the records it could not read.
func (d *Digest) archived(ctx context.Context, in CollectInput) ([]incident.Incident, int, error) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	first := in.From.UTC().Truncate(24 * time.Hour)
	last := in.To
	if n := now(); n.After(last) {
		last = n
	}
	last = last.UTC().Truncate(24 * time.Hour)
	if days := int(last.Sub(first)/(24*time.Hour)) + 1; days > maxArchiveDays {
		return nil, 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("digest window starts %d days back; the archive is read day by day, at most %d", days, maxArchiveDays), "DigestWindow", nil)
	}
	var out []incident.Incident
	unread := 0
	for day := first; !day.After(last); day = day.Add(24 * time.Hour) {
		prefix := day.Format("2006/01/02") + "/"
		keys, err := d.Archive.List(ctx, prefix)
		if err != nil {
			return nil, 0, fmt.Errorf("list archived incidents of %s: %w", day.Format(time.DateOnly), err)
		}
		for _, key := range keys {
			if !strings.HasSuffix(key, ".json") {
				continue
			}
			body, err := d.Archive.Get(ctx, key)
			if err != nil {
				return nil, 0, fmt.Errorf("read archived incident %s: %w", key, err)
			}
			var rec Record
			if err := json.Unmarshal(body, &rec); err != nil || rec.ID == "" {
				// One bad record must not cost the day's digest.
				unread++
				warn(ctx, "archived incident record unreadable; left out of the digest", "key", key, "error", err)
				continue
			}
			// Opened after the window, it plays no part in it.
			if rec.OpenedAt.Before(in.To) {
				out = append(out, rec.Incident)
			}
		}
	}
	return out, unread, nil
}

// heartbeat tells Temporal the activity is alive every interval until the
// returned stop is called: reading Temporal has no steps to report, and one
// stuck status query waits up to 10 s.
func heartbeat(ctx context.Context, every time.Duration) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

func warn(ctx context.Context, msg string, args ...any) {
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn(msg, args...)
		return
	}
	slog.WarnContext(ctx, msg, args...)
}

// PublishDigest saves the digest to the archive as JSON and Markdown, then
// posts it. Saving comes first because it is idempotent: a retry after a
// failed post writes the same objects again and posts once more.
func (d *Digest) PublishDigest(ctx context.Context, in PublishInput) (PublishResult, error) {
	res := PublishResult{Channel: cmp.Or(in.Channel, d.Channel)}
	if !incident.ValidChannel(res.Channel) {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("digest channel %q is not a Slack channel name (#lowercase-name) or ID", res.Channel), "DigestChannel", nil)
	}
	if d.Store != nil {
		body, err := json.MarshalIndent(in.Digest, "", "  ")
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError("encode digest", "DigestEncode", err)
		}
		for _, f := range []struct {
			ext  string
			body []byte
		}{{"json", body}, {"md", []byte(in.Digest.Markdown())}} {
			u, err := d.Store.Put(ctx, DigestKey(in.Digest.To, f.ext), f.body)
			if err != nil {
				return res, fmt.Errorf("save digest: %w", err)
			}
			res.URLs = append(res.URLs, u)
		}
	}
	if d.Poster == nil {
		return res, temporal.NewNonRetryableApplicationError("post digest: no poster configured", "DigestSetup", nil)
	}
	if err := d.Poster.PostDigest(ctx, res.Channel, in.Digest); err != nil {
		// channel_not_found and the like fail at once; a 429 waits Retry-After.
		return res, notifyError("post digest to "+res.Channel, err)
	}
	return res, nil
}
