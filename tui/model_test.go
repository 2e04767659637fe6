package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

func inflight(m *Model) string {
	var out []string
	for k := range numKinds {
		if m.polls[k].inflight {
			out = append(out, kindPaths[k])
		}
	}
	return strings.Join(out, " ")
}

// landAll answers every request in flight with the fixtures.
func landAll(m *Model) {
	if m.polls[kindStatus].inflight {
		m.Update(statusMsg{result{took: time.Millisecond}, fixStatus(m.o.Now())})
	}
	if m.polls[kindEdges].inflight {
		m.Update(edgesMsg{result{took: time.Millisecond}, fixEdges()})
	}
	if m.polls[kindTop].inflight {
		m.Update(topMsg{result{key: m.paramKey(kindTop)}, fixTop()})
	}
	if m.polls[kindDrill].inflight {
		m.Update(drillMsg{result{key: m.paramKey(kindDrill)}, fixClicks(m.drill.ad, false)})
	}
	if m.polls[kindFilters].inflight {
		m.Update(filtersMsg{result{}, fixFilters()})
	}
}

func TestNewValidates(t *testing.T) {
	c, _ := NewClient("127.0.0.1:8090", "t", 0)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no client", Options{}, "Client is required"},
		{"window", Options{Client: c, Window: 7}, "window 7"},
		{"country", Options{Client: c, Country: "USA"}, "country"},
		{"n", Options{Client: c, N: 1001}, "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	m, err := New(Options{Client: c, Country: "de"})
	if err != nil || m.Country() != "DE" || m.Window() != 5 || m.Pane() != PaneTop {
		t.Fatalf("defaults: %v %q %d %v", err, m.Country(), m.Window(), m.Pane())
	}
}

func TestInitPollsWhatIsShown(t *testing.T) {
	m, _ := testModel(t, UnicodeGlyphs)
	if cmd := m.Init(); cmd == nil {
		t.Fatal("Init returned no command")
	}
	if got := inflight(m); got != "/v1/status /v1/edges /v1/top /v1/filters" {
		t.Fatalf("in flight after Init: %q", got)
	}
	if !strings.Contains(screen(m), "Waiting for the core...") {
		t.Fatalf("no waiting note:\n%s", screen(m))
	}
}

// The poll schedule: once per interval for what is on screen, one request per
// kind at a time however slow the core, and every fifth interval for the rest.
func TestTickSchedule(t *testing.T) {
	m, clk := testModel(t, UnicodeGlyphs)
	m.Init()
	tick := func(d time.Duration) string {
		clk.add(d)
		m.Update(tickMsg{at: clk.t})
		return inflight(m)
	}
	if got := tick(3 * time.Second); got != "/v1/status /v1/edges /v1/top /v1/filters" {
		t.Fatalf("a slow core got more requests: %q", got)
	}
	landAll(m)
	if got := tick(0); got != "/v1/status /v1/edges /v1/top" {
		t.Fatalf("after a 3 s answer: %q", got) // their periods passed while waiting
	}
	landAll(m)
	if got := tick(500 * time.Millisecond); got != "" {
		t.Fatalf("half a period later: %q", got)
	}
	if got := tick(500 * time.Millisecond); got != "/v1/status /v1/edges /v1/top" {
		t.Fatalf("one period later: %q (filters only every %d)", got, slowEvery)
	}
	landAll(m)
	m.Update(key("3"))             // Edges: top drops to the slow rate
	for i, want := range []string{ // top was last asked at 4 s, filters at 0 s
		"/v1/status /v1/edges /v1/filters", "/v1/status /v1/edges", "/v1/status /v1/edges",
		"/v1/status /v1/edges", "/v1/status /v1/edges /v1/top",
	} {
		if got := tick(time.Second); got != want {
			t.Fatalf("on Edges at %d s: %q, want %q", 5+i, got, want)
		}
		landAll(m)
	}
}

func TestNextTickScheduled(t *testing.T) {
	m, _ := testModel(t, UnicodeGlyphs)
	called := 0
	m.tick = func() tea.Cmd { called++; return func() tea.Msg { return nil } }
	m.Init()
	m.Update(tickMsg{at: t0})
	if called != 2 {
		t.Fatalf("tick scheduled %d times, want once by Init and once per tick", called)
	}
}

func TestAnswersLand(t *testing.T) {
	m, clk := testModel(t, UnicodeGlyphs)
	m.Init()
	feed(m)
	if inflight(m) != "" || m.top.selected() != "spring-sale-banner" || !m.filters.known || m.filters.resp != nil {
		t.Fatalf("after feed: inflight %q sel %q filters %v", inflight(m), m.top.selected(), m.filters)
	}
	for k := range numKinds {
		if k != kindDrill && (m.polls[k].err != nil || !m.polls[k].ok.Equal(t0)) {
			t.Errorf("%s: err %v ok %v", kindPaths[k], m.polls[k].err, m.polls[k].ok)
		}
	}
	m.Update(filtersMsg{result{}, fixFilters()})
	if m.filters.rows() != 3 {
		t.Fatalf("filters %d", m.filters.rows())
	}
	// A drilldown answer for the ad on screen lands; one for another ad does not.
	m.Update(key("enter"))
	m.Update(drillMsg{result{key: "ad=demo-01&last=5&country="}, fixClicks("demo-01", false)})
	if m.drill.resp != nil || !m.polls[kindDrill].inflight {
		t.Fatal("an answer for another ad landed, or no new request went out")
	}
	clk.add(time.Second)
	m.Update(drillMsg{result{key: m.paramKey(kindDrill)}, fixClicks("spring-sale-banner", true)})
	if m.drill.resp == nil || !m.drill.billable() {
		t.Fatal("drilldown answer did not land")
	}
}

// An error keeps what is on screen, marks it stale once old, and says why.
func TestErrorsKeepDataAndShowStaleness(t *testing.T) {
	m, clk := testModel(t, UnicodeGlyphs)
	m.Init()
	feed(m)
	clk.add(6 * time.Second)
	m.Update(tickMsg{at: clk.t})
	m.Update(topMsg{result{key: m.paramKey(kindTop), err: errDown}, nil})
	if m.top.resp == nil {
		t.Fatal("an error dropped the data on screen")
	}
	s := screen(m)
	for _, want := range []string{"STALE 6.0s", "! no good answer for 6.0s: GET /v1/top: dial tcp", "spring-sale-banner"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	m.Update(topMsg{result{key: m.paramKey(kindTop)}, fixTop()})
	if m.polls[kindTop].err != nil || strings.Contains(screen(m), "STALE") {
		t.Fatal("a good answer did not clear the error")
	}
	// Status and edges both failing: the core is unreachable.
	m.Update(statusMsg{result{err: errors.New("GET /v1/status: timed out")}, nil})
	m.Update(edgesMsg{result{err: errors.New("GET /v1/edges: timed out")}, nil})
	if !strings.Contains(screen(m), "CORE UNREACHABLE") {
		t.Fatalf("no unreachable marker:\n%s", screen(m))
	}
	// Errors before any data show in the pane too.
	m2, _ := testModel(t, UnicodeGlyphs)
	m2.Init()
	m2.Update(topMsg{result{key: m2.paramKey(kindTop), err: errDown}, nil})
	if !strings.Contains(screen(m2), "No answer yet: GET /v1/top") {
		t.Fatalf("no first-error note:\n%s", screen(m2))
	}
}

func TestHealthRates(t *testing.T) {
	m, clk := testModel(t, UnicodeGlyphs)
	m.Update(statusMsg{result{}, fixStatus(t0)})
	if _, ok := m.health.rate(func(s *StatusResponse) uint64 { return s.Core.Merge.Merged }); ok {
		t.Fatal("a rate from one sample")
	}
	clk.add(2 * time.Second)
	m.Update(statusMsg{result{}, fixStatus(t0.Add(2 * time.Second))})
	r, ok := m.health.rate(func(s *StatusResponse) uint64 { return s.Core.Merge.Merged })
	if !ok || r != 4 {
		t.Fatalf("merged rate %v %v, want 4/s", r, ok)
	}
	// A core restart resets its counters: no negative rate.
	back := fixStatus(t0.Add(3 * time.Second))
	back.Core.Merge.Merged = 5
	m.Update(statusMsg{result{}, back})
	if _, ok := m.health.rate(func(s *StatusResponse) uint64 { return s.Core.Merge.Merged }); ok {
		t.Fatal("a rate across a counter reset")
	}
	// An answer from the same core instant does not replace the previous sample.
	m.Update(statusMsg{result{}, back})
	if m.health.prev.Now.Equal(m.health.cur.Now) {
		t.Fatal("rate base replaced by a same-instant answer")
	}
}

func TestTopOrderAndCursorFollowsAd(t *testing.T) {
	m, _ := testModel(t, UnicodeGlyphs)
	m.Init()
	feed(m)
	var ids []string
	for i, a := range m.top.resp.Ads {
		ids = append(ids, rank(m.top.resp.Ads, i)+":"+a.AdID)
	}
	if got := strings.Join(ids, " "); got != "1:spring-sale-banner 2:demo-01 3=:demo-02 3=:demo-03 5:demo-07 6:video-preroll-de 7:demo-11" {
		t.Fatalf("order %s", got)
	}
	m.Update(key("j"))
	m.Update(key("j"))
	m.Update(key("down"))
	if m.top.selected() != "demo-03" {
		t.Fatalf("selected %q", m.top.selected())
	}
	r := fixTop()
	r.Ads[2].Clicks = 5000 // demo-03 jumps to first place
	m.Update(topMsg{result{key: m.paramKey(kindTop)}, r})
	if m.top.cursor != 0 || m.top.selected() != "demo-03" {
		t.Fatalf("cursor %d on %q after reorder, want 0 on demo-03", m.top.cursor, m.top.selected())
	}
	// The selected ad leaves the list: the cursor stays at its row.
	r = fixTop()
	r.Ads = r.Ads[3:]
	m.Update(topMsg{result{key: m.paramKey(kindTop)}, r})
	if m.top.cursor != 0 || m.top.selected() != "demo-02" {
		t.Fatalf("cursor %d on %q", m.top.cursor, m.top.selected())
	}
}

// Every key, on the pane where it acts.
func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup []string // keys pressed first
		key   string
		quit  bool
		check func(*Model) string // "" when right
	}{
		{name: "q quits", key: "q", quit: true},
		{name: "ctrl+c quits", key: "ctrl+c", quit: true},
		{name: "ctrl+c quits from the prompt", setup: []string{"/"}, key: "ctrl+c", quit: true},
		{name: "q quits from help", setup: []string{"?"}, key: "q", quit: true},
		{name: "tab", key: "tab", check: paneIs(PaneDrill)},
		{name: "tab wraps", setup: []string{"5"}, key: "tab", check: paneIs(PaneTop)},
		{name: "shift+tab wraps", key: "shift+tab", check: paneIs(PaneHealth)},
		{name: "1", setup: []string{"3"}, key: "1", check: paneIs(PaneTop)},
		{name: "2", key: "2", check: paneIs(PaneDrill)},
		{name: "3", key: "3", check: paneIs(PaneEdges)},
		{name: "4", key: "4", check: paneIs(PaneFilters)},
		{name: "5", key: "5", check: paneIs(PaneHealth)},
		{name: "j", key: "j", check: topAt(1)},
		{name: "down", key: "down", check: topAt(1)},
		{name: "k", setup: []string{"j", "j"}, key: "k", check: topAt(1)},
		{name: "up", setup: []string{"j"}, key: "up", check: topAt(0)},
		{name: "up stops at the top", key: "up", check: topAt(0)},
		{name: "down stops at the end", setup: []string{"G"}, key: "down", check: topAt(6)},
		{name: "G", key: "G", check: topAt(6)},
		{name: "end", key: "end", check: topAt(6)},
		{name: "g", setup: []string{"G"}, key: "g", check: topAt(0)},
		{name: "home", setup: []string{"G"}, key: "home", check: topAt(0)},
		{name: "pgdown", key: "pgdown", check: topAt(6)},
		{name: "pgup", setup: []string{"G"}, key: "pgup", check: topAt(0)},
		{name: "j on Edges", setup: []string{"3"}, key: "j", check: func(m *Model) string { return want(m.edges.cursor, 1) }},
		{name: "j on Filters", setup: []string{"4"}, key: "j", check: func(m *Model) string { return want(m.filters.cursor, 0) }},
		{name: "j on Drilldown", setup: []string{"enter"}, key: "j", check: func(m *Model) string { return want(m.drill.cursor, 1) }},
		{name: "enter drills down", setup: []string{"j"}, key: "enter", check: func(m *Model) string {
			return firstBad(paneIs(PaneDrill)(m), want(m.drill.ad, "demo-01"), want(m.polls[kindDrill].inflight, true))
		}},
		{name: "enter elsewhere does nothing", setup: []string{"3"}, key: "enter", check: paneIs(PaneEdges)},
		{name: "esc leaves the drilldown", setup: []string{"enter"}, key: "esc", check: paneIs(PaneTop)},
		{name: "esc on Top does nothing", key: "esc", check: paneIs(PaneTop)},
		{name: "? opens help", key: "?", check: func(m *Model) string { return want(m.help, true) }},
		{name: "? closes help", setup: []string{"?"}, key: "?", check: func(m *Model) string { return want(m.help, false) }},
		{name: "esc closes help", setup: []string{"?"}, key: "esc", check: func(m *Model) string { return want(m.help, false) }},
		{name: "help swallows tab", setup: []string{"?"}, key: "tab", check: paneIs(PaneTop)},
		{name: "w", key: "w", check: windowIs(15)},
		{name: "w wraps", setup: []string{"w", "w"}, key: "w", check: windowIs(1)},
		{name: "W", key: "W", check: windowIs(1)},
		{name: "/ opens the prompt", key: "/", check: func(m *Model) string { return want(m.input != nil, true) }},
		{name: "r polls everything", key: "r", check: func(m *Model) string {
			return want(inflight(m), "/v1/status /v1/edges /v1/top /v1/filters")
		}},
		{name: "unknown key", key: "x", check: paneIs(PaneTop)},
		{name: "left is ignored", key: "left", check: topAt(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := testModel(t, UnicodeGlyphs)
			m.Init()
			feed(m)
			m.Update(edgesMsg{result{}, fixEdgesCut()})
			for _, k := range tc.setup {
				m.Update(key(k))
			}
			landAll(m)
			_, cmd := m.Update(key(tc.key))
			if isQuit(cmd) != tc.quit {
				t.Fatalf("quit = %v, want %v", !tc.quit, tc.quit)
			}
			if tc.check != nil {
				if bad := tc.check(m); bad != "" {
					t.Fatal(bad)
				}
			}
		})
	}
}

