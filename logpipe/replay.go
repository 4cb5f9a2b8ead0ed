package logpipe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
)

// Replayer runs the transform over CloudWatch Logs payloads (NDJSON files,
// or the demo feed) and bulk-indexes the documents into OpenSearch, each
// into the index its route names. Events with an ID are indexed under it,
// so replaying the same file twice overwrites instead of duplicating.
type Replayer struct {
	Pipeline *Pipeline
	Client   *opensearchgo.Client
	// LogGroup and LogStream are where NDJSON lines that are bare log
	// events (not payloads) come from.
	LogGroup, LogStream string
	// BatchDocs and BatchBytes bound one _bulk request; defaults 2000 and 5 MB.
	BatchDocs, BatchBytes int
	// Progress is called after each _bulk request with the running totals.
	Progress func(ReplayResult)
	// Now stamps bare lines that carry no @timestamp; time.Now when nil.
	Now func() time.Time
}

// ReplayResult counts a replay. Every event is either indexed or failed:
// Events == Indexed + Failed.
type ReplayResult struct {
	// Lines is the NDJSON lines read (payloads for Payloads).
	Lines int `json:"lines"`
	// Events is the log events transformed.
	Events  int `json:"events"`
	Indexed int `json:"indexed"`
	Failed  int `json:"failed"`
	// Skipped is control messages and payloads without events.
	Skipped int `json:"skipped"`
	// Errors holds the first reasons for failed lines or documents.
	Errors []string `json:"errors,omitempty"`
}

const maxReplayErrors = 10

func (res *ReplayResult) fail(n int, format string, args ...any) {
	res.Failed += n
	if len(res.Errors) < maxReplayErrors {
		res.Errors = append(res.Errors, fmt.Sprintf(format, args...))
	}
}

// replay is one run's state.
type replay struct {
	r    *Replayer
	tr   *Transformer
	res  ReplayResult
	body []byte
	docs []pending
}

// pending is a document in the unsent batch: its action and source in body.
type pending struct {
	start, end int
	what       string // for error messages
}

// NDJSON replays a file: each line is a CloudWatch Logs payload (the JSON a
// Firehose record holds, decompressed: messageType, logGroup, logStream,
// logEvents) or a bare log event of LogGroup/LogStream (a JSON object or
// any text). Lines that fail (bad JSON payloads, no route) are counted and
// the replay goes on; the error is for I/O and OpenSearch failures.
func (r *Replayer) NDJSON(ctx context.Context, in io.Reader) (ReplayResult, error) {
	rp := r.start()
	var dec Decoder
	var pl Payload
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		rp.res.Lines++
		line := trimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		where := "line " + strconv.Itoa(rp.res.Lines)
		if line[0] == '{' && dec.Decode(line, &pl) == nil && (pl.MessageType != "" || len(pl.Events) > 0) {
			if err := rp.payload(ctx, &pl, where); err != nil {
				return rp.res, err
			}
			continue
		}
		if r.LogGroup == "" {
			rp.res.Events++
			rp.res.fail(1, "%s: a bare log event needs a log group (--log-group)", where)
			continue
		}
		msg := append([]byte(nil), line...)
		bare := Payload{MessageType: DataMessage, LogGroup: r.LogGroup, LogStream: r.LogStream,
			Events: []Event{{ID: bareID(r.LogGroup, r.LogStream, rp.res.Lines, line), Timestamp: r.stamp(line), Message: msg}}}
		if err := rp.payload(ctx, &bare, where); err != nil {
			return rp.res, err
		}
	}
	if err := sc.Err(); err != nil {
		return rp.res, fmt.Errorf("read NDJSON line %d: %w", rp.res.Lines+1, err)
	}
	return rp.res, rp.flush(ctx)
}

// Payloads replays decoded payloads (the demo feed).
func (r *Replayer) Payloads(ctx context.Context, payloads iter.Seq[*Payload]) (ReplayResult, error) {
	rp := r.start()
	for pl := range payloads {
		rp.res.Lines++
		if err := rp.payload(ctx, pl, "payload "+strconv.Itoa(rp.res.Lines)); err != nil {
			return rp.res, err
		}
	}
	return rp.res, rp.flush(ctx)
}

func (r *Replayer) start() *replay {
	return &replay{r: r, tr: r.Pipeline.NewTransformer()}
}

