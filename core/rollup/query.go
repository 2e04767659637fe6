package rollup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
)

// Query is a top-N over a window that may start before the hot window.
type Query struct {
	N        int   // how many ads, ≥ 1
	From, To int64 // unix minutes, To exclusive
	// HotStart is the first minute counted from the window; earlier minutes are
	// counted from the store, as GET /v1/ads/{id}/clicks counts them. 0: the
	// rollup's own (Options.Hot before Now, plus a minute).
	HotStart int64
	// Ads, when not nil, restricts the answer to these ads (an advertiser's). Up
	// to Options.AmongLimit of them are each summed directly.
	Ads []string
	// Universe returns every ad that may have clicks, or nil when there are more
	// than limit; asked only when the lists cannot prove the answer (the fallback
	// sums each of them). nil: such a query fails with ErrTooFlat.
	Universe func(limit int) []string
}

// Stats tell how a query went.
type Stats struct {
	Hours     int   // hours ranked from their lists
	TailFrom  int64 // the window itself ranks [TailFrom, To); To when it ranks nothing
	Read      int   // list entries read
	Evaluated int   // ads summed exactly (each one store read plus window lookups)
	Rounds    int   // list deepenings plus one
	Fallback  bool  // every ad of the universe was summed
}

// Top returns the q.N ads with the most clicks in [q.From, q.To), by clicks
// descending, then ad id ascending: exactly what summing every ad would answer
// (GET /v1/ads/{id}/clicks for each). Hours before q.HotStart need a ranking
// (NoRankingError otherwise); the ones at and after it without one are ranked by
// the window itself. It fails with ErrTooFlat rather than answer anything it
// cannot prove.
//
// Cost: reading the first ~2N entries of every hour file of the window (~1 KiB
// for a top-10; cached for recently read hours), plus, for each ad whose upper
// bound could reach the answer (about N under Zipf traffic), one store read
// (~0.1 ms for a week, warm) and one window lookup per minute of the hot part.
// A week's top-10 takes ~2 ms, its top-1000 ~0.23 s (RATIONALE.md). Safe for
// concurrent use.
func (r *Rollup) Top(ctx context.Context, q Query) ([]window.AdCount, error) {
	ads, _, err := r.TopStats(ctx, q)
	return ads, err
}

// TopStats is Top, and how it went.
func (r *Rollup) TopStats(ctx context.Context, q Query) (_ []window.AdCount, st Stats, err error) {
	start := time.Now()
	defer func() {
		r.queryDur.UpdateDuration(start)
		r.queryCands.Update(float64(st.Evaluated))
		r.evaluated.Add(st.Evaluated)
	}()
	if q.N < 1 || q.From >= q.To {
		return nil, st, fmt.Errorf("rollup: top %d over [%d, %d): bad query", q.N, q.From, q.To)
	}
	hot := q.HotStart
	if hot == 0 {
		hot = r.hotStart(r.o.Now())
	}
	for try := 1; ; try++ {
		var ads []window.AdCount
		ads, st, err = r.top(ctx, q, hot)
		if !errors.Is(err, errReplaced) || try == 3 {
			return ads, st, err
		}
	}
}

// top is one attempt at TopStats; errReplaced if an hour was rebuilt under it.
func (r *Rollup) top(ctx context.Context, q Query, hot int64) ([]window.AdCount, Stats, error) {
	var st Stats
	t := &topRun{r: r, q: q, hot: hot, res: best{n: q.N}, st: &st, cands: map[string]*cand{}}
	st.TailFrom = q.To
	if q.Ads != nil {
		set := make(map[string]struct{}, len(q.Ads))
		for _, ad := range q.Ads {
			set[ad] = struct{}{}
		}
		t.allow = func(ad string) bool { _, ok := set[ad]; return ok }
		if len(set) <= r.o.AmongLimit {
			err := t.sumAll(ctx, q.Ads)
			return t.res.list(), st, err
		}
	}
	if err := t.plan(); err != nil {
		return nil, st, err
	}
	if err := t.run(ctx); err != nil {
		return nil, st, err
	}
	return t.res.list(), st, nil
}

