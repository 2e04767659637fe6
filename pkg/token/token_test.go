package token

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var key = bytes.Repeat([]byte{7}, KeyLen)

func sign(t testing.TB, c Claims) string {
	t.Helper()
	s, err := Sign(&c, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	c := Claims{KeyID: 3, ExpiresAt: 1763800000, AdID: "ad_1.x-Y", UserID: "user@42"}
	c.ImpressionID[0], c.ImpressionID[15] = 1, 2
	s := sign(t, c)
	if len(s) > MaxEncodedLen || strings.ContainsAny(s, "+/=") {
		t.Fatalf("token %q is not short URL-safe base64", s)
	}
	var p Parsed
	if err := Parse(&p, []byte(s)); err != nil {
		t.Fatal(err)
	}
	if !Verify(&p, key) {
		t.Fatal("valid token does not verify")
	}
	if got := p.Claims(); got != c {
		t.Fatalf("claims %+v, want %+v", got, c)
	}
	if Verify(&p, bytes.Repeat([]byte{8}, KeyLen)) {
		t.Fatal("verified with the wrong key")
	}
	if !c.Expired(time.Unix(1763800000, 0)) || c.Expired(time.Unix(1763799999, 0)) {
		t.Fatal("Expired is wrong at the boundary")
	}
}

func TestTamper(t *testing.T) {
	s := []byte(sign(t, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad1"}))
	var p Parsed
	for i := range s {
		b := bytes.Clone(s)
		b[i] ^= 0x01
		if Parse(&p, b) == nil && Verify(&p, key) {
			t.Fatalf("flipping char %d still verifies", i)
		}
	}
}

func TestParseErrors(t *testing.T) {
	f := func(s string, want error) {
		t.Helper()
		var p Parsed
		if err := Parse(&p, []byte(s)); err != want {
			t.Fatalf("Parse(%q) = %v, want %v", s, err, want)
		}
	}
	f("", ErrEmpty)
	f(strings.Repeat("A", MaxEncodedLen+1), ErrTooLong)
	f("not*base64", ErrEncoding)
	f("AAAA", ErrShort)
	good := sign(t, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad1"})
	f("Ag"+good[2:], ErrVersion) // version byte 2
}

func TestSignErrors(t *testing.T) {
	f := func(c Claims, want error) {
		t.Helper()
		if _, err := Sign(&c, key); err != want {
			t.Fatalf("Sign(%+v) = %v, want %v", c, err, want)
		}
	}
	f(Claims{ExpiresAt: 1, AdID: ""}, ErrAdID)
	f(Claims{ExpiresAt: 1, AdID: strings.Repeat("a", 65)}, ErrAdID)
	f(Claims{ExpiresAt: 1, AdID: "a b"}, ErrAdID)
	f(Claims{ExpiresAt: 1, AdID: "a", UserID: "with space"}, ErrUserID)
	f(Claims{ExpiresAt: 0, AdID: "a"}, ErrExpiry)
}

func TestParseAllocs(t *testing.T) {
	s := []byte(sign(t, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad1", UserID: "u1"}))
	var p Parsed
	Parse(&p, s)
	if n := testing.AllocsPerRun(100, func() { Parse(&p, s) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}

func TestKeyring(t *testing.T) {
	var r Keyring
	if r.Get(1) != nil || r.Len() != 0 {
		t.Fatal("empty keyring has keys")
	}
	r.Set(1, key)
	r.Set(2, NewKey())
	if !bytes.Equal(r.Get(1), key) || r.Len() != 2 {
		t.Fatal("Set/Get")
	}
	var p Parsed
	Parse(&p, []byte(sign(t, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad1"})))
	if known, ok := r.Verify(&p); !known || !ok {
		t.Fatalf("Verify: known %v ok %v", known, ok)
	}
	if n := testing.AllocsPerRun(100, func() { r.Verify(&p) }); n != 0 && !raceEnabled {
		t.Fatalf("Keyring.Verify allocates %v times", n)
	}
	p.Raw[len(p.Raw)-1] ^= 1
	if known, ok := r.Verify(&p); !known || ok {
		t.Fatal("tampered MAC verified")
	}
	r.Set(1, nil)
	if r.Get(1) != nil || r.Len() != 1 {
		t.Fatal("remove")
	}
	if known, _ := r.Verify(&p); known {
		t.Fatal("removed key still known")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sign(f, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad1", UserID: "u"}))
	f.Add(sign(f, Claims{KeyID: 9, ExpiresAt: 1, AdID: strings.Repeat("z", 64), UserID: strings.Repeat("u", 128)}))
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		var p Parsed
		if err := Parse(&p, []byte(s)); err != nil {
			return
		}
		c := p.Claims()
		if !ValidAdID(c.AdID) || !ValidUserID(c.UserID) {
			t.Fatalf("parsed invalid ids %q %q", c.AdID, c.UserID)
		}
		if Verify(&p, key) {
			// Only tokens we signed verify; re-signing must give the same string.
			again, err := Sign(&c, key)
			if err != nil || again != s {
				t.Fatalf("verified token %q re-signs as %q (%v)", s, again, err)
			}
		}
	})
}

func BenchmarkParseKeyringVerify(b *testing.B) {
	s := []byte(sign(b, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad-1234567", UserID: "user-12345"}))
	var r Keyring
	r.Set(1, key)
	var p Parsed
	b.ReportAllocs()
	for b.Loop() {
		if Parse(&p, s) != nil {
			b.Fatal("bad")
		}
		if _, ok := r.Verify(&p); !ok {
			b.Fatal("bad")
		}
	}
}

func BenchmarkParseVerify(b *testing.B) {
	s := []byte(sign(b, Claims{KeyID: 1, ExpiresAt: 2e9, AdID: "ad-1234567", UserID: "user-12345"}))
	var p Parsed
	b.ReportAllocs()
	for b.Loop() {
		if Parse(&p, s) != nil || !Verify(&p, key) {
			b.Fatal("bad")
		}
	}
}
