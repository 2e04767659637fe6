package tui

import (
	"fmt"
)

// filtersPane is the Wasm filter registry: each filter's owner, active version,
// how many versions exist, and, once the core reports them, the share of its
// verdicts (accept, reject, flag) and its traps and timeouts. A core without a registry answers 404; the pane says so
// instead of showing an error.
type filtersPane struct {
	resp   *FiltersResponse // nil with none: no registry on this core
	known  bool             // an answer (or a 404) has arrived
	cursor int
	off    int
}

// set takes an answer; nil means the core has no filter registry.
func (p *filtersPane) set(r *FiltersResponse) { p.resp, p.known = r, true }

func (p *filtersPane) rows() int {
	if p.resp == nil {
		return 0
	}
	return len(p.resp.Filters)
}

func (p *filtersPane) move(d int) { p.cursor = max(0, min(p.cursor+d, p.rows()-1)) }

func (p *filtersPane) clamp(h int) { p.cursor, p.off = clampCursor(p.cursor, p.off, p.rows(), h-3) }

func (m *Model) filtersTitle() string {
	if r := m.filters.resp; r != nil {
		return fmt.Sprintf("Filters%s%d registered", m.st.Glyphs.Sep, len(r.Filters))
	}
	return "Filters"
}

func (m *Model) filtersBody(h int) []string {
	p, g, w := &m.filters, m.st.Glyphs, m.width
	switch {
	case !p.known:
		return []string{m.waiting(kindFilters)}
	case p.resp == nil:
		return []string{"No filter registry on this core (GET /v1/filters answers 404).",
			m.st.Dim.Render(fit("Clicks reach the counts unfiltered, apart from token checks and dedup.", w, g.Ellip))}
	case len(p.resp.Filters) == 0:
		return []string{"The filter registry is empty: no filter has been uploaded."}
	}
	nw, ow, stats := len("NAME"), len("OWNER"), false
	for _, f := range p.resp.Filters {
		nw, ow = max(nw, len(f.Name)), max(ow, len(owner(f)))
		stats = stats || f.Stats != nil
	}
	nw, ow = min(nw, 20), min(ow, 12)
	row := func(name, own, active, vers, calls, acc, rej, flag, traps, tmo string) string {
		return fmt.Sprintf("%-*s %-*s %6s %4s %9s %6s %6s %5s %5s %5s", nw, name, ow, own, active, vers, calls, acc, rej, flag, traps, tmo)
	}
	out := []string{m.st.Head.Render(pad("  "+row("NAME", "OWNER", "ACTIVE", "VERS", "CALLS", "ACCEPT", "REJECT", "FLAG", "TRAPS", "T/OUT"), w, g.Ellip))}
	vis := max(1, h-3)
	for i := p.off; i < len(p.resp.Filters) && i < p.off+vis; i++ {
		f := p.resp.Filters[i]
		active := "none"
		if f.Active > 0 {
			active = fmt.Sprintf("v%d", f.Active)
		}
		cells := []string{"-", "-", "-", "-", "-", "-"}
		if s := f.Stats; s != nil {
			cells = []string{thousands(s.Calls), percent(s.Accepts, s.Calls), percent(s.Rejects, s.Calls),
				percent(s.Flags, s.Calls), thousands(s.Traps), thousands(s.Timeouts)}
		}
		line := row(fit(f.Name, nw, g.Ellip), fit(owner(f), ow, g.Ellip), active, fmt.Sprint(int(f.Versions)),
			cells[0], cells[1], cells[2], cells[3], cells[4], cells[5])
		switch {
		case i == p.cursor:
			out = append(out, m.st.Selected.Render(pad("> "+line, w, g.Ellip)))
		case f.Stats != nil && (f.Stats.Traps > 0 || f.Stats.Timeouts > 0):
			out = append(out, "  "+m.st.Warn.Render(line))
		default:
			out = append(out, "  "+line)
		}
	}
	out = padLines(out, h-2)
	note := "Verdicts are shares of calls; a trap or timeout applies the policy verdict."
	if !stats {
		note = "Verdict counters: this core does not report them yet."
	}
	return append(out, "", m.st.Dim.Render(fit(note, w, g.Ellip)))
}

// owner is who manages a filter: a partner id, or "admin".
func owner(f FilterInfo) string {
	if f.Owner == "" {
		return "admin"
	}
	return f.Owner
}