// topRun is one query's state.
type topRun struct {
	r     *Rollup
	q     Query
	hot   int64
	allow func(string) bool // nil: all ads
	st    *Stats

	lists []*reader // one per hour before the tail
	front []uint64  // each list's frontier this round
	tail  int64     // the window ranks [tail, q.To) itself

	hotN     int               // how deep the window's top over the tail goes
	hotTop   map[string]uint64 // the tail's top hotN, exact
	hotFloor uint64            // bound of the tail for an ad not in hotTop

	cands map[string]*cand
	order []*cand
	res   best
}

// cand is an ad met in a list or in the tail's top.
type cand struct {
	ad     string
	lists  []int32 // the lists that hold it
	listed uint64  // its counts in those lists
	hot    uint64  // its clicks in the tail, if inHot
	inHot  bool
	done   bool   // summed exactly
	ub     uint64 // bound this round
	ubList uint64 // the part of ub from the lists
}

// plan picks the hours ranked by their lists, and where the window takes over.
func (t *topRun) plan() error {
	q, r := t.q, t.r
	held := map[int64]bool{}
	for _, h := range heldHours(r.o.Window.Minutes()) {
		held[h] = true
	}
	t.tail = q.To
	// Read at first about 2N entries of each list (~24 bytes each at most with
	// ad ids of 16 bytes): for a Zipf week the frontiers then already fall below
	// the N-th answer.
	first := min(headerSize+2*q.N*24, maxRead)
	for h := hourOf(q.From); h < q.To; h += 60 {
		rd, err := r.listFor(h, t.hot, held[h], first)
		if err != nil {
			return err
		}
		if rd != nil {
			t.lists = append(t.lists, rd)
			continue
		}
		if h >= t.hot || q.From >= t.hot {
			t.tail = max(q.From, h)
			break
		}
		return &NoRankingError{Hour: h, Since: r.rankedSince(t.hot)}
	}
	t.st.Hours, t.st.TailFrom = len(t.lists), t.tail
	t.front = make([]uint64, len(t.lists))
	for i := range t.lists {
		t.add(i, 0)
	}
	if t.tail < q.To {
		// The window's top costs more the deeper it goes (over an hour of Zipf
		// traffic: top-10 ~60 µs, top-200 ~14 ms, top-2000 ~450 ms), while the
		// tail's floor need only be small next to a week of the N-th ad: start at
		// 2N within [16, 64], and go deeper only when the floor is what keeps the
		// answer from being proven.
		t.hotN = min(max(2*q.N, 16), 64)
		t.topHot()
	}
	return nil
}

// listFor returns a reader of hour h's list, brought up to date with the window
// first, or nil when the hour has no usable list.
func (r *Rollup) listFor(h, hot int64, held bool, first int) (*reader, error) {
	r.mu.Lock()
	st := r.hours[h]
	r.mu.Unlock()
	if st == nil {
		return nil, nil
	}
	whole := h >= hot
	if whole && !st.known || held && st.known && len(r.changed(h, st, whole)) > 0 {
		if err := r.refresh(h, hot, ctUnknown, false); err != nil {
			return nil, fmt.Errorf("rollup: refresh hour %s: %w", minute.Minute(h), err)
		}
	}
	path := filepath.Join(r.o.Dir, fileName(h))
	if rd := r.cachedReader(h, path, first); rd != nil {
		return rd, nil
	}
	rd, err := openReader(path, first)
	if err != nil {
		r.o.Logger.Error("rollup: hour file unreadable", "hour", minute.Minute(h), "err", err)
		return nil, nil
	}
	r.keepHead(h, rd, first)
	return rd, nil
}

// rankedSince is where the ranked hours before hot start, without a gap.
func (r *Rollup) rankedSince(hot int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	since := hot
	for h := hourOf(hot - 1); r.hours[h] != nil; h -= 60 {
		since = h
	}
	return since
}

// add makes candidates of list i's entries from index from on.
func (t *topRun) add(i, from int) {
	rd := t.lists[i]
	t.front[i] = rd.frontier()
	t.st.Read += len(rd.l.ents) - from
	for _, e := range rd.l.ents[from:] {
		if c := t.cand(e.ad); c != nil {
			c.lists = append(c.lists, int32(i))
			c.listed += e.n
		}
	}
}

// cand returns ad's candidate, made on first sight; nil if ad is not allowed.
func (t *topRun) cand(ad string) *cand {
	if c, ok := t.cands[ad]; ok {
		return c
	}
	if t.allow != nil && !t.allow(ad) {
		t.cands[ad] = nil
		return nil
	}
	c := &cand{ad: ad}
	t.cands[ad] = c
	t.order = append(t.order, c)
	return c
}

