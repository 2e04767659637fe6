package abi

import (
	"bytes"
	"strings"
	"testing"
)

func sampleClick() *Click {
	c := &Click{
		TimeMs: 1_763_800_000_123, KeyID: 7,
		Token: []byte("tok"), AdID: []byte("ad-1"), UserID: []byte("u1"),
		UserAgent: []byte("Mozilla/5.0"), Referer: []byte("https://example.com/"),
		Country: [2]byte{'F', 'R'},
	}
	c.ImpressionID[0], c.ImpressionID[15] = 1, 2
	c.IP[10], c.IP[11], c.IP[12], c.IP[15] = 0xff, 0xff, 192, 1
	return c
}

func equalClick(a, b *Click) bool {
	return a.TimeMs == b.TimeMs && a.KeyID == b.KeyID && a.ImpressionID == b.ImpressionID &&
		a.IP == b.IP && a.Country == b.Country && bytes.Equal(a.Token, b.Token) &&
		bytes.Equal(a.AdID, b.AdID) && bytes.Equal(a.UserID, b.UserID) &&
		bytes.Equal(a.UserAgent, b.UserAgent) && bytes.Equal(a.Referer, b.Referer)
}

func TestClickRoundTrip(t *testing.T) {
	buf := make([]byte, InputLen)
	in := sampleClick()
	n := EncodeClick(buf, in)
	var out Click
	if !DecodeClick(buf[:n], &out) {
		t.Fatal("decode failed")
	}
	if !equalClick(in, &out) {
		t.Fatalf("round trip: got %+v want %+v", out, *in)
	}
	if DecodeClick(buf[:n-1], &out) || DecodeClick(buf[:HeaderLen-1], &out) {
		t.Fatal("decode accepted a short buffer")
	}
}

func TestEncodeClips(t *testing.T) {
	buf := make([]byte, InputLen)
	in := sampleClick()
	in.Token = make([]byte, MaxTokenLen+1)
	in.UserAgent = []byte(strings.Repeat("a", 2000))
	in.Referer = []byte(strings.Repeat("r", 2000))
	in.AdID = []byte(strings.Repeat("d", 100))
	in.UserID = []byte(strings.Repeat("u", 200))
	n := EncodeClick(buf, in)
	if n != MaxClickLen-MaxTokenLen {
		t.Fatalf("n = %d", n)
	}
	var out Click
	if !DecodeClick(buf[:n], &out) {
		t.Fatal("decode failed")
	}
	if len(out.Token) != 0 || len(out.UserAgent) != MaxUserAgentLen || len(out.Referer) != MaxRefererLen ||
		len(out.AdID) != MaxAdIDLen || len(out.UserID) != MaxUserIDLen {
		t.Fatalf("not clipped: %d %d %d %d %d", len(out.Token), len(out.UserAgent), len(out.Referer), len(out.AdID), len(out.UserID))
	}
	if MaxClickLen > InputLen {
		t.Fatal("BUG: MaxClickLen > InputLen")
	}
}

func TestVerdict(t *testing.T) {
	f := func(v uint64, wantOK bool) {
		t.Helper()
		if _, _, _, ok := UnpackVerdict(v); ok != wantOK {
			t.Errorf("UnpackVerdict(%#x) ok = %v, want %v", v, ok, wantOK)
		}
	}
	f(PackVerdict(ActionAccept, 0, 0), true)
	f(PackVerdict(ActionAccept, 1, 0), false)
	f(PackVerdict(ActionAccept, 0, 1), false)
	f(PackVerdict(ActionReject, 3, 0), true)
	f(PackVerdict(ActionReject, 0, 0), false)
	f(PackVerdict(ActionReject, 3, 5), false)
	f(PackVerdict(ActionFlag, 20, 1000), true)
	f(PackVerdict(ActionFlag, 0, 0), true)
	f(PackVerdict(ActionFlag, 20, 1001), false)
	f(PackVerdict(3, 0, 0), false)
	f(PackVerdict(ActionAccept, 0, 0)|1<<8, false)
}

func TestLabels(t *testing.T) {
	k := func(s string, want bool) {
		t.Helper()
		if ValidLabelKey([]byte(s)) != want {
			t.Errorf("ValidLabelKey(%q) != %v", s, want)
		}
	}
	k("fraud", true)
	k("ua_class2", true)
	k("", false)
	k("2x", false)
	k("Fraud", false)
	k("a-b", false)
	k(strings.Repeat("a", MaxLabelLen), true)
	k(strings.Repeat("a", MaxLabelLen+1), false)
	v := func(s string, want bool) {
		t.Helper()
		if ValidLabelValue([]byte(s)) != want {
			t.Errorf("ValidLabelValue(%q) != %v", s, want)
		}
	}
	v("ip_burst", true)
	v("US-CA:1.2", true)
	v("", false)
	v("a b", false)
	v("a\x00", false)
	v("é", false)
	v(strings.Repeat("v", MaxLabelLen+1), false)
}

func FuzzDecodeClick(f *testing.F) {
	buf := make([]byte, InputLen)
	f.Add(buf[:EncodeClick(buf, sampleClick())])
	f.Add(buf[:EncodeClick(buf, &Click{})])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Click
		if !DecodeClick(b, &c) {
			return
		}
		// Whatever decodes must re-encode to the same bytes.
		out := make([]byte, InputLen)
		if n := EncodeClick(out, &c); !bytes.Equal(out[:n], b) {
			t.Fatalf("re-encode differs:\n%x\n%x", out[:n], b)
		}
	})
}

func FuzzEncodeClick(f *testing.F) {
	f.Add(int64(1), uint32(2), []byte("tok"), []byte("ad"), []byte("u"), []byte("ua"), []byte("ref"), []byte("0123456789abcdef"))
	f.Fuzz(func(t *testing.T, ms int64, key uint32, tok, ad, user, ua, ref, ip []byte) {
		in := Click{TimeMs: ms, KeyID: key, Token: tok, AdID: ad, UserID: user, UserAgent: ua, Referer: ref}
		copy(in.IP[:], ip)
		copy(in.ImpressionID[:], ip)
		buf := make([]byte, InputLen)
		n := EncodeClick(buf, &in)
		var out Click
		if !DecodeClick(buf[:n], &out) {
			t.Fatal("decode of an encoded click failed")
		}
		want := in
		if len(want.Token) > MaxTokenLen {
			want.Token = nil
		}
		want.AdID, want.UserID = clip(ad, MaxAdIDLen), clip(user, MaxUserIDLen)
		want.UserAgent, want.Referer = clip(ua, MaxUserAgentLen), clip(ref, MaxRefererLen)
		if !equalClick(&want, &out) {
			t.Fatalf("round trip: got %+v want %+v", out, want)
		}
	})
}

func FuzzVerdict(f *testing.F) {
	f.Add(PackVerdict(ActionFlag, 20, 700))
	f.Add(PackVerdict(ActionReject, 3, 0))
	f.Add(^uint64(0))
	f.Fuzz(func(t *testing.T, v uint64) {
		a, r, s, ok := UnpackVerdict(v)
		if ok && PackVerdict(a, r, s) != v {
			t.Fatalf("valid verdict %#x does not round trip", v)
		}
	})
}

func TestDecodeAllocs(t *testing.T) {
	buf := make([]byte, InputLen)
	n := EncodeClick(buf, sampleClick())
	out := make([]byte, InputLen)
	var c Click
	if a := testing.AllocsPerRun(100, func() { DecodeClick(buf[:n], &c); EncodeClick(out, &c) }); a != 0 {
		t.Fatalf("allocs = %v", a)
	}
}
