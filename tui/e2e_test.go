package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/clickagg/clickagg/core"
	"github.com/clickagg/clickagg/edge"
)

const e2eAdmin = "tui-e2e-admin-token-0123456789"

// localDeployment starts a core and two edges in-process on loopback, as
// deploy/local does, and returns the core's API URL and the edges' addresses.
func localDeployment(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := core.Start(context.Background(), core.Options{DataDir: filepath.Join(dir, "core"),
		APIAddr: "127.0.0.1:0", LeafListen: freeAddr(t), AdminToken: e2eAdmin, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The edges start at once: each compiles the built-in Wasm signature check,
	// which takes seconds under -race, and the two compilations can overlap.
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	ids := []string{"pop-a", "pop-b"}
	nodes := make([]*edge.Node, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			nodes[i], errs[i] = edge.Start(context.Background(), edge.Options{ID: id, DataDir: filepath.Join(dir, "edges", id),
				HTTPAddr: "127.0.0.1:0", HubURL: c.LeafURL(), Trusted: loopback, Logger: log})
		})
	}
	wg.Wait()
	for _, e := range nodes {
		if e != nil {
			t.Cleanup(func() { e.Close() }) // before the core: cleanups run last first
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, e := range nodes {
		select {
		case <-e.Registered():
		case <-time.After(20 * time.Second):
			t.Fatalf("edge %s did not register", e.ID())
		}
		addrs = append(addrs, e.Addr())
	}
	return "http://" + c.APIAddr(), addrs
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var e2eHTTP = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call makes one admin request and decodes nothing; it fails the test on a
// status other than want.
func call(t *testing.T, method, url, body string, want ...int) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eAdmin)
	resp, err := e2eHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, w := range want {
		if resp.StatusCode == w {
			return string(b)
		}
	}
	t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	return ""
}

var clickPath = regexp.MustCompile(`"click_path":"(/c/[^"]+)"`)

// clickAd registers ad, mints n impressions and clicks them alternately at the
// edges from US and DE (US first).
func clickAd(t *testing.T, api string, edges []string, ad string, n int) {
	t.Helper()
	call(t, "PUT", api+"/v1/ads/"+ad, `{"advertiser_id":"acme","redirect_url":"https://example.com/`+ad+`"}`, 200, 201)
	body := call(t, "POST", api+"/v1/impressions", fmt.Sprintf(`{"ad_id":%q,"count":%d}`, ad, n), 200)
	for i, m := range clickPath.FindAllStringSubmatch(body, -1) {
		req, _ := http.NewRequest("GET", "http://"+edges[i%2]+m[1], nil)
		req.Header.Set("X-Geo-Country", []string{"US", "DE"}[i%2])
		resp, err := e2eHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 {
			t.Fatalf("click %s: %d", ad, resp.StatusCode)
		}
	}
}

// row finds the screen line of ad and returns its fields ("", when absent).
func row(s, ad string) []string {
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, ">"))
		if len(f) >= 3 && f[1] == ad {
			return f
		}
	}
	return nil
}

// eventually polls the model against the core (every kind due, run to the
// answers) until the screen passes check, or fails after 30 s with the screen.
func eventually(t *testing.T, m *Model, what string, check func(s string) bool) string {
	t.Helper()
	deadline, start := time.Now().Add(30*time.Second), time.Now()
	defer func() { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }()
	for {
		drain(t, m, m.force(kindStatus, kindEdges, kindTop, kindDrill, kindFilters))
		s := screen(m)
		if check(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not on screen after 30 s:\n%s", what, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uploadFilter uploads the example bot filter from wasm/filters and activates it.
func uploadFilter(t *testing.T, api string) {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "wasm", "filters", "botua", "botua.wasm"))
	if err != nil {
		t.Skipf("no example filter to upload: %v", err)
	}
	call(t, "PUT", api+"/v1/filters/botua", string(wasm), 201)
	call(t, "POST", api+"/v1/filters/botua/activate", `{"version":1}`, 200)
}

// press types keys and runs the commands they return, as the program would.
func press(t *testing.T, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		_, cmd := m.Update(key(k))
		drain(t, m, cmd)
	}
}

