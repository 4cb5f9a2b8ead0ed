package logpipe_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/irflow/irflow/logpipe"
)

var samplePayload = dataMessage("/aws/containerinsights/prod/application", "payments-api-5d8f-x2x4q",
	cwlEvent{ID: "37158392837462837462837465837462837465837462837465837462", Timestamp: 1795000000123, Message: `{"level":"info","msg":"paid \"ok\"","client_ip":"203.0.113.200"}`},
	cwlEvent{ID: "37158392837462837462837465837462837465837462837465837463", Timestamp: 1795000000456, Message: "plain line é \u2028\n"},
	cwlEvent{ID: "37158392837462837462837465837462837465837462837465837464", Timestamp: 1795000000789, Message: ""},
)

func TestDecodePayload(t *testing.T) {
	var d logpipe.Decoder
	var p logpipe.Payload
	plain, _ := json.Marshal(samplePayload)
	for name, data := range map[string][]byte{"gzip": gzipJSON(t, samplePayload), "plain": plain} {
		if err := d.Decode(data, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !samePayload(p, samplePayload) {
			t.Fatalf("%s: decoded %+v", name, p)
		}
	}
	// What the transform puts back for one event decodes to that event.
	for k := range samplePayload.LogEvents {
		if err := d.Decode(gzipJSON(t, samplePayload), &p); err != nil {
			t.Fatal(err)
		}
		one := logpipe.AppendPayload(nil, &p, &p.Events[k])
		var q logpipe.Payload
		var d2 logpipe.Decoder
		if err := d2.Decode(one, &q); err != nil {
			t.Fatalf("put-back payload %s: %v", one, err)
		}
		want := samplePayload
		want.LogEvents = samplePayload.LogEvents[k : k+1]
		if !samePayload(q, want) {
			t.Errorf("put-back payload of event %d decodes to %+v", k, q)
		}
	}
	for _, bad := range []struct{ data, want string }{
		{"not json", "not a CloudWatch Logs payload: want gzip or a JSON object"},
		{"\x1f\x8b\x08\x00garbage", "gunzip"},
		{`{"logEvents":[{"timestamp":"x"}]}`, "logEvents[0].timestamp: want a number"},
		{`{"logEvents":[{"timestamp":1.5}]}`, "logEvents[0].timestamp: 1.5 is not milliseconds since the epoch"},
		{`{"logEvents":{}}`, "logEvents: want an array"},
		{`{"logGroup":3}`, "logGroup: want a string"},
		{`{"logGroup":"a"} x`, "data after the payload object"},
	} {
		if err := d.Decode([]byte(bad.data), &p); err == nil || !bytes.Contains([]byte(err.Error()), []byte(bad.want)) {
			t.Errorf("Decode(%q) = %v, want %q", bad.data, err, bad.want)
		}
	}
}

func samePayload(p logpipe.Payload, w cwlPayload) bool {
	if p.MessageType != w.MessageType || p.Owner != w.Owner || p.LogGroup != w.LogGroup || p.LogStream != w.LogStream ||
		!slices.Equal(p.SubscriptionFilters, w.SubscriptionFilters) || len(p.Events) != len(w.LogEvents) {
		return false
	}
	for i, e := range p.Events {
		if e.ID != w.LogEvents[i].ID || e.Timestamp != w.LogEvents[i].Timestamp || string(e.Message) != w.LogEvents[i].Message {
			return false
		}
	}
	return true
}

// refPayload reads a payload with encoding/json (exact key names, the last
// of repeated keys, null as empty); ok is false when a field has the wrong type.
func refPayload(data []byte) (cwlPayload, bool) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if !json.Valid(data) || dec.Decode(&m) != nil || m == nil {
		return cwlPayload{}, false
	}
	str := func(v any) (string, bool) {
		if v == nil {
			return "", true
		}
		s, ok := v.(string)
		return s, ok
	}
	var p cwlPayload
	ok := true
	for key, dst := range map[string]*string{"messageType": &p.MessageType, "owner": &p.Owner, "logGroup": &p.LogGroup, "logStream": &p.LogStream} {
		s, good := str(m[key])
		*dst, ok = s, ok && good
	}
	if v, has := m["subscriptionFilters"]; has && v != nil {
		list, good := v.([]any)
		ok = ok && good
		for _, el := range list {
			s, good := el.(string)
			ok = ok && good
			p.SubscriptionFilters = append(p.SubscriptionFilters, s)
		}
	}
	if v, has := m["logEvents"]; has && v != nil {
		list, good := v.([]any)
		ok = ok && good
		for _, el := range list {
			obj, good := el.(map[string]any)
			if !good {
				return p, false
			}
			var e cwlEvent
			var g1, g2 bool
			e.ID, g1 = str(obj["id"])
			e.Message, g2 = str(obj["message"])
			ok = ok && g1 && g2
			if ts := obj["timestamp"]; ts != nil {
				n, good := ts.(json.Number)
				if !good {
					return p, false
				}
				v, err := strconv.ParseInt(string(n), 10, 64)
				ok = ok && err == nil
				e.Timestamp = v
			}
			p.LogEvents = append(p.LogEvents, e)
		}
	}
	return p, ok
}

// FuzzDecodePayload holds the payload decoder to encoding/json: it takes
// exactly the payloads encoding/json reads with the right types, and reads
// the same values.
func FuzzDecodePayload(f *testing.F) {
	plain, _ := json.Marshal(samplePayload)
	f.Add(plain)
	f.Add([]byte(`{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`))
	f.Add([]byte(`{"logGroup":"a","logGroup":"b","logEvents":[{"message":"x"}],"logEvents":[],"extra":{"k":[1,2,{"z":null}]}}`))
	f.Add([]byte(`{"logEvents":[{"id":null,"timestamp":null,"message":null,"extractedFields":{"a":"b"}}],"subscriptionFilters":null}`))
	f.Add([]byte(`{"\u006cogGroup":"esc\u00e9\ud83d\ude00","LogGroup":"other case"}`))
	f.Add([]byte(`{}]`)) // data after the object (found by this fuzzer)
	f.Add([]byte(`{"logEvents":[{"message":"{\"a\":\"\\u00e9\\\"x\\\\\"} \ud800 \xff"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // gzip: covered by the tests
		}
		var d logpipe.Decoder
		var p logpipe.Payload
		err := d.Decode(data, &p)
		want, ok := refPayload(data)
		if ok != (err == nil) {
			t.Fatalf("Decode(%q) error %v; encoding/json reads it: %v", data, err, ok)
		}
		if ok && !samePayload(p, want) {
			t.Fatalf("Decode(%q) = %+v, encoding/json reads %+v", data, p, want)
		}
	})
}
