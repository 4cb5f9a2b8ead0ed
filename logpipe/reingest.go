package logpipe

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// PutRecordBatch limits (Firehose API reference).
const (
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20
)

// FirehoseReingester puts records back with PutRecordBatch, in batches of
// at most 500 records and 4 MiB, retrying the records Firehose rejects.
type FirehoseReingester struct {
	Client *firehose.Client
	// Attempts per record; 0 is 5.
	Attempts int
	// Backoff before retry n (from 1); nil is 100ms·n.
	Backoff func(n int) time.Duration
}

// Put implements Reingester.
func (f *FirehoseReingester) Put(ctx context.Context, streamARN string, records [][]byte) ([]int, error) {
	name, err := StreamName(streamARN)
	if err != nil {
		return all(len(records)), err
	}
	attempts := f.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	backoff := f.Backoff
	if backoff == nil {
		backoff = func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond }
	}
	pending := all(len(records))
	var lastErr error
	for attempt := 1; attempt <= attempts && len(pending) > 0; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return pending, ctx.Err()
			case <-time.After(backoff(attempt - 1)):
			}
		}
		var next []int
		for from := 0; from < len(pending); {
			to, size := from, 0
			for to < len(pending) && to-from < maxBatchRecords && size+len(records[pending[to]]) <= maxBatchBytes {
				size += len(records[pending[to]])
				to++
			}
			if to == from { // one record over 4 MiB cannot be put at all
				next = append(next, pending[from])
				from++
				continue
			}
			batch := pending[from:to]
			in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: make([]types.Record, len(batch))}
			for k, idx := range batch {
				in.Records[k] = types.Record{Data: records[idx]}
			}
			out, err := f.Client.PutRecordBatch(ctx, in)
			switch {
			case err != nil:
				lastErr = fmt.Errorf("PutRecordBatch %s: %w", name, err)
				next = append(next, batch...)
			case aws.ToInt32(out.FailedPutCount) > 0:
				for k, r := range out.RequestResponses {
					if r.ErrorCode != nil && k < len(batch) {
						next = append(next, batch[k])
						lastErr = fmt.Errorf("PutRecordBatch %s: %s: %s", name, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
					}
				}
			}
			from = to
		}
		pending = next
	}
	if len(pending) > 0 {
		return pending, lastErr
	}
	return nil, nil
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