// The TUI model against a real local deployment with traffic: the ads and
// counts clicked show on screen, in order, by country, in the drilldown, and
// the edges, filters and health panes read the live core.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a core and two edges")
	}
	api, edges := localDeployment(t)
	clickAd(t, api, edges, "e2e-alpha", 5) // US 3, DE 2
	clickAd(t, api, edges, "e2e-bravo", 3) // US 2, DE 1
	clickAd(t, api, edges, "e2e-carol", 3) // a tie with bravo, after it by id

	c, err := NewClient(api, e2eAdmin, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := New(Options{Client: c, Styles: asciiStyles(UnicodeGlyphs)})
	if err != nil {
		t.Fatal(err)
	}
	m.tick = nil
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})

	s := eventually(t, m, "top-N with every click", func(s string) bool {
		a, b, c := row(s, "e2e-alpha"), row(s, "e2e-bravo"), row(s, "e2e-carol")
		return a != nil && b != nil && c != nil && a[2] == "5" && b[2] == "3" && c[2] == "3"
	})
	ia, ib, ic := strings.Index(s, "e2e-alpha"), strings.Index(s, "e2e-bravo"), strings.Index(s, "e2e-carol")
	if !(ia < ib && ib < ic) || row(s, "e2e-bravo")[0] != "2=" || !strings.Contains(s, "> 1     e2e-alpha") {
		t.Fatalf("order or ranks wrong:\n%s", s)
	}

	press(t, m, "/", "d", "e", "enter")
	eventually(t, m, "top-N from DE", func(s string) bool {
		a, b := row(s, "e2e-alpha"), row(s, "e2e-bravo")
		return strings.Contains(s, "country DE") && a != nil && b != nil && a[2] == "2" && b[2] == "1"
	})
	press(t, m, "/", "ctrl+u", "enter", "j")
	eventually(t, m, "all countries again", func(s string) bool { r := row(s, "e2e-bravo"); return r != nil && r[2] == "3" })

	press(t, m, "enter")
	s = eventually(t, m, "drilldown of e2e-bravo", func(s string) bool {
		return strings.Contains(s, "Ad e2e-bravo") && strings.Contains(s, "clicks 3 ")
	})
	if strings.Contains(s, "billable") != strings.Contains(call(t, "GET", api+"/v1/ads/e2e-bravo/clicks?last=5", "", 200), "billable") {
		t.Fatalf("billable shown iff the core reports it:\n%s", s)
	}

	press(t, m, "3")
	eventually(t, m, "both edges connected", func(s string) bool {
		return strings.Contains(s, "2 of 2 connected") && regexp.MustCompile(`pop-a\s+connected`).MatchString(s) &&
			regexp.MustCompile(`pop-b\s+connected`).MatchString(s)
	})
	press(t, m, "5")
	eventually(t, m, "core health", func(s string) bool {
		return strings.Contains(s, "ads registered     3") && strings.Contains(s, "leaf nodes         2 connected") &&
			regexp.MustCompile(`merged [1-9][0-9,]*\s`).MatchString(s)
	})
	press(t, m, "4")
	if strings.Contains(call(t, "GET", api+"/v1/filters", "", 200, 404), `"filters"`) {
		uploadFilter(t, api)
		eventually(t, m, "the uploaded filter", func(s string) bool { return regexp.MustCompile(`botua\s+admin\s+v1\s+1`).MatchString(s) })
	} else {
		eventually(t, m, "no filter registry", func(s string) bool { return strings.Contains(s, "No filter registry on this core") })
	}
	if s := screen(m); strings.Contains(s, "! ") {
		t.Fatalf("an error on the status line:\n%s", s)
	}
}
