// Package window is the core's hot window: exact click counts per minute, ad and
// country for the most recent minutes, in memory, answering per-ad counts and top-N
// (with a country filter) without touching disk. The time-series store cannot serve
// top-N (a scan of 1M series takes seconds, FINDINGS), so top-N is answered here.
//
// Cost: a minute holds one map entry per ad with clicks (~100 bytes with its country
// breakdown). Top-N over M minutes sums every ad of those minutes: O(cells).
package window

import (
	"slices"
	"sync"
	"time"

	"github.com/clickagg/clickagg/pkg/wire"
)

// Country is an ISO 3166-1 alpha-2 code; the zero value means "any country".
type Country [2]byte

// Filter selects clicks: by country and/or by one filter label ("key=value");
// the zero Filter selects all.
type Filter struct {
	Country Country
	Label   string
}

// adCell holds one ad's clicks in one minute.
type adCell struct {
	total uint64
	by    []slot // few (country, labels) pairs per ad and minute; a slice beats a map
}

// slot is the clicks of one country with one label set (wire.Dims).
type slot struct {
	c    Country
	dims string
	n    uint64
}

// bucket is one minute.
type bucket struct {
	ads     map[string]*adCell
	version uint64    // set from Window.seq on every change: unique over the window's life
	changed time.Time // last change
	view    sortedView
}

// Window is safe for concurrent use: one writer lock for merges, read locks for
// queries.
type Window struct {
	mu   sync.RWMutex
	mins map[int64]*bucket
	seq  uint64 // last version handed out; a minute's version never repeats
	now  func() time.Time
}

// New returns an empty window.
func New() *Window { return &Window{mins: make(map[int64]*bucket), now: time.Now} }

// SetClock replaces the clock that decides which minutes are still changing (tests).
func (w *Window) SetClock(now func() time.Time) { w.now = now }

// Add adds n clicks without labels.
func (w *Window) Add(minute int64, ad string, c Country, n uint64) {
	w.mu.Lock()
	w.add(minute, ad, c, "", n)
	w.mu.Unlock()
}

// Sub takes n clicks back (a cross-edge duplicate that turned out later than
// another click of its impression). It never goes below zero.
func (w *Window) Sub(minute int64, ad string, c Country, dims string, n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.mins[minute]
	if b == nil || b.ads[ad] == nil {
		return
	}
	a := b.ads[ad]
	w.touch(b)
	for i := range a.by {
		if a.by[i].c == c && a.by[i].dims == dims {
			k := min(n, a.by[i].n)
			a.by[i].n -= k
			a.total -= k
			return
		}
	}
}

func (w *Window) add(minute int64, ad string, c Country, dims string, n uint64) {
	if n == 0 {
		return
	}
	b := w.mins[minute]
	if b == nil {
		b = &bucket{ads: make(map[string]*adCell)}
		w.mins[minute] = b
	}
	w.touch(b)
	a := b.ads[ad]
	if a == nil {
		a = &adCell{}
		b.ads[ad] = a
	}
	a.total += n
	for i := range a.by {
		if a.by[i].c == c && a.by[i].dims == dims {
			a.by[i].n += n
			return
		}
	}
	a.by = append(a.by, slot{c, dims, n})
}

// touch records a change of b; the caller holds the write lock.
func (w *Window) touch(b *bucket) {
	w.seq++
	b.version = w.seq
	b.changed = w.now()
}

// AddCells adds a partial's cells under one lock.
func (w *Window) AddCells(cells []wire.Cell) {
	w.mu.Lock()
	for i := range cells {
		c := &cells[i]
		w.add(c.Minute, c.AdID, Country(c.Country), c.Dims, c.Clicks)
	}
	w.mu.Unlock()
}

// ReplaceMinute sets a minute's cells (restoring from the commit log).
func (w *Window) ReplaceMinute(minute int64, cells []wire.Cell) {
	w.mu.Lock()
	delete(w.mins, minute)
	for i := range cells {
		c := &cells[i]
		w.add(minute, c.AdID, Country(c.Country), c.Dims, c.Clicks)
	}
	w.mu.Unlock()
}

// MinuteCells returns a minute's cells, in no particular order (the commit log
// does not need one, and sorting the open minute's cells every second cost ~0.1 s
// of CPU per second at the seed's scale).
func (w *Window) MinuteCells(minute int64) []wire.Cell {
	w.mu.RLock()
	var ads map[string]*adCell
	if b := w.mins[minute]; b != nil {
		ads = b.ads
	}
	out := make([]wire.Cell, 0, len(ads))
	for ad, a := range ads {
		for _, sl := range a.by {
			out = append(out, wire.Cell{Minute: minute, AdID: ad, Country: sl.c, Dims: sl.dims, Clicks: sl.n})
		}
	}
	w.mu.RUnlock()
	return out
}

