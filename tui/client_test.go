package tui

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeCore answers the query API from canned bodies and records what it was asked.
type fakeCore struct {
	bodies map[string]string // path → 200 body; missing paths answer 404 as the core does
	asked  chan string       // "path?query auth"
	block  chan struct{}     // when non-nil, handlers wait on it (or the request's end)
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case f.asked <- r.URL.Path + "?" + r.URL.RawQuery + " " + r.Header.Get("Authorization"):
	default:
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	body, ok := f.bodies[r.URL.Path]
	switch {
	case !ok:
		w.WriteHeader(404)
		body = `{"error":"no such endpoint: GET ` + r.URL.Path + `"}`
	case strings.HasPrefix(body, "!"): // "!503 text": status and raw body
		code, rest, _ := strings.Cut(body[1:], " ")
		w.WriteHeader(map[string]int{"503": 503, "502": 502, "401": 401}[code])
		body = rest
	}
	w.Write([]byte(body))
}

func startFake(t *testing.T, bodies map[string]string) (*fakeCore, *Client) {
	t.Helper()
	noLeaks(t)
	f := &fakeCore{bodies: bodies, asked: make(chan string, 16)}
	srv := httptest.NewServer(f)
	c, err := NewClient(srv.URL, "sekrit", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return f, c
}

func TestClientDecodesEveryEndpoint(t *testing.T) {
	f, c := startFake(t, map[string]string{
		"/v1/top": `{"from":"2026-03-14T10:01:00Z","to":"2026-03-14T10:06:00Z","ads":[{"ad_id":"a1","clicks":7},{"ad_id":"a2","clicks":4}],"complete_through":"2026-03-14T10:04:00Z"}`,
		"/v1/ads/a 1/clicks": `{"ad_id":"a 1","from":"2026-03-14T10:04:00Z","to":"2026-03-14T10:06:00Z","clicks":5,"billable":4,"complete_through":"2026-03-14T10:04:00Z","granularity":"minute",
			"series":[{"minute":"2026-03-14T10:04:00Z","clicks":2},{"minute":"2026-03-14T10:05:00Z","clicks":3,"billable":3}]}`,
		"/v1/edges":   `{"edges":[{"edge_id":"pop-a","watermark":"2026-03-14T10:05:02.6Z","lag_seconds":0.4},{"edge_id":"pop-z","lag_seconds":-1}],"complete_through":"2026-03-14T10:04:00Z"}`,
		"/v1/status":  `{"complete_through":"2026-03-14T10:04:00Z","now":"2026-03-14T10:05:03Z","core":{"merge":{"partials_merged":9,"partials_duplicate":1,"partials_undecodable":0,"partials_pending":2,"last_commit":"2026-03-14T10:05:02Z"},"ads":3,"leafnodes":2,"store_rows":10,"store_bytes":2048,"hot_window":"24h0m0s"}}`,
		"/v1/filters": `{"filters":[{"name":"botua","owner":"","active":2,"versions":[{"version":1,"sha256":"ab","size":629,"created":"2026-03-14T10:00:00Z"},{"version":2}],"stats":{"calls":10,"accepts":9,"rejects":1,"traps":1}},{"name":"x","owner":"p1","active":0,"versions":3}]}`,
	})
	ctx := context.Background()
	top, err := c.Top(ctx, 10, 5, "DE")
	if err != nil || len(top.Ads) != 2 || top.Ads[0] != (AdCount{"a1", 7}) || !top.CompleteThrough.Equal(minuteAt(10, 4)) {
		t.Fatalf("top %+v %v", top, err)
	}
	if got := <-f.asked; got != "/v1/top?country=DE&last=5&n=10 Bearer sekrit" {
		t.Fatalf("asked %q", got)
	}
	cl, err := c.Clicks(ctx, "a 1", 2, "")
	if err != nil || cl.Clicks != 5 || *cl.Billable != 4 || len(cl.Series) != 2 || cl.Series[0].Billable != nil || *cl.Series[1].Billable != 3 {
		t.Fatalf("clicks %+v %v", cl, err)
	}
	if got := <-f.asked; got != "/v1/ads/a 1/clicks?granularity=minute&last=2 Bearer sekrit" {
		t.Fatalf("asked %q", got)
	}
	e, err := c.Edges(ctx)
	if err != nil || len(e.Edges) != 2 || stateOf(e.Edges[0]) != edgeUp || stateOf(e.Edges[1]) != edgeNever || !e.Edges[1].Watermark.IsZero() {
		t.Fatalf("edges %+v %v", e, err)
	}
	s, err := c.Status(ctx)
	if err != nil || s.Core.Merge.Merged != 9 || s.Core.Merge.Pending != 2 || s.Core.StoreBytes != 2048 || s.Core.HotWindow != "24h0m0s" {
		t.Fatalf("status %+v %v", s, err)
	}
	fl, err := c.Filters(ctx)
	if err != nil || len(fl.Filters) != 2 || fl.Filters[0].Versions != 2 || fl.Filters[0].Active != 2 || fl.Filters[1].Versions != 3 ||
		fl.Filters[0].Stats.Traps != 1 || fl.Filters[1].Stats != nil || fl.Filters[1].Owner != "p1" {
		t.Fatalf("filters %+v %v", fl, err)
	}
}

func TestClientErrors(t *testing.T) {
	_, c := startFake(t, map[string]string{
		"/v1/top":    "!503 " + `{"error":"store: closed"}`,
		"/v1/edges":  "!502 <html>bad gateway</html>",
		"/v1/status": `{"complete_through":`,
	})
	ctx := context.Background()
	_, err := c.Top(ctx, 10, 5, "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || err.Error() != "GET /v1/top: 503 Service Unavailable: store: closed" {
		t.Fatalf("503: %v", err)
	}
	if _, err := c.Edges(ctx); err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: <html>bad gateway</html>") {
		t.Fatalf("502: %v", err)
	}
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "GET /v1/status: decode answer") {
		t.Fatalf("bad JSON: %v", err)
	}
	_, err = c.Filters(ctx)
	if !IsNotFound(err) || !strings.Contains(err.Error(), "404 Not Found: no such endpoint") {
		t.Fatalf("404: %v", err)
	}
	if IsNotFound(errors.New("x")) {
		t.Fatal("IsNotFound of a plain error")
	}
}

