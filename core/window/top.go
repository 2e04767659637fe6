package window

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Top-N without summing every cell of the window: Fagin's threshold algorithm.
//
// Each settled minute keeps its ads sorted by clicks (descending), built once and
// cached until the minute changes again. A query walks those lists in parallel,
// one rank at a time; every ad met for the first time gets its exact total over
// the window by direct lookups, and goes into a bounded result. After each rank,
// no ad not yet met can total more than the threshold: the sum, over the lists, of
// the clicks at that rank, plus, for each minute still changing (the open one),
// its largest count. The walk stops once the N-th best total is above the
// threshold. Under the skew of real ad traffic (Zipf) that happens after a few
// dozen ranks, so a 60-minute top-10 costs ~N×60×60 lookups instead of a pass over
// every cell.
//
// A minute still changing is not sorted (it would be re-sorted on every query):
// it contributes its maximum to the threshold, and when the sorted lists run out
// its ads are scanned.

// settle is how long a minute must be unchanged before it is sorted.
const settle = 2 * time.Second

type ranked struct {
	ad string
	n  uint64
}

// sortedView caches a minute's ranking; byCountry is filled per country on demand.
type sortedView struct {
	mu        sync.Mutex
	version   uint64
	all       []ranked
	byCountry map[Country][]ranked
}

// list returns the minute's ranking for country c (zero: all), building the
// rankings if the cached ones are stale. The caller holds the window's read lock.
func (b *bucket) list(c Country) []ranked {
	v := &b.view
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.version != b.version || v.all == nil {
		v.build(b)
	}
	if c == (Country{}) {
		return v.all
	}
	return v.byCountry[c]
}

// build ranks a minute's ads overall and per country in one pass over its cells.
func (v *sortedView) build(b *bucket) {
	v.version, v.all, v.byCountry = b.version, make([]ranked, 0, len(b.ads)), map[Country][]ranked{}
	perCountry := map[Country]uint64{}
	for ad, a := range b.ads {
		v.all = append(v.all, ranked{ad, a.total})
		clear(perCountry)
		for _, sl := range a.by { // one entry per country, summed over label sets
			perCountry[sl.c] += sl.n
		}
		for c, n := range perCountry {
			if n > 0 {
				v.byCountry[c] = append(v.byCountry[c], ranked{ad, n})
			}
		}
	}
	byCount := func(x, y ranked) int { return cmp.Compare(y.n, x.n) }
	slices.SortFunc(v.all, byCount)
	for _, l := range v.byCountry {
		slices.SortFunc(l, byCount)
	}
}

// Prepare ranks every settled minute whose ranking is stale, so that queries find
// them ready. The merger calls it after each commit; it costs O(cells log cells)
// for the minutes that changed and nothing otherwise.
//
// It takes the read lock one minute at a time, so a merge waiting to write (and the
// queries queued behind it) waits for one minute's ranking at most.
func (w *Window) Prepare() {
	w.mu.RLock()
	now := w.now()
	var stale []*bucket
	for _, b := range w.mins {
		if now.Sub(b.changed) >= settle && b.view.stale(b) {
			stale = append(stale, b)
		}
	}
	w.mu.RUnlock()
	for _, b := range stale {
		w.mu.RLock()
		v := &b.view
		v.mu.Lock()
		if v.version != b.version || v.all == nil {
			v.build(b)
		}
		v.mu.Unlock()
		w.mu.RUnlock()
	}
}

func (v *sortedView) stale(b *bucket) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.version != b.version || v.all == nil
}

// maxCount is the largest count for c in a minute (a scan).
func (b *bucket) maxCount(c Country) uint64 {
	var m uint64
	f := Filter{Country: c}
	for _, a := range b.ads {
		m = max(m, a.count(f))
	}
	return m
}

// best keeps the n best AdCounts, ordered.
type best struct {
	n   int
	ads []AdCount
}

func better(a, b AdCount) bool { return a.Clicks > b.Clicks || a.Clicks == b.Clicks && a.AdID < b.AdID }

func (b *best) offer(a AdCount) {
	if len(b.ads) == b.n && !better(a, b.ads[len(b.ads)-1]) {
		return
	}
	i, _ := slices.BinarySearchFunc(b.ads, a, func(x, y AdCount) int {
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

// full reports whether n ads are held and the worst of them beats threshold t
// (strictly, so an unseen ad tying it with a smaller id cannot be missed).
func (b *best) done(t uint64) bool { return len(b.ads) == b.n && b.ads[len(b.ads)-1].Clicks > t }

// topThreshold answers Top; the caller holds the read lock.
func (w *Window) topThreshold(n int, from, to int64, c Country, allow func(string) bool, now time.Time) []AdCount {
	var lists [][]ranked
	var open []*bucket
	var openMax uint64
	for m := from; m < to; m++ {
		b := w.mins[m]
		if b == nil {
			continue
		}
		if now.Sub(b.changed) < settle {
			open = append(open, b)
			openMax += b.maxCount(c)
			continue
		}
		if l := b.list(c); len(l) > 0 {
			lists = append(lists, l)
		}
	}
	res := &best{n: n}
	seen := map[string]struct{}{}
	consider := func(ad string) {
		if _, ok := seen[ad]; ok {
			return
		}
		seen[ad] = struct{}{}
		if allow != nil && !allow(ad) {
			return
		}
		if total := w.sum(ad, from, to, Filter{Country: c}); total > 0 {
			res.offer(AdCount{ad, total})
		}
	}
	for d := 0; ; d++ {
		t, more := openMax, false
		for _, l := range lists {
			if d < len(l) {
				more = true
				t += l[d].n
				consider(l[d].ad)
			}
		}
		if !more {
			break
		}
		if res.done(t) {
			return res.ads
		}
	}
	for _, b := range open { // the sorted lists ran out: ads only in changing minutes
		for ad := range b.ads {
			consider(ad)
		}
	}
	return res.ads
}

// sum is one ad's clicks over [from, to); the caller holds the read lock.
func (w *Window) sum(ad string, from, to int64, c Filter) uint64 {
	var s uint64
	for m := from; m < to; m++ {
		if b := w.mins[m]; b != nil {
			if a := b.ads[ad]; a != nil {
				s += a.count(c)
			}
		}
	}
	return s
}