func want[T comparable](got, w T) string {
	if got != w {
		return fmt.Sprintf("got %v, want %v", got, w)
	}
	return ""
}

func firstBad(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func paneIs(p Pane) func(*Model) string {
	return func(m *Model) string { return want(m.pane, p) }
}

func topAt(i int) func(*Model) string {
	return func(m *Model) string { return want(m.top.cursor, i) }
}

// windowIs also checks that the old window's data went and the new one was
// asked for at once.
func windowIs(w int) func(*Model) string {
	return func(m *Model) string {
		return firstBad(want(m.Window(), w), want(m.top.resp == nil, true), want(m.polls[kindTop].inflight, true))
	}
}

func TestCountryPrompt(t *testing.T) {
	m, _ := testModel(t, UnicodeGlyphs)
	m.Init()
	feed(m)
	type step struct{ key, value, err string }
	m.Update(key("/"))
	for _, s := range []step{
		{"d", "D", ""}, {"1", "D", ""}, {"e", "DE", ""}, {"x", "DE", ""}, // digits and a third letter are dropped
		{"backspace", "D", ""}, {"enter", "D", "two letters"}, {"q", "DQ", ""}, {"ctrl+u", "", ""},
		{"delete", "", ""}, {"F", "F", ""}, {"r", "FR", ""},
	} {
		if _, cmd := m.Update(key(s.key)); isQuit(cmd) {
			t.Fatalf("%q quit from the prompt", s.key)
		}
		if m.input == nil || m.input.value != s.value || !strings.Contains(m.input.err, s.err) {
			t.Fatalf("after %q: %+v, want %q err %q", s.key, m.input, s.value, s.err)
		}
	}
	if !strings.Contains(screen(m), "country (2 letters, empty for all; enter applies, esc cancels): FR_") {
		t.Fatalf("prompt not shown:\n%s", screen(m))
	}
	m.Update(key("enter"))
	if m.input != nil || m.Country() != "FR" || m.top.resp != nil || !m.polls[kindTop].inflight {
		t.Fatalf("enter: input %v country %q top %v inflight %v", m.input, m.Country(), m.top.resp, m.polls[kindTop].inflight)
	}
	if !strings.HasPrefix(m.paramKey(kindTop), "n=50&last=5&country=FR") {
		t.Fatalf("key %q", m.paramKey(kindTop))
	}
	// The answer to the all-countries request still in flight is dropped.
	m.Update(topMsg{result{key: "n=50&last=5&country="}, fixTop()})
	if m.top.resp != nil {
		t.Fatal("an answer for the old country landed")
	}
	m.Update(key("/"))
	m.Update(key("d"))
	m.Update(key("esc"))
	if m.input != nil || m.Country() != "FR" {
		t.Fatalf("esc: %v %q", m.input, m.Country())
	}
	m.Update(key("/"))
	m.Update(key("ctrl+u"))
	m.Update(key("enter"))
	if m.Country() != "" {
		t.Fatalf("empty enter: country %q", m.Country())
	}
}

// At any size the screen is exactly height lines of at most width cells.
func TestResize(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {50, 12}, {49, 30}, {200, 60}, {120, 11}, {0, 0}, {1, 1}} {
		for p := range numPanes {
			m, _ := testModel(t, UnicodeGlyphs)
			m.Init()
			feed(m)
			m.Update(key("enter"))
			landAll(m)
			m.Update(key(fmt.Sprint(int(p) + 1)))
			m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			lines := strings.Split(m.View(), "\n")
			if sz[0] >= MinWidth && sz[1] >= MinHeight && len(lines) != sz[1] {
				t.Errorf("%dx%d %v: %d lines", sz[0], sz[1], p, len(lines))
			}
			for i, l := range lines {
				if w := lipgloss.Width(l); w > max(sz[0], 0) {
					t.Errorf("%dx%d %v line %d is %d wide: %q", sz[0], sz[1], p, i, w, l)
				}
			}
		}
	}
}

