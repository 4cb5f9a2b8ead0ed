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
	geo.IP = ip.String()
	for _, db := range []*maxminddb.Reader{g.city, g.asn} {
		if db == nil {
			continue
		}
		var rec record
		res := db.Lookup(ip)
		if !res.Found() {
			if err := res.Err(); err != nil {
				return geo, false, fmt.Errorf("geoip %s: %w", ip, err)
			}
			continue
		}
		if err := res.Decode(&rec); err != nil {
			return geo, false, fmt.Errorf("geoip %s: %w", ip, err)
		}
		ok = true
		geo.CountryISO = first(geo.CountryISO, rec.Country.ISOCode)
		geo.Country = first(geo.Country, rec.Country.Names["en"])
		geo.City = first(geo.City, rec.City.Names["en"])
		if geo.ASN == 0 {
			geo.ASN, geo.ASOrg = rec.ASN, rec.ASOrg
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
