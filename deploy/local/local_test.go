package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clickagg/clickagg/core"
	"github.com/clickagg/clickagg/edge"
	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/wasm/filters"
)

const admin = "test-admin-token-0123456789"

// wasmCache is one wazero compilation cache for every edge these tests start.
var wasmCache string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "clickagg-wasmcache")
	if err != nil {
		panic(err)
	}
	wasmCache = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var hc = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func quietLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startLocal starts the local deployment on free ports in a temp dir.
func startLocal(t *testing.T, dir string) *deployment {
	t.Helper()
	c := &config{data: dir, coreAddr: "127.0.0.1:0", leafAddr: freeAddr(t),
		edgeAddrs: "127.0.0.1:0,127.0.0.1:0", adminToken: admin, wasmCache: wasmCache}
	d, err := start(context.Background(), c, quietLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	waitRegistered(t, d.edges...)
	return d
}

func waitRegistered(t *testing.T, es ...*edge.Node) {
	t.Helper()
	for _, e := range es {
		select {
		case <-e.Registered():
		case <-time.After(20 * time.Second):
			t.Fatalf("edge %s did not register", e.ID())
		}
	}
}

type client struct {
	t   *testing.T
	api string
	tok string
}

// send makes one API request and returns the status and body.
func (c client) send(method, path string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.api+path, body)
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// do sends a JSON body and decodes the answer into out (when not nil).
func (c client) do(method, path, body string, out any) int {
	c.t.Helper()
	code, b := c.send(method, path, strings.NewReader(body))
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, code, b, err)
		}
	}
	return code
}

// upload PUTs a Wasm module as a filter and returns the status and body.
func (c client) upload(name string, module []byte) (int, string) {
	c.t.Helper()
	code, b := c.send("PUT", "/v1/filters/"+name, bytes.NewReader(module))
	return code, string(b)
}

func (c client) putAd(id, adv string) {
	c.t.Helper()
	body := fmt.Sprintf(`{"advertiser_id":%q,"redirect_url":"https://example.com/%s"}`, adv, id)
	if code := c.do("PUT", "/v1/ads/"+id, body, nil); code != 201 && code != 200 {
		c.t.Fatalf("put ad %s: %d", id, code)
	}
}

type impressions struct {
	Impressions []struct {
		ImpressionID string `json:"impression_id"`
		Token        string `json:"token"`
		ClickPath    string `json:"click_path"`
		ExpiresAt    string `json:"expires_at"`
	} `json:"impressions"`
}

func (c client) mint(ad string, n int) []string {
	c.t.Helper()
	var r impressions
	if code := c.do("POST", "/v1/impressions", fmt.Sprintf(`{"ad_id":%q,"count":%d}`, ad, n), &r); code != 200 || len(r.Impressions) != n {
		c.t.Fatalf("mint %s: %d, %d impressions", ad, code, len(r.Impressions))
	}
	paths := make([]string, n)
	for i, imp := range r.Impressions {
		paths[i] = imp.ClickPath
	}
	return paths
}

// click clicks path at an edge and returns the status and Location.
func click(t *testing.T, edgeAddr, path, country string) (int, string) {
	t.Helper()
	h := http.Header{}
	if country != "" {
		h.Set("X-Geo-Country", country)
	}
	return clickWith(t, edgeAddr, path, h)
}

// clickWith clicks path at an edge with request headers (the loopback peer is a
// trusted proxy, so X-Forwarded-For and X-Geo-Country are taken).
func clickWith(t *testing.T, edgeAddr, path string, h http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+edgeAddr+path, nil)
	req.Header = h
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

type countResp struct {
	AdID            string `json:"ad_id"`
	Clicks          uint64 `json:"clicks"`
	CompleteThrough string `json:"complete_through"`
	Series          []struct {
		Minute string `json:"minute"`
		Clicks uint64 `json:"clicks"`
	} `json:"series"`
}

type topResp struct {
	Ads []struct {
		AdID   string `json:"ad_id"`
		Clicks uint64 `json:"clicks"`
	} `json:"ads"`
	CompleteThrough string `json:"complete_through"`
}

