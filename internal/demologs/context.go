package demologs

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// The demo logs' addresses live in the documentation ranges (RFC 5737),
// which no real GeoIP database or threat feed knows. WriteGeoIP and
// WriteThreatIntel write the context files `starter dev` enriches with: they
// agree with the countries the generator puts in the logs, and they list the
// scenario attackers as known scanners.

// countryNames are the English names of the demo countries.
var countryNames = map[string]string{
	"US": "United States", "DE": "Germany", "GB": "United Kingdom", "FR": "France", "NL": "Netherlands",
	"JP": "Japan", "IN": "India", "BR": "Brazil", "CA": "Canada", "AU": "Australia",
	"SG": "Singapore", "RU": "Russia", "VN": "Vietnam", "RO": "Romania",
}

// Demo ASNs come from the range reserved for documentation (RFC 5398).
const (
	demoClientASN   = 64500
	demoAttackerASN = 64510
)

// GeoIPEntry is one demo address (or network, in CIDR form) and what the
// demo GeoIP database says of it.
type GeoIPEntry struct {
	IP, CountryISO, City string
	ASN                  uint32
	ASOrg                string
}

// DemoGeoIP lists every address the generator uses, with the country the logs give it.
func DemoGeoIP() []GeoIPEntry {
	var out []GeoIPEntry
	nets := []string{"192.0.2", "198.51.100", "203.0.113"}
	for n, prefix := range nets {
		for host := 1; host <= 180; host++ {
			iso := countries[(n*180+host)%len(countries)]
			out = append(out, GeoIPEntry{IP: fmt.Sprintf("%s.%d", prefix, host), CountryISO: iso,
				ASN: demoClientASN, ASOrg: "Demo Residential Broadband"})
		}
	}
	for host := 181; host <= 250; host++ {
		iso := []string{"NL", "SG", "RU", "VN", "RO"}[host%5]
		out = append(out, GeoIPEntry{IP: fmt.Sprintf("203.0.113.%d", host), CountryISO: iso,
			ASN: demoAttackerASN, ASOrg: "Demo Bulletproof Hosting"})
	}
	return out
}

// DemoAttackerCIDRs cover exactly the scenario attackers, 203.0.113.181-250.
var DemoAttackerCIDRs = []string{"203.0.113.181/32", "203.0.113.182/31", "203.0.113.184/29", "203.0.113.192/27", "203.0.113.224/28", "203.0.113.240/29", "203.0.113.248/31", "203.0.113.250/32"}

// WriteGeoIP writes a MaxMind-format database with City and ASN fields for entries.
func WriteGeoIP(path string, entries []GeoIPEntry) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "irflow-demo-City",
		Description:             map[string]string{"en": "irflow demo GeoIP for the documentation ranges"},
		RecordSize:              24,
		IncludeReservedNetworks: true, // the demo ranges are reserved by design
	})
	if err != nil {
		return fmt.Errorf("demo geoip: %w", err)
	}
	for _, e := range entries {
		cidr := e.IP
		if !strings.Contains(cidr, "/") {
			cidr += "/32"
		}
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("demo geoip %s: %w", e.IP, err)
		}
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{
				"iso_code": mmdbtype.String(e.CountryISO),
				"names":    mmdbtype.Map{"en": mmdbtype.String(countryNames[e.CountryISO])},
			},
			"autonomous_system_number":       mmdbtype.Uint32(e.ASN),
			"autonomous_system_organization": mmdbtype.String(e.ASOrg),
		}
		if e.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(e.City)}}
		}
		if err := tree.Insert(network, rec); err != nil {
			return fmt.Errorf("demo geoip %s: %w", e.IP, err)
		}
	}
	return writeFile(path, func(f *os.File) error {
		_, err := tree.WriteTo(f)
		return err
	})
}

// WriteThreatIntel writes a CSV threat-intel list naming the demo attackers.
func WriteThreatIntel(path string) error {
	var b strings.Builder
	b.WriteString("indicator,tags,source\n")
	for _, c := range DemoAttackerCIDRs {
		fmt.Fprintf(&b, "%s,scanner;sqli;bruteforce,irflow-demo-feed\n", c)
	}
	b.WriteString("evil.example,phishing,irflow-demo-feed\n")
	return writeFile(path, func(f *os.File) error {
		_, err := f.WriteString(b.String())
		return err
	})
}

// writeFile writes through a temporary file, so a reader never sees half a file.
func writeFile(path string, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
