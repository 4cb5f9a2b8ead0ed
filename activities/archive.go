package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// Store keeps archived incidents. S3 in production, a directory in dev.
type Store interface {
	// Put writes body under key and returns the object's URL.
	Put(ctx context.Context, key string, body []byte) (string, error)
}

// Record is the archived document: the whole incident plus its figures.
type Record struct {
	incident.Incident
	MTTASeconds *float64  `json:"mtta_seconds"`
	MTTRSeconds *float64  `json:"mttr_seconds"`
	ArchivedAt  time.Time `json:"archived_at"`
}

// NewRecord computes the record of inc, archived at the given time.
func NewRecord(inc incident.Incident, at time.Time) Record {
	r := Record{Incident: inc, ArchivedAt: at}
	if d, ok := inc.MTTA(); ok {
		s := d.Seconds()
		r.MTTASeconds = &s
	}
	if d, ok := inc.MTTR(); ok {
		s := d.Seconds()
		r.MTTRSeconds = &s
	}
	return r
}

// ArchiveKey is where an incident lands under the store's prefix:
// YYYY/MM/DD/<incident-id>.json by resolution date (UTC). A re-fire of an incident
// resolved earlier gets its run ID appended so it never overwrites the earlier record.
func ArchiveKey(inc incident.Incident) string {
	day := inc.ResolvedAt
	if day.IsZero() {
		day = inc.UpdatedAt
	}
	name := inc.ID
	if inc.Previous != nil && inc.RunID != "" {
		name += "-" + inc.RunID
	}
	return path.Join(day.UTC().Format("2006/01/02"), name+".json")
}

// ArchiveInput is the argument of Archive.ArchiveIncident.
type ArchiveInput struct {
	Incident incident.Incident `json:"incident"`
	At       time.Time         `json:"at"`
}

// ArchiveResult says where the record went.
type ArchiveResult struct {
	URL string `json:"url"`
}

// Archive is the archive activity.
type Archive struct {
	Store Store
}

// ArchiveIncident writes the incident record. Writing the same key twice is
// harmless, so retries are safe.
func (a *Archive) ArchiveIncident(ctx context.Context, in ArchiveInput) (ArchiveResult, error) {
	body, err := json.MarshalIndent(NewRecord(in.Incident, in.At), "", "  ")
	if err != nil {
		return ArchiveResult{}, temporal.NewNonRetryableApplicationError("encode incident record", "ArchiveEncode", err)
	}
	u, err := a.Store.Put(ctx, ArchiveKey(in.Incident), body)
	if err != nil {
		MetricsHandler(ctx).Counter(MetricArchiveFailures).Inc(1)
		return ArchiveResult{}, fmt.Errorf("archive %s: %w", in.Incident.ID, err)
	}
	return ArchiveResult{URL: u}, nil
}

// FileStore writes records under a directory, for dev.
type FileStore struct{ Dir string }

func (s FileStore) Put(_ context.Context, key string, body []byte) (string, error) {
	p := filepath.Join(s.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("create archive dir: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return "", fmt.Errorf("write archive record: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write archive record: %w", err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	return "file://" + abs, nil
}

// S3Store writes records to s3://Bucket/Prefix/key.
type S3Store struct {
	Client *s3.Client
	Bucket string
	Prefix string
}

func (s S3Store) Put(ctx context.Context, key string, body []byte) (string, error) {
	if s.Prefix != "" {
		key = s.Prefix + "/" + key
	}
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String(contentType(key)),
	})
	if err != nil {
		var nb interface{ ErrorCode() string }
		if errors.As(err, &nb) && (nb.ErrorCode() == "NoSuchBucket" || nb.ErrorCode() == "AccessDenied") {
			// Retrying will not create the bucket or the grant; say so once, loudly.
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("put s3://%s/%s: %v", s.Bucket, key, err), "ArchiveDenied", err)
		}
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return "s3://" + s.Bucket + "/" + key, nil
}
