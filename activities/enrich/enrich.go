// Package enrich adds context to an alert: the owner of its service (from
// config), where its IPs are (a MaxMind-format GeoIP database) and which of
// its IPs and domains are on a threat-intel list. The incident workflow calls
// Enrich as an activity; the log pipeline uses the same lookups per record.
package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// Limits keep one enrichment small enough for workflow state and a Slack message.
const (
	maxIPs     = 16
	maxDomains = 16
)

// Enricher holds the lookups. Each part is optional: a nil GeoIP or Intel
// adds nothing, and no owner rules name no owner.
type Enricher struct {
	GeoIP        *GeoIP
	Intel        *Intel
	Owners       []config.OwnerRule
	IPFields     []string
	DomainFields []string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// New opens what the enrich section names. A missing or corrupt database or
// list is an error naming the file, so the worker refuses to start with it.
func New(c config.Enrich, log *slog.Logger) (*Enricher, error) {
	c.SetDefaults()
	e := &Enricher{Owners: c.Owners, IPFields: c.IPFields, DomainFields: c.DomainFields}
	if c.GeoIPDB != "" {
		g, err := OpenGeoIP(c.GeoIPDB, c.ASNDB)
		if err != nil {
			return nil, fmt.Errorf("enrich.geoip_db: %w", err)
		}
		e.GeoIP = g
	}
	if len(c.ThreatIntel) > 0 {
		in, err := LoadIntel(c.ThreatIntel, log)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("enrich.threat_intel: %w", err)
		}
		e.Intel = in
	}
	return e, nil
}

// Close releases the GeoIP databases.
func (e *Enricher) Close() error {
	if e.GeoIP != nil {
		return e.GeoIP.Close()
	}
	return nil
}

// EnrichInput is the argument of Enrich.
type EnrichInput struct {
	Alert incident.Alert `json:"alert"`
}

// EnrichResult is what Enrich found.
type EnrichResult struct {
	Enrichment incident.Enrichment `json:"enrichment"`
}

// Enrich looks the alert up in every configured source. It fails only when
// a lookup itself fails (a database read error); finding nothing is success.
func (e *Enricher) Enrich(_ context.Context, in EnrichInput) (EnrichResult, error) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	out := incident.Enrichment{Owner: e.Owner(in.Alert), At: now().UTC()}
	var domains []Value
	if e.Intel != nil {
		domains = AlertValues(in.Alert, e.DomainFields)
	}
	var found Found
	if err := e.NewLookup().Values(AlertValues(in.Alert, e.IPFields), domains, &found); err != nil {
		return EnrichResult{}, err
	}
	out.Geo, out.ThreatIntel = found.Geo, found.ThreatIntel
	return EnrichResult{Enrichment: out}, nil
}

// Value is a string found in a field of an alert or a log record: an IP or
// a domain to look up.
type Value struct {
	Field, Text string
}

// Found is what the lookups found for one alert or log record.
type Found struct {
	// Geo has one entry per IP a GeoIP database knows, in the order found.
	Geo []incident.IPGeo
	// ThreatIntel has the IPs, then the domains, that a list names.
	ThreatIntel []incident.ThreatHit
}

// Reset empties f, keeping its storage for the next record.
func (f *Found) Reset() { f.Geo, f.ThreatIntel = f.Geo[:0], f.ThreatIntel[:0] }

// Lookup runs the lookups of one alert or record at a time. It remembers
// the GeoIP records it decoded (by their place in the database, so a hit is
// exactly what decoding again would give): the log pipeline keeps one per
// goroutine, and a record from a network already seen costs no decoding.
// A Lookup is not safe for concurrent use.
type Lookup struct {
	e    *Enricher
	geo  geoCache
	seen []string
}

// NewLookup returns a Lookup over e's databases and lists.
func (e *Enricher) NewLookup() *Lookup { return &Lookup{e: e} }

