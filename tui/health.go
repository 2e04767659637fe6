package tui

import (
	"fmt"
	"time"
)

// healthPane is the core's own view of itself: how far counts are final
// (complete_through), whether the merge keeps up (pending partials, time since
// the last durable commit), and rates computed from two successive polls on the
// core's clock, so a slow poll does not read as a slow merge.
type healthPane struct {
	cur, prev *StatusResponse
}

func (p *healthPane) set(r *StatusResponse) {
	if p.cur != nil && r.Now.After(p.cur.Now) {
		p.prev = p.cur
	}
	p.cur = r
}

// rate is the per-second change of a counter between the last two polls, or
// false before there are two (or after the core restarted and its counters
// went back).
func (p *healthPane) rate(f func(*StatusResponse) uint64) (float64, bool) {
	if p.prev == nil || p.cur == nil {
		return 0, false
	}
	dt := p.cur.Now.Sub(p.prev.Now).Seconds()
	a, b := f(p.prev), f(p.cur)
	if dt <= 0 || b < a {
		return 0, false
	}
	return float64(b-a) / dt, true
}

// MergeBehindWarn is how long without a durable commit reads as a stalled merge:
// the core commits every second (core.Options.CommitInterval) when there is
// anything to commit, and edges heartbeat every 500 ms, so there always is.
const MergeBehindWarn = 10 * time.Second

func (m *Model) healthTitle() string {
	if c := m.health.cur; c != nil {
		return fmt.Sprintf("Core health%score clock %s UTC", m.st.Glyphs.Sep, clock(c.Now))
	}
	return "Core health"
}

func (m *Model) healthBody(h int) []string {
	p, g := &m.health, m.st.Glyphs
	c := p.cur
	if c == nil {
		return []string{m.waiting(kindStatus)}
	}
	ms := c.Core.Merge
	kv := func(k, v string) string { return fmt.Sprintf("%-18s %s", k, v) }
	behind := c.Now.Sub(c.CompleteThrough)
	ct := fmt.Sprintf("%s UTC, %s behind the core clock", hhmm(c.CompleteThrough), age(behind))
	if behind > 2*time.Minute {
		ct = m.st.Warn.Render(ct + ": an edge is cut off or slow")
	}
	commit := "none since start"
	if !ms.LastCommit.IsZero() {
		since := c.Now.Sub(ms.LastCommit)
		commit = fmt.Sprintf("%s ago (%s)", age(since), clock(ms.LastCommit))
		if since > MergeBehindWarn {
			commit = m.st.Warn.Render(commit + ": stalled?")
		}
	}
	lag := thousands(ms.Pending) + " partials pending" + g.Sep + "last commit " + commit
	if ms.Pending > 100 {
		lag = m.st.Warn.Render(lag)
	}
	rate := func(f func(*StatusResponse) uint64) string {
		r, ok := p.rate(f)
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.1f/s", r)
	}
	merged := func(s *StatusResponse) uint64 { return s.Core.Merge.Merged }
	dups := func(s *StatusResponse) uint64 { return s.Core.Merge.Duplicates }
	bad := func(s *StatusResponse) uint64 { return s.Core.Merge.Bad }
	out := []string{
		kv("complete through", ct),
		kv("merge lag", lag),
		kv("partials rate", fmt.Sprintf("merged %s%sduplicate %s%sundecodable %s", rate(merged), g.Sep, rate(dups), g.Sep, rate(bad))),
		kv("partials total", fmt.Sprintf("merged %s%sduplicate %s%sundecodable %s", thousands(ms.Merged), g.Sep, thousands(ms.Duplicates), g.Sep, thousands(ms.Bad))),
		"",
		kv("ads registered", fmt.Sprint(c.Core.Ads)),
		kv("leaf nodes", fmt.Sprintf("%d connected to the hub", c.Core.Leafnodes)),
		kv("store", fmt.Sprintf("%s rows%s%s", thousands(c.Core.StoreRows), g.Sep, bytesIEC(c.Core.StoreBytes))),
		kv("hot window", c.Core.HotWindow+" (country and label filters reach this far)"),
		kv("raw clicks", rawLine(c.Core.Raw, g.Sep)),
		"",
		kv("this client", fmt.Sprintf("polls every %s, timeout %s, last answer in %s", m.o.Interval, m.o.Client.Timeout(), m.polls[kindStatus].took.Round(time.Millisecond))),
	}
	for i, l := range out {
		out[i] = fit(l, m.width, g.Ellip)
	}
	return out
}

// rawLine is the raw store's progress: how far minutes are sealed and reconciled,
// and how many records wait in memory for their minute to close.
func rawLine(r RawStatus, sep string) string {
	if r.SealedThrough.IsZero() {
		return fmt.Sprintf("nothing sealed yet%s%s records waiting", sep, thousands(uint64(r.Unsealed)))
	}
	return fmt.Sprintf("sealed and reconciled through %s%s%s records waiting",
		r.SealedThrough.UTC().Format("15:04"), sep, thousands(uint64(r.Unsealed)))
}
