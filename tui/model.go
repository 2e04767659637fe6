// Package tui is the on-call engineer's terminal UI for a clickagg core: live
// top-N, one ad's per-minute drilldown, the edges' heartbeats and lag, the filter
// registry and the core's merge health, in one keyboard-driven screen that reads
// at 80×24 over SSH.
//
// It exists so that "is it counting, and is anything cut off?" has an answer in
// one glance without curl. It reads only the core's public HTTP API (package
// client.go), polling once per interval with one request per kind in flight and
// a per-request timeout, all as tea.Cmds: Update and View never wait on the
// network, and a slow or dead core shows as stale data with the error in the
// status line (RATIONALE.md says why polling rather than streaming).
//
// The Model is a plain Bubbletea model: feed it messages and read View(), which
// is how the tests drive it. Only this room imports the charm stack.
package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Pane is one of the TUI's screens, in tab order.
type Pane int

// The panes, in tab order; the digit keys 1-5 select them too.
const (
	PaneTop Pane = iota
	PaneDrill
	PaneEdges
	PaneFilters
	PaneHealth
	numPanes
)

var paneNames = [numPanes]string{"Top", "Drilldown", "Edges", "Filters", "Health"}

func (p Pane) String() string { return paneNames[p] }

// Windows are the top-N and drilldown windows "w" cycles through, in minutes.
var Windows = []int{1, 5, 15, 60}

// Options configure a Model. Zero values take the defaults noted.
type Options struct {
	Client   *Client       // required
	Interval time.Duration // poll period; default 1 s
	N        int           // top-N rows asked for; default 50 (the core allows 1000)
	Window   int           // minutes, one of Windows; default 5
	Country  string        // ISO alpha-2 filter; "" for all
	Styles   *Styles       // default: the default renderer's profile, Unicode glyphs
	// Now is the clock for ages and staleness; default time.Now.
	Now func() time.Time
	// Context ends in-flight requests when it is cancelled (on quit); default
	// context.Background().
	Context context.Context
}

// Model is the TUI's state. Not safe for concurrent use: Bubbletea calls Update
// and View from one goroutine.
type Model struct {
	o       Options
	st      Styles
	width   int
	height  int
	pane    Pane
	help    bool
	input   *lineInput // non-nil while the country prompt is open
	window  int        // minutes
	country string

	polls   [numKinds]poll
	top     topPane
	drill   drillPane
	edges   edgesPane
	filters filtersPane
	health  healthPane

	tick func() tea.Cmd // nil in tests that drive time themselves
}

// New returns a model; Init starts the polling.
func New(o Options) (*Model, error) {
	if o.Client == nil {
		return nil, errors.New("tui: Options.Client is required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.N <= 0 {
		o.N = 50
	}
	if o.N > 1000 {
		return nil, fmt.Errorf("tui: N is %d; the core answers at most 1000", o.N)
	}
	if o.Window == 0 {
		o.Window = 5
	}
	if !slices.Contains(Windows, o.Window) {
		return nil, fmt.Errorf("tui: window %d: use one of %v minutes", o.Window, Windows)
	}
	if o.Country != "" && !validCountry(o.Country) {
		return nil, fmt.Errorf("tui: country %q: want two letters (ISO 3166 alpha-2)", o.Country)
	}
	if o.Styles == nil {
		s := NewStyles(lipgloss.DefaultRenderer(), UnicodeGlyphs)
		o.Styles = &s
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	m := &Model{o: o, st: *o.Styles, width: 80, height: 24, window: o.Window, country: upper(o.Country)}
	m.tick = func() tea.Cmd { return tickCmd(o.Interval) }
	return m, nil
}

// Init starts the first polls and the ticker.
func (m *Model) Init() tea.Cmd { return tea.Batch(m.due(), m.nextTick()) }

func (m *Model) nextTick() tea.Cmd {
	if m.tick == nil {
		return nil
	}
	return m.tick()
}

// Update applies one message. It never blocks: requests run as the commands it
// returns.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clampAll()
		return m, nil
	case tea.KeyMsg:
		return m, m.key(msg)
	case tickMsg:
		return m, tea.Batch(m.due(), m.nextTick())
	case statusMsg:
		if ok, cmd := m.land(kindStatus, msg.result); !ok || msg.err != nil {
			return m, cmd
		}
		m.health.set(msg.resp)
	case edgesMsg:
		if ok, cmd := m.land(kindEdges, msg.result); !ok || msg.err != nil {
			return m, cmd
		}
		m.edges.set(msg.resp)
		m.clampAll()
	case topMsg:
		if ok, cmd := m.land(kindTop, msg.result); !ok || msg.err != nil {
			return m, cmd
		}
		m.top.set(msg.resp)
		m.clampAll()
	case drillMsg:
		if ok, cmd := m.land(kindDrill, msg.result); !ok || msg.err != nil {
			return m, cmd
		}
		m.drill.set(msg.resp)
		m.clampAll()
	case filtersMsg:
		m.landFilters(msg)
	}
	return m, nil
}

// landFilters treats a 404 as "this core has no filter registry", which is a
// state to show, not an error to raise.
func (m *Model) landFilters(msg filtersMsg) {
	m.land(kindFilters, msg.result)
	switch {
	case IsNotFound(msg.err):
		p := &m.polls[kindFilters]
		p.err, p.ok = nil, m.o.Now()
		m.filters.set(nil)
	case msg.err == nil:
		m.filters.set(msg.resp)
		m.clampAll()
	}
}

// bodyHeight is how many lines the pane body gets: the screen less the top bar,
// the tab line, the pane title, the status line and the key line.
func (m *Model) bodyHeight() int { return max(1, m.height-5) }

// clampAll keeps every list cursor on a row and in view after the data or the
// screen size changed.
func (m *Model) clampAll() {
	h := m.bodyHeight()
	m.top.clamp(h)
	m.drill.clamp(h)
	m.edges.clamp(h)
	m.filters.clamp(h)
}

// setParams changes the window or the country: what is on screen was for the
// old ones, so it goes, and the new ones are asked for at once.
func (m *Model) setParams(window int, country string) tea.Cmd {
	if window == m.window && country == m.country {
		return nil
	}
	m.window, m.country = window, country
	m.top.reset()
	m.drill.reset()
	m.polls[kindTop].ok, m.polls[kindDrill].ok = time.Time{}, time.Time{}
	return m.force(kindTop, kindDrill)
}

// Window is the current window in minutes.
func (m *Model) Window() int { return m.window }

// Country is the current country filter ("" for all).
func (m *Model) Country() string { return m.country }

// Pane is the pane on screen.
func (m *Model) Pane() Pane { return m.pane }
