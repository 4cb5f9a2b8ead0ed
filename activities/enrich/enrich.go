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
	for _, v := range values(in.Alert, e.IPFields, maxIPs) {
		ip, err := netip.ParseAddr(v.text)
		if err != nil {
			continue // a field named like an IP field that holds something else
		}
		ip = ip.Unmap()
		if e.GeoIP != nil {
			geo, ok, err := e.GeoIP.Lookup(ip)
			if err != nil {
				return EnrichResult{}, err
			}
			if ok {
				geo.Field = v.field
				out.Geo = append(out.Geo, geo)
			}
		}
		if e.Intel != nil {
			if hit, ok := e.Intel.LookupIP(ip); ok {
				hit.Field = v.field
				out.ThreatIntel = append(out.ThreatIntel, hit)
			}
		}
	}
	if e.Intel != nil {
		for _, v := range values(in.Alert, e.DomainFields, maxDomains) {
			if hit, ok := e.Intel.LookupDomain(hostOf(v.text)); ok {
				hit.Field = v.field
				out.ThreatIntel = append(out.ThreatIntel, hit)
			}
		}
	}
	return EnrichResult{Enrichment: out}, nil
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

// value is one string found in an alert, with the field it came from.
type value struct {
	field, text string
}

// values collects the distinct string values of the named fields, in field
// order, at most limit: each name is tried as a query_key name, then as a
// dotted path into fields (and as a flat key with dots, as ElastAlert2 and
// some shippers write them). Arrays contribute each string element.
func values(a incident.Alert, fields []string, limit int) []value {
	var out []value
	seen := map[string]bool{}
	addValue := func(field string, v any) {
		switch x := v.(type) {
		case string:
			x = strings.TrimSpace(x)
			if x != "" && !seen[x] && len(out) < limit {
				seen[x] = true
				out = append(out, value{field: field, text: x})
			}
		case []any:
			for _, el := range x {
				if s, ok := el.(string); ok {
					s = strings.TrimSpace(s)
					if s != "" && !seen[s] && len(out) < limit {
						seen[s] = true
						out = append(out, value{field: field, text: s})
					}
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
