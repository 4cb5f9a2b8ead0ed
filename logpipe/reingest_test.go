package logpipe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/logpipe"
)

// The put-back client against moto's Firehose (the real aws-sdk-go-v2
// client, the real PutRecordBatch API): a batch of 1,203 events, more than
// one PutRecordBatch takes, all arrive, once each.
func TestFirehoseReingesterPutsEveryEventBack(t *testing.T) {
	endpoint := testenv.Moto(t)
	ctx := context.Background()
	cfg := testenv.AWSConfig(endpoint)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket, stream := fmt.Sprintf("irflow-reingest-%d", time.Now().UnixNano()), fmt.Sprintf("irflow-logs-%d", time.Now().UnixNano())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fh := firehose.NewFromConfig(cfg)
	out, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(stream),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket),
			RoleARN:   aws.String("arn:aws:iam::123456789012:role/firehose"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	var evs []cwlEvent
	for i := range 1203 {
		evs = append(evs, cwlEvent{ID: fmt.Sprint(i), Timestamp: 1795000000000 + int64(i), Message: fmt.Sprintf(`{"seq":%d}`, i)})
	}
	h := &logpipe.Handler{Pipeline: demoPipeline(t, nil), Reingest: &logpipe.FirehoseReingester{Client: fh}, Logger: quiet()}
	ev := firehoseEvent(t, gzipJSON(t, dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", evs...)))
	ev.DeliveryStreamArn = aws.ToString(out.DeliveryStreamARN)
	rep := h.Transform(ctx, ev)
	if o := rep.Outcomes[0]; o.Result != logpipe.ResultOk || o.Kept != 1 || o.Reingested != 1202 {
		t.Fatalf("outcome = %+v", o)
	}

	// moto writes each PutRecordBatch into one S3 object: the records back to back.
	seen := map[string]int{}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) < 3 {
		t.Errorf("%d objects: want at least 3 PutRecordBatch calls for 1,202 records (500 a call)", len(list.Contents))
	}
	for _, obj := range list.Contents {
		got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: obj.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		got.Body.Close()
		dec := json.NewDecoder(bytes.NewReader(body))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			var d logpipe.Decoder
			var pl logpipe.Payload
			if err := d.Decode(raw, &pl); err != nil || len(pl.Events) != 1 || pl.LogGroup != demologs.DemoAppLogGroup {
				t.Fatalf("put-back record %s: %v", raw, err)
			}
			seen[pl.Events[0].ID]++
		}
	}
	for i := 1; i < 1203; i++ {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("event %d arrived %d times", i, seen[fmt.Sprint(i)])
		}
	}
	if len(seen) != 1202 || seen["0"] != 0 {
		t.Errorf("%d distinct events put back (event 0: %d), want 1202 without the one in the response", len(seen), seen["0"])
	}

	// A stream that does not exist: every record fails, with the API's reason.
	ev.DeliveryStreamArn = "arn:aws:firehose:us-east-1:123456789012:deliverystream/nope"
	rep = (&logpipe.Handler{Pipeline: demoPipeline(t, nil), Reingest: &logpipe.FirehoseReingester{Client: fh, Attempts: 2, Backoff: func(int) time.Duration { return 0 }}, Logger: quiet()}).Transform(ctx, ev)
	if o := rep.Outcomes[0]; o.Result != logpipe.ResultProcessingFailed || !bytes.Contains([]byte(o.Reason), []byte("1202 of 1202 events could not be put back")) ||
		!bytes.Contains([]byte(o.Reason), []byte("ResourceNotFoundException")) {
		t.Errorf("missing stream: %+v", o)
	}
}
