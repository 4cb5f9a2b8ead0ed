package logpipe_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/logpipe"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// demoEnricher opens the demo GeoIP database and threat list `starter dev`
// uses: the scenario attackers 203.0.113.181-250 are listed scanners, and
// evil.example a phishing domain.
func demoEnricher(tb testing.TB) *enrich.Enricher {
	tb.Helper()
	dir := tb.TempDir()
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
		tb.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(list); err != nil {
		tb.Fatal(err)
	}
	e, err := enrich.New(config.Enrich{GeoIPDB: db, ThreatIntel: []string{list}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// demoPipeline is the transform with the demo routes and enrichment.
func demoPipeline(tb testing.TB, e *enrich.Enricher) *logpipe.Pipeline {
	tb.Helper()
	p, err := logpipe.New(config.Logs{Routes: demologs.LogRoutes()}, e)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// cwlPayload is a CloudWatch Logs subscription message as AWS documents it.
type cwlPayload struct {
	MessageType         string     `json:"messageType"`
	Owner               string     `json:"owner"`
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	LogEvents           []cwlEvent `json:"logEvents"`
}

type cwlEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

func dataMessage(group, stream string, evs ...cwlEvent) cwlPayload {
	return cwlPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: group, LogStream: stream,
		SubscriptionFilters: []string{"irflow-logs"}, LogEvents: evs}
}

// gzipJSON is what CloudWatch Logs puts into a Firehose record.
func gzipJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	return b.Bytes()
}

const testStreamARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/irflow-logs"

// firehoseEvent is the event Firehose invokes the transform with: the JSON
// (record data base64-encoded) decoded by aws-lambda-go's types, as the
// Lambda runtime decodes it.
func firehoseEvent(tb testing.TB, data ...[]byte) events.KinesisFirehoseEvent {
	tb.Helper()
	in := events.KinesisFirehoseEvent{InvocationID: "inv-1", DeliveryStreamArn: testStreamARN, Region: "us-east-1"}
	for i, d := range data {
		in.Records = append(in.Records, events.KinesisFirehoseEventRecord{RecordID: recordID(i), ApproximateArrivalTimestamp: events.MilliSecondsEpochTime{}, Data: d})
	}
	wire, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Contains(wire, []byte(`"data":"`)) && len(data) > 0 {
		tb.Fatalf("record data is not base64 in the event JSON: %.200s", wire)
	}
	var out events.KinesisFirehoseEvent
	if err := json.Unmarshal(wire, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func recordID(i int) string {
	return "49546986683135544286507457936321625675700192471156785154-" + string(rune('a'+i%26)) + strings.Repeat("0", i/26)
}

// reference computes a document the slow, obvious way: encoding/json for
// the line, the incident workflow's Enrich activity for the lookups.
func reference(tb testing.TB, e *enrich.Enricher, pl *logpipe.Payload, ev *logpipe.Event, r logpipe.Route, index string) any {
	tb.Helper()
	var doc map[string]any
	var found enrich.Found
	trimmed := bytes.TrimSpace(ev.Message)
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	isObject := len(trimmed) > 0 && trimmed[0] == '{' && dec.Decode(&doc) == nil && doc != nil
	if isObject {
		if _, err := dec.Token(); err != io.EOF {
			isObject = false // data after the object
		}
	}
	if isObject {
		if e != nil {
			res, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: incident.Alert{Fields: doc}})
			if err != nil {
				tb.Fatal(err)
			}
			found.Geo, found.ThreatIntel = res.Enrichment.Geo, res.Enrichment.ThreatIntel
		}
	} else {
		doc = map[string]any{"message": strings.TrimRight(string(ev.Message), "\r\n")}
	}
	logpipe.SetFields(doc, pl, ev, r, index, &found)
	raw, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return decodeAny(tb, raw)
}

func decodeAny(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, b)
	}
	if dec.More() {
		tb.Fatalf("more than one JSON value: %s", b)
	}
	return v
}

func sameJSON(a, b any) bool { return reflect.DeepEqual(a, b) }
