package tui

import (
	"fmt"
	"time"

	"github.com/charmbracelet/lipgloss"
)

// CutOffAfter is the watermark lag past which an edge reads as cut off. An edge
// publishes a partial (a heartbeat when idle) every 500 ms, so five seconds is
// ten missed heartbeats: long enough to ride out a GC pause or a busy merge,
// short enough that the pane turns before anyone asks why counts stalled.
const CutOffAfter = 5 * time.Second

// edgesPane lists the edges the core knows: connected or cut off, the time of
// their last heartbeat (their watermark), the lag behind the core's clock, and
// what they hold buffered when the core reports it.
type edgesPane struct {
	resp   *EdgesResponse
	cursor int
	off    int
}

func (p *edgesPane) set(r *EdgesResponse) { p.resp = r }

func (p *edgesPane) rows() int {
	if p.resp == nil {
		return 0
	}
	return len(p.resp.Edges)
}

func (p *edgesPane) move(d int) { p.cursor = max(0, min(p.cursor+d, p.rows()-1)) }

func (p *edgesPane) clamp(h int) {
	p.cursor, p.off = clampCursor(p.cursor, p.off, p.rows(), h-edgesFoot-1)
}

// edgesFoot is how many body lines the notes under the table take.
const edgesFoot = 2

// edgeState is one edge's condition in words (never colour alone).
type edgeState int

const (
	edgeUp edgeState = iota
	edgeCut
	edgeNever
)

func stateOf(e EdgeInfo) edgeState {
	switch {
	case e.LagSeconds < 0:
		return edgeNever
	case e.LagSeconds > CutOffAfter.Seconds():
		return edgeCut
	}
	return edgeUp
}

// counts returns how many edges are up, and how many there are.
func (p *edgesPane) counts() (up, all int) {
	if p.resp == nil {
		return 0, 0
	}
	for _, e := range p.resp.Edges {
		if stateOf(e) == edgeUp {
			up++
		}
	}
	return up, len(p.resp.Edges)
}

func (m *Model) edgesTitle() string {
	up, all := m.edges.counts()
	if m.edges.resp == nil {
		return "Edges"
	}
	return fmt.Sprintf("Edges%s%d of %d connected%scut off: no heartbeat for %v", m.st.Glyphs.Sep, up, all, m.st.Glyphs.Sep, CutOffAfter)
}

func (m *Model) edgesBody(h int) []string {
	p, g, w := &m.edges, m.st.Glyphs, m.width
	if p.resp == nil {
		return []string{m.waiting(kindEdges)}
	}
	if len(p.resp.Edges) == 0 {
		return []string{"No edge has registered with this core yet."}
	}
	idw := len("EDGE")
	buffered := false
	for _, e := range p.resp.Edges {
		idw = max(idw, len(e.EdgeID))
		buffered = buffered || e.Buffered != nil
	}
	row := func(id, state, hb, lag, buf string) string {
		return fmt.Sprintf("%-*s  %-11s  %-14s  %9s  %9s", idw, id, state, hb, lag, buf)
	}
	out := []string{m.st.Head.Render(pad("  "+row("EDGE", "STATE", "LAST HEARTBEAT", "LAG", "BUFFERED"), w, g.Ellip))}
	vis := max(1, h-edgesFoot-1)
	for i := p.off; i < len(p.resp.Edges) && i < p.off+vis; i++ {
		e := p.resp.Edges[i]
		st, hb, lag := m.edgeCells(e)
		buf := "n/a"
		if e.Buffered != nil {
			buf = thousands(*e.Buffered)
		}
		line := row(e.EdgeID, st, hb, lag, buf)
		if i == p.cursor {
			out = append(out, m.st.Selected.Render(pad("> "+line, w, g.Ellip)))
			continue
		}
		out = append(out, "  "+m.edgeStyle(e).Render(line))
	}
	notes := []string{"A cut-off edge holds complete_through back; its clicks wait in its journal."}
	if !buffered {
		notes = append(notes, "BUFFERED: this core does not report edges' buffered messages yet.")
	}
	out = padLines(out, h-len(notes))
	for _, n := range notes {
		out = append(out, m.st.Dim.Render(fit(n, w, g.Ellip)))
	}
	return out
}

// edgeCells are the state, heartbeat and lag columns for one edge.
func (m *Model) edgeCells(e EdgeInfo) (state, heartbeat, lag string) {
	switch stateOf(e) {
	case edgeNever:
		return "NEVER SEEN", "-", "-"
	case edgeCut:
		state = "CUT OFF"
	default:
		state = "connected"
	}
	lagD := time.Duration(e.LagSeconds * float64(time.Second))
	return state, clock(e.Watermark), age(lagD)
}

func (m *Model) edgeStyle(e EdgeInfo) lipgloss.Style {
	switch stateOf(e) {
	case edgeCut, edgeNever:
		return m.st.Bad
	}
	return m.st.Good
}
