package logpipe_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/logpipe"
)

// putRecorder is the stream events are put back into; fail picks records
// it refuses.
type putRecorder struct {
	mu      sync.Mutex
	arns    []string
	records [][]byte
	fail    func(rec []byte) bool
}

func (p *putRecorder) Put(_ context.Context, arn string, records [][]byte) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var failed []int
	for i, r := range records {
		if p.fail != nil && p.fail(r) {
			failed = append(failed, i)
			continue
		}
		p.arns = append(p.arns, arn)
		p.records = append(p.records, bytes.Clone(r))
	}
	if len(failed) > 0 {
		return failed, errors.New("ServiceUnavailableException: Slow down")
	}
	return nil, nil
}

// take empties the recorder, as Firehose takes the put records into its
// next batch.
func (p *putRecorder) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.records
	p.records = nil
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// invoke runs the transform on an event decoded from JSON, as the Lambda
// runtime hands it over, and returns the response as Firehose reads it
// (encoded to JSON and back), with its encoded size.
func invoke(t *testing.T, h *logpipe.Handler, ev events.KinesisFirehoseEvent) (events.KinesisFirehoseResponse, int, *logpipe.Report) {
	t.Helper()
	rep := h.Transform(context.Background(), ev)
	wire, err := json.Marshal(rep.Response)
	if err != nil {
		t.Fatal(err)
	}
	if len(wire) != rep.ResponseBytes {
		t.Errorf("response is %d bytes, the handler counted %d", len(wire), rep.ResponseBytes)
	}
	var back events.KinesisFirehoseResponse
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Records) != len(ev.Records) {
		t.Fatalf("%d response records for %d input records", len(back.Records), len(ev.Records))
	}
	for i, r := range back.Records {
		if r.RecordID != ev.Records[i].RecordID {
			t.Fatalf("response record %d has id %q, want %q (Firehose matches them by id)", i, r.RecordID, ev.Records[i].RecordID)
		}
		if r.Result != logpipe.ResultOk && r.Data != nil {
			t.Errorf("record %d is %s but carries data", i, r.Result)
		}
	}
	return back, len(wire), rep
}

var appLine = `{"@timestamp":"2026-11-18T11:06:40.123Z","kubernetes":{"namespace_name":"auth","pod_name":"auth-api-1-x"},"status":401,"request":{"method":"POST","path":"/api/login"},"client_ip":"203.0.113.200","message":"POST /api/login 401"}`

func threeEvents() cwlPayload {
	return dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x",
		cwlEvent{ID: "1", Timestamp: 1795000000123, Message: appLine},
		cwlEvent{ID: "2", Timestamp: 1795000000200, Message: "panic: runtime error: invalid memory address\n"},
		cwlEvent{ID: "3", Timestamp: 1795000000300, Message: `{"client_ip":"192.0.2.7","status":200}`})
}

