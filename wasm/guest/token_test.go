package guest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/clickagg/clickagg/pkg/token"
)

func signed(t testing.TB, ad, user string) []byte {
	t.Helper()
	c := token.Claims{KeyID: 0x01020304, ExpiresAt: 1_900_000_000, AdID: ad, UserID: user}
	c.ImpressionID[0], c.ImpressionID[15] = 0xaa, 0xbb
	enc, err := token.Sign(&c, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(enc)
	return raw
}

// agree checks that ParseToken and token.Parse agree on raw: both fail, or both
// succeed with the same fields.
func agree(t *testing.T, raw []byte) {
	t.Helper()
	var p token.Parsed
	perr := token.Parse(&p, []byte(base64.RawURLEncoding.EncodeToString(raw)))
	var g Token
	gerr := ParseToken(raw, &g)
	if (perr == nil) != (gerr == nil) {
		t.Fatalf("token %x: token.Parse %v, ParseToken %v", raw, perr, gerr)
	}
	if perr != nil {
		return
	}
	if g.KeyID != p.KeyID || g.ExpiresAt != p.Expiry || g.ImpressionID != p.ImpID ||
		!bytes.Equal(g.AdID, p.AdID) || !bytes.Equal(g.UserID, p.UserID) ||
		!bytes.Equal(g.Signed, p.Signed()) || !bytes.Equal(g.MAC, p.MAC()) {
		t.Fatalf("token %x: fields differ: %+v vs %+v", raw, g, p)
	}
}

func TestParseToken(t *testing.T) {
	good := signed(t, "ad-1", "user-1")
	agree(t, good)
	agree(t, signed(t, strings.Repeat("a", 64), strings.Repeat("~", 128)))
	agree(t, signed(t, "a", ""))
	agree(t, nil)
	agree(t, good[:len(good)-1])
	agree(t, append(append([]byte{}, good...), 'x'))
	bad := append([]byte{}, good...)
	bad[0] = 2
	agree(t, bad)
	var tok Token
	if err := ParseToken(good, &tok); err != nil || tok.KeyID != 0x01020304 || string(tok.AdID) != "ad-1" {
		t.Fatalf("%+v, %v", tok, err)
	}
	if a := testing.AllocsPerRun(100, func() { ParseToken(good, &tok) }); a != 0 {
		t.Fatalf("ParseToken allocates %v times", a)
	}
}

// FuzzParseToken is a differential test against pkg/token, whose layout the
// signature check reimplements on raw bytes.
func FuzzParseToken(f *testing.F) {
	f.Add(signed(f, "ad-1", "user-1"))
	f.Add(signed(f, strings.Repeat("Z", 64), ""))
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, raw []byte) { agree(t, raw) })
}

func TestVerdicts(t *testing.T) {
	if Accept() != 0 || Reject(3) != 3<<32|1 || Flag(20, 5000) != 20<<32|1000<<16|2 {
		t.Fatalf("%#x %#x %#x", Accept(), Reject(3), Flag(20, 5000))
	}
	if !ValidLabel("fraud", "ip_burst") || ValidLabel("Fraud", "x") || ValidLabel("k", "") {
		t.Fatal("ValidLabel")
	}
}
