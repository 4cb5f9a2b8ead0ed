package logpipe

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
)

// Firehose transformation results.
const (
	ResultOk               = events.KinesisFirehoseTransformedStateOk
	ResultDropped          = events.KinesisFirehoseTransformedStateDropped
	ResultProcessingFailed = events.KinesisFirehoseTransformedStateProcessingFailed
)

// DefaultMaxResponseBytes keeps the response under Lambda's 6 MB limit on a
// synchronous invocation's payload, with the margin AWS's own CloudWatch
// Logs processor blueprint keeps (6,000,000 bytes).
const DefaultMaxResponseBytes = 6_000_000

// MaxReingestRecord is Firehose's limit on one record (1,000 KiB); a put-back
// event larger than this (a huge, heavily escaped line) is gzipped.
const MaxReingestRecord = 1000 * 1024

// Reingester puts records back into the delivery stream that invoked the
// transform; they come through the transform again.
type Reingester interface {
	// Put puts records into the stream and returns the indexes of those it
	// could not put after its own retries (all of them with a non-nil error
	// when the call itself failed).
	Put(ctx context.Context, streamARN string, records [][]byte) (failed []int, err error)
}

// Handler is the Firehose data-transformation Lambda: each record is one
// CloudWatch Logs subscription payload, and each of its log events becomes
// one document.
//
// An OpenSearch destination indexes each record as one document, so by
// default the response carries one document per record and the record's
// other events are put back into the delivery stream as records of their
// own (Reingest). With NDJSON the response carries all of a record's
// documents, newline-delimited, for S3 or HTTP destinations.
//
// The response never exceeds MaxResponseBytes: events that do not fit are
// put back into the stream as well, and a record none of whose events fit
// is Dropped once they are all put back (what AWS's CloudWatch Logs
// processor blueprint does). A record that cannot be read, that no route
// matches, or whose events could not all be put back is ProcessingFailed:
// Firehose writes the original record to the S3 backup's processing-failed/
// prefix, so no event is lost. Control messages are Dropped. The reason for
// each failure is logged; one bad record never fails the batch.
type Handler struct {
	Pipeline *Pipeline
	// NDJSON returns every document of a record (logs.output: ndjson).
	NDJSON bool
	// Reingest puts events back into the stream; nil fails the records that need it.
	Reingest Reingester
	// MaxResponseBytes bounds the response; 0 is DefaultMaxResponseBytes.
	MaxResponseBytes int
	Logger           *slog.Logger

	pool sync.Pool
}

// Outcome is what happened to one record.
type Outcome struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	// Events is how many log events the record held, Kept how many are in
	// the response, Reingested how many were put back into the stream.
	Events     int `json:"events"`
	Kept       int `json:"kept"`
	Reingested int `json:"reingested"`
	// Reason says why the record is Dropped or ProcessingFailed.
	Reason string `json:"reason,omitempty"`
}

// Report is one invocation: the response Firehose gets and what happened
// to each record, in order.
type Report struct {
	Response events.KinesisFirehoseResponse
	Outcomes []Outcome
	// ResponseBytes is the response's size as Lambda encodes it (at most).
	ResponseBytes int
}

// Counts sums the outcomes by result.
func (r *Report) Counts() (ok, dropped, failed, reingested int) {
	for _, o := range r.Outcomes {
		switch o.Result {
		case ResultOk:
			ok++
		case ResultDropped:
			dropped++
		default:
			failed++
		}
		reingested += o.Reingested
	}
	return
}

// work is one invocation's reusable state.
type work struct {
	dec  Decoder
	tr   *Transformer
	pl   Payload
	out  []byte // every Ok record's data, back to back
	puts []byte // every put-back payload, back to back
	put  []putRef
	recs []recState
}

type recState struct {
	start, end int // data in out
	putFrom    int // first put-back in put
}

type putRef struct {
	rec        int
	start, end int
}

// Handle is the Lambda entry point (lambda.Start(h.Handle)).
func (h *Handler) Handle(ctx context.Context, ev events.KinesisFirehoseEvent) (events.KinesisFirehoseResponse, error) {
	rep := h.Transform(ctx, ev)
	return rep.Response, nil
}