// topHot ranks the tail in the window, hotN deep.
func (t *topRun) topHot() {
	ads := t.r.o.Window.Top(t.hotN, t.tail, t.q.To, window.Filter{}, t.allow)
	t.hotTop, t.hotFloor = make(map[string]uint64, len(ads)), 0
	if len(ads) == t.hotN {
		t.hotFloor = ads[len(ads)-1].Clicks
	}
	for _, a := range ads {
		t.hotTop[a.AdID] = a.Clicks
		t.cand(a.AdID)
	}
	for _, c := range t.order {
		c.hot, c.inHot = t.hotTop[c.ad]
	}
}

// run is the threshold algorithm (RATIONALE.md). Every round bounds each
// candidate from the lists read so far, sums exactly the candidates in order of
// bound while one could still enter the answer, and stops once no candidate
// and no ad not yet met can: the N-th answer beats the bound of an unmet ad (the
// frontiers plus the tail's floor). Otherwise it reads deeper and goes again.
func (t *topRun) run(ctx context.Context) error {
	var pending []*cand
	for {
		t.st.Rounds++
		var listF uint64
		for _, f := range t.front {
			listF += f
		}
		pending = pending[:0]
		for _, c := range t.order {
			if !c.done {
				c.ub = t.bound(c, listF)
				pending = append(pending, c)
			}
		}
		slices.SortFunc(pending, func(x, y *cand) int { return cmp.Or(cmp.Compare(y.ub, x.ub), strings.Compare(x.ad, y.ad)) })
		// An ad met but bounded at or below an unmet ad waits: if the answer
		// can be proven this round it cannot be in it, and otherwise its bound
		// only falls as the lists are read deeper.
		unmet := listF + t.hotFloor
		for _, c := range pending {
			if c.ub <= unmet || !t.res.canTake(window.AdCount{AdID: c.ad, Clicks: c.ub}) {
				break // sorted: no later candidate can either
			}
			if err := t.evaluate(ctx, c); err != nil {
				return err
			}
		}
		if unmet == 0 || t.res.full() && t.res.worst().Clicks > unmet {
			return nil
		}
		if t.q.Ads != nil && t.st.Rounds >= restrictedRounds && len(t.q.Ads) <= t.r.o.FallbackLimit {
			return t.fallback(ctx, unmet)
		}
		more, err := t.deepen(unmet)
		if err != nil {
			return err
		}
		if !more {
			return t.fallback(ctx, unmet)
		}
	}
}

// restrictedRounds: a query restricted to an advertiser's ads gives up on the
// lists after this many rounds (~16 KiB of every hour file read) and sums each of
// its ads. The lists rank all ads, so their frontiers fall slowly for the ads of
// one advertiser, and reading them to the end (~300 KiB an hour) costs more than
// summing a few thousand ads.
const restrictedRounds = 3

// bound is c's upper bound: its listed counts, the frontier of every list not
// holding it, and its tail clicks or the tail's floor.
func (t *topRun) bound(c *cand, listF uint64) uint64 {
	var in uint64
	for _, i := range c.lists {
		in += t.front[i]
	}
	c.ubList = listF - min(in, listF) + c.listed
	if c.inHot {
		return c.ubList + c.hot
	}
	return c.ubList + t.hotFloor
}

// evaluate sums c exactly and offers it to the answer.
func (t *topRun) evaluate(ctx context.Context, c *cand) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	listed, n, err := t.r.exact(c.ad, t.q.From, t.q.To, t.hot, t.tail)
	if err != nil {
		return err
	}
	c.done = true
	t.st.Evaluated++
	if listed > c.ubList && c.ub != ^uint64(0) {
		// Only the listed hours are checked: the tail's open minute moves.
		t.r.violations.Inc()
		t.r.o.Logger.Warn("rollup: an ad has more clicks than its hourly lists allow; the answer may miss an ad",
			"ad", c.ad, "clicks", listed, "bound", c.ubList, "from", minute.Minute(t.q.From), "to", minute.Minute(t.tail))
	}
	if n > 0 {
		t.res.offer(window.AdCount{AdID: c.ad, Clicks: n})
	}
	return nil
}