func (c client) count(ad, q string) countResp {
	c.t.Helper()
	var r countResp
	if code := c.do("GET", "/v1/ads/"+ad+"/clicks?"+q, "", &r); code != 200 {
		c.t.Fatalf("count %s: %d", ad, code)
	}
	return r
}

// waitCounts polls until every ad's count over the last 10 minutes is as wanted.
func (c client) waitCounts(want map[string]uint64) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]uint64{}
		for ad := range want {
			got[ad] = c.count(ad, "last=10").Clicks
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("counts %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The walking skeleton: register ads, mint impressions, click at both edges, read
// exact counts and the exact top-N back.
func TestLocalDeployment(t *testing.T) {
	d := startLocal(t, t.TempDir())
	c := client{t, "http://" + d.core.APIAddr(), admin}
	for _, ad := range []string{"a1", "a2", "a3"} {
		c.putAd(ad, "acme")
	}
	want := map[string]uint64{"a1": 7, "a2": 4, "a3": 4}
	for ad, n := range want {
		for i, p := range c.mint(ad, int(n)) {
			e := d.edges[i%2]
			code, loc := click(t, e.Addr(), p, []string{"US", "DE"}[i%2])
			if code != 302 || loc != "https://example.com/"+ad {
				t.Fatalf("click %s at %s: %d %q", ad, e.ID(), code, loc)
			}
		}
	}
	c.waitCounts(want)
	var top topResp
	if code := c.do("GET", "/v1/top?n=2&last=5", "", &top); code != 200 {
		t.Fatalf("top: %d", code)
	}
	if got := fmt.Sprint(top.Ads); got != "[{a1 7} {a2 4}]" {
		t.Fatalf("top-2 = %s, want [{a1 7} {a2 4}] (tie broken by ad id)", got)
	}
	if code := c.do("GET", "/v1/top?n=10&last=5&country=DE", "", &top); code != 200 || fmt.Sprint(top.Ads) != "[{a1 3} {a2 2} {a3 2}]" {
		t.Fatalf("top by DE: %d %v", code, top.Ads)
	}
	r := c.count("a1", "last=3&granularity=minute")
	var sum uint64
	for _, s := range r.Series {
		sum += s.Clicks
	}
	if len(r.Series) != 3 || sum != 7 {
		t.Fatalf("series %+v", r.Series)
	}
	// complete_through catches up with the clock once both edges have reported.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ct, _ := time.Parse(time.RFC3339, c.count("a1", "last=1").CompleteThrough)
		if time.Since(ct) < 2*time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("complete_through %v lags", ct)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restartCore starts a core again on the same data, API address and leafnode port,
// as an operator restarting the process would.
func restartCore(t *testing.T, dir, apiAddr, leafURL string) *core.Node {
	t.Helper()
	c, err := core.Start(context.Background(), core.Options{DataDir: filepath.Join(dir, "core"), APIAddr: apiAddr,
		LeafListen: strings.TrimPrefix(leafURL, "nats-leaf://"), AdminToken: admin, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The core restarted mid-traffic: counts are unchanged afterwards and clicks made
// while it was down are counted once it is back.
func TestCoreRestart(t *testing.T) {
	dir := t.TempDir()
	d := startLocal(t, dir)
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("r1", "acme")
	paths := c.mint("r1", 30)
	for _, p := range paths[:10] {
		click(t, d.edges[0].Addr(), p, "")
	}
	c.waitCounts(map[string]uint64{"r1": 10})

	apiAddr, leaf := d.core.APIAddr(), d.core.LeafURL()
	d.core.Close()
	for i, p := range paths[10:20] { // the edges keep answering while the core is down
		if code, _ := click(t, d.edges[i%2].Addr(), p, ""); code != 302 {
			t.Fatalf("click while core down: %d", code)
		}
	}
	d.core = restartCore(t, dir, apiAddr, leaf)
	for _, p := range paths[20:] {
		click(t, d.edges[1].Addr(), p, "")
	}
	c.waitCounts(map[string]uint64{"r1": 30})
	time.Sleep(1500 * time.Millisecond) // redeliveries would land here
	c.waitCounts(map[string]uint64{"r1": 30})
}

// An edge cut off from the hub keeps answering with 302s; when the hub returns,
// every click is counted in the minute it happened.
func TestHubOutage(t *testing.T) {
	dir := t.TempDir()
	d := startLocal(t, dir)
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("h1", "acme")
	paths := c.mint("h1", 12)
	apiAddr, leaf := d.core.APIAddr(), d.core.LeafURL()
	d.core.Close()
	start := time.Now()
	for i, p := range paths {
		if code, loc := click(t, d.edges[i%2].Addr(), p, "FR"); code != 302 || loc == "" {
			t.Fatalf("click during outage: %d %q", code, loc)
		}
	}
	clickMinute := start.UTC().Truncate(time.Minute)
	d.core = restartCore(t, dir, apiAddr, leaf)
	c.waitCounts(map[string]uint64{"h1": 12})
	r := c.count("h1", "last=10&granularity=minute&country=FR")
	var inMinute uint64
	for _, s := range r.Series {
		if m, _ := time.Parse(time.RFC3339, s.Minute); !m.Before(clickMinute) && m.Before(time.Now()) {
			inMinute += s.Clicks
		}
	}
	if r.Clicks != 12 || inMinute != 12 {
		t.Fatalf("FR clicks %d, %d in the minutes since the outage began: %+v", r.Clicks, inMinute, r.Series)
	}
}

// Bad input at every endpoint gets the contract's status and a clear error, and
// changes no count.
func TestBadInput(t *testing.T) {
	d := startLocal(t, t.TempDir())
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("b1", "acme")
	good := c.mint("b1", 1)[0]
	edgeAddr := d.edges[0].Addr()
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, "/c/"))
	raw[len(raw)-1] ^= 1 // a valid token whose MAC is off by one bit
	tampered := base64.RawURLEncoding.EncodeToString(raw)
	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"malformed", "/c/not-a-token!", 400},
		{"empty", "/c/", 400},
		{"tampered", "/c/" + tampered, 403},
		{"too long", "/c/" + strings.Repeat("A", 600), 400},
	} {
		code, loc := click(t, edgeAddr, tc.path, "")
		if code != tc.code || loc != "" {
			t.Errorf("%s: %d %q, want %d and no Location", tc.name, code, loc, tc.code)
		}
	}
	// Expired: a token from a core with a past TTL is answered 302 but not counted
	// (covered in edge tests); here, a duplicate of the same impression.
	if code, _ := click(t, edgeAddr, good, ""); code != 302 {
		t.Fatal("first click")
	}
	if code, loc := click(t, edgeAddr, good, ""); code != 302 || loc == "" {
		t.Fatalf("duplicate click: %d %q, want 302 to the ad", code, loc)
	}

	bad := func(name, method, path, tok, body string, code int, want string) {
		t.Helper()
		cl := client{t, c.api, tok}
		var e struct{ Error string }
		if got := cl.do(method, path, body, &e); got != code || !strings.Contains(e.Error, want) {
			t.Errorf("%s: %d %q, want %d with %q", name, got, e.Error, code, want)
		}
	}
	bad("no token", "GET", "/v1/top", "", "", 401, "Authorization")
	bad("wrong token", "GET", "/v1/top", "nope", "", 401, "not valid")
	bad("bad json", "PUT", "/v1/ads/x1", admin, `{"advertiser_id":`, 400, "JSON")
	bad("unknown field", "PUT", "/v1/ads/x1", admin, `{"advertiser_id":"a","redirect_url":"https://e.com","x":1}`, 400, "unknown field")
	bad("bad ad id", "PUT", "/v1/ads/bad%20id", admin, `{"advertiser_id":"a","redirect_url":"https://e.com"}`, 400, "ad_id")
	bad("bad url", "PUT", "/v1/ads/x1", admin, `{"advertiser_id":"a","redirect_url":"javascript:alert(1)"}`, 400, "redirect_url")
	bad("unknown ad impressions", "POST", "/v1/impressions", admin, `{"ad_id":"nope"}`, 404, "not registered")
	bad("count too big", "POST", "/v1/impressions", admin, `{"ad_id":"b1","count":10001}`, 400, "count")
	bad("unknown ad clicks", "GET", "/v1/ads/nope/clicks?last=5", admin, "", 404, "not registered")
	bad("bad last", "GET", "/v1/ads/b1/clicks?last=0", admin, "", 400, "last")
	bad("last and from", "GET", "/v1/top?last=5&from=0&to=60", admin, "", 400, "either")
	bad("unaligned", "GET", "/v1/top?from=30&to=120", admin, "", 400, "whole minute")
	bad("from after to", "GET", "/v1/top?from=2026-11-22T10:05:00Z&to=2026-11-22T10:00:00Z", admin, "", 400, "before")
	bad("bad n", "GET", "/v1/top?n=0", admin, "", 400, "n must")
	bad("bad country", "GET", "/v1/top?country=USA", admin, "", 400, "country")
	bad("bad granularity", "GET", "/v1/ads/b1/clicks?granularity=week", admin, "", 400, "granularity")
	bad("bad ip", "GET", "/v1/top?ip=1.2.3", admin, "", 400, "ip")
	bad("ip beyond raw retention", "GET", "/v1/top?ip=1.2.3.4&last=20000", admin, "", 400, "raw clicks are kept")
	bad("bad user", "GET", "/v1/ads/b1/clicks?user_id=a%20b", admin, "", 400, "user_id")
	bad("reconciliation window", "GET", "/v1/reconciliation?last=x", admin, "", 400, "last")
	bad("reconciliation filter", "GET", "/v1/reconciliation?country=US", admin, "", 400, "window only")
	var adv struct{ Token string }
	c.do("POST", "/v1/advertisers/acme/keys", "", &adv)
	bad("reconciliation by an advertiser", "GET", "/v1/reconciliation", adv.Token, "", 403, "")

	c.waitCounts(map[string]uint64{"b1": 1})
	if got := c.count("b1", "last=10").Clicks; got != 1 {
		t.Fatalf("b1 has %d clicks, want 1", got)
	}
}

// An impression clicked at both edges counts once, also across a core restart.
// (core/merge's TestCrossEdge checks the count lands in the earlier click's minute.)
func TestCrossEdgeDedup(t *testing.T) {
	dir := t.TempDir()
	d := startLocal(t, dir)
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("x1", "acme")
	paths := c.mint("x1", 3)
	for _, p := range paths {
		for _, e := range d.edges {
			if code, _ := click(t, e.Addr(), p, "US"); code != 302 {
				t.Fatalf("click at %s: %d", e.ID(), code)
			}
		}
	}
	c.waitCounts(map[string]uint64{"x1": 3})
	time.Sleep(time.Second) // both edges' partials are in
	c.waitCounts(map[string]uint64{"x1": 3})

	apiAddr, leaf := d.core.APIAddr(), d.core.LeafURL()
	d.core.Close()
	d.core = restartCore(t, dir, apiAddr, leaf)
	fresh := c.mint("x1", 1)[0]
	click(t, d.edges[1].Addr(), paths[0], "US") // same-edge duplicate after the restart
	click(t, d.edges[0].Addr(), fresh, "US")
	click(t, d.edges[1].Addr(), fresh, "US")
	c.waitCounts(map[string]uint64{"x1": 4})
	time.Sleep(time.Second)
	c.waitCounts(map[string]uint64{"x1": 4})
}

// Advertiser keys see only their own ads: another's ad answers 404, top-N is scoped.
func TestAdvertiserScope(t *testing.T) {
	d := startLocal(t, t.TempDir())
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("mine", "adv1")
	c.putAd("theirs", "adv2")
	for _, ad := range []string{"mine", "theirs", "theirs"} {
		click(t, d.edges[0].Addr(), c.mint(ad, 1)[0], "")
	}
	c.waitCounts(map[string]uint64{"mine": 1, "theirs": 2})
	var key struct{ Token string }
	if code := c.do("POST", "/v1/advertisers/adv1/keys", "", &key); code != 201 || key.Token == "" {
		t.Fatalf("key: %d", code)
	}
	adv := client{t, c.api, key.Token}
	if code := adv.do("GET", "/v1/ads/theirs/clicks?last=5", "", nil); code != 404 {
		t.Fatalf("other advertiser's ad: %d, want 404", code)
	}
	if got := adv.count("mine", "last=5").Clicks; got != 1 {
		t.Fatalf("own ad: %d", got)
	}
	var top topResp
	adv.do("GET", "/v1/top?last=5", "", &top)
	if fmt.Sprint(top.Ads) != "[{mine 1}]" {
		t.Fatalf("advertiser top %v", top.Ads)
	}
	if code := adv.do("PUT", "/v1/ads/x", `{"advertiser_id":"adv1","redirect_url":"https://e.com"}`, nil); code != 403 {
		t.Fatalf("advertiser put ad: %d, want 403", code)
	}
	var partner struct{ Token string }
	if code := c.do("POST", "/v1/partners/p1/keys", "", &partner); code != 201 {
		t.Fatalf("partner key: %d", code)
	}
	if code := (client{t, c.api, partner.Token}).do("GET", "/v1/ads/mine/clicks", "", nil); code != 404 {
		t.Fatalf("partner reads an ad: %d, want 404", code)
	}

	// Revoked keys stop working at once.
	var k2 struct {
		Token string
		KeyID string `json:"key_id"`
	}
	c.do("POST", "/v1/advertisers/adv1/keys", "", &k2)
	if code := c.do("DELETE", "/v1/keys/"+k2.KeyID, "", nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code := (client{t, c.api, k2.Token}).do("GET", "/v1/top", "", nil); code != 401 {
		t.Fatalf("revoked key: %d, want 401", code)
	}
	if code := c.do("DELETE", "/v1/keys/"+k2.KeyID, "", nil); code != 404 {
		t.Fatalf("revoke twice: %d, want 404", code)
	}

	// A key past its rate limit gets 429 with Retry-After; the admin token is never limited.
	limited := false
	for i := 0; i < 400 && !limited; i++ {
		req, _ := http.NewRequest("GET", c.api+"/v1/top?last=1", nil)
		req.Header.Set("Authorization", "Bearer "+key.Token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			limited = resp.Header.Get("Retry-After") != ""
		}
	}
	if !limited {
		t.Fatal("no 429 with Retry-After after 400 quick requests")
	}
}

// An operator decommissions an edge: it leaves the edge list (and so stops holding
// complete_through back) and may be re-admitted.
func TestDecommission(t *testing.T) {
	d := startLocal(t, t.TempDir())
	c := client{t, "http://" + d.core.APIAddr(), admin}
	var edges struct {
		Edges []struct {
			EdgeID string `json:"edge_id"`
		}
	}
	c.do("GET", "/v1/edges", "", &edges)
	if len(edges.Edges) != 2 {
		t.Fatalf("edges %+v", edges)
	}
	if code := c.do("DELETE", "/v1/edges/pop-b", "", nil); code != 204 {
		t.Fatalf("decommission: %d", code)
	}
	c.do("GET", "/v1/edges", "", &edges)
	if len(edges.Edges) != 1 || edges.Edges[0].EdgeID != "pop-a" {
		t.Fatalf("edges after decommission %+v", edges)
	}
	if code := c.do("DELETE", "/v1/edges/pop-b", "", nil); code != 404 {
		t.Fatalf("decommission twice: %d, want 404", code)
	}
	if code := c.do("PUT", "/v1/edges/pop-b", "", nil); code != 200 {
		t.Fatalf("readmit: %d", code)
	}
}

func TestRunHelpAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb, func(string) string { return "" }); code != 0 || !strings.Contains(errb.String(), "CLICKAGG_EDGE_ADDRS") {
		t.Fatalf("--help: %d %s", code, errb.String())
	}
	if code := run([]string{"--demo-rate", "-1"}, &out, &errb, func(string) string { return "" }); code != 2 {
		t.Fatalf("bad flag: %d", code)
	}
	env := func(k string) string {
		if k == "CLICKAGG_LOG_LEVEL" {
			return "loud"
		}
		return ""
	}
	if code := run(nil, &out, &errb, env); code != 2 || !strings.Contains(errb.String(), "log level") {
		t.Fatalf("env override not applied: %d %s", code, errb.String())
	}
}

// A core on an external NATS hub (as in a real multi-machine deployment): an edge
// joins that hub's leafnode port and its clicks are counted.
func TestExternalHub(t *testing.T) {
	dir := t.TempDir()
	ext, err := embednats.Start(embednats.Options{Name: "external", Dir: filepath.Join(dir, "ext"), Domain: "hub",
		ClientListen: "127.0.0.1:0", LeafListen: "127.0.0.1:0", Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Shutdown()
	c0, err := core.Start(context.Background(), core.Options{DataDir: filepath.Join(dir, "core"), APIAddr: "127.0.0.1:0",
		NATSURL: ext.ClientURL(), AdminToken: admin, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	e, err := edge.Start(context.Background(), edge.Options{ID: "pop-x", DataDir: filepath.Join(dir, "edge"),
		HTTPAddr: "127.0.0.1:0", HubURL: ext.LeafURL(), WasmCache: wasmCache, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	waitRegistered(t, e)
	c := client{t, "http://" + c0.APIAddr(), admin}
	c.putAd("ext1", "acme")
	for _, p := range c.mint("ext1", 3) {
		if code, _ := click(t, e.Addr(), p, ""); code != 302 {
			t.Fatalf("click: %d", code)
		}
	}
	c.waitCounts(map[string]uint64{"ext1": 3})
}

// A partner uploads a filter, activates it, and every edge runs it within seconds:
// bot clicks are answered but not counted. Bad modules are refused at upload;
// another partner cannot touch the filter; deactivation (rollback) works.
func TestPartnerFilter(t *testing.T) {
	d := startLocal(t, t.TempDir())
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("f1", "acme")
	var key struct{ Token string }
	c.do("POST", "/v1/partners/p1/keys", "", &key)
	partner := client{t, c.api, key.Token}

	for _, bad := range []struct {
		name string
		body []byte
	}{
		{"not wasm", []byte("hello, I am not a module")},
		{"forbidden import", mustRead(t, "../../wasm/host/testdata/import_path_open.wasm")},
		{"no abi version", mustRead(t, "../../wasm/host/testdata/no_version.wasm")},
		{"memory bomb", mustRead(t, "../../wasm/host/testdata/bigmem.wasm")},
	} {
		if code, body := partner.upload("bad", bad.body); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s, want 400", bad.name, code, body)
		}
	}
	if code, body := partner.upload("botua", filters.BotUA()); code != 201 || !strings.Contains(body, `"version":1`) {
		t.Fatalf("upload: %d %s", code, body)
	}
	var other struct{ Token string }
	c.do("POST", "/v1/partners/p2/keys", "", &other)
	if code := (client{t, c.api, other.Token}).do("POST", "/v1/filters/botua/activate", `{"version":1}`, nil); code != 404 {
		t.Fatalf("another partner activates: %d, want 404", code)
	}
	if code := partner.do("POST", "/v1/filters/botua/activate", `{"version":2}`, nil); code != 400 {
		t.Fatalf("activate a missing version: %d, want 400", code)
	}
	if code := partner.do("POST", "/v1/filters/botua/activate", `{"version":1}`, nil); code != 200 {
		t.Fatalf("activate: %d", code)
	}

	botClick := func(e *edge.Node, path string) int {
		code, _ := clickWith(t, e.Addr(), path, http.Header{"User-Agent": {"Mozilla/5.0 (compatible; Googlebot/2.1)"}})
		return code
	}
	// Every edge loads the version within seconds.
	deadline := time.Now().Add(30 * time.Second)
	for _, e := range d.edges {
		for e.FilterVersion("botua") != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("edge %s did not load the filter", e.ID())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var st struct {
		Filters []struct {
			Name   string
			Active int
		}
	}
	if partner.do("GET", "/v1/filters", "", &st); len(st.Filters) != 1 || st.Filters[0].Active != 1 {
		t.Fatalf("filters %+v", st)
	}
	before := c.count("f1", "last=10").Clicks
	for _, p := range c.mint("f1", 4) {
		if code := botClick(d.edges[0], p); code != 302 {
			t.Fatalf("bot click: %d", code)
		}
	}
	for _, p := range c.mint("f1", 3) {
		click(t, d.edges[1].Addr(), p, "")
	}
	c.waitCounts(map[string]uint64{"f1": before + 3})

	// The edges report the filter's verdicts; the core sums them.
	for {
		var fs struct {
			Filters []struct {
				Stats struct{ Calls, Rejects uint64 }
			}
		}
		partner.do("GET", "/v1/filters", "", &fs)
		if len(fs.Filters) == 1 && fs.Filters[0].Stats.Rejects >= 4 && fs.Filters[0].Stats.Calls >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter stats never arrived: %+v", fs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var es struct {
		Edges []struct {
			Buffered *uint64 `json:"buffered"`
		}
	}
	if c.do("GET", "/v1/edges", "", &es); len(es.Edges) != 2 || es.Edges[0].Buffered == nil {
		t.Fatalf("edges without buffered counts: %+v", es)
	}

	resp, err := http.Get("http://" + d.edges[0].Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `clickagg_edge_filter_rejects_total{filter="botua",version="1"} 4`) ||
		!strings.Contains(string(m), `clickagg_edge_filter_calls_total{filter="sigcheck",version="0"}`) {
		t.Fatalf("edge metrics lack per-filter counters:\n%s", m)
	}

	// Rollback: deactivate; bots count again.
	if code := partner.do("POST", "/v1/filters/botua/activate", `{"version":0}`, nil); code != 200 {
		t.Fatalf("deactivate: %d", code)
	}
	for e := d.edges[0]; e.FilterVersion("botua") != 0; {
		if time.Now().After(deadline) {
			t.Fatal("filter not removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	botClick(d.edges[0], c.mint("f1", 1)[0])
	c.waitCounts(map[string]uint64{"f1": before + 4})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// labelWAT is a partner filter that accepts every click and labels it src=partner
// when its country starts with 'U' (byte 44 of the click, wasm/ABI.md), else
// src=other.
const labelWAT = `(module
  (import "clickagg" "label" (func $label (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "src")
  (data (i32.const 8) "partner")
  (data (i32.const 16) "other")
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64)
    (if (i32.eq (i32.load8_u (i32.const 1068)) (i32.const 85))
      (then (drop (call $label (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 7))))
      (else (drop (call $label (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 5)))))
    (i64.const 0)))`

// Labels that filters add are pre-aggregation dimensions: counts and top-N by label.
func TestLabelDimensions(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (Debian package wabt) is not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "l.wat"), []byte(labelWAT), 0o644)
	if out, err := exec.Command("wat2wasm", filepath.Join(dir, "l.wat"), "-o", filepath.Join(dir, "l.wasm")).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v %s", err, out)
	}
	d := startLocal(t, filepath.Join(dir, "data"))
	c := client{t, "http://" + d.core.APIAddr(), admin}
	c.putAd("l1", "acme")
	if code, body := c.upload("labeler", mustRead(t, filepath.Join(dir, "l.wasm"))); code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	c.do("POST", "/v1/filters/labeler/activate", `{"version":1}`, nil)
	for _, e := range d.edges {
		for e.FilterVersion("labeler") != 1 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i, p := range c.mint("l1", 5) {
		country := "US"
		if i >= 3 {
			country = "DE"
		}
		if code, _ := click(t, d.edges[i%2].Addr(), p, country); code != 302 {
			t.Fatalf("click: %d", code)
		}
	}
	c.waitCounts(map[string]uint64{"l1": 5})
	if got := c.count("l1", "last=5&label=src%3Dpartner").Clicks; got != 3 {
		t.Fatalf("clicks labelled src=partner: %d, want 3", got)
	}
	if got := c.count("l1", "last=5&label=src%3Dother").Clicks; got != 2 {
		t.Fatalf("clicks labelled src=other: %d, want 2", got)
	}
	var top topResp
	c.do("GET", "/v1/top?last=5&label=src%3Dother", "", &top)
	if fmt.Sprint(top.Ads) != "[{l1 2}]" {
		t.Fatalf("top by label: %v", top.Ads)
	}
	if code := c.do("GET", "/v1/top?label=nolabel", "", nil); code != 400 {
		t.Fatalf("bad label: %d, want 400", code)
	}
}
