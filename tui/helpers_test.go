package tui

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current View")

func TestMain(m *testing.M) {
	// No colour, no attributes: goldens are plain text whatever the terminal.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// t0 is the fixtures' clock: 10:05:03 UTC, three seconds into the open minute.
var t0 = time.Date(2026, 3, 14, 10, 5, 3, 0, time.UTC)

func minuteAt(hh, mm int) time.Time { return time.Date(2026, 3, 14, hh, mm, 0, 0, time.UTC) }

// clockAt is a settable clock.
type clockAt struct{ t time.Time }

func (c *clockAt) now() time.Time      { return c.t }
func (c *clockAt) add(d time.Duration) { c.t = c.t.Add(d) }
func asciiStyles(g Glyphs) *Styles     { s := NewStyles(plainRenderer(), g); return &s }
func plainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}
func key(s string) tea.KeyMsg         { return keyMsg(s) }
func sized(m *Model, w, h int) *Model { m.Update(tea.WindowSizeMsg{Width: w, Height: h}); return m }

// keyMsg builds the tea.KeyMsg whose String() is s.
func keyMsg(s string) tea.KeyMsg {
	named := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
		"up": tea.KeyUp, "down": tea.KeyDown, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
		"home": tea.KeyHome, "end": tea.KeyEnd, "backspace": tea.KeyBackspace, "delete": tea.KeyDelete,
		"ctrl+c": tea.KeyCtrlC, "ctrl+u": tea.KeyCtrlU, "left": tea.KeyLeft,
	}
	if t, ok := named[s]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// testModel is a model on a fixed clock that never ticks by itself and whose
// client is never called (commands are not run).
func testModel(t *testing.T, g Glyphs) (*Model, *clockAt) {
	t.Helper()
	c, err := NewClient("http://core.test:8090", "tok", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clockAt{t0}
	m, err := New(Options{Client: c, Styles: asciiStyles(g), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	m.tick = nil
	return m, clk
}

// feed lands every fixture answer for the parameters on screen.
func feed(m *Model) {
	m.Update(statusMsg{result{key: "", took: 4 * time.Millisecond}, fixStatus(t0)})
	m.Update(edgesMsg{result{took: 2 * time.Millisecond}, fixEdges()})
	m.Update(topMsg{result{key: m.paramKey(kindTop), took: 3 * time.Millisecond}, fixTop()})
	m.Update(filtersMsg{result{err: &APIError{Path: "/v1/filters", Status: 404, Message: "no such endpoint: GET /v1/filters"}}, nil})
}

func fixTop() *TopResponse {
	return &TopResponse{From: minuteAt(10, 1), To: minuteAt(10, 6), CompleteThrough: minuteAt(10, 4),
		Ads: []AdCount{
			{"spring-sale-banner", 1520}, {"demo-01", 312}, {"demo-03", 97}, {"demo-02", 97},
			{"demo-07", 41}, {"video-preroll-de", 12}, {"demo-11", 1},
		}}
}

func u64(n uint64) *uint64 { return &n }

func fixClicks(ad string, billable bool) *ClicksResponse {
	r := &ClicksResponse{AdID: ad, From: minuteAt(10, 1), To: minuteAt(10, 6), CompleteThrough: minuteAt(10, 4)}
	for i, n := range []uint64{280, 301, 333, 410, 196} {
		mc := MinuteCount{Minute: minuteAt(10, 1+i), Clicks: n}
		if billable {
			mc.Billable = u64(n - n/10)
		}
		r.Series = append(r.Series, mc)
		r.Clicks += n
	}
	if billable {
		r.Billable = u64(r.Clicks - r.Clicks/10)
	}
	return r
}

func fixEdges() *EdgesResponse {
	return &EdgesResponse{CompleteThrough: minuteAt(10, 4), Edges: []EdgeInfo{
		{EdgeID: "pop-a", Watermark: t0.Add(-400 * time.Millisecond), LagSeconds: 0.4},
		{EdgeID: "pop-b", Watermark: t0.Add(-400 * time.Millisecond), LagSeconds: 0.4},
	}}
}

func fixEdgesCut() *EdgesResponse {
	r := fixEdges()
	r.Edges[1] = EdgeInfo{EdgeID: "pop-b", Watermark: t0.Add(-97 * time.Second), LagSeconds: 97, Buffered: u64(1843)}
	r.Edges[0].Buffered = u64(0)
	r.Edges = append(r.Edges, EdgeInfo{EdgeID: "pop-c", LagSeconds: -1})
	return r
}

func fixStatus(now time.Time) *StatusResponse {
	return &StatusResponse{CompleteThrough: minuteAt(10, 4), Now: now, Core: CoreStatus{
		Merge: MergeStats{Merged: 1200 + uint64(now.Sub(t0)/time.Second)*4, Duplicates: 3, Pending: 2, LastCommit: now.Add(-600 * time.Millisecond)},
		Ads:   50, Leafnodes: 2, StoreRows: 5230, StoreBytes: 1 << 20, HotWindow: "24h0m0s",
		Raw: RawStatus{SealedThrough: minuteAt(10, 3), Unsealed: 4210},
	}}
}

func fixFilters() *FiltersResponse {
	return &FiltersResponse{Filters: []FilterInfo{
		{Name: "botua", Active: 3, Versions: 3, Stats: &FilterStats{Calls: 120000, Accepts: 116500, Rejects: 3000, Flags: 500}},
		{Name: "ipflood", Owner: "partner-7", Active: 1, Versions: 2, Stats: &FilterStats{Calls: 120000, Accepts: 119000, Rejects: 1000, Traps: 4, Timeouts: 1}},
		{Name: "sigcheck", Versions: 1},
	}}
}

// fixFiltersToday is the registry as today's core reports it: no counters.
func fixFiltersToday() *FiltersResponse {
	return &FiltersResponse{Filters: []FilterInfo{{Name: "botua", Active: 2, Versions: 2}, {Name: "ipflood", Owner: "partner-7", Versions: 1}}}
}

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("View differs from %s (rerun with -update if the change is meant):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// drain runs cmd and every command its messages lead to, feeding the messages to
// m, the way tea.Program would but synchronously. Ticks are not scheduled in
// test models, so this ends.
func drain(t *testing.T, m *Model, cmd tea.Cmd) {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tea.QuitMsg:
			return
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
}

// isQuit reports whether cmd quits the program.
func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// noLeaks fails if goroutines started during the test outlive it by more than
// a second (keep-alive connections are closed first by the caller).
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// screen is View with trailing spaces cut, for substring checks.
func screen(m *Model) string {
	lines := strings.Split(m.View(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

var errDown = errors.New("GET /v1/top: dial tcp 10.0.0.7:8090: connect: connection refused")
