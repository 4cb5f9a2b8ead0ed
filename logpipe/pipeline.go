// Package logpipe is irflow's log pipeline: it turns CloudWatch Logs events
// into the OpenSearch documents irflow's rules search. Each log event becomes
// one JSON document: a JSON log line keeps its fields, any other line is kept
// as "message". The document gets @timestamp (when it has none), where it
// came from (aws.cloudwatch.*), env and app tags from the log group and
// stream (service.environment, service.name), GeoIP and threat intel for its
// IPs and domains (geoip, threat_intel; the same lookups the incident
// workflow's enrichment runs), and the index it belongs in (irflow_index,
// which the OpenSearch ingest pipeline routes by and removes).
//
// The Firehose transform (Handler) and `starter logs replay` (Replayer) are
// two ways in; both run the same Transformer.
package logpipe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// The fields irflow adds to every document.
const (
	FieldTimestamp   = "@timestamp"
	FieldAWS         = "aws" // aws.cloudwatch.{log_group,log_stream,owner,event_id}
	FieldService     = "service"
	FieldGeoIP       = "geoip"
	FieldThreatIntel = "threat_intel"
	// FieldIndex names the index the document belongs in. The intake ingest
	// pipeline (deploy/opensearch/intake-pipeline.json) routes by it, and the
	// log pipeline (ingest-pipeline.json) removes it.
	FieldIndex = "irflow_index"
)

// Top-level keys of a log line that collide with what irflow writes.
const (
	hasTimestamp = 1 << iota
	hasAWS
	hasService
	hasGeoIP
	hasThreatIntel
	hasIndex
)

var reservedKeys = map[string]uint8{
	FieldTimestamp: hasTimestamp, FieldAWS: hasAWS, FieldService: hasService,
	FieldGeoIP: hasGeoIP, FieldThreatIntel: hasThreatIntel, FieldIndex: hasIndex,
}

// ErrNoRoute is why a record whose log group no route matches fails.
var ErrNoRoute = errors.New("no logs.routes entry matches")

// Pipeline is the transform's configuration, compiled: routes, the
// enrichment and the fields it reads. It is safe for concurrent use; each
// goroutine transforms through its own Transformer.
type Pipeline struct {
	routes []*config.LogMatcher
	enrich *enrich.Enricher
	fields fieldSet
}

// New compiles the logs section. e may be nil (no enrichment); its IPFields
// and DomainFields name the fields looked up, as for alerts.
func New(c config.Logs, e *enrich.Enricher) (*Pipeline, error) {
	p := &Pipeline{enrich: e}
	for i, r := range c.Routes {
		m, err := r.Compile()
		if err != nil {
			return nil, fmt.Errorf("logs.routes[%d].%w", i, err)
		}
		p.routes = append(p.routes, m)
	}
	if e != nil {
		p.fields = compileFields(e.IPFields, e.DomainFields)
	} else {
		p.fields = compileFields(nil, nil)
	}
	return p, nil
}

// Payload is one CloudWatch Logs subscription message.
type Payload struct {
	MessageType         string
	Owner               string
	LogGroup            string
	LogStream           string
	SubscriptionFilters []string
	Events              []Event
}

// CloudWatch Logs message types.
const (
	DataMessage    = "DATA_MESSAGE"
	ControlMessage = "CONTROL_MESSAGE"
)

// Event is one log event of a Payload.
type Event struct {
	ID string
	// Timestamp is milliseconds since the epoch.
	Timestamp int64
	Message   []byte
}

// Route is where a payload's documents go.
type Route struct {
	// Family is the index family; documents go to Family-YYYY.MM.DD.
	Family   string
	Env, App string
}

// Route finds the first route for a log group and stream.
func (p *Pipeline) Route(group, stream string) (Route, error) {
	for _, m := range p.routes {
		if env, app, ok := m.Match(group, stream); ok {
			return Route{Family: m.Route.Index, Env: env, App: app}, nil
		}
	}
	return Route{}, fmt.Errorf("log group %q, stream %q: %w", group, stream, ErrNoRoute)
}

// Transformer turns events into documents, reusing its buffers and caches.
// It is not safe for concurrent use.
type Transformer struct {
	p      *Pipeline
	lookup *enrich.Lookup
	found  enrich.Found
	walk   walker
	vals   []enrich.Value
	routes map[[2]string]routeResult
	// day caches the last index name: events of a record share a day.
	dayStart, dayEnd int64
	dayFamily        string
	dayIndex         string
	dayIndexJSON     []byte
	// env caches the encoded fields every event of a payload shares.
	envKey         [5]string
	envAWS, envSvc []byte
	// EnrichErrors counts lookups that failed (a database read error); the
	// document is written without that enrichment.
	EnrichErrors int
	lastErr      error
}

type routeResult struct {
	r   Route
	err error
}

// NewTransformer returns a Transformer for one goroutine.
func (p *Pipeline) NewTransformer() *Transformer {
	t := &Transformer{p: p, routes: map[[2]string]routeResult{}}
	if p.enrich != nil {
		t.lookup = p.enrich.NewLookup()
	}
	return t
}

