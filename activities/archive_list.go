package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ArchiveReader reads back what a Store wrote. FileStore and S3Store
// implement it; the digest lists incident records by day with it.
type ArchiveReader interface {
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Get returns the body stored under key.
	Get(ctx context.Context, key string) ([]byte, error)
}

var (
	_ ArchiveReader = FileStore{}
	_ ArchiveReader = S3Store{}
)

// contentType is what S3 serves a key as.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// List walks the directory of prefix; files being written (*.tmp) are left out.
func (s FileStore) List(_ context.Context, prefix string) ([]string, error) {
	dir := prefix
	if !strings.HasSuffix(dir, "/") {
		dir = path.Dir(dir)
	}
	root := filepath.Join(s.Dir, filepath.FromSlash(dir))
	var keys []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasSuffix(p, ".tmp") {
			return nil
		}
		rel, err := filepath.Rel(s.Dir, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list archive %s: %w", root, err)
	}
	sort.Strings(keys)
	return keys, nil
}

func (s FileStore) Get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, filepath.FromSlash(key)))
	if err != nil {
		return nil, fmt.Errorf("read archive record: %w", err)
	}
	return b, nil
}

func (s S3Store) key(k string) string {
	if s.Prefix == "" {
		return k
	}
	return s.Prefix + "/" + k
}

// List pages through ListObjectsV2; the keys it returns are relative to Prefix.
func (s S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	full := s.key(prefix)
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(full)})
	var keys []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if s.Prefix != "" {
				k = strings.TrimPrefix(k, s.Prefix+"/")
			}
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func (s S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	// S3-compatible stores without checksums would get a log line per record read.
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.key(key))},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.Bucket, s.key(key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s.Bucket, s.key(key), err)
	}
	return b, nil
}
