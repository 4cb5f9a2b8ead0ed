package enrich_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
)

// demoContext writes the demo GeoIP database and threat list `starter dev` uses.
func demoContext(t *testing.T) (geoip, intel string) {
	t.Helper()
	dir := t.TempDir()
	geoip, intel = filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(geoip, demologs.DemoGeoIP()); err != nil {
		t.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(intel); err != nil {
		t.Fatal(err)
	}
	return geoip, intel
}

func mustEnricher(t *testing.T, c config.Enrich) *enrich.Enricher {
	t.Helper()
	e, err := enrich.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEnrichWAFAlertFromKnownScanner(t *testing.T) {
	geoip, intel := demoContext(t)
	e := mustEnricher(t, config.Enrich{GeoIPDB: geoip, ThreatIntel: []string{intel}, Owners: []config.OwnerRule{
		{Match: config.OwnerMatch{Index: "waf-logs-*"}, Team: "secops", Channel: "#waf-alerts", Runbook: "https://runbooks.example.com/waf"},
		{Match: config.OwnerMatch{Index: "*"}, Team: "platform"},
	}})
	// A WAF log match as the rule sweep raises it: the IP is nested in httpRequest.
	a := incident.Alert{Source: "rules", Rule: "waf sqli burst", Category: "waf", Fields: map[string]any{
		"_index":      "waf-logs-2026.12.01",
		"httpRequest": map[string]any{"clientIp": "203.0.113.200", "host": "shop.example.com"},
	}}
	res, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: a})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Enrichment
	if got.Owner == nil || got.Owner.Team != "secops" || got.Owner.Channel != "#waf-alerts" {
		t.Errorf("owner = %+v, want secops (first matching rule)", got.Owner)
	}
	// 200 % 5 == 0 → NL in the demo data, from the attackers' ASN.
	if len(got.Geo) != 1 || got.Geo[0] != (incident.IPGeo{IP: "203.0.113.200", Field: "httpRequest.clientIp", Country: "Netherlands",
		CountryISO: "NL", ASN: 64510, ASOrg: "Demo Bulletproof Hosting"}) {
		t.Errorf("geo = %+v", got.Geo)
	}
	if len(got.ThreatIntel) != 1 {
		t.Fatalf("threat intel = %+v, want one hit", got.ThreatIntel)
	}
	hit := got.ThreatIntel[0]
	if hit.Indicator != "203.0.113.200" || hit.Match != "203.0.113.192/27" || hit.Source != "irflow-demo-feed" ||
		!slices.Equal(hit.Tags, []string{"scanner", "sqli", "bruteforce"}) || hit.Field != "httpRequest.clientIp" {
		t.Errorf("hit = %+v", hit)
	}
}

func TestEnrichMissesAndFieldForms(t *testing.T) {
	geoip, intel := demoContext(t)
	e := mustEnricher(t, config.Enrich{GeoIPDB: geoip, ThreatIntel: []string{intel}})
	a := incident.Alert{
		Source: "elastalert", Rule: "r",
		QueryKey: map[string]string{"client_ip": "192.0.2.7"}, // a regular client: known place, not listed
		Fields: map[string]any{
			"client.ip": "not-an-ip",                         // flat dotted key, ignored as an IP
			"source":    map[string]any{"ip": "192.0.2.7"},   // the same IP again: reported once
			"domain":    "login.evil.example",                // listed parent domain
			"url":       map[string]any{"domain": "ok.test"}, // unlisted
			"ip":        []any{"198.51.100.9", 42},           // arrays give each string
		},
	}
	res, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: a})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Enrichment
	var ips []string
	for _, g := range got.Geo {
		ips = append(ips, g.IP+"@"+g.Field)
	}
	if !slices.Equal(ips, []string{"192.0.2.7@client_ip", "198.51.100.9@ip"}) {
		t.Errorf("geo IPs = %v", ips)
	}
	if len(got.ThreatIntel) != 1 || got.ThreatIntel[0].Indicator != "login.evil.example" || got.ThreatIntel[0].Match != "evil.example" {
		t.Errorf("threat intel = %+v, want only the domain under evil.example", got.ThreatIntel)
	}
	if got.Owner != nil {
		t.Errorf("owner = %+v with no owner rules", got.Owner)
	}
}