// A data message with three events: the response carries the first one's
// document (an OpenSearch destination indexes one document per record) and
// the other two come back through the stream as records of their own.
// Together they are exactly the documents the NDJSON output gives at once.
func TestFirehoseDataMessage(t *testing.T) {
	p := demoPipeline(t, demoEnricher(t))
	stream := &putRecorder{}
	h := &logpipe.Handler{Pipeline: p, Reingest: stream, Logger: quiet()}
	ev := firehoseEvent(t, gzipJSON(t, threeEvents()))

	resp, _, rep := invoke(t, h, ev)
	if resp.Records[0].Result != logpipe.ResultOk || rep.Outcomes[0].Kept != 1 || rep.Outcomes[0].Reingested != 2 {
		t.Fatalf("outcome = %+v", rep.Outcomes[0])
	}
	docs := [][]byte{resp.Records[0].Data}
	putBack := stream.take()
	if len(putBack) != 2 || stream.arns[0] != testStreamARN || stream.arns[1] != testStreamARN {
		t.Fatalf("put back %d records to %v, want 2 into %s", len(putBack), stream.arns, testStreamARN)
	}
	resp2, _, _ := invoke(t, h, firehoseEvent(t, putBack...))
	for _, r := range resp2.Records {
		if r.Result != logpipe.ResultOk {
			t.Fatalf("put-back record: %s", r.Result)
		}
		docs = append(docs, r.Data)
	}
	if again := stream.take(); len(again) != 0 {
		t.Fatalf("single-event records were put back again: %d", len(again))
	}

	nd := &logpipe.Handler{Pipeline: p, NDJSON: true, Logger: quiet()}
	resp3, _, _ := invoke(t, nd, ev)
	lines := bytes.SplitAfter(resp3.Records[0].Data, []byte("\n"))
	lines = lines[:len(lines)-1]
	if len(lines) != 3 {
		t.Fatalf("ndjson data has %d lines, want 3:\n%s", len(lines), resp3.Records[0].Data)
	}
	for i := range lines {
		if got, want := string(docs[i]), strings.TrimSuffix(string(lines[i]), "\n"); got != want {
			t.Errorf("event %d:\n fan-out %s\n  ndjson %s", i, got, want)
		}
	}
	var first map[string]any
	if err := json.Unmarshal(docs[0], &first); err != nil || first["irflow_index"] != "uc-be-2026.11.18" || first["threat_intel"] == nil {
		t.Errorf("first document = %s (%v)", docs[0], err)
	}
	var second map[string]any
	if err := json.Unmarshal(docs[1], &second); err != nil || second["message"] != "panic: runtime error: invalid memory address" {
		t.Errorf("text event document = %s (%v)", docs[1], err)
	}
}

// CloudWatch Logs checks a destination with control messages; they carry
// no logs and are dropped.
func TestFirehoseControlMessage(t *testing.T) {
	stream := &putRecorder{}
	h := &logpipe.Handler{Pipeline: demoPipeline(t, nil), Reingest: stream, Logger: quiet()}
	control := cwlPayload{MessageType: "CONTROL_MESSAGE", Owner: "CloudwatchLogs", LogGroup: "", LogStream: "",
		LogEvents: []cwlEvent{{ID: "", Timestamp: 1795000000000, Message: "CWL CONTROL MESSAGE: Checking health of destination Firehose."}}}
	resp, _, rep := invoke(t, h, firehoseEvent(t, gzipJSON(t, control)))
	if resp.Records[0].Result != logpipe.ResultDropped || rep.Outcomes[0].Reason != "CloudWatch Logs control message" {
		t.Errorf("control message: %+v", rep.Outcomes[0])
	}
	if n := len(stream.take()); n != 0 {
		t.Errorf("control message put %d records back", n)
	}
}

// Corrupt records fail alone, each with its reason; the records around
// them are transformed and Handle never fails the batch.
func TestFirehoseCorruptRecords(t *testing.T) {
	h := &logpipe.Handler{Pipeline: demoPipeline(t, nil), NDJSON: true, Logger: quiet()}
	good := gzipJSON(t, threeEvents())
	truncated := good[:len(good)/2]
	ev := firehoseEvent(t,
		good,
		[]byte("this is not gzip"),
		truncated,
		gzipText(t, "plain text, gzipped"),
		gzipJSON(t, cwlPayload{MessageType: "DATA_MESSAGE_V2", LogGroup: demologs.DemoAppLogGroup, LogStream: "x-api-1", LogEvents: []cwlEvent{{Message: "m"}}}),
		gzipJSON(t, dataMessage("/aws/lambda/unrouted", "2026/11/18/[$LATEST]abc", cwlEvent{ID: "9", Timestamp: 1, Message: "hello"})),
		gzipJSON(t, dataMessage(demologs.DemoAppLogGroup, "x-api-1")),
		good,
	)
	resp, _, rep := invoke(t, h, ev)
	want := []struct{ result, reason string }{
		{logpipe.ResultOk, ""},
		{logpipe.ResultProcessingFailed, "decode CloudWatch Logs payload: not a CloudWatch Logs payload: want gzip or a JSON object"},
		{logpipe.ResultProcessingFailed, "decode CloudWatch Logs payload: gunzip: unexpected EOF"},
		{logpipe.ResultProcessingFailed, "decode CloudWatch Logs payload: not a CloudWatch Logs payload"},
		{logpipe.ResultProcessingFailed, `messageType "DATA_MESSAGE_V2" is not DATA_MESSAGE`},
		{logpipe.ResultProcessingFailed, `log group "/aws/lambda/unrouted", stream "2026/11/18/[$LATEST]abc": no logs.routes entry matches`},
		{logpipe.ResultDropped, "no log events"},
		{logpipe.ResultOk, ""},
	}
	for i, w := range want {
		o := rep.Outcomes[i]
		if resp.Records[i].Result != w.result || !strings.HasPrefix(o.Reason, w.reason) {
			t.Errorf("record %d: %s %q, want %s %q", i, resp.Records[i].Result, o.Reason, w.result, w.reason)
		}
	}
	if !bytes.Equal(resp.Records[0].Data, resp.Records[7].Data) || bytes.Count(resp.Records[0].Data, []byte("\n")) != 3 {
		t.Errorf("the good records around the bad ones: %q / %q", resp.Records[0].Data, resp.Records[7].Data)
	}
}