// exact is ad's clicks in [from, to), the store's before hot and the window's
// after, and the part of them before tail.
func (r *Rollup) exact(ad string, from, to, hot, tail int64) (listed, n uint64, err error) {
	if from < hot {
		s, err := r.o.Store.Sum("clicks", ad, from, min(to, hot))
		if err != nil {
			return 0, 0, fmt.Errorf("rollup: sum %s: %w", ad, err)
		}
		n += s
	}
	if mid := max(from, hot); mid < tail {
		n += r.o.Window.Sum(ad, mid, min(tail, to), window.Filter{})
	}
	listed = n
	if rest := max(from, hot, tail); rest < to {
		n += r.o.Window.Sum(ad, rest, to, window.Filter{})
	}
	return listed, n, nil
}

// deepen reads one more stretch of every list whose frontier is still above
// zero, and ranks the tail deeper if its floor is a quarter or more of the unmet
// bound, or nothing else is left; false when nothing is.
func (t *topRun) deepen(unmet uint64) (bool, error) {
	more := false
	for i, rd := range t.lists {
		if rd.exhausted() || t.front[i] == 0 {
			continue
		}
		from := len(rd.l.ents)
		if _, err := rd.more(); err != nil {
			return false, fmt.Errorf("rollup: hour %s: %w", minute.Minute(rd.l.hour), err)
		}
		t.add(i, from)
		more = true
	}
	if t.tail < t.q.To && t.hotFloor > 0 && (!more || t.hotFloor >= unmet/4) {
		t.hotN *= 4
		t.topHot()
		more = true
	}
	return more, nil
}

// fallback answers when the lists, read to the end, cannot prove the answer:
// it sums every ad of the universe, if there are few enough.
func (t *topRun) fallback(ctx context.Context, unmet uint64) error {
	var universe []string
	if t.q.Ads != nil {
		if len(t.q.Ads) <= t.r.o.FallbackLimit {
			universe = t.q.Ads
		}
	} else if t.q.Universe != nil {
		universe = t.q.Universe(t.r.o.FallbackLimit)
	}
	var nth uint64
	if t.res.full() {
		nth = t.res.worst().Clicks
	}
	if universe == nil {
		t.r.flat.Inc()
		t.r.o.Logger.Warn("rollup: top-N window too flat to prove from the hourly lists, and too many ads to sum each",
			"n", t.q.N, "from", minute.Minute(t.q.From), "to", minute.Minute(t.q.To), "nth", nth, "unmet_bound", unmet,
			"limit", t.r.o.FallbackLimit)
		return fmt.Errorf("%w: the %d-th ad has %d clicks and an ad outside the hourly lists may have up to %d; "+
			"a shorter window or a smaller n may be answered", ErrTooFlat, t.q.N, nth, unmet)
	}
	t.r.fallbacks.Inc()
	t.st.Fallback = true
	t.r.o.Logger.Info("rollup: top-N window too flat for the hourly lists; summing every ad",
		"ads", len(universe), "n", t.q.N, "from", minute.Minute(t.q.From), "to", minute.Minute(t.q.To), "nth", nth, "unmet_bound", unmet)
	return t.sumAll(ctx, universe)
}

// sumAll sums each ad not yet summed.
func (t *topRun) sumAll(ctx context.Context, ads []string) error {
	for _, ad := range ads {
		c := t.cand(ad)
		if c == nil || c.done {
			continue
		}
		c.ub = ^uint64(0)
		if err := t.evaluate(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// best keeps the n best AdCounts, ordered like the window's answers.
type best struct {
	n   int
	ads []window.AdCount
}

func better(a, b window.AdCount) bool {
	return a.Clicks > b.Clicks || a.Clicks == b.Clicks && a.AdID < b.AdID
}

func (b *best) full() bool            { return len(b.ads) == b.n }
func (b *best) worst() window.AdCount { return b.ads[len(b.ads)-1] }
func (b *best) canTake(a window.AdCount) bool {
	return a.Clicks > 0 && (!b.full() || better(a, b.worst()))
}

func (b *best) offer(a window.AdCount) {
	if !b.canTake(a) {
		return
	}
	i, _ := slices.BinarySearchFunc(b.ads, a, func(x, y window.AdCount) int {
		if better(x, y) {
			return -1
		}
		return 1
	})
	b.ads = slices.Insert(b.ads, i, a)
	if len(b.ads) > b.n {
		b.ads = b.ads[:b.n]
	}
}

func (b *best) list() []window.AdCount {
	if b.ads == nil {
		return []window.AdCount{}
	}
	return b.ads
}
