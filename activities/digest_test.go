package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
)

func activityEnv(t *testing.T, acts ...any) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(testenv.QuietLogger())
	env := s.NewTestActivityEnvironment()
	for _, a := range acts {
		env.RegisterActivity(a)
	}
	return env
}

// archiveRecord writes inc's record the way the incident workflow does.
func archiveRecord(t *testing.T, store activities.Store, inc incident.Incident) {
	t.Helper()
	a := &activities.Archive{Store: store}
	if _, err := a.ArchiveIncident(context.Background(), activities.ArchiveInput{Incident: inc, At: inc.ResolvedAt}); err != nil {
		t.Fatal(err)
	}
}

// The digest reads Temporal for what it still has and the archive for the
// rest: each incident run once, Temporal's copy first, records of later
// days included (resolved after the window), unreadable ones counted.
func TestCollectDigestMergesTemporalAndArchive(t *testing.T) {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	at := func(d time.Duration) time.Time { return from.Add(d) }
	mk := func(id, run string, opened time.Duration, occ int) incident.Incident {
		return incident.Incident{ID: id, RunID: run, Alert: incident.Alert{Source: "rules", Rule: "r-" + id, Title: id},
			Severity: incident.SeverityHigh, Status: incident.StatusOpen, Occurrences: occ, OpenedAt: at(opened), UpdatedAt: at(opened)}
	}
	resolve := func(inc incident.Incident, when time.Duration) incident.Incident {
		inc.Status, inc.ResolvedAt, inc.ResolvedBy, inc.UpdatedAt = incident.StatusResolved, at(when), "alice", at(when)
		return inc
	}
	// incident-a re-fired: run r0 resolved (archived only), run r1 resolved
	// (archived, and Temporal still has it with its archive URL).
	a0 := resolve(mk("incident-a", "r0", 30*time.Minute, 1), 50*time.Minute)
	a1 := resolve(mk("incident-a", "r1", time.Hour, 4), 2*time.Hour)
	a1.Previous = &incident.RunRef{ID: "incident-a", RunID: "r0"}
	a1Live := a1
	a1Live.Occurrences, a1Live.ArchiveURL = 5, "file:///archive/2025/03/10/incident-a-r1.json"
	b := mk("incident-b", "r2", 3*time.Hour, 2)
	// Gone from visibility, resolved the day after the window.
	c := resolve(mk("incident-c", "r3", 5*time.Hour, 3), 26*time.Hour)
	// Opened after the window, archived within the days read.
	e := resolve(mk("incident-e", "r4", 25*time.Hour, 9), 27*time.Hour)
	// Resolved the day before the window's: never listed.
	f := resolve(mk("incident-f", "r5", -20*time.Hour, 9), -10*time.Hour)

	dir := t.TempDir()
	store := activities.FileStore{Dir: dir}
	for _, inc := range []incident.Incident{a0, a1, c, e, f} {
		archiveRecord(t, store, inc)
	}
	for key, body := range map[string]string{
		"2025/03/10/broken.json":         "{not json",
		"2025/03/10/incident-x.json.tmp": "{}",
		"2025/03/11/notes.txt":           "not a record",
	} {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var asked time.Time
	d := &activities.Digest{
		Incidents: func(_ context.Context, since, _ time.Time) ([]incident.Incident, int, error) {
			asked = since
			return []incident.Incident{b, a1Live, b}, 1, nil
		},
		Archive: store,
		Now:     func() time.Time { return time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC) },
	}
	incs, err := d.CollectIncidents(context.Background(), activities.CollectInput{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if !asked.Equal(from) {
		t.Errorf("asked Temporal for runs since %s, want %s", asked, from)
	}
	var got []string
	for _, inc := range incs {
		got = append(got, inc.ID+"/"+inc.RunID)
	}
	if want := []string{"incident-a/r0", "incident-a/r1", "incident-b/r2", "incident-c/r3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("collected %v, want %v", got, want)
	}
	if incs[1].Occurrences != 5 || incs[1].ArchiveURL == "" {
		t.Errorf("incident-a/r1 = %+v, want Temporal's copy (5 occurrences, archive URL)", incs[1])
	}

	env := activityEnv(t, d.CollectDigest)
	v, err := env.ExecuteActivity(d.CollectDigest, activities.CollectInput{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var dg incident.Digest
	if err := v.Get(&dg); err != nil {
		t.Fatal(err)
	}
	if dg.IncidentsOpened != 4 || dg.AlertsIn != 1+5+2+3 || dg.LeftOut != 2 || len(dg.StillOpen) != 2 ||
		dg.StillOpen[0].ID != "incident-b" || dg.StillOpen[1].ID != "incident-c" {
		t.Errorf("digest: %d opened, %d alerts, %d left out, still open %+v; want 4, 11, 2 (one run, one record), b and c",
			dg.IncidentsOpened, dg.AlertsIn, dg.LeftOut, dg.StillOpen)
	}

	// A window far back is refused rather than read day by day for ever.
	_, err = env.ExecuteActivity(d.CollectDigest, activities.CollectInput{From: from.AddDate(-2, 0, 0), To: to.AddDate(-2, 0, 0)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), "at most 400") {
		t.Errorf("a window two years back: %v", err)
	}
}

type posterFunc func(ctx context.Context, channel string, d incident.Digest) error

func (f posterFunc) PostDigest(ctx context.Context, channel string, d incident.Digest) error {
	return f(ctx, channel, d)
}

func TestPublishDigestSavesThenPosts(t *testing.T) {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	dg := incident.BuildDigest([]incident.Incident{{ID: "incident-a", Alert: incident.Alert{Rule: "r"}, OpenedAt: from.Add(time.Hour), Occurrences: 3}},
		from, from.Add(24*time.Hour))
	dir := t.TempDir()
	var posted []string
	var postErr error
	d := &activities.Digest{
		Store: activities.FileStore{Dir: dir}, Channel: "#security-digest",
		Poster: posterFunc(func(_ context.Context, channel string, got incident.Digest) error {
			posted = append(posted, channel+" "+got.Headline())
			return postErr
		}),
	}
	env := activityEnv(t, d.PublishDigest)
	v, err := env.ExecuteActivity(d.PublishDigest, activities.PublishInput{Digest: dg})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.PublishResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	want := []string{"file://" + filepath.Join(dir, "digests", "2025-03-11.json"), "file://" + filepath.Join(dir, "digests", "2025-03-11.md")}
	if res.Channel != "#security-digest" || !reflect.DeepEqual(res.URLs, want) {
		t.Errorf("result = %+v, want the configured channel and %v", res, want)
	}
	if !reflect.DeepEqual(posted, []string{"#security-digest 3 alerts → 1 incident (3.0:1)"}) {
		t.Errorf("posted %q", posted)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "digests", "2025-03-11.md"))
	if string(md) != dg.Markdown() {
		t.Errorf("saved markdown:\n%s\nwant:\n%s", md, dg.Markdown())
	}
	js, _ := os.ReadFile(filepath.Join(dir, "digests", "2025-03-11.json"))
	var saved incident.Digest
	if err := json.Unmarshal(js, &saved); err != nil || !reflect.DeepEqual(saved, dg) {
		t.Errorf("saved JSON %s (%v) does not read back as the digest", js, err)
	}

	// The input's channel wins; a channel Slack refuses fails for good.
	postErr = activities.Permanent(errors.New("channel_not_found"))
	_, err = env.ExecuteActivity(d.PublishDigest, activities.PublishInput{Digest: dg, Channel: "#elsewhere"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), "post digest to #elsewhere: channel_not_found") {
		t.Errorf("permanent post failure: %v", err)
	}
	_, err = env.ExecuteActivity(d.PublishDigest, activities.PublishInput{Digest: dg, Channel: "Security Digest"})
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), `"Security Digest" is not a Slack channel`) {
		t.Errorf("bad channel: %v", err)
	}
}

// The S3 store reads back what it wrote, under its prefix, one day at a time.
func TestS3StoreListsAndReads(t *testing.T) {
	s3c, _ := testenv.S3(t, "irflow-archive")
	store := activities.S3Store{Client: s3c, Bucket: "irflow-archive", Prefix: "incidents"}
	ctx := context.Background()
	for _, key := range []string{"2025/03/10/b.json", "2025/03/10/a.json", "2025/03/11/c.json", "digests/2025-03-10.md"} {
		if _, err := store.Put(ctx, key, []byte("body of "+key)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := store.List(ctx, "2025/03/10/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2025/03/10/a.json", "2025/03/10/b.json"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("List = %v, want %v", keys, want)
	}
	body, err := store.Get(ctx, "2025/03/11/c.json")
	if err != nil || string(body) != "body of 2025/03/11/c.json" {
		t.Errorf("Get = %q, %v", body, err)
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("irflow-archive"), Key: aws.String("incidents/digests/2025-03-10.md")})
	if err != nil || aws.ToString(head.ContentType) != "text/markdown; charset=utf-8" {
		t.Errorf("markdown served as %q (%v)", aws.ToString(head.ContentType), err)
	}
	if _, err := store.Get(ctx, "2025/03/12/none.json"); err == nil {
		t.Error("Get of a missing key succeeded")
	}
}
