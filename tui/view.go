package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
)

// MinWidth and MinHeight are the smallest screen the TUI draws on; below it
// says so rather than wrapping into something unreadable.
const (
	MinWidth  = 50
	MinHeight = 12
)

// View draws the screen: the top bar (core, completeness, edges), the tabs, the
// pane's title with the age of its data, the pane, the status line and the keys.
// It is a pure function of the model and exactly height lines of at most width
// cells.
func (m *Model) View() string {
	w, h := m.width, m.height
	if w < MinWidth || h < MinHeight {
		return fit(fmt.Sprintf("clicktui needs %dx%d; this terminal is %dx%d.", MinWidth, MinHeight, w, h), w, m.st.Glyphs.Ellip)
	}
	bh := m.bodyHeight()
	title, body := m.paneView(bh)
	lines := make([]string, 0, h)
	lines = append(lines, m.topBar(), m.tabs(), title)
	for i := range bh {
		l := ""
		if i < len(body) {
			l = fit(body[i], w, m.st.Glyphs.Ellip)
		}
		lines = append(lines, l)
	}
	lines = append(lines, m.statusLine(), m.keyLine())
	return strings.Join(lines, "\n")
}

// paneView is the title line and body of the pane on screen (or the help).
func (m *Model) paneView(h int) (string, []string) {
	if m.help {
		return m.st.Title.Render("Keys"), m.helpBody()
	}
	var k kind
	var title string
	var body []string
	switch m.pane {
	case PaneTop:
		k, title, body = kindTop, m.topTitle(), m.topBody(h)
	case PaneDrill:
		k, title, body = kindDrill, m.drillTitle(), m.drillBody(h)
	case PaneEdges:
		k, title, body = kindEdges, m.edgesTitle(), m.edgesBody(h)
	case PaneFilters:
		k, title, body = kindFilters, m.filtersTitle(), m.filtersBody(h)
	case PaneHealth:
		k, title, body = kindStatus, m.healthTitle(), m.healthBody(h)
	}
	return spread(m.st.Title.Render(title), m.freshness(k), m.width, m.st.Glyphs.Ellip), body
}

// freshness says how old a pane's data is, loudly once it is stale.
func (m *Model) freshness(k kind) string {
	ok := m.polls[k].ok
	if ok.IsZero() {
		return ""
	}
	a := m.o.Now().Sub(ok)
	if m.stale(k) {
		return m.st.Bad.Render("STALE " + age(a))
	}
	return m.st.Dim.Render("as of " + clock(ok))
}

// topBar names the core and says, on every pane, how complete the counts are
// and how many edges are connected.
func (m *Model) topBar() string {
	g := m.st.Glyphs
	left := m.st.Title.Render("clicktui") + " " + m.o.Client.Base()
	var right []string
	if c := m.health.cur; c != nil {
		right = append(right, fmt.Sprintf("complete %s (%s behind)", hhmm(c.CompleteThrough), age(c.Now.Sub(c.CompleteThrough))))
	}
	if up, all := m.edges.counts(); m.edges.resp != nil {
		s := fmt.Sprintf("edges %d/%d up", up, all)
		if up < all {
			s = m.st.Bad.Render(fmt.Sprintf("edges %d/%d up, %d CUT OFF", up, all, all-up))
		}
		right = append(right, s)
	}
	if m.polls[kindStatus].err != nil && m.polls[kindEdges].err != nil {
		right = append(right, m.st.Bad.Render("CORE UNREACHABLE"))
	}
	r := strings.Join(right, g.Sep)
	if lipgloss.Width(left)+1+lipgloss.Width(r) > m.width {
		left = m.st.Title.Render("clicktui") // the core's URL is the first to go
	}
	return spread(left, r, m.width, g.Ellip)
}

// tabs lists the panes; the active one is bracketed (and reversed in colour).
func (m *Model) tabs() string {
	var b strings.Builder
	for p := range numPanes {
		label := fmt.Sprintf("%d %s", p+1, p)
		if p == m.pane && !m.help {
			b.WriteString(m.st.TabActive.Render("[" + label + "]"))
		} else {
			b.WriteString(m.st.Tab.Render(" " + label + " "))
		}
		b.WriteString(" ")
	}
	c := "all countries"
	if m.country != "" {
		c = "country " + m.country
	}
	return spread(b.String(), m.st.Dim.Render(fmt.Sprintf("%d min%s%s", m.window, m.st.Glyphs.Sep, c)), m.width, m.st.Glyphs.Ellip)
}

// statusLine is the country prompt while it is open, else the newest error with
// the age of the data still on screen, else a quiet "live" line.
func (m *Model) statusLine() string {
	g := m.st.Glyphs
	if in := m.input; in != nil {
		s := fmt.Sprintf("country (2 letters, empty for all; enter applies, esc cancels): %s_", in.value)
		if in.err != "" {
			s += "  " + m.st.Bad.Render(in.err)
		}
		return fit(s, m.width, g.Ellip)
	}
	var worst *poll
	for k := range numKinds {
		p := &m.polls[k]
		if p.err != nil && (worst == nil || p.sent.After(worst.sent)) {
			worst = p
		}
	}
	if worst != nil {
		s := "! " + worst.err.Error()
		if !worst.ok.IsZero() {
			s = fmt.Sprintf("! no good answer for %s: %s", age(m.o.Now().Sub(worst.ok)), worst.err)
		}
		return m.st.Bad.Render(fit(s, m.width, g.Ellip))
	}
	inflight := 0
	for k := range numKinds {
		if m.polls[k].inflight {
			inflight++
		}
	}
	s := fmt.Sprintf("live%spolling every %s%s%d in flight", g.Sep, m.o.Interval, g.Sep, inflight)
	if t := m.polls[kindStatus].took; t > 0 {
		s += fmt.Sprintf("%score answers in %s", g.Sep, t.Round(time.Millisecond))
	}
	return m.st.Dim.Render(fit(s, m.width, g.Ellip))
}

func (m *Model) keyLine() string {
	var s string
	switch {
	case m.input != nil:
		s = "type a country code  enter apply  esc cancel  ctrl+u clear"
	case m.help:
		s = "? or esc close help  q quit"
	default:
		s = "j/k move  enter drill  tab pane  / country  w window  r refresh  ? help  q quit"
	}
	return m.st.Keys.Render(fit(s, m.width, m.st.Glyphs.Ellip))
}

func (m *Model) helpBody() []string {
	out := []string{}
	for _, kv := range keyHelp {
		out = append(out, fmt.Sprintf("  %-18s %s", kv[0], kv[1]))
	}
	g := m.st.Glyphs
	return append(out, "",
		"  Data is polled once per "+m.o.Interval.String()+g.Sep+"one request per kind at a time"+g.Sep+"timeout "+m.o.Client.Timeout().String()+".",
		"  A pane whose data is older than "+m.staleAfter().String()+" says STALE; the error is on the line below.",
		"  Times are UTC. Minutes marked * are not final yet (after complete_through).")
}
