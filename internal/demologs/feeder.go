package demologs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/logpipe"
)

// Feeder indexes generated logs into OpenSearch as time passes, for `starter dev`.
type Feeder struct {
	Client  *opensearchgo.Client // required
	Seed    int64
	Options Options
	// Interval between batches; default 5s.
	Interval time.Duration
	// Backfill is how much history to index on start, so rules have data at once; default 15m.
	// Negative disables.
	Backfill time.Duration
	// AssetsDir holds the index template, ISM policy and ingest pipeline; default
	// deploy/opensearch under the module root.
	AssetsDir string
	// BatchSize caps documents per _bulk request; default 2000.
	BatchSize int
	// Pipeline, when set, sends the logs through the log pipeline's
	// transform (as CloudWatch Logs payloads of LogGroup, routed by
	// LogRoutes), as production logs arrive: enriched, tagged and routed.
	// Nil indexes the generated documents as they are.
	Pipeline *logpipe.Pipeline
	Logger   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	indexed atomic.Int64
}

// Indexed is the number of documents indexed so far.
func (f *Feeder) Indexed() int64 { return f.indexed.Load() }

func (f *Feeder) defaults() error {
	if f.Client == nil {
		return errors.New("demologs: Feeder.Client is required")
	}
	if f.Interval == 0 {
		f.Interval = 5 * time.Second
	}
	if f.Interval < 0 {
		return fmt.Errorf("demologs: Feeder.Interval %s must be positive", f.Interval)
	}
	if f.Backfill == 0 {
		f.Backfill = 15 * time.Minute
	}
	if f.BatchSize == 0 {
		f.BatchSize = 2000
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	return nil
}

// Run installs the log assets, backfills, then indexes each new interval of
// traffic until ctx is done. It returns nil when ctx ends, and an error if the
// assets or the backfill fail; a failed live batch is logged and retried.
func (f *Feeder) Run(ctx context.Context) error {
	if err := f.defaults(); err != nil {
		return err
	}
	if err := opensearch.InstallLogAssets(ctx, f.Client, f.AssetsDir, f.Logger); err != nil {
		return fmt.Errorf("demologs feeder: %w", err)
	}
	last := f.Now().UTC().Truncate(time.Second)
	if f.Backfill > 0 {
		from := last.Add(-f.Backfill)
		n, err := f.IndexRange(ctx, from, last)
		if err != nil {
			return ctxNil(ctx, err)
		}
		f.Logger.Info("demo logs backfilled", "docs", n, "from", from, "to", last)
	}
	announced := map[time.Time]bool{}
	tick := time.NewTicker(f.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := f.Now().UTC().Truncate(time.Second)
		if !now.After(last) {
			continue
		}
		for _, s := range Scenarios(f.Seed, last, now, f.Options) {
			if !announced[s.Start] && !s.Start.Before(last) {
				announced[s.Start] = true
				f.Logger.Info("demo scenario playing", "scenario", s.String())
			}
		}
		// A batch in flight when ctx ends is finished, so Indexed matches the cluster.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := f.IndexRange(bctx, last, now)
		cancel()
		if err != nil {
			// Document IDs are stable, so the next tick retries the same range
			// without duplicates; a dev node under load should not end the feed.
			f.Logger.Warn("demo logs batch failed; retrying next tick", "from", last, "to", now, "err", err)
			continue
		}
		last = now
	}
}

func ctxNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// IndexRange indexes the documents of [from, to) and returns how many it indexed.
// Documents are not refreshed; search sees them after the index refresh interval.
func (f *Feeder) IndexRange(ctx context.Context, from, to time.Time) (int, error) {
	if err := f.defaults(); err != nil {
		return 0, err
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	total, inBatch := 0, 0
	flush := func() error {
		if inBatch == 0 {
			return nil
		}
		if err := f.bulk(ctx, &body, inBatch); err != nil {
			return err
		}
		total += inBatch
		f.indexed.Add(int64(inBatch))
		body.Reset()
		inBatch = 0
		return nil
	}
	if f.Pipeline != nil {
		return f.replay(ctx, from, to)
	}
	for d := range Generate(f.Seed, from, to, f.Options) {
		if err := writeBulkDoc(enc, d); err != nil {
			return total, err
		}
		inBatch++
		if inBatch >= f.BatchSize {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := flush(); err != nil {
		return total, err
	}
	return total, nil
}

// replay indexes [from, to) through the log pipeline.
func (f *Feeder) replay(ctx context.Context, from, to time.Time) (int, error) {
	r := &logpipe.Replayer{Pipeline: f.Pipeline, Client: f.Client, BatchDocs: f.BatchSize}
	res, err := r.Payloads(ctx, Payloads(Generate(f.Seed, from, to, f.Options)))
	f.indexed.Add(int64(res.Indexed))
	if err != nil {
		return res.Indexed, fmt.Errorf("demo logs through the transform: %w", err)
	}
	if res.Failed > 0 {
		return res.Indexed, fmt.Errorf("demo logs through the transform: %d of %d events failed, first: %s", res.Failed, res.Events, res.Errors[0])
	}
	return res.Indexed, nil
}

func (f *Feeder) bulk(ctx context.Context, body *bytes.Buffer, n int) error {
	res, err := f.Client.Bulk(bytes.NewReader(body.Bytes()), f.Client.Bulk.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("bulk index %d demo docs: %w", n, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("bulk index %d demo docs: read response: %w", n, err)
	}
	if res.IsError() {
		return fmt.Errorf("bulk index %d demo docs: %s: %.500s", n, res.Status(), raw)
	}
	var out struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("bulk index %d demo docs: decode response: %w", n, err)
	}
	if !out.Errors {
		return nil
	}
	failed, first := 0, ""
	for _, item := range out.Items {
		for _, r := range item {
			if r.Status >= 300 {
				failed++
				if first == "" {
					first = string(r.Error)
				}
			}
		}
	}
	return fmt.Errorf("bulk index demo docs: %d of %d failed, first: %.500s", failed, n, first)
}
