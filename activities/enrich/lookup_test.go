package enrich_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
)

// The log pipeline's per-record path (one Lookup reused, GeoIP records
// remembered) says exactly what the uncached lookups and the Enrich
// activity say, for every demo address, first time and again.
func TestLookupMatchesEnrich(t *testing.T) {
	geoip, intel := demoContext(t)
	e := mustEnricher(t, config.Enrich{GeoIPDB: geoip, ThreatIntel: []string{intel}})
	l := e.NewLookup()
	var found enrich.Found
	for pass := range 2 {
		for _, g := range demologs.DemoGeoIP() {
			for _, spelled := range []string{g.IP, "::ffff:" + g.IP, " " + g.IP + " "} {
				found.Reset()
				if err := l.Values([]enrich.Value{{Field: "client_ip", Text: spelled}}, nil, &found); err != nil {
					t.Fatal(err)
				}
				ip := netip.MustParseAddr(g.IP)
				geo, ok, err := e.GeoIP.Lookup(ip)
				if err != nil || !ok {
					t.Fatalf("%s: %v %v", g.IP, ok, err)
				}
				geo.Field = "client_ip"
				if len(found.Geo) != 1 || found.Geo[0] != geo {
					t.Fatalf("pass %d, %q: geo %+v, want %+v", pass, spelled, found.Geo, geo)
				}
				res, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: incident.Alert{Source: "s", Rule: "r", Fields: map[string]any{"client_ip": spelled}}})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Enrichment.Geo, found.Geo) || len(res.Enrichment.ThreatIntel) != len(found.ThreatIntel) ||
					len(found.ThreatIntel) == 1 && !reflect.DeepEqual(res.Enrichment.ThreatIntel[0], found.ThreatIntel[0]) {
					t.Fatalf("%q: Enrich says %+v, Lookup %+v", spelled, res.Enrichment, found)
				}
			}
		}
	}
}

// Values trims, skips repeats and empties, and looks up at most 16 of each kind.
func TestLookupValuesLimits(t *testing.T) {
	geoip, intel := demoContext(t)
	e := mustEnricher(t, config.Enrich{GeoIPDB: geoip, ThreatIntel: []string{intel}})
	var ips []enrich.Value
	for i := range 20 {
		ips = append(ips, enrich.Value{Field: "ip", Text: fmt.Sprintf("203.0.113.%d", 200+i)}, enrich.Value{Field: "ip", Text: " "})
	}
	ips = append([]enrich.Value{{Field: "src", Text: "203.0.113.200"}, {Field: "dup", Text: " 203.0.113.200"}, {Field: "x", Text: "not-an-ip"}}, ips...)
	var found enrich.Found
	if err := e.NewLookup().Values(ips, []enrich.Value{{Field: "host", Text: "https://a.evil.example:8443/login"}}, &found); err != nil {
		t.Fatal(err)
	}
	// 16 distinct values: "not-an-ip" takes a place, as it does for alerts.
	if len(found.Geo) != 15 || found.Geo[0].Field != "src" || found.Geo[14].IP != "203.0.113.214" {
		t.Errorf("geo = %d entries, first %+v", len(found.Geo), found.Geo[0])
	}
	last := found.ThreatIntel[len(found.ThreatIntel)-1]
	if last.Indicator != "a.evil.example" || last.Field != "host" {
		t.Errorf("domain hit = %+v", last)
	}
}