// Values adds to f what the IPs and domains say, as Enrich does for an
// alert's: values are trimmed, empty and repeated ones skipped, at most 16
// of each kind looked up; a value that is not an IP is not looked up as
// one; a domain may be a URL or host:port. It fails only when a database
// read fails.
func (l *Lookup) Values(ips, domains []Value, f *Found) error {
	e := l.e
	if e.GeoIP == nil && e.Intel == nil {
		return nil
	}
	l.seen = l.seen[:0]
	for _, v := range ips {
		text, ok := l.distinct(v.Text, maxIPs)
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(text)
		if err != nil {
			continue // a field named like an IP field that holds something else
		}
		ip = ip.Unmap()
		if e.GeoIP != nil {
			geo, ok, err := e.GeoIP.lookup(ip, text, &l.geo)
			if err != nil {
				return err
			}
			if ok {
				geo.Field = v.Field
				f.Geo = append(f.Geo, geo)
			}
		}
		if e.Intel != nil {
			if hit, ok := e.Intel.lookupIP(ip, text); ok {
				hit.Field = v.Field
				f.ThreatIntel = append(f.ThreatIntel, hit)
			}
		}
	}
	if e.Intel == nil {
		return nil
	}
	l.seen = l.seen[:0]
	for _, v := range domains {
		text, ok := l.distinct(v.Text, maxDomains)
		if !ok {
			continue
		}
		if hit, ok := e.Intel.LookupDomain(hostOf(text)); ok {
			hit.Field = v.Field
			f.ThreatIntel = append(f.ThreatIntel, hit)
		}
	}
	return nil
}

// distinct trims s and reports whether it is a new non-empty value while
// fewer than limit were taken. A slice, not a map: there are at most 16.
func (l *Lookup) distinct(s string, limit int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(l.seen) >= limit {
		return s, false
	}
	for _, x := range l.seen {
		if x == s {
			return s, false
		}
	}
	l.seen = append(l.seen, s)
	return s, true
}

// Owner returns the first owner rule the alert matches, or nil. A rule that
// names a field the alert lacks does not match, whatever its glob.
func (e *Enricher) Owner(a incident.Alert) *incident.Owner {
	index, hasIndex := a.Field("_index")
	ns, hasNS := a.Field("kubernetes.namespace_name")
	if !hasNS {
		ns, hasNS = a.Field("namespace")
	}
	matches := func(pattern string, v any, present bool) bool {
		return pattern == "" || present && incident.Glob(pattern, fmt.Sprint(v))
	}
	for _, r := range e.Owners {
		m := r.Match
		if matches(m.Index, index, hasIndex) && matches(m.Namespace, ns, hasNS) &&
			matches(m.Service, a.Service, a.Service != "") && matches(m.Rule, a.Rule, true) && matches(m.Category, a.Category, a.Category != "") {
			return &incident.Owner{Team: r.Team, Env: r.Env, Channel: r.Channel, Runbook: r.Runbook}
		}
	}
	return nil
}

// AlertValues collects the string values of the named fields, in field order:
// each name is tried as a query_key name, then as a dotted path into fields
// (and as a flat key with dots, as ElastAlert2 and some shippers write
// them). Arrays contribute each string element. Lookup.Values trims, skips
// repeats and applies the limits.
func AlertValues(a incident.Alert, fields []string) []Value {
	var out []Value
	addValue := func(field string, v any) {
		switch x := v.(type) {
		case string:
			out = append(out, Value{Field: field, Text: x})
		case []any:
			for _, el := range x {
				if s, ok := el.(string); ok {
					out = append(out, Value{Field: field, Text: s})
				}
			}
		}
	}
	for _, f := range fields {
		if v, ok := a.QueryKey[f]; ok {
			addValue(f, v)
		}
		if v, ok := a.Field(f); ok {
			addValue(f, v)
		}
	}
	return out
}

// hostOf takes the host out of a URL or host:port; a bare name is returned as is.
func hostOf(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	if h, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(h, "[") {
		s = h
	}
	return s
}