// A core that does not answer costs one timeout, not a hang.
func TestClientTimesOut(t *testing.T) {
	f, c := startFake(t, map[string]string{"/v1/top": `{}`})
	f.block = make(chan struct{})
	defer close(f.block)
	start := time.Now()
	_, err := c.Top(context.Background(), 10, 5, "")
	if err == nil || err.Error() != "GET /v1/top: timed out" {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v with a 300ms timeout", d)
	}
	// Cancelling the model's context ends a request at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Top(ctx, 10, 5, ""); err == nil {
		t.Fatal("no error on a cancelled context")
	}
}

func TestClientDeadCore(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := NewClient(url, "t", time.Second)
	defer c.Close()
	if _, err := c.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "GET /v1/status: ") {
		t.Fatalf("dead core: %v", err)
	}
}

func TestNewClientURLs(t *testing.T) {
	f := func(in, want, wantErr string) {
		t.Helper()
		c, err := NewClient(in, "t", 0)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%q: err %v, want %q", in, err, wantErr)
			}
			return
		}
		if err != nil || c.Base() != want || c.Timeout() != DefaultTimeout {
			t.Fatalf("%q: %v %v", in, c, err)
		}
	}
	f("127.0.0.1:8090", "http://127.0.0.1:8090", "")
	f("https://core.example/", "https://core.example", "")
	f("http://core:8090/prefix", "http://core:8090/prefix", "")
	f("ftp://core", "", "want http")
	f("http://", "", "want http")
	f("http://[::1", "", "core URL")
}

// Polling through the model: commands run off the Update goroutine and land as
// messages; a dead core turns into a status-line error, not a hang.
func TestModelAgainstFakeCore(t *testing.T) {
	_, c := startFake(t, map[string]string{
		"/v1/top":    `{"from":"2026-03-14T10:01:00Z","to":"2026-03-14T10:06:00Z","ads":[{"ad_id":"zz","clicks":2},{"ad_id":"aa","clicks":2},{"ad_id":"top","clicks":9}],"complete_through":"2026-03-14T10:04:00Z"}`,
		"/v1/edges":  `{"edges":[],"complete_through":"2026-03-14T10:04:00Z"}`,
		"/v1/status": "!401 " + `{"error":"token is not valid"}`,
	})
	m, err := New(Options{Client: c, Styles: asciiStyles(UnicodeGlyphs), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	m.tick = nil
	drain(t, m, m.Init())
	s := screen(m)
	for _, want := range []string{"> 1     top", "2=    aa", "2=    zz", "! GET /v1/status: 401 Unauthorized: token is not valid"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if !m.filters.known || m.filters.resp != nil {
		t.Fatal("404 from /v1/filters is not 'no registry'")
	}
}