// LastEnrichError is the last lookup failure, if any.
func (t *Transformer) LastEnrichError() error { return t.lastErr }

// Route is Pipeline.Route, remembered per log group and stream.
func (t *Transformer) Route(group, stream string) (Route, error) {
	k := [2]string{group, stream}
	if r, ok := t.routes[k]; ok {
		return r.r, r.err
	}
	r, err := t.p.Route(group, stream)
	if len(t.routes) > 4096 {
		clear(t.routes)
	}
	t.routes[k] = routeResult{r, err}
	return r, err
}

// Index is the index of an event at ms in family.
func (t *Transformer) Index(family string, ms int64) string {
	if family == t.dayFamily && ms >= t.dayStart && ms < t.dayEnd {
		return t.dayIndex
	}
	day := time.UnixMilli(ms).UTC().Truncate(24 * time.Hour)
	t.dayStart, t.dayEnd = day.UnixMilli(), day.Add(24*time.Hour).UnixMilli()
	t.dayFamily, t.dayIndex = family, family+"-"+day.Format("2006.01.02")
	t.dayIndexJSON = appendString(t.dayIndexJSON[:0], t.dayIndex)
	return t.dayIndex
}

// Append appends the document of event ev of payload pl, routed by r, to
// dst and returns it with the document's index.
func (t *Transformer) Append(dst []byte, pl *Payload, ev *Event, r Route) ([]byte, string) {
	index := t.Index(r.Family, ev.Timestamp)
	msg := trimSpace(ev.Message)
	isJSON := len(msg) > 0 && msg[0] == '{'
	if isJSON {
		if !utf8.Valid(msg) || !t.p.fields.ok {
			return t.appendSlow(dst, pl, ev, r, index), index
		}
		if err := t.walk.scan(msg, &t.p.fields); err != nil {
			isJSON = false // not one JSON object: kept as text
		} else if t.walk.slow {
			return t.appendSlow(dst, pl, ev, r, index), index
		}
	}
	t.found.Reset()
	if isJSON {
		t.vals = t.walk.values(msg, &t.p.fields, t.vals[:0])
		t.enrichValues(t.vals[:t.walk.nIPValues], t.vals[t.walk.nIPValues:])
		if t.walk.top&t.writes(r) != 0 {
			return t.appendSlow(dst, pl, ev, r, index), index
		}
	}
	if isJSON {
		dst = append(dst, msg[:len(msg)-1]...) // without the closing brace
		if t.walk.members > 0 {
			dst = append(dst, ',')
		}
	} else {
		dst = append(dst, `{"message":`...)
		dst = appendString(dst, trimNewline(ev.Message))
		dst = append(dst, ',')
	}
	if !isJSON || t.walk.top&hasTimestamp == 0 {
		dst = append(dst, `"@timestamp":"`...)
		dst = time.UnixMilli(ev.Timestamp).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
		dst = append(dst, `",`...)
	}
	dst = t.appendFields(dst, pl, ev, r, index)
	return append(dst, '}'), index
}

// writes is the set of reserved top-level keys this document will carry
// (besides @timestamp, which is only added when missing).
func (t *Transformer) writes(r Route) uint8 {
	w := uint8(hasAWS | hasIndex)
	if r.Env != "" || r.App != "" {
		w |= hasService
	}
	if len(t.found.Geo) > 0 {
		w |= hasGeoIP
	}
	if len(t.found.ThreatIntel) > 0 {
		w |= hasThreatIntel
	}
	return w
}

func (t *Transformer) enrichValues(ips, domains []enrich.Value) {
	if t.lookup == nil || len(ips)+len(domains) == 0 {
		return
	}
	if err := t.lookup.Values(ips, domains, &t.found); err != nil {
		// Best effort: the document still goes in, without the lookup.
		t.EnrichErrors++
		t.lastErr = err
	}
}

// appendFields writes irflow's fields after the log's own, then no comma.
func (t *Transformer) appendFields(dst []byte, pl *Payload, ev *Event, r Route, index string) []byte {
	// What the events of one payload share is encoded once.
	if k := [5]string{pl.LogGroup, pl.LogStream, pl.Owner, r.Env, r.App}; k != t.envKey || t.envAWS == nil {
		t.envKey = k
		t.envAWS = append(t.envAWS[:0], `"aws":{"cloudwatch":{"log_group":`...)
		t.envAWS = appendString(t.envAWS, pl.LogGroup)
		t.envAWS = append(t.envAWS, `,"log_stream":`...)
		t.envAWS = appendString(t.envAWS, pl.LogStream)
		if pl.Owner != "" {
			t.envAWS = append(t.envAWS, `,"owner":`...)
			t.envAWS = appendString(t.envAWS, pl.Owner)
		}
		t.envSvc = t.envSvc[:0]
		if r.Env != "" || r.App != "" {
			t.envSvc = append(t.envSvc, `,"service":{`...)
			if r.Env != "" {
				t.envSvc = append(t.envSvc, `"environment":`...)
				t.envSvc = appendString(t.envSvc, r.Env)
				if r.App != "" {
					t.envSvc = append(t.envSvc, ',')
				}
			}
			if r.App != "" {
				t.envSvc = append(t.envSvc, `"name":`...)
				t.envSvc = appendString(t.envSvc, r.App)
			}
			t.envSvc = append(t.envSvc, '}')
		}
	}
	dst = append(dst, t.envAWS...)
	if ev.ID != "" {
		dst = append(dst, `,"event_id":`...)
		dst = appendString(dst, ev.ID)
	}
	dst = append(dst, `}}`...)
	dst = append(dst, t.envSvc...)
	if len(t.found.Geo) > 0 {
		dst = append(dst, `,"geoip":`...)
		dst = appendGeo(dst, t.found.Geo)
	}
	if len(t.found.ThreatIntel) > 0 {
		dst = append(dst, `,"threat_intel":`...)
		dst = appendHits(dst, t.found.ThreatIntel)
	}
	dst = append(dst, `,"irflow_index":`...)
	if index == t.dayIndex {
		return append(dst, t.dayIndexJSON...)
	}
	return appendString(dst, index)
}

