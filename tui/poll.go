package tui

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// kind is one thing the TUI polls the core for.
type kind int

const (
	kindStatus kind = iota
	kindEdges
	kindTop
	kindDrill
	kindFilters
	numKinds
)

var kindPaths = [numKinds]string{"/v1/status", "/v1/edges", "/v1/top", "/v1/ads/{id}/clicks", "/v1/filters"}

// poll is the state of one kind's polling. At most one request per kind is in
// flight: a slow core slows the polls down instead of piling them up.
type poll struct {
	inflight bool
	sent     time.Time     // when the last request went out (model clock)
	ok       time.Time     // when the last good answer arrived
	err      error         // the last request's error; nil after a good answer
	took     time.Duration // the last request's round trip
}

// Messages: one tick per interval, one answer per request. Each answer carries
// the key of the parameters it was asked with, so an answer to a window or
// country the user has since left is dropped rather than shown under the wrong
// title.
type (
	tickMsg struct{ at time.Time }
	result  struct {
		key  string
		err  error
		took time.Duration
	}
	statusMsg struct {
		result
		resp *StatusResponse
	}
	edgesMsg struct {
		result
		resp *EdgesResponse
	}
	topMsg struct {
		result
		resp *TopResponse
	}
	drillMsg struct {
		result
		resp *ClicksResponse
	}
	filtersMsg struct {
		result
		resp *FiltersResponse
	}
)

// slowEvery is how many intervals pass between polls of what is not on screen:
// the top-N behind another pane, and the filter registry, which changes on a
// human's upload and not by the second.
const slowEvery = 5

// lostAfter is how many client timeouts a request may stay in flight before it
// is taken as lost and asked again.
const lostAfter = 3

// every is how often kind k is polled now; 0 means not at all.
func (m *Model) every(k kind) time.Duration {
	iv := m.o.Interval
	switch k {
	case kindStatus, kindEdges: // the header shows both on every pane
		return iv
	case kindTop:
		if m.pane == PaneTop {
			return iv
		}
		return slowEvery * iv
	case kindDrill:
		if m.pane == PaneDrill && m.drill.ad != "" {
			return iv
		}
		return 0
	case kindFilters:
		if m.pane == PaneFilters {
			return iv
		}
		return slowEvery * iv
	}
	return 0
}

// due starts a request for every kind whose period has passed and that has none
// in flight.
func (m *Model) due() tea.Cmd {
	now := m.o.Now()
	var cmds []tea.Cmd
	for k := range numKinds {
		p := &m.polls[k]
		ev := m.every(k)
		if p.inflight && now.Sub(p.sent) > lostAfter*m.o.Client.Timeout() {
			p.inflight = false // the client's timeout makes this unreachable; never stop polling
		}
		if p.inflight || ev == 0 || (!p.sent.IsZero() && now.Sub(p.sent) < ev) {
			continue
		}
		p.inflight, p.sent = true, now
		cmds = append(cmds, m.fetch(k))
	}
	return tea.Batch(cmds...)
}

// force makes kinds due at once (after a parameter change or "r").
func (m *Model) force(ks ...kind) tea.Cmd {
	for _, k := range ks {
		m.polls[k].sent = time.Time{}
	}
	return m.due()
}

// paramKey is the parameter set a request of kind k is made with now.
func (m *Model) paramKey(k kind) string {
	switch k {
	case kindTop:
		return fmt.Sprintf("n=%d&last=%d&country=%s", m.o.N, m.window, m.country)
	case kindDrill:
		return fmt.Sprintf("ad=%s&last=%d&country=%s", m.drill.ad, m.window, m.country)
	}
	return ""
}

// fetch returns the command that makes kind k's request. It runs off the
// Update goroutine, bounded by the client's timeout, and reports as a message.
func (m *Model) fetch(k kind) tea.Cmd {
	c, ctx, key := m.o.Client, m.o.Context, m.paramKey(k)
	n, w, country, ad := m.o.N, m.window, m.country, m.drill.ad
	run := func(f func(context.Context) tea.Msg) tea.Cmd { return func() tea.Msg { return f(ctx) } }
	timed := func(err error, start time.Time) result { return result{key: key, err: err, took: time.Since(start)} }
	switch k {
	case kindStatus:
		return run(func(ctx context.Context) tea.Msg {
			start := time.Now()
			r, err := c.Status(ctx)
			return statusMsg{timed(err, start), r}
		})
	case kindEdges:
		return run(func(ctx context.Context) tea.Msg {
			start := time.Now()
			r, err := c.Edges(ctx)
			return edgesMsg{timed(err, start), r}
		})
	case kindTop:
		return run(func(ctx context.Context) tea.Msg {
			start := time.Now()
			r, err := c.Top(ctx, n, w, country)
			return topMsg{timed(err, start), r}
		})
	case kindDrill:
		return run(func(ctx context.Context) tea.Msg {
			start := time.Now()
			r, err := c.Clicks(ctx, ad, w, country)
			return drillMsg{timed(err, start), r}
		})
	case kindFilters:
		return run(func(ctx context.Context) tea.Msg {
			start := time.Now()
			r, err := c.Filters(ctx)
			return filtersMsg{timed(err, start), r}
		})
	}
	panic(fmt.Sprintf("BUG: fetch of unknown kind %d", k))
}

// land records the end of kind k's request and reports whether its answer is
// for the parameters now on screen. An answer for old parameters asks again at
// once (the returned command).
func (m *Model) land(k kind, r result) (current bool, cmd tea.Cmd) {
	p := &m.polls[k]
	p.inflight, p.took = false, r.took
	if r.key != m.paramKey(k) {
		return false, m.force(k)
	}
	p.err = r.err
	if r.err == nil {
		p.ok = m.o.Now()
	}
	return true, nil
}

// stale reports whether kind k's data is older than two periods and a timeout:
// by then at least one poll should have come back.
func (m *Model) stale(k kind) bool {
	ok := m.polls[k].ok
	return !ok.IsZero() && m.o.Now().Sub(ok) > m.staleAfter()
}

func (m *Model) staleAfter() time.Duration { return 2*m.o.Interval + m.o.Client.Timeout() }

// tickCmd schedules the next tick.
func tickCmd(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(t time.Time) tea.Msg { return tickMsg{at: t} })
}
