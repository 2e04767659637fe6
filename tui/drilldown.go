package tui

import (
	"fmt"
	"slices"
)

// drillPane is one ad over the window: totals, a per-minute sparkline, and the
// minutes newest first. Minutes at or after complete_through are marked "*":
// their counts may still grow while a cut-off or slow edge catches up.
// Billable counts show only once the core's answer carries them.
type drillPane struct {
	ad     string
	resp   *ClicksResponse
	cursor int // into the minutes, newest first
	off    int
}

func (p *drillPane) open(ad string) { *p = drillPane{ad: ad} }

func (p *drillPane) reset() { p.resp, p.cursor, p.off = nil, 0, 0 }

func (p *drillPane) set(r *ClicksResponse) { p.resp = r }

func (p *drillPane) rows() int {
	if p.resp == nil {
		return 0
	}
	return len(p.resp.Series)
}

func (p *drillPane) move(d int) { p.cursor = max(0, min(p.cursor+d, p.rows()-1)) }

// chartRows is how tall the per-minute chart is in a body h lines high: four
// rows (32 levels) when the minute table still gets five lines, else one.
func chartRows(h int) int {
	if h >= 4+4+6 {
		return 4
	}
	return 1
}

// drillHead is how many body lines come before the minute table: the totals, a
// blank, the chart, its axis, the completeness note.
func drillHead(h int) int { return 4 + chartRows(h) }

func (p *drillPane) clamp(h int) {
	p.cursor, p.off = clampCursor(p.cursor, p.off, p.rows(), h-drillHead(h)-1)
}

// billable reports whether the answer has billable counts.
func (p *drillPane) billable() bool {
	if p.resp == nil {
		return false
	}
	if p.resp.Billable != nil {
		return true
	}
	return slices.ContainsFunc(p.resp.Series, func(s MinuteCount) bool { return s.Billable != nil })
}

func (m *Model) drillTitle() string {
	if m.drill.ad == "" {
		return "Drilldown"
	}
	t := "Ad " + m.drill.ad
	if r := m.drill.resp; r != nil {
		t += m.st.Glyphs.Sep + m.span(r.From, r.To)
	}
	return t
}

func (m *Model) drillBody(h int) []string {
	p, g := &m.drill, m.st.Glyphs
	switch {
	case p.ad == "":
		return []string{"No ad selected: pick one in Top (press 1) and press enter."}
	case p.resp == nil:
		return []string{m.waiting(kindDrill)}
	}
	r := p.resp
	vals := make([]uint64, len(r.Series))
	var peak uint64
	peakAt := 0
	for i, s := range r.Series {
		vals[i] = s.Clicks
		if s.Clicks > peak {
			peak, peakAt = s.Clicks, i
		}
	}
	totals := "clicks " + thousands(r.Clicks)
	if r.Billable != nil {
		totals += g.Sep + "billable " + thousands(*r.Billable)
	}
	if peak > 0 {
		totals += fmt.Sprintf("%speak %s/min at %s", g.Sep, thousands(peak), hhmm(r.Series[peakAt].Minute))
	}
	chart, axis := m.chartAxis(vals, chartRows(h))
	out := []string{m.st.Title.Render(totals), ""}
	for _, l := range chart {
		out = append(out, "  "+m.st.Bar.Render(l))
	}
	out = append(out, "  "+m.st.Dim.Render(axis),
		fmt.Sprintf("complete through %s UTC: minutes marked * may still grow", hhmm(r.CompleteThrough)))
	return append(out, m.minuteTable(h-len(out))...)
}

// chartAxis draws the series as a bar chart rows lines high and up to the
// screen width, each minute up to chartCell cells wide so a short window is not
// a speck, and under it the first and last minute shown. The newest minutes win
// when the window is wider than the screen.
func (m *Model) chartAxis(vals []uint64, rows int) (chart []string, axis string) {
	const chartCell = 6
	r, g := m.drill.resp, m.st.Glyphs
	sw := max(1, m.width-4)
	if len(vals) > sw {
		vals = vals[len(vals)-sw:]
	}
	n := len(vals)
	if n == 0 {
		return nil, ""
	}
	cell := max(1, min(chartCell, sw/n))
	wide := make([]uint64, 0, n*cell)
	for _, v := range vals {
		for range cell {
			wide = append(wide, v)
		}
	}
	from, to := hhmm(r.Series[len(r.Series)-n].Minute), hhmm(r.Series[len(r.Series)-1].Minute)
	return barChart(wide, rows, g), spread(from, to, max(len(wide), len(from)+len(to)+2), g.Ellip)
}

// minuteTable lists the minutes newest first with a bar each.
func (m *Model) minuteTable(h int) []string {
	p, g, w, r := &m.drill, m.st.Glyphs, m.width, m.drill.resp
	bill := p.billable()
	head := fmt.Sprintf("  %-7s %9s", "MINUTE", "CLICKS")
	if bill {
		head += fmt.Sprintf(" %9s", "BILLABLE")
	}
	var peak uint64
	for _, s := range r.Series {
		peak = max(peak, s.Clicks)
	}
	barw := max(0, w-lenCells(head)-4)
	out := []string{m.st.Head.Render(pad(head, w, g.Ellip))}
	n := len(r.Series)
	for i := p.off; i < n && len(out) < h; i++ {
		s := r.Series[n-1-i]
		mark := " "
		if !s.Minute.Before(r.CompleteThrough) {
			mark = "*"
		}
		line := fmt.Sprintf("%s%-6s %9s", mark, hhmm(s.Minute), thousands(s.Clicks))
		if bill {
			b := "-"
			if s.Billable != nil {
				b = thousands(*s.Billable)
			}
			line += fmt.Sprintf(" %9s", b)
		}
		line += "  "
		if i == p.cursor {
			out = append(out, m.selectedRow(line, bar(s.Clicks, peak, barw, g)))
			continue
		}
		out = append(out, "  "+line+m.st.Bar.Render(bar(s.Clicks, peak, barw, g)))
	}
	return out
}

func lenCells(s string) int { return len([]rune(s)) }