func gzipText(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// bigEvent is a JSON log line of about size bytes.
func bigEvent(id, size int) cwlEvent {
	return cwlEvent{ID: fmt.Sprint(id), Timestamp: 1795000000000 + int64(id),
		Message: fmt.Sprintf(`{"client_ip":"192.0.2.%d","seq":%d,"body":%q}`, 1+id%180, id, strings.Repeat("x", size))}
}

// collect maps each event ID found in Ok data and in put-back records to
// how often it was found.
func collect(t *testing.T, resp events.KinesisFirehoseResponse, putBack [][]byte) (inResponse, putBackIDs map[string]int) {
	t.Helper()
	inResponse, putBackIDs = map[string]int{}, map[string]int{}
	for _, r := range resp.Records {
		if r.Result != logpipe.ResultOk {
			continue
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(r.Data, []byte("\n")), []byte("\n")) {
			var doc struct {
				AWS struct {
					CloudWatch struct {
						EventID string `json:"event_id"`
					} `json:"cloudwatch"`
				} `json:"aws"`
			}
			if err := json.Unmarshal(line, &doc); err != nil {
				t.Fatalf("response document: %v", err)
			}
			inResponse[doc.AWS.CloudWatch.EventID]++
		}
	}
	var d logpipe.Decoder
	var pl logpipe.Payload
	for _, rec := range putBack {
		if err := d.Decode(rec, &pl); err != nil {
			t.Fatalf("put-back record: %v", err)
		}
		for _, e := range pl.Events {
			putBackIDs[e.ID]++
		}
	}
	return inResponse, putBackIDs
}

// A batch whose documents outgrow Lambda's 6 MB response: the response
// stays under the limit, and every event is either in it or put back into
// the stream, exactly once.
func TestFirehoseBatchOverflowsResponse(t *testing.T) {
	p := demoPipeline(t, demoEnricher(t))
	for _, tc := range []struct {
		name   string
		ndjson bool
		data   func() [][]byte
		events int
	}{
		{"one event a record", false, func() [][]byte {
			var recs [][]byte
			for i := range 40 {
				recs = append(recs, gzipJSON(t, dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", bigEvent(i, 200_000))))
			}
			return recs
		}, 40},
		{"ndjson, many events a record", true, func() [][]byte {
			var evs []cwlEvent
			for i := range 40 {
				evs = append(evs, bigEvent(i, 200_000))
			}
			small := dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", bigEvent(40, 100), bigEvent(41, 100))
			return [][]byte{gzipJSON(t, dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", evs...)), gzipJSON(t, small)}
		}, 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := &putRecorder{}
			h := &logpipe.Handler{Pipeline: p, NDJSON: tc.ndjson, Reingest: stream, Logger: quiet()}
			ev := firehoseEvent(t, tc.data()...)
			rep := h.Transform(context.Background(), ev)
			resp := rep.Response
			wire, _ := json.Marshal(resp)
			if len(wire) > logpipe.DefaultMaxResponseBytes || len(wire) != rep.ResponseBytes {
				t.Fatalf("response is %d bytes (counted %d), limit %d", len(wire), rep.ResponseBytes, logpipe.DefaultMaxResponseBytes)
			}
			inResp, putBack := collect(t, resp, stream.take())
			if len(putBack) == 0 || len(inResp) == 0 {
				t.Fatalf("%d events in the response, %d put back: the batch did not overflow, or nothing fit", len(inResp), len(putBack))
			}
			for i := range tc.events {
				id := fmt.Sprint(i)
				if inResp[id]+putBack[id] != 1 {
					t.Errorf("event %s: %d times in the response, %d put back; want exactly one of them", id, inResp[id], putBack[id])
				}
			}
			if len(inResp)+len(putBack) != tc.events {
				t.Errorf("%d in the response + %d put back, want %d", len(inResp), len(putBack), tc.events)
			}
			ok, dropped, failed, reingested := rep.Counts()
			if failed != 0 || reingested != len(putBack) {
				t.Errorf("ok %d dropped %d failed %d reingested %d", ok, dropped, failed, reingested)
			}
			t.Logf("%d bytes: %d events in the response, %d put back; %d Ok, %d Dropped", len(wire), len(inResp), len(putBack), ok, dropped)
		})
	}
}

// Events that cannot be put back fail their record, so Firehose backs the
// whole original record up to S3; the other records are unaffected.
func TestFirehosePutBackFailures(t *testing.T) {
	p := demoPipeline(t, nil)
	second := dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", bigEvent(10, 10), bigEvent(11, 10), bigEvent(12, 10))
	data := [][]byte{gzipJSON(t, threeEvents()), gzipJSON(t, second)}

	stream := &putRecorder{fail: func(rec []byte) bool { return bytes.Contains(rec, []byte(`"id":"12"`)) }}
	h := &logpipe.Handler{Pipeline: p, Reingest: stream, Logger: quiet()}
	resp, _, rep := invoke(t, h, firehoseEvent(t, data...))
	if resp.Records[0].Result != logpipe.ResultOk || rep.Outcomes[0].Reingested != 2 {
		t.Errorf("record 0: %+v", rep.Outcomes[0])
	}
	if o := rep.Outcomes[1]; resp.Records[1].Result != logpipe.ResultProcessingFailed ||
		o.Reason != "1 of 2 events could not be put back into the stream: ServiceUnavailableException: Slow down" {
		t.Errorf("record 1: %s %+v", resp.Records[1].Result, o)
	}

	for name, h := range map[string]*logpipe.Handler{
		"no client": {Pipeline: p, Logger: quiet()},
	} {
		_, _, rep := invoke(t, h, firehoseEvent(t, data...))
		for _, o := range rep.Outcomes {
			if o.Result != logpipe.ResultProcessingFailed || !strings.HasSuffix(o.Reason, "no re-ingestion client") {
				t.Errorf("%s: %+v", name, o)
			}
		}
	}
	kinesis := firehoseEvent(t, data...)
	kinesis.SourceKinesisStreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/logs"
	_, _, rep = invoke(t, &logpipe.Handler{Pipeline: p, Reingest: &putRecorder{}, Logger: quiet()}, kinesis)
	if o := rep.Outcomes[0]; o.Result != logpipe.ResultProcessingFailed || !strings.Contains(o.Reason, "needs a Direct PUT delivery stream") {
		t.Errorf("kinesis source: %+v", o)
	}
}

// Handle is what Lambda calls: its response, as the runtime encodes it,
// carries the document base64-encoded.
func TestHandleResponseDataIsBase64OfTheDocument(t *testing.T) {
	h := &logpipe.Handler{Pipeline: demoPipeline(t, nil), Reingest: &putRecorder{}, Logger: quiet()}
	ev := firehoseEvent(t, gzipJSON(t, threeEvents()))
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := json.Marshal(resp)
	var raw struct {
		Records []struct{ Data string } `json:"records"`
	}
	json.Unmarshal(wire, &raw)
	doc, err := base64.StdEncoding.DecodeString(raw.Records[0].Data)
	if err != nil || !json.Valid(doc) || !bytes.Contains(doc, []byte(`"irflow_index":"uc-be-2026.11.18"`)) {
		t.Errorf("data = %q (%v)", raw.Records[0].Data, err)
	}
}
