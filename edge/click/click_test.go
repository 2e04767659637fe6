package click

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"

	"github.com/clickagg/clickagg/edge/catalog"
	"github.com/clickagg/clickagg/edge/dedup"
	"github.com/clickagg/clickagg/edge/filter"
	"github.com/clickagg/clickagg/edge/journal"
	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	key   = []byte("0123456789abcdef0123456789abcdef")
)

// cacheDir shares wazero's compilation cache between the tests, so the sigcheck
// module compiles once per run.
var cacheDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "clicktest")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

type rig struct {
	h   *Handler
	js  jetstream.JetStream
	j   *journal.Journal
	now atomic.Int64
}

func newRig(t testing.TB) *rig { return newRigSync(t, false) }

func newRigSync(t testing.TB, fsync bool) *rig {
	t.Helper()
	ns, err := embednats.Start(embednats.Options{Name: "t", Dir: t.TempDir(), Domain: "t", SyncAlways: fsync, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	if _, err := ns.JS.CreateStream(context.Background(), jetstream.StreamConfig{Name: wire.ClicksStream, Subjects: []string{"c"}}); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	cat.Keys.Set(1, key)
	cat.Apply(wire.AdKey("ad1"), []byte(`{"advertiser_id":"acme","redirect_url":"https://example.com/landing"}`), false)
	r := &rig{js: ns.JS}
	r.now.Store(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(r.now.Load()) }
	r.j = journal.New(journal.Options{JS: ns.JS, Subject: "c", MsgIDPrefix: "t.", Now: now, Logger: quiet})
	t.Cleanup(r.j.Close)
	fm, err := filter.New(context.Background(), filter.Options{Keys: &cat.Keys, Dir: cacheDir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fm.Close(context.Background()) })
	r.h = New(Options{Catalog: cat, Filters: fm, Dedup: dedup.New(), Journal: r.j, Now: now, Logger: quiet,
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return r
}

func (r *rig) token(t testing.TB, ad, user string, imp byte, exp time.Duration) string {
	c := token.Claims{KeyID: 1, ExpiresAt: time.UnixMilli(r.now.Load()).Add(exp).Unix(), AdID: ad, UserID: user}
	c.ImpressionID[0] = imp
	s, err := token.Sign(&c, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type req struct {
	method, path, peer string
	headers            map[string]string
}

func (r *rig) do(q req) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var fr fasthttp.Request
	fr.Header.SetMethod(q.method)
	fr.SetRequestURI(q.path)
	for k, v := range q.headers {
		fr.Header.Set(k, v)
	}
	peer := q.peer
	if peer == "" {
		peer = "127.0.0.1"
	}
	ctx.Init(&fr, &net.TCPAddr{IP: net.ParseIP(peer), Port: 5555}, nil)
	r.h.Serve(&ctx)
	var out fasthttp.Response
	ctx.Response.CopyTo(&out)
	return &out
}

// journaled reads every click record the journal wrote.
func (r *rig) journaled(t *testing.T) []wire.Click {
	t.Helper()
	s, _ := r.js.Stream(context.Background(), wire.ClicksStream)
	info, _ := s.Info(context.Background())
	var out []wire.Click
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = wire.DecodeClicks(out, m.Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestOutcomes(t *testing.T) {
	r := newRig(t)
	good := r.token(t, "ad1", "u1", 1, time.Hour)
	expired := r.token(t, "ad1", "", 2, -time.Second)
	unknownAd := r.token(t, "nope", "", 3, time.Hour)
	noUser := r.token(t, "ad1", "", 4, time.Hour)
	cases := []struct {
		name string
		q    req
		code int
		loc  string
	}{
		{"counted", req{method: "GET", path: "/c/" + good, headers: map[string]string{"X-Forwarded-For": "203.0.113.9, 10.0.0.1", "X-Geo-Country": "DE"}}, 302, "https://example.com/landing"},
		{"duplicate", req{method: "POST", path: "/c/" + good}, 302, "https://example.com/landing"},
		{"expired", req{method: "GET", path: "/c/" + expired}, 302, "https://example.com/landing"},
		{"unknown ad", req{method: "GET", path: "/c/" + unknownAd}, 404, ""},
		{"untrusted proxy", req{method: "GET", path: "/c/" + noUser, peer: "198.51.100.1",
			headers: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Geo-Country": "DE", "Cookie": "uid=cookie-user"}}, 302, "https://example.com/landing"},
		{"malformed", req{method: "GET", path: "/c/%%%"}, 400, ""},
		{"bad signature", req{method: "GET", path: "/c/" + good[:len(good)-2] + flip(good[len(good)-2:])}, 403, ""},
		{"method", req{method: "PUT", path: "/c/" + good}, 405, ""},
		{"other path", req{method: "GET", path: "/x"}, 404, ""},
	}
	for _, tc := range cases {
		resp := r.do(tc.q)
		if resp.StatusCode() != tc.code || string(resp.Header.Peek("Location")) != tc.loc {
			t.Errorf("%s: %d %q, want %d %q (%s)", tc.name, resp.StatusCode(), resp.Header.Peek("Location"), tc.code, tc.loc, resp.Body())
		}
		if tc.code == 302 && string(resp.Header.Peek("Cache-Control")) != "no-store" {
			t.Errorf("%s: Cache-Control %q", tc.name, resp.Header.Peek("Cache-Control"))
		}
		if tc.code >= 400 && !strings.Contains(string(resp.Body()), `"error"`) {
			t.Errorf("%s: body %s", tc.name, resp.Body())
		}
	}
	r.j.Close()
	recs := r.journaled(t)
	want := []struct {
		o      wire.Outcome
		ip, cc string
		user   string
	}{
		{wire.OutcomeCounted, "203.0.113.9", "DE", "u1"},
		{wire.OutcomeDuplicate, "127.0.0.1", "ZZ", "u1"},
		{wire.OutcomeExpired, "127.0.0.1", "ZZ", ""},
		{wire.OutcomeUnknownAd, "127.0.0.1", "ZZ", ""},
		{wire.OutcomeCounted, "198.51.100.1", "ZZ", "cookie-user"},
	}
	if len(recs) != len(want) {
		t.Fatalf("journaled %d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		c := recs[i]
		if c.Outcome != w.o || c.IP.String() != w.ip || string(c.Country[:]) != w.cc || c.UserID != w.user {
			t.Errorf("record %d: %v %v %s %q, want %v %s %s %q", i, c.Outcome, c.IP, c.Country[:], c.UserID, w.o, w.ip, w.cc, w.user)
		}
		if i > 0 && c.TimeMs < recs[i-1].TimeMs {
			t.Errorf("record %d time went backwards", i)
		}
	}
	if body := string(r.do(req{method: "GET", path: "/metrics"}).Body()); !strings.Contains(body, `clickagg_edge_clicks_total{outcome="counted"} 2`) {
		t.Errorf("metrics:\n%s", body)
	}
	if r.do(req{method: "GET", path: "/healthz"}).StatusCode() != 200 {
		t.Error("healthz")
	}
}

type countryTable map[string][2]byte // a country table for handler tests (the real database is tested in edge/geo)

func (f countryTable) Country(a netip.Addr) ([2]byte, bool) { c, ok := f[a.String()]; return c, ok }

// A configured GeoIP database wins over the proxy's X-Geo-Country header.
func TestGeoWins(t *testing.T) {
	r := newRig(t)
	r.h.o.Geo = countryTable{"203.0.113.9": {'J', 'P'}}
	tok := r.token(t, "ad1", "", 50, time.Hour)
	other := r.token(t, "ad1", "", 51, time.Hour)
	r.do(req{method: "GET", path: "/c/" + tok, headers: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Geo-Country": "DE"}})
	r.do(req{method: "GET", path: "/c/" + other, headers: map[string]string{"X-Forwarded-For": "192.0.2.1", "X-Geo-Country": "DE"}})
	r.j.Close()
	recs := r.journaled(t)
	if len(recs) != 2 || string(recs[0].Country[:]) != "JP" || string(recs[1].Country[:]) != "ZZ" {
		t.Fatalf("countries %q %q, want JP (database) and ZZ (not in it; header ignored)", recs[0].Country[:], recs[1].Country[:])
	}
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// The decision path (parse, verify, look up, dedup) allocates nothing.
func TestDecisionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts do not hold under -race (sync.Pool drops items)")
	}
	r := newRig(t)
	tok := []byte(r.token(t, "ad1", "", 9, time.Hour))
	cat := r.h.o.Catalog
	var p token.Parsed
	if token.Parse(&p, tok) != nil {
		t.Fatal("parse")
	}
	for name, f := range map[string]func(){
		"parse":  func() { token.Parse(&p, tok) },
		"verify": func() { cat.Keys.Verify(&p) },
		"lookup": func() { cat.Ad(p.AdID) },
		"dedup":  func() { r.h.o.Dedup.Add(p.ImpID, p.Expiry) },
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per click", name, n)
		}
	}
}

// BenchmarkClick is the full click path in-process: decide, journal durably in a
// real JetStream stream (group commit), write the 302; "fsync" syncs every batch
// to disk before answering (the edge's --fsync).
//
// "hot" sends 90% of clicks to one ad and the rest over 10k others, "spread" sends
// them evenly over 10k ads: a hot ad must cost nothing extra.
func BenchmarkClick(b *testing.B) {
	b.Run("page-cache", func(b *testing.B) { benchClick(b, false, 0) })
	b.Run("fsync", func(b *testing.B) { benchClick(b, true, 0) })
	b.Run("hot", func(b *testing.B) { benchClick(b, false, 0.9) })
	b.Run("spread", func(b *testing.B) { benchClick(b, false, -1) })
}

// benchClick clicks fresh impressions; hot is the share of clicks on ad1 (0: all of
// them, -1: none, spread evenly over 10k ads).
func benchClick(b *testing.B, fsync bool, hot float64) {
	r := newRigSync(b, fsync)
	const spread = 10_000
	if hot != 0 {
		for i := 0; i < spread; i++ {
			r.h.o.Catalog.Apply(wire.AdKey(fmt.Sprintf("ad-%d", i)), []byte(`{"advertiser_id":"a","redirect_url":"https://example.com/"}`), false)
		}
	}
	// One fresh impression per click: a repeated one would be a duplicate, which is
	// answered without waiting for the journal.
	toks := make([]string, b.N)
	for i := range toks {
		ad := "ad1"
		if hot < 0 || hot > 0 && float64(i%100) >= hot*100 {
			ad = fmt.Sprintf("ad-%d", (i*7919)%spread)
		}
		c := token.Claims{KeyID: 1, ExpiresAt: time.UnixMilli(r.now.Load()).Add(time.Hour).Unix(), AdID: ad}
		c.ImpressionID[0], c.ImpressionID[1], c.ImpressionID[2], c.ImpressionID[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		toks[i], _ = token.Sign(&c, key)
	}
	b.ResetTimer()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32) // many connections, as a loaded edge has
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var fr fasthttp.Request
		fr.Header.SetMethod("GET")
		ctx.Init(&fr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		for pb.Next() {
			i := next.Add(1) - 1
			ctx.Request.SetRequestURI("/c/" + toks[i])
			ctx.Response.Reset()
			r.h.Serve(&ctx)
			if ctx.Response.StatusCode() != 302 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		}
	})
}