// appendSlow is the reference path: encoding/json decodes the line into a
// map, the fields are set in it (merging into an existing aws or service
// object, replacing a log's own geoip, threat_intel and irflow_index) and
// the map is encoded again. Lines the fast path does not take come here.
func (t *Transformer) appendSlow(dst []byte, pl *Payload, ev *Event, r Route, index string) []byte {
	doc, ok := decodeObject(ev.Message)
	t.found.Reset()
	if !ok {
		doc = map[string]any{"message": string(trimNewline(ev.Message))}
	} else {
		a := incident.Alert{Fields: doc}
		t.enrichValues(enrich.AlertValues(a, t.p.fields.ipNames), enrich.AlertValues(a, t.p.fields.domainNames))
	}
	SetFields(doc, pl, ev, r, index, &t.found)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Cannot happen for a decoded map; keep the text rather than lose it.
		return append(dst, `{"message":"unencodable log line"}`...)
	}
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// decodeObject decodes msg as one JSON object (numbers kept as written).
func decodeObject(msg []byte) (map[string]any, bool) {
	msg = trimSpace(msg)
	if len(msg) == 0 || msg[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return doc, true
}

// SetFields sets irflow's fields in a decoded document, as the fast path
// writes them. Exported for the tests that hold the two paths together.
func SetFields(doc map[string]any, pl *Payload, ev *Event, r Route, index string, found *enrich.Found) {
	if _, ok := doc[FieldTimestamp]; !ok {
		doc[FieldTimestamp] = time.UnixMilli(ev.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	cw := object(object(doc, FieldAWS), "cloudwatch")
	cw["log_group"], cw["log_stream"] = pl.LogGroup, pl.LogStream
	if pl.Owner != "" {
		cw["owner"] = pl.Owner
	}
	if ev.ID != "" {
		cw["event_id"] = ev.ID
	}
	if r.Env != "" || r.App != "" {
		svc := object(doc, FieldService)
		if r.Env != "" {
			svc["environment"] = r.Env
		}
		if r.App != "" {
			svc["name"] = r.App
		}
	}
	if len(found.Geo) > 0 {
		doc[FieldGeoIP] = append([]incident.IPGeo(nil), found.Geo...)
	}
	if len(found.ThreatIntel) > 0 {
		doc[FieldThreatIntel] = append([]incident.ThreatHit(nil), found.ThreatIntel...)
	}
	doc[FieldIndex] = index
}

// object returns m[key] as an object, replacing what is there if it is not one.
func object(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	o := map[string]any{}
	m[key] = o
	return o
}

func appendGeo(dst []byte, geo []incident.IPGeo) []byte {
	dst = append(dst, '[')
	for i, g := range geo {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"ip":`...)
		dst = appendString(dst, g.IP)
		dst = appendOpt(dst, "field", g.Field)
		dst = appendOpt(dst, "country", g.Country)
		dst = appendOpt(dst, "country_iso", g.CountryISO)
		dst = appendOpt(dst, "city", g.City)
		if g.ASN != 0 {
			dst = append(dst, `,"asn":`...)
			dst = strconv.AppendUint(dst, uint64(g.ASN), 10)
		}
		dst = appendOpt(dst, "as_org", g.ASOrg)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendHits(dst []byte, hits []incident.ThreatHit) []byte {
	dst = append(dst, '[')
	for i, h := range hits {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"indicator":`...)
		dst = appendString(dst, h.Indicator)
		dst = appendOpt(dst, "field", h.Field)
		dst = append(dst, `,"match":`...)
		dst = appendString(dst, h.Match)
		if len(h.Tags) > 0 {
			dst = append(dst, `,"tags":[`...)
			for j, tag := range h.Tags {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, tag)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, `,"source":`...)
		dst = appendString(dst, h.Source)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendOpt writes ,"key":value for a non-empty value (omitempty).
func appendOpt(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// trimNewline drops the line end a log line is written with.
func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
