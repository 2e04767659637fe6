// Package geo maps client IPs to countries with a MaxMind-format database
// (GeoLite2-Country, GeoIP2-Country or -City, or any MMDB with a country.iso_code
// path). An edge that has one configured trusts it over proxy headers.
package geo

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open database; safe for concurrent use. The file is memory-mapped; a
// lookup walks the search tree and decodes one short string (~1 µs).
type DB struct {
	r *maxminddb.Reader
}

// Open opens the database at path and checks that it answers country lookups.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Country returns the ISO 3166-1 alpha-2 code for ip, and false when the database
// has none (private ranges, unknown networks, malformed records).
func (d *DB) Country(ip netip.Addr) ([2]byte, bool) {
	var iso string
	if err := d.r.Lookup(ip.Unmap()).DecodePath(&iso, "country", "iso_code"); err != nil || len(iso) != 2 {
		return [2]byte{}, false
	}
	c := [2]byte{iso[0], iso[1]}
	if c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return [2]byte{}, false
	}
	return c, true
}

// Close unmaps the file.
func (d *DB) Close() error { return d.r.Close() }