func TestNothingConfiguredFindsNothing(t *testing.T) {
	e := mustEnricher(t, config.Enrich{})
	res, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: incident.Alert{Source: "s", Rule: "r",
		Fields: map[string]any{"source_ip": "203.0.113.200"}}})
	if err != nil || !res.Enrichment.Empty() {
		t.Fatalf("enrichment = %+v, %v; want empty", res.Enrichment, err)
	}
}

// A corrupt database or list stops the worker at start-up with the file named.
func TestCorruptFilesAreStartupErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("this is not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enrich.New(config.Enrich{GeoIPDB: bad}, nil); err == nil || !strings.Contains(err.Error(), "enrich.geoip_db: geoip database "+bad) {
		t.Errorf("corrupt mmdb: %v", err)
	}
	list := filepath.Join(dir, "tor.txt")
	if err := os.WriteFile(list, []byte("# tor exits\n192.0.2.1\n10.0.0.0/33\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enrich.New(config.Enrich{ThreatIntel: []string{list}}, nil); err == nil ||
		!strings.Contains(err.Error(), "enrich.threat_intel: threat intel "+list+":3: \"10.0.0.0/33\" is not a CIDR") {
		t.Errorf("bad list line: %v", err)
	}
	csvList := filepath.Join(dir, "feed.csv")
	if err := os.WriteFile(csvList, []byte("indicator,tags\n192.0.2.1,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enrich.New(config.Enrich{ThreatIntel: []string{csvList}}, nil); err == nil || !strings.Contains(err.Error(), `feed.csv:1: header lacks "source"`) {
		t.Errorf("bad csv header: %v", err)
	}
}

// Lists are re-read when they change; a broken edit keeps the last good set.
func TestIntelReload(t *testing.T) {
	list := filepath.Join(t.TempDir(), "scanners.txt")
	write := func(body string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// mtime granularity: make every write look newer than the last.
		at := time.Now().Add(age)
		if err := os.Chtimes(list, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("192.0.2.1\n", -time.Hour)
	in, err := enrich.LoadIntel([]string{list}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.77")
	if _, ok := in.LookupIP(ip); ok {
		t.Fatal("hit before the list names it")
	}
	if changed, err := in.Reload(); changed || err != nil {
		t.Fatalf("reload of an unchanged file = %v, %v", changed, err)
	}
	write("192.0.2.1\n198.51.100.0/24\n", -time.Minute)
	if changed, err := in.Reload(); !changed || err != nil {
		t.Fatalf("reload after an edit = %v, %v", changed, err)
	}
	if hit, ok := in.LookupIP(ip); !ok || hit.Match != "198.51.100.0/24" || hit.Source != "scanners" {
		t.Fatalf("after reload: %+v, %v", hit, ok)
	}
	write("not an indicator!\n", 0)
	if _, err := in.Reload(); err == nil || !strings.Contains(err.Error(), "scanners.txt:1") {
		t.Fatalf("broken edit: %v", err)
	}
	if _, ok := in.LookupIP(ip); !ok {
		t.Fatal("a broken edit dropped the last good list")
	}
}

// The most specific entry wins, and IPv4-mapped IPv6 addresses match IPv4 entries.
func TestIntelLongestPrefix(t *testing.T) {
	list := filepath.Join(t.TempDir(), "feed.csv")
	body := "indicator,tags,source\n10.0.0.0/8,internal,corp\n10.1.0.0/16,lab,corp\n2001:db8::/32,docs,ietf\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := enrich.LoadIntel([]string{list}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{"10.1.2.3": "10.1.0.0/16", "::ffff:10.9.9.9": "10.0.0.0/8", "2001:db8::1": "2001:db8::/32", "11.0.0.1": ""} {
		hit, _ := in.LookupIP(netip.MustParseAddr(ip))
		if hit.Match != want {
			t.Errorf("%s matched %q, want %q", ip, hit.Match, want)
		}
	}
	if in.Size() != 3 {
		t.Errorf("size = %d, want 3", in.Size())
	}
}
