package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleClicks(n int) []Click {
	cs := make([]Click, n)
	for i := range cs {
		cs[i] = Click{
			TimeMs:  1763800000000 + int64(i*7),
			Outcome: Outcome(1 + i%int(maxOutcome)),
			Reason:  uint32(i % 3),
			Score:   uint32(i % 1000),
			AdID:    "ad-" + strings.Repeat("x", i%5),
			UserID:  "",
			Country: [2]byte{'D', 'E'},
			IP:      netip.MustParseAddr("203.0.113.7"),
		}
		cs[i].ImpressionID[0] = byte(i)
		if i%2 == 0 {
			cs[i].UserID = "u42"
			cs[i].IP = netip.MustParseAddr("2001:db8::1")
			cs[i].Labels = []Label{{"device", "mobile"}}
		}
	}
	return cs
}

func TestClicksRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 3, 500} { // 500 exercises compression
		cs := sampleClicks(n)
		msg := AppendClicks(nil, cs)
		got, err := DecodeClicks(nil, msg)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if n == 0 {
			got = []Click{}
			cs = []Click{}
		}
		if !reflect.DeepEqual(got, cs) {
			t.Fatalf("n=%d: round trip differs\n got %+v\nwant %+v", n, got[:min(2, n)], cs[:min(2, n)])
		}
		if n == 500 && msg[2]&flagS2 == 0 {
			t.Fatal("large batch was not compressed")
		}
	}
}

func TestPartialRoundTrip(t *testing.T) {
	p := Partial{Edge: "pop-a", Epoch: 0xdeadbeef, FromSeq: 10, ThroughSeq: 42, WatermarkMs: 1763800000123,
		Cells: []Cell{{Minute: 29396666, AdID: "b", Country: [2]byte{'U', 'S'}, Dims: "device=mobile", Clicks: 3}, {Minute: 29396665, AdID: "a", Country: [2]byte{'Z', 'Z'}, Clicks: 1}}}
	SortCells(p.Cells)
	p.Refs = []Ref{{ImpressionID: [16]byte{1}, TimeMs: 1763800000100, ExpiresAt: 1763803600, Cell: 1},
		{ImpressionID: [16]byte{2}, TimeMs: 1763800000050, ExpiresAt: 1763800001, Cell: 0}}
	if p.Cells[0].AdID != "a" {
		t.Fatal("SortCells did not order by minute")
	}
	got, err := DecodePartial(AppendPartial(nil, &p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("got %+v want %+v", got, p)
	}
	if p.MsgID() != "pop-a.deadbeef.p.42" {
		t.Fatalf("MsgID %q", p.MsgID())
	}
	hb := Partial{Edge: "pop-a", Epoch: 1, FromSeq: 43, ThroughSeq: 42, WatermarkMs: 5}
	if !hb.Heartbeat() || hb.MsgID() != "pop-a.1.h.5" {
		t.Fatalf("heartbeat %v %q", hb.Heartbeat(), hb.MsgID())
	}
}

func TestDecodeErrors(t *testing.T) {
	good := AppendPartial(nil, &Partial{Edge: "e1", Cells: []Cell{{Minute: 1, AdID: "a", Country: [2]byte{'Z', 'Z'}, Clicks: 1}}})
	f := func(name string, msg []byte, want string) {
		t.Helper()
		_, err := DecodePartial(msg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err = %v, want containing %q", name, err, want)
		}
	}
	f("empty", nil, "truncated")
	f("kind", append([]byte{KindClicks}, good[1:]...), "kind")
	f("version", append([]byte{KindPartial, 9}, good[2:]...), "version")
	f("flags", append([]byte{KindPartial, 1, 0x80}, good[3:]...), "flags")
	f("truncated", good[:len(good)-1], "truncated")
	f("short", good[:5], "truncated")
	f("trailing", append(bytes.Clone(good), 0), "trailing")
	f("bad edge", AppendPartial(nil, &Partial{Edge: "Bad Edge"}), "edge id")
	huge := append([]byte{KindPartial, 1, 0}, 2, 'e', '1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
	f("count", huge, "does not fit")
	badRef := AppendPartial(nil, &Partial{Edge: "e1", Cells: []Cell{{AdID: "a", Clicks: 1}}, Refs: []Ref{{Cell: 1}}})
	f("ref cell", badRef, "names cell")
	if _, err := DecodeClicks(nil, []byte{KindClicks, 1, flagS2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}); err == nil {
		t.Fatal("bad s2 body accepted")
	}
}

func TestDims(t *testing.T) {
	f := func(want string, ls ...Label) {
		t.Helper()
		if got := Dims(ls); got != want {
			t.Fatalf("Dims(%v) = %q, want %q", ls, got, want)
		}
	}
	f("")
	f("a=1&b=2", Label{"b", "2"}, Label{"a", "1"})
	f("k=v", Label{"k", "v"})
	f(DimsOverflow, Label{"a", "1"}, Label{"b", "1"}, Label{"c", "1"}, Label{"d", "1"}, Label{"e", "1"}, Label{"f", "1"}, Label{"g", "1"}, Label{"h", "1"}, Label{"i", "1"})
	f(DimsOverflow, Label{"a&b", "1"})
	f(DimsOverflow, Label{"k", strings.Repeat("v", MaxDimsLen)})
	if !HasDim("a=1&b=2", "b=2") || HasDim("a=1&b=2", "b=22") || HasDim("", "a=1") || !HasDim("a=1", "a=1") {
		t.Fatal("HasDim")
	}
}

func TestCheckRedirectURL(t *testing.T) {
	f := func(u string, ok bool) {
		t.Helper()
		if err := CheckRedirectURL(u); (err == nil) != ok {
			t.Fatalf("CheckRedirectURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
	f("https://example.com/landing?x=1", true)
	f("http://example.com", true)
	f("//example.com", false)
	f("javascript:alert(1)", false)
	f("/relative", false)
	f("https://user:pw@example.com", false)
	f("ftp://example.com", false)
	f("https://example.com/\r\nSet-Cookie: x", false)
}

func TestEdgeID(t *testing.T) {
	for id, ok := range map[string]bool{"pop-a": true, "a": true, "hub": false, "": false, "Pop": false, "-a": false, "a.b": false, strings.Repeat("a", 33): false} {
		if ValidEdgeID(id) != ok {
			t.Errorf("ValidEdgeID(%q) != %v", id, ok)
		}
	}
}

func FuzzDecodePartial(f *testing.F) {
	f.Add(AppendPartial(nil, &Partial{Edge: "pop-a", Epoch: 7, FromSeq: 1, ThroughSeq: 9, WatermarkMs: 99,
		Cells: []Cell{{Minute: 5, AdID: "ad1", Country: [2]byte{'F', 'R'}, Clicks: 2}}}))
	f.Add([]byte{KindPartial, 1, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		p, err := DecodePartial(msg)
		if err != nil {
			return
		}
		again, err := DecodePartial(AppendPartial(nil, &p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

func FuzzDecodeClicks(f *testing.F) {
	f.Add(AppendClicks(nil, sampleClicks(3)))
	f.Add(AppendClicks(nil, sampleClicks(200)))
	f.Fuzz(func(t *testing.T, msg []byte) {
		cs, err := DecodeClicks(nil, msg)
		if err != nil {
			return
		}
		again, err := DecodeClicks(nil, AppendClicks(nil, cs))
		if err != nil || len(again) != len(cs) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