func (rp *replay) payload(ctx context.Context, pl *Payload, where string) error {
	switch {
	case pl.MessageType == ControlMessage || len(pl.Events) == 0:
		rp.res.Skipped++
		return nil
	case pl.MessageType != DataMessage:
		rp.res.Events += len(pl.Events)
		rp.res.fail(len(pl.Events), "%s: messageType %q is not %s", where, pl.MessageType, DataMessage)
		return nil
	}
	route, err := rp.tr.Route(pl.LogGroup, pl.LogStream)
	if err != nil {
		rp.res.Events += len(pl.Events)
		rp.res.fail(len(pl.Events), "%s: %v", where, err)
		return nil
	}
	for k := range pl.Events {
		ev := &pl.Events[k]
		rp.res.Events++
		start := len(rp.body)
		rp.body = append(rp.body, `{"index":{"_index":`...)
		rp.body = appendString(rp.body, rp.tr.Index(route.Family, ev.Timestamp))
		if ev.ID != "" {
			rp.body = append(rp.body, `,"_id":`...)
			rp.body = appendString(rp.body, ev.ID)
		}
		rp.body = append(rp.body, "}}\n"...)
		rp.body, _ = rp.tr.Append(rp.body, pl, ev, route)
		rp.body = append(rp.body, '\n')
		rp.docs = append(rp.docs, pending{start: start, end: len(rp.body), what: where})
		if len(rp.docs) >= rp.r.batchDocs() || len(rp.body) >= rp.r.batchBytes() {
			if err := rp.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Replayer) batchDocs() int {
	if r.BatchDocs > 0 {
		return r.BatchDocs
	}
	return 2000
}

func (r *Replayer) batchBytes() int {
	if r.BatchBytes > 0 {
		return r.BatchBytes
	}
	return 5 << 20
}

// flush sends the batch; documents OpenSearch rejects with 429 are sent
// again (up to 3 times), others are counted as failed.
func (rp *replay) flush(ctx context.Context) error {
	for attempt := 0; len(rp.docs) > 0; attempt++ {
		statuses, reasons, err := bulk(ctx, rp.r.Client, rp.body)
		if err != nil {
			return err
		}
		if len(statuses) != len(rp.docs) {
			return fmt.Errorf("bulk: %d items answered for %d documents", len(statuses), len(rp.docs))
		}
		var retry []pending
		var body []byte
		for k, st := range statuses {
			d := rp.docs[k]
			switch {
			case st < 300:
				rp.res.Indexed++
			case st == http.StatusTooManyRequests && attempt < 3:
				retry = append(retry, pending{start: len(body), what: d.what})
				body = append(body, rp.body[d.start:d.end]...)
				retry[len(retry)-1].end = len(body)
			default:
				rp.res.fail(1, "%s: OpenSearch refused the document: %d %s", d.what, st, reasons[k])
			}
		}
		rp.body, rp.docs = append(rp.body[:0], body...), retry
		if len(retry) > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			}
		}
	}
	rp.body, rp.docs = rp.body[:0], rp.docs[:0]
	if rp.r.Progress != nil {
		rp.r.Progress(rp.res)
	}
	return nil
}

// bulk sends one _bulk body and returns each item's status and error.
func bulk(ctx context.Context, c *opensearchgo.Client, body []byte) ([]int, []string, error) {
	if c == nil {
		return nil, nil, errors.New("bulk: no OpenSearch client")
	}
	res, err := c.Bulk(bytes.NewReader(body), c.Bulk.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("bulk: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk: read response: %w", err)
	}
	if res.IsError() {
		return nil, nil, fmt.Errorf("bulk: %s: %.500s", res.Status(), raw)
	}
	var out struct {
		Items []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, fmt.Errorf("bulk: decode response: %w", err)
	}
	statuses, reasons := make([]int, len(out.Items)), make([]string, len(out.Items))
	for k, item := range out.Items {
		for _, r := range item {
			statuses[k], reasons[k] = r.Status, string(r.Error)
		}
	}
	return statuses, reasons, nil
}

// stamp is a bare line's time: its @timestamp when it is a JSON object with
// an RFC 3339 one, else now.
func (r *Replayer) stamp(line []byte) int64 {
	if line[0] == '{' {
		var v struct {
			Timestamp string `json:"@timestamp"`
		}
		if json.Unmarshal(line, &v) == nil {
			if t, err := time.Parse(time.RFC3339Nano, v.Timestamp); err == nil {
				return t.UnixMilli()
			}
		}
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return now().UnixMilli()
}

// bareID names a bare line's document by where it came from and what it
// says, so a second replay of the file overwrites it.
func bareID(group, stream string, line int, text []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", group, stream, line)
	h.Write(text)
	return "replay-" + hex.EncodeToString(h.Sum(nil)[:12])
}
