package geo

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeDB builds a small GeoIP2-Country-shaped database with MaxMind's writer.
func writeDB(t testing.TB, nets map[string]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, iso := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCountry(t *testing.T) {
	db, err := Open(writeDB(t, map[string]string{"203.0.113.0/24": "DE", "2001:db8::/32": "JP", "198.51.100.0/24": "bad"}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := func(ip, want string) {
		t.Helper()
		c, ok := db.Country(netip.MustParseAddr(ip))
		if got := string(c[:]); (want == "") == ok || ok && got != want {
			t.Fatalf("Country(%s) = %q %v, want %q", ip, got, ok, want)
		}
	}
	f("203.0.113.7", "DE")
	f("::ffff:203.0.113.7", "DE")
	f("2001:db8::1", "JP")
	f("192.0.2.1", "")
	f("198.51.100.1", "") // malformed code
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Fatal("missing database opened")
	}
}
