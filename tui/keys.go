package tui

import (
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// keyHelp is the "?" screen: every key, in the order an on-call reader needs them.
var keyHelp = [][2]string{
	{"tab / shift+tab", "next / previous pane"},
	{"1 2 3 4 5", "Top, Drilldown, Edges, Filters, Health"},
	{"up down / k j", "move the cursor (scroll)"},
	{"pgup pgdown, g G", "move by a page, to the first / last row"},
	{"enter", "drill down into the ad under the cursor"},
	{"esc", "back to Top from the drilldown; close this help"},
	{"/", "filter by country (two letters; empty for all)"},
	{"w / W", "next / previous window: 1, 5, 15, 60 min"},
	{"r", "poll everything now"},
	{"?", "this help"},
	{"q, ctrl+c", "quit"},
}

// key applies one key press.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	s := k.String()
	if s == "ctrl+c" {
		return tea.Quit
	}
	if m.input != nil {
		return m.inputKey(k)
	}
	if m.help {
		switch s {
		case "?", "esc":
			m.help = false
		case "q":
			return tea.Quit
		}
		return nil
	}
	switch s {
	case "q":
		return tea.Quit
	case "?":
		m.help = true
	case "tab":
		return m.setPane((m.pane + 1) % numPanes)
	case "shift+tab":
		return m.setPane((m.pane + numPanes - 1) % numPanes)
	case "1", "2", "3", "4", "5":
		return m.setPane(Pane(s[0] - '1'))
	case "/":
		m.input = &lineInput{value: m.country}
	case "w", "W":
		return m.setParams(cycle(Windows, m.window, s == "w"), m.country)
	case "r":
		return m.force(kindStatus, kindEdges, kindTop, kindDrill, kindFilters)
	case "enter":
		return m.drillDown()
	case "esc":
		if m.pane == PaneDrill {
			return m.setPane(PaneTop)
		}
	default:
		m.move(s)
	}
	return nil
}

// move handles the cursor keys for the pane on screen.
func (m *Model) move(s string) {
	page := max(1, m.bodyHeight()-2)
	d := 0
	switch s {
	case "up", "k":
		d = -1
	case "down", "j":
		d = 1
	case "pgup":
		d = -page
	case "pgdown":
		d = page
	case "home", "g":
		d = -1 << 30
	case "end", "G":
		d = 1 << 30
	default:
		return
	}
	switch m.pane {
	case PaneTop:
		m.top.move(d)
	case PaneDrill:
		m.drill.move(d)
	case PaneEdges:
		m.edges.move(d)
	case PaneFilters:
		m.filters.move(d)
	}
	m.clampAll()
}

// setPane shows p and polls at once whatever p shows that is now due sooner.
func (m *Model) setPane(p Pane) tea.Cmd {
	m.pane = p
	return m.due()
}

// drillDown opens the drilldown on the ad under the Top cursor.
func (m *Model) drillDown() tea.Cmd {
	if m.pane != PaneTop {
		return nil
	}
	ad := m.top.selected()
	if ad == "" {
		return nil
	}
	if ad != m.drill.ad {
		m.drill.open(ad)
		// What was known was another ad's; a request for it still in flight is
		// dropped when it lands (its key differs).
		m.polls[kindDrill] = poll{inflight: m.polls[kindDrill].inflight}
	}
	m.pane = PaneDrill
	return m.force(kindDrill)
}

// cycle returns the element after (or before) cur in list, wrapping around.
func cycle(list []int, cur int, forward bool) int {
	i := slices.Index(list, cur)
	if forward {
		return list[(i+1)%len(list)]
	}
	return list[(i-1+len(list))%len(list)]
}

// lineInput is the country prompt: up to two letters, shown upper case.
type lineInput struct {
	value string
	err   string
}

// inputKey edits the country prompt; enter applies it, esc drops it.
func (m *Model) inputKey(k tea.KeyMsg) tea.Cmd {
	in := m.input
	switch k.Type {
	case tea.KeyEsc:
		m.input = nil
	case tea.KeyEnter:
		if in.value != "" && !validCountry(in.value) {
			in.err = "two letters, or empty for all countries"
			return nil
		}
		m.input = nil
		return m.setParams(m.window, in.value)
	case tea.KeyBackspace, tea.KeyDelete:
		if in.value != "" {
			in.value = in.value[:len(in.value)-1]
		}
		in.err = ""
	case tea.KeyCtrlU:
		in.value, in.err = "", ""
	case tea.KeyRunes:
		for _, r := range k.Runes {
			if len(in.value) < 2 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				in.value += upper(string(r))
			}
		}
		in.err = ""
	}
	return nil
}

func upper(s string) string { return strings.ToUpper(s) }

// validCountry reports whether s is two ASCII letters.
func validCountry(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
