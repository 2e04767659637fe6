package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// topPane is the live top-N. The cursor follows the ad, not the row: when a
// refresh reorders the list, the same ad stays selected, so enter drills into
// what the reader was looking at.
type topPane struct {
	resp   *TopResponse
	cursor int
	off    int    // first row on screen
	sel    string // ad id under the cursor
}

// set takes a new answer. The core orders by clicks descending then ad id; the
// sort repeats it (stably) so ties never flicker even if an older core did not.
func (p *topPane) set(r *TopResponse) {
	sort.SliceStable(r.Ads, func(i, j int) bool {
		a, b := r.Ads[i], r.Ads[j]
		if a.Clicks != b.Clicks {
			return a.Clicks > b.Clicks
		}
		return a.AdID < b.AdID
	})
	p.resp = r
	for i, a := range r.Ads {
		if a.AdID == p.sel {
			p.cursor = i
			return
		}
	}
	p.syncSel()
}

func (p *topPane) reset() { p.resp = nil }

func (p *topPane) rows() int {
	if p.resp == nil {
		return 0
	}
	return len(p.resp.Ads)
}

func (p *topPane) move(d int) {
	p.cursor += d
	p.syncSel()
}

func (p *topPane) syncSel() {
	p.cursor = max(0, min(p.cursor, p.rows()-1))
	if p.rows() > 0 {
		p.sel = p.resp.Ads[p.cursor].AdID
	}
}

// clamp keeps the cursor in view of a body h lines high (less the column
// header and the footer).
func (p *topPane) clamp(h int) {
	p.cursor, p.off = clampCursor(p.cursor, p.off, p.rows(), h-2)
}

// selected is the ad under the cursor, or "" when the list is empty.
func (p *topPane) selected() string {
	if p.rows() == 0 {
		return ""
	}
	return p.resp.Ads[p.cursor].AdID
}

// rank gives equal counts the same rank (1, 2, 2, 4): a tie reads as one.
func rank(ads []AdCount, i int) string {
	r := i
	for r > 0 && ads[r-1].Clicks == ads[i].Clicks {
		r--
	}
	if r < i || (i+1 < len(ads) && ads[i+1].Clicks == ads[i].Clicks) {
		return fmt.Sprintf("%d=", r+1)
	}
	return fmt.Sprintf("%d", r+1)
}

// topTitle is the pane's title line: what is asked for.
func (m *Model) topTitle() string {
	t := fmt.Sprintf("Top %d ads", m.o.N)
	if r := m.top.resp; r != nil {
		t += m.st.Glyphs.Sep + m.span(r.From, r.To)
	}
	return t
}

// topBody draws the table: rank, ad id, clicks, share of the listed clicks, bar.
func (m *Model) topBody(h int) []string {
	p, g, w := &m.top, m.st.Glyphs, m.width
	if p.resp == nil {
		return []string{m.waiting(kindTop)}
	}
	ads := p.resp.Ads
	if len(ads) == 0 {
		return []string{fmt.Sprintf("No clicks in the last %d min%s.", m.window, m.countrySuffix()),
			m.st.Dim.Render("(Counts appear within a second or two of a click reaching an edge.)")}
	}
	var sum, peak uint64
	idw := len("AD ID")
	for _, a := range ads {
		sum += a.Clicks
		peak = max(peak, a.Clicks)
		idw = max(idw, len(a.AdID))
	}
	idw = min(idw, max(12, w/3))
	numw := max(len("CLICKS"), len(thousands(peak)))
	barw := max(0, w-(2+5+1+idw+2+numw+2+6+2))
	out := []string{m.st.Head.Render(pad(fmt.Sprintf("  %-5s %-*s  %*s  %6s", "#", idw, "AD ID", numw, "CLICKS", "SHARE"), w, g.Ellip))}
	vis := max(1, h-2)
	for i := p.off; i < len(ads) && i < p.off+vis; i++ {
		a := ads[i]
		line := fmt.Sprintf("%-5s %-*s  %*s  %6s  ", rank(ads, i), idw, fit(a.AdID, idw, g.Ellip), numw, thousands(a.Clicks), percent(a.Clicks, sum))
		if i == p.cursor {
			out = append(out, m.selectedRow(line, bar(a.Clicks, peak, barw, g)))
			continue
		}
		out = append(out, "  "+line+m.st.Bar.Render(bar(a.Clicks, peak, barw, g)))
	}
	foot := fmt.Sprintf("%d-%d of %d ads%s%s clicks listed%senter: drill down", p.off+1, min(len(ads), p.off+vis), len(ads), g.Sep, thousands(sum), g.Sep)
	return append(padLines(out, h-1), m.st.Dim.Render(foot))
}

// span is a window as "11:41→11:46 UTC" (to is exclusive: the open minute ends it).
func (m *Model) span(from, to time.Time) string {
	return fmt.Sprintf("%s%s%s UTC", hhmm(from), m.st.Glyphs.Arrow, hhmm(to))
}

func (m *Model) countrySuffix() string {
	if m.country == "" {
		return ""
	}
	return " from " + m.country
}

// selectedRow marks the cursor row: ">" and reversed text, the bar after it
// left as it is so that it reads the same as on the other rows.
func (m *Model) selectedRow(text, bar string) string {
	return m.st.Selected.Render("> "+strings.TrimRight(text, " ")) + "  " + m.st.Bar.Render(bar)
}

// padLines adds empty lines to reach h.
func padLines(lines []string, h int) []string {
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// waiting is what a pane shows before its first answer.
func (m *Model) waiting(k kind) string {
	if err := m.polls[k].err; err != nil {
		return m.st.Bad.Render("No answer yet: " + err.Error())
	}
	return "Waiting for the core..."
}