// Transform runs the transform on one Firehose event and logs what failed.
func (h *Handler) Transform(ctx context.Context, ev events.KinesisFirehoseEvent) *Report {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	w, _ := h.pool.Get().(*work)
	if w == nil {
		w = &work{tr: h.Pipeline.NewTransformer()}
	}
	defer h.pool.Put(w)
	w.out, w.puts, w.put, w.recs = w.out[:0], w.puts[:0], w.put[:0], w.recs[:0]
	w.tr.EnrichErrors = 0

	limit := h.limit()
	// Every record must be in the response whatever happens to it, so the
	// smallest entry of each is set aside first; what is left pays for data.
	room := limit - len(`{"records":[]}`)
	for _, r := range ev.Records {
		room -= entryBytes(r.RecordID) + 1
	}

	rep := &Report{Outcomes: make([]Outcome, len(ev.Records))}
	for i, r := range ev.Records {
		o := &rep.Outcomes[i]
		o.RecordID = r.RecordID
		st := recState{start: len(w.out), putFrom: len(w.put)}
		h.record(w, i, r.Data, o, &room, limit-len(`{"records":[]}`)-entryBytes(r.RecordID))
		st.end = len(w.out)
		w.recs = append(w.recs, st)
	}
	if len(w.put) > 0 {
		h.putBack(ctx, ev, w, rep)
	}

	rep.Response.Records = make([]events.KinesisFirehoseResponseRecord, len(ev.Records))
	size := len(`{"records":[]}`) + len(ev.Records) - 1
	// One copy for all records' data: the buffer goes back to the pool.
	data := bytes.Clone(w.out)
	for i, o := range rep.Outcomes {
		rr := events.KinesisFirehoseResponseRecord{RecordID: o.RecordID, Result: o.Result}
		if o.Result == ResultOk {
			st := w.recs[i]
			rr.Data = data[st.start:st.end:st.end]
			size += base64.StdEncoding.EncodedLen(len(rr.Data)) + 2 - len("null")
		}
		size += entryBytes(o.RecordID) - (len(ResultProcessingFailed) - len(o.Result))
		rep.Response.Records[i] = rr
	}
	rep.ResponseBytes = size

	ok, dropped, failed, reingested := rep.Counts()
	for _, o := range rep.Outcomes {
		if o.Result == ResultProcessingFailed {
			log.Warn("log record failed; Firehose backs it up to S3 (processing-failed/)", "record", o.RecordID, "events", o.Events, "reason", o.Reason)
		}
	}
	if w.tr.EnrichErrors > 0 {
		log.Warn("enrichment lookups failed; documents written without them", "count", w.tr.EnrichErrors, "error", w.tr.LastEnrichError())
	}
	log.Info("firehose batch transformed", "records", len(ev.Records), "ok", ok, "dropped", dropped, "failed", failed,
		"reingested_events", reingested, "response_bytes", size)
	return rep
}

func (h *Handler) limit() int {
	if h.MaxResponseBytes <= 0 {
		return DefaultMaxResponseBytes
	}
	return h.MaxResponseBytes
}

