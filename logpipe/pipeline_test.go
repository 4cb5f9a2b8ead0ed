package logpipe_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/logpipe"
)

// One WAF log line from a listed scanner, as a user would look for it.
func TestDocumentOfAWAFLineFromAScanner(t *testing.T) {
	p := demoPipeline(t, demoEnricher(t))
	tr := p.NewTransformer()
	pl := &logpipe.Payload{MessageType: logpipe.DataMessage, Owner: "123456789012", LogGroup: demologs.DemoWAFLogGroup, LogStream: demologs.DemoWAFLogStream}
	line := `{"timestamp":1795000000123,"action":"BLOCK","terminatingRuleId":"AWS-AWSManagedRulesSQLiRuleSet","httpRequest":{"clientIp":"203.0.113.200","country":"NL","uri":"/login","headers":[{"name":"Host","value":"shop.example.com"}]}}` + "\n"
	ev := &logpipe.Event{ID: "37", Timestamp: 1795000000123, Message: []byte(line)}
	r, err := tr.Route(pl.LogGroup, pl.LogStream)
	if err != nil {
		t.Fatal(err)
	}
	out, index := tr.Append(nil, pl, ev, r)
	if index != "waf-logs-2026.11.18" {
		t.Errorf("index = %s, want waf-logs-2026.11.18 (the event's UTC day)", index)
	}
	var doc struct {
		Timestamp string `json:"@timestamp"`
		Action    string `json:"action"`
		AWS       struct {
			CloudWatch map[string]string `json:"cloudwatch"`
		} `json:"aws"`
		Service     map[string]string `json:"service"`
		GeoIP       []map[string]any  `json:"geoip"`
		ThreatIntel []struct {
			Indicator, Field, Match, Source string
			Tags                            []string
		} `json:"threat_intel"`
		Index string `json:"irflow_index"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Timestamp != "2026-11-18T11:06:40.123Z" || doc.Action != "BLOCK" || doc.Index != index {
		t.Errorf("@timestamp %q, action %q, irflow_index %q", doc.Timestamp, doc.Action, doc.Index)
	}
	if want := map[string]string{"log_group": demologs.DemoWAFLogGroup, "log_stream": demologs.DemoWAFLogStream, "owner": "123456789012", "event_id": "37"}; !mapsEqual(doc.AWS.CloudWatch, want) {
		t.Errorf("aws.cloudwatch = %v, want %v", doc.AWS.CloudWatch, want)
	}
	if doc.Service["environment"] != "demo" || doc.Service["name"] != "waf" {
		t.Errorf("service = %v, want demo/waf from the route", doc.Service)
	}
	if len(doc.GeoIP) != 1 || doc.GeoIP[0]["country_iso"] != "NL" || doc.GeoIP[0]["field"] != "httpRequest.clientIp" {
		t.Errorf("geoip = %v", doc.GeoIP)
	}
	if len(doc.ThreatIntel) != 1 || doc.ThreatIntel[0].Indicator != "203.0.113.200" || doc.ThreatIntel[0].Match != "203.0.113.192/27" ||
		!slices.Equal(doc.ThreatIntel[0].Tags, []string{"scanner", "sqli", "bruteforce"}) {
		t.Errorf("threat_intel = %+v", doc.ThreatIntel)
	}

	// A line that is not JSON is kept as message, without its line end.
	text := &logpipe.Event{ID: "38", Timestamp: 1795000000500, Message: []byte("START RequestId: 8f1c \"quoted\" é\n")}
	out, _ = tr.Append(nil, pl, text, r)
	var txt map[string]any
	if err := json.Unmarshal(out, &txt); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if txt["message"] != `START RequestId: 8f1c "quoted" é` || txt["@timestamp"] != "2026-11-18T11:06:40.500Z" || txt["geoip"] != nil {
		t.Errorf("text line document = %v", txt)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// edgeLines are log lines at the edges of what the fast path takes.
var edgeLines = []string{
	`{"client":{"ip":"203.0.113.200"},"client.ip":"192.0.2.7"}`,       // the flat key wins over the path
	`{"client.ip":5,"client":{"ip":"203.0.113.200"}}`,                 // ... even when it holds no string
	`{"client.ip":null,"client":{"ip":"203.0.113.200"}}`,              // ... or null
	`{"ip":["203.0.113.190", 7, "203.0.113.190", " 192.0.2.8 ", ""]}`, // arrays, repeats, spaces
	`{"source":{"ip":"::ffff:203.0.113.200"}}`,                        // IPv4-mapped
	`{"source":[{"ip":"203.0.113.200"}]}`,                             // a path does not go through arrays
	`{"httpRequest":{"clientIp":"203.0.113.201","host":"login.evil.example"}}`,
	`{"url":{"domain":"https://a.evil.example:8443/x"},"domain":"Evil.Example."}`,
	`{"dns":{"question":{"name":"b.evil.example"}},"host":["x.example","c.evil.example"]}`,
	`{"a":1,"a":2,"client_ip":"203.0.113.200"}`,              // a repeated key: encoding/json keeps the last
	`{"x":{"k":1,"k":{"z":2}},"client_ip":"203.0.113.200"}`,  // ... at any depth
	`{"\u0063lient_ip":"203.0.113.200"}`,                     // an escaped key
	`{"aws":{"region":"us-east-1"},"client_ip":"192.0.2.7"}`, // merged into the log's aws object
	`{"aws":"x"}`, // replaced: not an object
	`{"service":{"name":"mine","version":"1"}}`,                   // name overwritten, version kept
	`{"geoip":"mine","client_ip":"192.0.2.7"}`,                    // replaced by a lookup
	`{"geoip":"mine","threat_intel":[1]}`,                         // kept: nothing found
	`{"irflow_index":".kibana"}`,                                  // never the log's own
	`{"@timestamp":"2020-01-01T00:00:00Z","message":"kept time"}`, // kept
	`{}`, `{ }`, "  {\"a\" : [ ] , \"b\":{}}  \r\n",
	`{"n":[1e400,-0.0e-5,0,12.5E+3]}`, `{"t":true,"f":false,"z":null}`,
	`{"s":"\ud83d\ude00 \ud800 \/ \b\f\n\r\t \u2028 <&>"}`,
	"{\"a\":\"\xff\",\"client_ip\":\"203.0.113.200\"}", // invalid UTF-8 inside a string
	"{\"a\":\"\x01\"}", // a raw control character: not JSON, kept as text
	`[1,2]`, `"str"`, `42`, `{"a":1} trailing`, `{"a":}`, `{"a":1,}`, `{'a':1}`, `{`, `{"a":"b`,
	"plain \"text\" with\ttabs \u2028 and é", "\xff\xfe binary", "", "\n", "   ",
	strings.Repeat(`{"a":`, 50) + `1` + strings.Repeat(`}`, 50),
}

// The fast path (a single-pass scan, fields appended to the line as
// written) and the reference (encoding/json, the Enrich activity) must give
// the same document for every line: demo traffic with its scenarios, and
// the edge cases above.
func TestFastPathMatchesReference(t *testing.T) {
	e := demoEnricher(t)
	p := demoPipeline(t, e)
	tr := p.NewTransformer()
	check := func(pl *logpipe.Payload, ev *logpipe.Event) {
		t.Helper()
		r, err := tr.Route(pl.LogGroup, pl.LogStream)
		if err != nil {
			t.Fatal(err)
		}
		out, index := tr.Append(nil, pl, ev, r)
		got := decodeAny(t, out)
		if want := reference(t, e, pl, ev, r, index); !sameJSON(got, want) {
			t.Errorf("line %q\n got %s\nwant %s", ev.Message, out, mustJSON(want))
		}
	}
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n := 0
	for pl := range demologs.Payloads(demologs.Generate(3, from, from.Add(6*time.Minute), demologs.Options{})) {
		for k := range pl.Events {
			check(pl, &pl.Events[k])
			n++
		}
	}
	if n < 3000 {
		t.Fatalf("only %d demo events", n)
	}
	pl := &logpipe.Payload{LogGroup: demologs.DemoAppLogGroup, LogStream: "payments-api-1-x", Owner: "1"}
	for i, line := range edgeLines {
		check(pl, &logpipe.Event{ID: fmt.Sprint(i), Timestamp: 1795000000000 + int64(i), Message: []byte(line)})
	}
	// Without enrichment the same holds.
	bare, err := logpipe.New(config.Logs{Routes: demologs.LogRoutes()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr = bare.NewTransformer()
	e = nil
	for i, line := range edgeLines {
		check(pl, &logpipe.Event{Timestamp: int64(i), Message: []byte(line)})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// FuzzTransform holds the fast path to the reference on any line: the
// document is valid JSON and the same as encoding/json and Enrich make it.
func FuzzTransform(f *testing.F) {
	for _, l := range edgeLines {
		f.Add([]byte(l))
	}
	for d := range demologs.Generate(4, time.Unix(1795000000, 0), time.Unix(1795000010, 0), demologs.Options{}) {
		b, _ := json.Marshal(d.Source)
		f.Add(b)
	}
	e := demoEnricher(f)
	p := demoPipeline(f, e)
	tr := p.NewTransformer()
	pl := &logpipe.Payload{LogGroup: demologs.DemoWAFLogGroup, LogStream: "s", Owner: "1"}
	r, err := tr.Route(pl.LogGroup, pl.LogStream)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev := &logpipe.Event{ID: "x", Timestamp: 1795000000000, Message: line}
		out, index := tr.Append(nil, pl, ev, r)
		if !json.Valid(out) {
			t.Fatalf("invalid document for %q: %s", line, out)
		}
		if want := reference(t, e, pl, ev, r, index); !sameJSON(decodeAny(t, out), want) {
			t.Fatalf("line %q\n got %s\nwant %s", line, out, mustJSON(want))
		}
	})
}

func TestRoutes(t *testing.T) {
	p := demoPipeline(t, nil)
	for _, tc := range []struct{ group, stream, family, env, app string }{
		{demologs.DemoAppLogGroup, "checkout-api-5f4d-bcdfg", "uc-be", "demo", "checkout"},
		{demologs.DemoFrontendLogGroup, "web-storefront", "us-fe", "demo", "web-storefront"},
		{demologs.DemoWAFLogGroup, demologs.DemoWAFLogStream, "waf-logs", "demo", "waf"},
	} {
		r, err := p.Route(tc.group, tc.stream)
		if err != nil || r != (logpipe.Route{Family: tc.family, Env: tc.env, App: tc.app}) {
			t.Errorf("Route(%s, %s) = %+v, %v", tc.group, tc.stream, r, err)
		}
	}
	if _, err := p.Route("/aws/lambda/other", "x"); err == nil || !strings.Contains(err.Error(), `log group "/aws/lambda/other", stream "x": no logs.routes entry matches`) {
		t.Errorf("unrouted group: %v", err)
	}
}

// A typical JSON line takes the fast path, with or without enrichment: a
// couple of allocations (the IP as a string, the GeoIP answer), where
// encoding/json's map makes over a hundred.
func TestFastPathAllocations(t *testing.T) {
	line := []byte(`{"@timestamp":"2026-11-18T11:06:40.123Z","kubernetes":{"namespace_name":"auth","pod_name":"auth-api-1-x"},"status":200,"request":{"method":"POST","path":"/api/login"},"client_ip":"203.0.113.200","message":"POST /api/login 200"}`)
	pl := &logpipe.Payload{LogGroup: demologs.DemoAppLogGroup, LogStream: "auth-api-1-x", Owner: "1"}
	ev := &logpipe.Event{ID: "1", Timestamp: 1795000000000, Message: line}
	for name, p := range map[string]*logpipe.Pipeline{"enriched": demoPipeline(t, demoEnricher(t)), "bare": demoPipeline(t, nil)} {
		tr := p.NewTransformer()
		r, err := tr.Route(pl.LogGroup, pl.LogStream)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(200, func() { buf, _ = tr.Append(buf[:0], pl, ev, r) }); n > 3 {
			t.Errorf("%s: %.0f allocations a line; the fast path was not taken", name, n)
		}
	}
}
