package enrich

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/irflow/irflow/incident"
)

// GeoIP looks IPs up in MaxMind-format databases: a City or Country one and,
// optionally, an ASN one. Nothing is downloaded: the files are the user's.
type GeoIP struct {
	city *maxminddb.Reader
	asn  *maxminddb.Reader
}

// record is the subset of GeoLite2-City/Country and GeoLite2-ASN irflow reads.
type record struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	ASN   uint   `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

// OpenGeoIP opens the databases (asnPath may be empty). A missing or corrupt
// file is an error naming it.
func OpenGeoIP(cityPath, asnPath string) (*GeoIP, error) {
	g := &GeoIP{}
	var err error
	if g.city, err = openDB(cityPath); err != nil {
		return nil, err
	}
	if asnPath != "" {
		if g.asn, err = openDB(asnPath); err != nil {
			g.city.Close()
			return nil, err
		}
	}
	return g, nil
}

func openDB(path string) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	// A file that opens but whose lookups fail is as broken as one that does not open.
	var rec record
	if err := r.Lookup(netip.MustParseAddr("1.1.1.1")).Decode(&rec); err != nil {
		r.Close()
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	return r, nil
}

// Lookup returns where ip is; ok is false when no database knows it.
func (g *GeoIP) Lookup(ip netip.Addr) (geo incident.IPGeo, ok bool, err error) {
	return g.lookup(ip, "", nil)
}

// ipString is ip.String(), reusing text when it is that already: most
// records write IPs canonically, and the log pipeline looks up millions.
func ipString(ip netip.Addr, text string) string {
	var buf [64]byte
	if b := ip.AppendTo(buf[:0]); string(b) == text {
		return text
	}
	return ip.String()
}

// geoPart is what one database says of a network.
type geoPart struct {
	iso, country, city string
	asn                uint
	asOrg              string
}

// geoCache holds decoded records by their data offset, per database. Every
// address of a network shares its record, so a hit is exactly what decoding
// again would give. Cleared when full: a bound, not an eviction policy.
type geoCache struct {
	parts [2]map[uintptr]geoPart
}

const geoCacheMax = 1 << 16

func (c *geoCache) get(db int, off uintptr) (geoPart, bool) {
	if c == nil || c.parts[db] == nil {
		return geoPart{}, false
	}
	p, ok := c.parts[db][off]
	return p, ok
}

func (c *geoCache) put(db int, off uintptr, p geoPart) {
	if c == nil {
		return
	}
	if c.parts[db] == nil || len(c.parts[db]) >= geoCacheMax {
		c.parts[db] = make(map[uintptr]geoPart, 256)
	}
	c.parts[db][off] = p
}

// lookup is Lookup remembering decoded records in c (nil: none). text is
// how the record wrote ip, reused for geo.IP when it is ip's own spelling.
func (g *GeoIP) lookup(ip netip.Addr, text string, c *geoCache) (geo incident.IPGeo, ok bool, err error) {
	defer func() { geo.IP = ipString(ip, text) }()
	for i, db := range [2]*maxminddb.Reader{g.city, g.asn} {
		if db == nil {
			continue
		}
		res := db.Lookup(ip)
		if !res.Found() {
			if err := res.Err(); err != nil {
				return geo, false, fmt.Errorf("geoip %s: %w", ip, err)
			}
			continue
		}
		p, hit := c.get(i, res.Offset())
		if !hit {
			var rec record
			if err := res.Decode(&rec); err != nil {
				return geo, false, fmt.Errorf("geoip %s: %w", ip, err)
			}
			p = geoPart{iso: rec.Country.ISOCode, country: rec.Country.Names["en"], city: rec.City.Names["en"], asn: rec.ASN, asOrg: rec.ASOrg}
			c.put(i, res.Offset(), p)
		}
		ok = true
		geo.CountryISO = first(geo.CountryISO, p.iso)
		geo.Country = first(geo.Country, p.country)
		geo.City = first(geo.City, p.city)
		if geo.ASN == 0 {
			geo.ASN, geo.ASOrg = p.asn, p.asOrg
		}
	}
	return geo, ok, nil
}

// Close releases the databases.
func (g *GeoIP) Close() error {
	var errs []error
	for _, db := range []*maxminddb.Reader{g.city, g.asn} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