// AdTotal returns one ad's clicks in one minute (for the store).
func (w *Window) AdTotal(minute int64, ad string) uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if b := w.mins[minute]; b != nil {
		if a := b.ads[ad]; a != nil {
			return a.total
		}
	}
	return 0
}

// MinuteVersion returns a number that changes whenever the minute's counts
// change, and 0 when the window does not hold the minute (never had clicks, or
// evicted). Versions are unique over the window's life, so a minute evicted and
// brought back (a late partial) never shows a version seen before. One map lookup
// under the read lock: a caller can poll every minute of a day in ~50 µs.
func (w *Window) MinuteVersion(minute int64) uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if b := w.mins[minute]; b != nil {
		return b.version
	}
	return 0
}

// AddMinuteTotals adds every ad's clicks in one minute (all countries and labels)
// into sums and returns the minute's version as of that read (0: not held). It
// holds the read lock for one minute only, O(ads in the minute), so a caller
// summing an hour minute by minute never holds up a merge for long.
func (w *Window) AddMinuteTotals(minute int64, sums map[string]uint64) (version uint64) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	b := w.mins[minute]
	if b == nil {
		return 0
	}
	for ad, a := range b.ads {
		if a.total > 0 {
			sums[ad] += a.total
		}
	}
	return b.version
}

// Minutes returns the minutes held, ascending.
func (w *Window) Minutes() []int64 {
	w.mu.RLock()
	out := make([]int64, 0, len(w.mins))
	for m := range w.mins {
		out = append(out, m)
	}
	w.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Evict drops minutes before the given one.
func (w *Window) Evict(before int64) {
	w.mu.Lock()
	for m := range w.mins {
		if m < before {
			delete(w.mins, m)
		}
	}
	w.mu.Unlock()
}

func (a *adCell) count(f Filter) uint64 {
	if f == (Filter{}) {
		return a.total
	}
	var n uint64
	for _, sl := range a.by {
		if (f.Country == Country{} || sl.c == f.Country) && (f.Label == "" || wire.HasDim(sl.dims, f.Label)) {
			n += sl.n
		}
	}
	return n
}

// MinuteCount is one minute's clicks.
type MinuteCount struct {
	Minute int64
	Clicks uint64
}

// Series returns one ad's clicks per minute in [from, to), every minute included
// (zeros too), and their sum.
func (w *Window) Series(ad string, from, to int64, c Filter) ([]MinuteCount, uint64) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]MinuteCount, 0, max(0, to-from))
	var sum uint64
	for m := from; m < to; m++ {
		var n uint64
		if b := w.mins[m]; b != nil {
			if a := b.ads[ad]; a != nil {
				n = a.count(c)
			}
		}
		out = append(out, MinuteCount{m, n})
		sum += n
	}
	return out, sum
}

// Sum returns one ad's clicks in [from, to) under the filter: Series without the
// series, no allocation; one map lookup per minute.
func (w *Window) Sum(ad string, from, to int64, f Filter) uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.sum(ad, from, to, f)
}

// AdCount is an ad's clicks over a window.
type AdCount struct {
	AdID   string
	Clicks uint64
}

// Top returns the n ads with the most clicks in [from, to), by clicks descending,
// then ad id ascending. allow, when not nil, restricts the ads considered.
//
// Label filters are answered by summing every cell of the window (there are no
// per-label rankings): fine for the hot window of a small deployment, O(cells)
// at scale.
func (w *Window) Top(n int, from, to int64, f Filter, allow func(ad string) bool) []AdCount {
	if f.Label != "" {
		return w.topScan(n, from, to, f, allow)
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := w.topThreshold(n, from, to, f.Country, allow, w.now())
	if out == nil {
		out = []AdCount{}
	}
	return out
}

// TopAmong is Top restricted to the given ads (an advertiser's): direct lookups,
// O(len(ads) × minutes), for callers with few ads among many.
func (w *Window) TopAmong(n int, from, to int64, c Filter, ads []string) []AdCount {
	w.mu.RLock()
	defer w.mu.RUnlock()
	res := &best{n: n}
	for _, ad := range ads {
		if total := w.sum(ad, from, to, c); total > 0 {
			res.offer(AdCount{ad, total})
		}
	}
	if res.ads == nil {
		return []AdCount{}
	}
	return res.ads
}

// topScan is the plain answer: sum every cell. Tests compare Top with it.
func (w *Window) topScan(n int, from, to int64, c Filter, allow func(ad string) bool) []AdCount {
	w.mu.RLock()
	defer w.mu.RUnlock()
	res := &best{n: n}
	sums := map[string]uint64{}
	for m := from; m < to; m++ {
		if b := w.mins[m]; b != nil {
			for ad, a := range b.ads {
				if k := a.count(c); k > 0 && (allow == nil || allow(ad)) {
					sums[ad] += k
				}
			}
		}
	}
	for ad, k := range sums {
		res.offer(AdCount{ad, k})
	}
	if res.ads == nil {
		return []AdCount{}
	}
	return res.ads
}