// record transforms record i into w.out, noting put-backs in w.put.
// maxData is what the record's data could take in an otherwise empty response.
func (h *Handler) record(w *work, i int, data []byte, o *Outcome, room *int, maxData int) {
	fail := func(format string, args ...any) {
		o.Result, o.Reason = ResultProcessingFailed, fmt.Sprintf(format, args...)
	}
	pl := &w.pl
	if err := w.dec.Decode(data, pl); err != nil {
		fail("decode CloudWatch Logs payload: %v", err)
		return
	}
	o.Events = len(pl.Events)
	switch pl.MessageType {
	case DataMessage:
	case ControlMessage:
		o.Result, o.Reason = ResultDropped, "CloudWatch Logs control message"
		return
	default:
		fail("messageType %q is not %s", pl.MessageType, DataMessage)
		return
	}
	if len(pl.Events) == 0 {
		o.Result, o.Reason = ResultDropped, "no log events"
		return
	}
	route, err := w.tr.Route(pl.LogGroup, pl.LogStream)
	if err != nil {
		fail("%v", err)
		return
	}
	start := len(w.out)
	keep := 1
	if h.NDJSON {
		keep = len(pl.Events)
	}
	kept := 0
	for k := 0; k < keep; k++ {
		before := len(w.out)
		w.out, _ = w.tr.Append(w.out, pl, &pl.Events[k], route)
		if h.NDJSON {
			w.out = append(w.out, '\n')
		}
		// The data grows by this document; base64 makes it 4/3 as long.
		cost := base64.StdEncoding.EncodedLen(len(w.out)-start) - base64.StdEncoding.EncodedLen(before-start)
		if kept == 0 {
			cost += 2 - len("null") // "data":"..." instead of "data":null
		}
		if kept == 0 && cost > maxData {
			size := len(w.out) - before
			w.out = w.out[:start]
			fail("the document of event %d is %d bytes, more than a %d-byte response can carry", k, size, h.limit())
			return
		}
		if cost > *room {
			w.out = w.out[:before]
			break
		}
		*room -= cost
		kept++
	}
	o.Kept = kept
	for k := kept; k < len(pl.Events); k++ {
		from := len(w.puts)
		w.puts = AppendPayload(w.puts, pl, &pl.Events[k])
		if len(w.puts)-from > MaxReingestRecord {
			w.puts = append(w.puts[:from], gzipped(w.puts[from:])...)
		}
		w.put = append(w.put, putRef{rec: i, start: from, end: len(w.puts)})
	}
	switch {
	case kept > 0:
		o.Result = ResultOk
	default:
		o.Result, o.Reason = ResultDropped, "response full: every event put back into the stream"
	}
}

// putBack puts the noted events into the stream. A record any of whose
// events could not be put becomes ProcessingFailed: its original goes to
// the S3 backup whole.
func (h *Handler) putBack(ctx context.Context, ev events.KinesisFirehoseEvent, w *work, rep *Report) {
	failRecs := func(recs map[int]int, reason string) {
		for rec, n := range recs {
			o := &rep.Outcomes[rec]
			o.Reason = fmt.Sprintf("%d of %d events could not be put back into the stream: %s", n, o.Events-o.Kept, reason)
			o.Result, o.Kept = ResultProcessingFailed, 0
		}
	}
	all := map[int]int{}
	for _, p := range w.put {
		all[p.rec]++
	}
	switch {
	case h.Reingest == nil:
		failRecs(all, "no re-ingestion client")
		return
	case ev.SourceKinesisStreamArn != "":
		failRecs(all, "re-ingestion needs a Direct PUT delivery stream (this one reads a Kinesis stream)")
		return
	}
	records := make([][]byte, len(w.put))
	for k, p := range w.put {
		records[k] = w.puts[p.start:p.end]
	}
	failed, err := h.Reingest.Put(ctx, ev.DeliveryStreamArn, records)
	lost := map[int]int{}
	for _, k := range failed {
		lost[w.put[k].rec]++
	}
	reason := "rejected by Firehose"
	if err != nil {
		reason = err.Error()
	}
	for rec := range all {
		if lost[rec] == 0 {
			rep.Outcomes[rec].Reingested = all[rec]
		}
	}
	failRecs(lost, reason)
}

// entryBytes is the size of a record's response entry as encoding/json
// writes it with the longest result and no data.
func entryBytes(recordID string) int {
	n := entryOverhead + len(recordID) + len(ResultProcessingFailed)
	for i := 0; i < len(recordID); i++ {
		switch c := recordID[i]; {
		case c == '<' || c == '>' || c == '&':
			n += 5 // \u003c
		case c == '"' || c == '\\':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// entryOverhead is an empty entry's encoding: metadata included, as
// aws-lambda-go's types always write it.
var entryOverhead = func() int {
	b, err := json.Marshal(events.KinesisFirehoseResponseRecord{})
	if err != nil {
		panic(err)
	}
	return len(b)
}()

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// StreamName is the delivery stream name in a Firehose ARN.
func StreamName(arn string) (string, error) {
	_, name, ok := strings.Cut(arn, ":deliverystream/")
	if !ok || name == "" {
		return "", errors.New("not a delivery stream ARN: " + arn)
	}
	return name, nil
}