// Shrinking the screen keeps the cursor row on it.
func TestResizeKeepsCursorVisible(t *testing.T) {
	m, _ := testModel(t, UnicodeGlyphs)
	m.Init()
	feed(m)
	m.Update(key("G"))
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 12})
	if !strings.Contains(screen(m), "> 7     demo-11") {
		t.Fatalf("cursor row scrolled off:\n%s", screen(m))
	}
	m.Update(key("g"))
	if !strings.Contains(screen(m), "> 1     spring-sale-banner") {
		t.Fatalf("cursor row scrolled off:\n%s", screen(m))
	}
}

// A request whose answer never comes (which the client's timeout rules out) does
// not stop the polling: after three timeouts it is asked again.
func TestLostRequestIsAskedAgain(t *testing.T) {
	m, clk := testModel(t, UnicodeGlyphs)
	m.Init()
	clk.add(5 * time.Second)
	m.Update(tickMsg{at: clk.t})
	if m.polls[kindStatus].sent != t0 {
		t.Fatal("asked again before three timeouts")
	}
	clk.add(2 * time.Second)
	m.Update(tickMsg{at: clk.t})
	if !m.polls[kindStatus].inflight || m.polls[kindStatus].sent != clk.t {
		t.Fatal("a lost request stopped the polling")
	}
}

// Every kind of answer: an error keeps what is on screen and is shown; the next
// good answer clears it.
func TestEveryAnswerErrorKeepsData(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		k    kind
		bad  func(m *Model) tea.Msg
		kept func(m *Model) bool
	}{
		{kindStatus, func(*Model) tea.Msg { return statusMsg{result{err: boom}, nil} }, func(m *Model) bool { return m.health.cur != nil }},
		{kindEdges, func(*Model) tea.Msg { return edgesMsg{result{err: boom}, nil} }, func(m *Model) bool { return m.edges.resp != nil }},
		{kindTop, func(m *Model) tea.Msg { return topMsg{result{key: m.paramKey(kindTop), err: boom}, nil} }, func(m *Model) bool { return m.top.resp != nil }},
		{kindDrill, func(m *Model) tea.Msg { return drillMsg{result{key: m.paramKey(kindDrill), err: boom}, nil} }, func(m *Model) bool { return m.drill.resp != nil }},
		{kindFilters, func(*Model) tea.Msg { return filtersMsg{result{err: boom}, nil} }, func(m *Model) bool { return m.filters.resp != nil }},
	} {
		t.Run(kindPaths[tc.k], func(t *testing.T) {
			m, _ := testModel(t, UnicodeGlyphs)
			m.Init()
			feed(m)
			m.Update(filtersMsg{result{}, fixFilters()})
			m.Update(key("enter"))
			landAll(m)
			m.Update(key("1"))
			m.Update(tc.bad(m))
			if !tc.kept(m) || m.polls[tc.k].err != boom || !strings.Contains(screen(m), "! no good answer for 0.0s: boom") {
				t.Fatalf("kept %v err %v:\n%s", tc.kept(m), m.polls[tc.k].err, screen(m))
			}
			m.polls[tc.k].inflight = true
			landAll(m)
			if m.polls[tc.k].err != nil {
				t.Fatal("a good answer did not clear the error")
			}
		})
	}
}
