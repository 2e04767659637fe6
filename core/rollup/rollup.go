// Package rollup answers exact top-N for windows that reach back beyond the hot
// window, up to the store's retention.
//
// The hot window (core/window) ranks only what it holds in memory (24 h by
// default), and the store (core/store) cannot rank: it sums one ad at a time
// (~15 µs for an hour, ~2 ms cold), and a scan of 1M series takes seconds. So for
// every closed hour this package writes one small file with the hour's top K ads
// by clicks and the hour's floor (the most clicks of any ad not listed), built
// from the hot window while the hour is still in it. A query over a long window
// walks those lists with a threshold algorithm: the lists give every ad an upper
// bound, and only the ads whose bound could still reach the answer are summed
// exactly, from the store and the window. Under Zipf traffic a top-10 over a week
// sums 10 ads, in ~2 ms (bench_test.go); a flat window that the lists cannot prove
// falls back to summing every ad when there are few, and otherwise fails with
// ErrTooFlat rather than answer anything wrong.
//
// File format: FORMAT.md. Design choices and what is not covered: RATIONALE.md.
package rollup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
)

// DefaultK is how many ads an hour's list keeps. A list of 20000 ads is ~220 KiB
// (9-byte ad ids), ~2 GiB for 400 days of hours, and lets the threshold
// algorithm go 20× deeper than the deepest top-N the API serves (n ≤ 1000).
// Under Zipf traffic (s ≈ 1) over 200k ads an hour, the 20000th ad of an hour has
// ~1/20000 of the first one's clicks, so the floors of a week sum to less than
// what the 1000th ad of that week has: the lists prove every answer. Deeper lists
// only help flat traffic, where they would have to hold nearly every ad of the
// hour to help, at a cost in disk and build time proportional to K.
const DefaultK = 20000

// Store is what the rollup reads from the time-series store (*store.Store): the
// exact per-ad per-minute clicks, metric "clicks".
type Store interface {
	Sum(metric, adID string, from, to int64) (uint64, error)
	Series(metric, adID string, from, to int64) ([]store.MinuteValue, error)
}

// Options configure a Rollup. Zero values take the documented defaults.
type Options struct {
	Dir    string         // where the hour files live; required
	Window *window.Window // the hot window the hours are built from; required
	Store  Store          // exact per-ad sums before the hot window; required
	// CompleteThrough returns the API's complete_through (unix ms): every click
	// before it is merged. An hour is built once its end is at or before it.
	// Required.
	CompleteThrough func(ctx context.Context) (int64, error)
	// Hot is how long the window holds minutes; default 24 h. An hour is built
	// from the window while every minute of it is held.
	Hot time.Duration
	// Retention is how long hour files are kept; default store.DefaultRetention.
	Retention time.Duration
	// K is how many ads an hour's list keeps; default DefaultK.
	K int
	// Interval is how often Run looks for hours to build or refresh; default 10 s.
	// It must stay well under a minute: the merge keeps a minute that a late
	// partial brought back into the window for a minute after its last change,
	// and Run must see it there to patch the hour (RATIONALE.md).
	Interval time.Duration
	// FallbackLimit is how many ads Top sums one by one, at most, when the lists
	// cannot prove an answer; default 5000 (~0.5 s for a week at ~0.1 ms a sum).
	FallbackLimit int
	// AmongLimit: a query restricted to at most this many ads (an advertiser's)
	// sums each of them instead of walking the lists; default 64.
	AmongLimit int
	Now        func() time.Time
	Logger     *slog.Logger
	Metrics    *metrics.Set
}

// Rollup builds and serves the hourly rankings. Top is safe for concurrent use
// with itself and with Run.
type Rollup struct {
	o Options

	buildMu sync.Mutex // one build or patch at a time

	mu          sync.Mutex
	hours       map[int64]*hourState // hours with a file
	warned      map[int64]bool       // hours reported as never ranked
	heads       map[int64]*head      // cache.go
	headEntries int

	built, patched, buildErrs  *metrics.Counter
	evaluated, fallbacks, flat *metrics.Counter
	violations                 *metrics.Counter
	buildDur, queryDur         *metrics.Histogram
	queryCands                 *metrics.Histogram
}

// hourState is what the rollup remembers of an hour with a file. Immutable once
// in Rollup.hours: a change replaces it.
type hourState struct {
	known       bool       // vers holds the versions the file reflects (false after a restart)
	provisional bool       // built before complete_through passed the hour
	vers        [60]uint64 // each minute's Window.MinuteVersion when last read
}

// Open prepares the directory: it removes temporary files a crash left and
// indexes the hour files. It builds nothing; Run does.
func Open(o Options) (*Rollup, error) {
	if o.Dir == "" || o.Window == nil || o.Store == nil || o.CompleteThrough == nil {
		return nil, errors.New("rollup: Dir, Window, Store and CompleteThrough are required")
	}
	if o.Hot == 0 {
		o.Hot = 24 * time.Hour
	}
	if o.Retention == 0 {
		o.Retention = store.DefaultRetention
	}
	if o.K == 0 {
		o.K = DefaultK
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Second
	}
	if o.FallbackLimit == 0 {
		o.FallbackLimit = 5000
	}
	if o.AmongLimit == 0 {
		o.AmongLimit = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("rollup: %w", err)
	}
	r := &Rollup{o: o, hours: map[int64]*hourState{}, warned: map[int64]bool{}, heads: map[int64]*head{}}
	des, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("rollup: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.Contains(name, tmpMark) { // a write a crash interrupted
			if err := os.Remove(filepath.Join(o.Dir, name)); err != nil {
				o.Logger.Warn("rollup: remove temporary file", "file", name, "err", err)
			}
			continue
		}
		if h, ok := parseName(name); ok && de.Type().IsRegular() {
			r.hours[h] = &hourState{}
		}
	}
	ms := o.Metrics
	r.built = ms.NewCounter(`clickagg_core_rollup_hours_built_total`)
	r.patched = ms.NewCounter(`clickagg_core_rollup_hours_patched_total`)
	r.buildErrs = ms.NewCounter(`clickagg_core_rollup_build_errors_total`)
	r.buildDur = ms.NewHistogram(`clickagg_core_rollup_build_duration_seconds`)
	r.evaluated = ms.NewCounter(`clickagg_core_rollup_candidates_evaluated_total`)
	r.queryCands = ms.NewHistogram(`clickagg_core_rollup_query_candidates`)
	r.queryDur = ms.NewHistogram(`clickagg_core_rollup_query_duration_seconds`)
	r.fallbacks = ms.NewCounter(`clickagg_core_rollup_fallbacks_total{outcome="summed"}`)
	r.flat = ms.NewCounter(`clickagg_core_rollup_fallbacks_total{outcome="too_flat"}`)
	r.violations = ms.NewCounter(`clickagg_core_rollup_bound_violations_total`)
	ms.NewGauge(`clickagg_core_rollup_hours`, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.hours))
	})
	return r, nil
}

// Run builds hours as they complete, refreshes the ones that change, and deletes
// the ones past the retention, every Interval until ctx ends. Its first pass
// builds (or checks against the window) every hour the window holds whole.
func (r *Rollup) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick is one pass of Run (tests call it directly).
func (r *Rollup) Tick(ctx context.Context) {
	now := r.o.Now()
	full, cur := r.hotStart(now), int64(minute.Of(now))
	ct := int64(ctUnknown)
	if ms, err := r.o.CompleteThrough(ctx); err != nil {
		r.o.Logger.Warn("rollup: complete_through unknown; building only hours about to leave the window", "err", err)
	} else {
		ct = int64(minute.OfMillis(ms))
	}
	// Every closed hour the window holds whole (an hour without clicks gets an
	// empty list), and the older ones it still holds minutes of (late clicks).
	hours := heldHours(r.o.Window.Minutes())
	for h := hourOf(full + 59); h+60 <= cur; h += 60 {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	for _, h := range slices.Compact(hours) {
		if ctx.Err() != nil {
			return
		}
		if h+60 > cur {
			break
		}
		if err := r.refresh(h, full, ct, true); err != nil {
			r.buildErrs.Inc()
			r.o.Logger.Error("rollup: hour not ranked; will retry", "hour", minute.Minute(h), "err", err)
		}
	}
	r.expire(now)
}

// hotStart is the first minute the window surely holds in full: the API's.
func (r *Rollup) hotStart(now time.Time) int64 { return int64(minute.Of(now.Add(-r.o.Hot))) + 1 }

// forceAhead: an hour whose first minute leaves the window within this many
// minutes is built even if complete_through has not passed it (an edge cut off
// for a day), or it could never be built; late clicks are patched in later.
const forceAhead = 15

// refresh brings hour h's file up to date with the window. full is the first
// minute held in full, ct complete_through in minutes; build allows building an
// hour that has no file yet.
func (r *Rollup) refresh(h, full, ct int64, build bool) error {
	r.buildMu.Lock()
	defer r.buildMu.Unlock()
	r.mu.Lock()
	st := r.hours[h]
	r.mu.Unlock()
	switch {
	case h >= full && st == nil: // held whole, never built
		complete := h+60 <= ct
		if !build || !complete && h >= full+forceAhead {
			return nil
		}
		if !complete {
			r.o.Logger.Warn("rollup: ranking an hour complete_through has not passed, before it leaves the window", "hour", minute.Minute(h))
		}
		return r.build(h, ct)
	case h >= full: // held whole: rebuild when any minute changed, or once complete
		if !st.known || len(r.changed(h, st, true)) > 0 || build && st.provisional && h+60 <= ct {
			return r.build(h, ct)
		}
		return nil
	case st == nil: // partly evicted, never built: nothing can build it any more
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.warned[h] && build {
			r.warned[h] = true
			r.o.Logger.Warn("rollup: hour left the hot window unranked; top-N cannot reach back past it", "hour", minute.Minute(h))
		}
		return nil
	case !st.known: // after a restart: take the window as the file's baseline
		ns := &hourState{known: true, provisional: st.provisional}
		for i := range ns.vers {
			ns.vers[i] = r.o.Window.MinuteVersion(h + int64(i))
		}
		r.mu.Lock()
		r.hours[h] = ns
		r.mu.Unlock()
		return nil
	default: // partly evicted: late clicks brought minutes back
		if mins := r.changed(h, st, false); len(mins) > 0 {
			return r.patch(h, mins)
		}
		return nil
	}
}

// changed returns the minutes of h whose version differs from what the file
// reflects. For an hour held whole every difference counts; for one partly
// evicted, a minute that is gone (version 0) is an eviction, not a change.
func (r *Rollup) changed(h int64, st *hourState, whole bool) []int64 {
	var out []int64
	for i := range st.vers {
		v := r.o.Window.MinuteVersion(h + int64(i))
		if v != st.vers[i] && (whole || v != 0) {
			out = append(out, h+int64(i))
		}
	}
	return out
}

// ctUnknown stands for a complete_through not known (a query's refresh, or an
// error asking for it).
const ctUnknown = math.MinInt64

// build ranks hour h from the window and writes its file; ct is complete_through
// in minutes. Counts already in the file are never lowered (RATIONALE.md: the
// store keeps the largest value of a minute), and neither is the floor. The
// caller holds buildMu.
func (r *Rollup) build(h, ct int64) error {
	start := time.Now()
	sums := make(map[string]uint64)
	st := hourState{known: true, provisional: h+60 > ct}
	for i := range st.vers {
		st.vers[i] = r.o.Window.AddMinuteTotals(h+int64(i), sums)
	}
	var total uint64
	for _, n := range sums {
		total += n
	}
	path := filepath.Join(r.o.Dir, fileName(h))
	old, err := readList(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		r.o.Logger.Warn("rollup: unreadable hour file rebuilt from the window", "hour", minute.Minute(h), "err", err)
		old = nil
	default:
		for _, e := range old.ents {
			sums[e.ad] = max(sums[e.ad], e.n)
		}
		if ct == ctUnknown {
			st.provisional = old.flags&flagProvisional != 0
		}
	}
	l := &list{hour: h, k: uint32(r.o.K), total: total, builtMs: r.o.Now().UnixMilli()}
	if st.provisional {
		l.flags |= flagProvisional
	}
	l.ents = make([]entry, 0, len(sums))
	for ad, n := range sums {
		l.ents = append(l.ents, entry{ad, n})
	}
	slices.SortFunc(l.ents, before)
	if len(l.ents) > r.o.K {
		l.floor = l.ents[r.o.K].n
		l.ents = l.ents[:r.o.K]
	}
	if old != nil {
		l.flags |= old.flags & flagPatched
		l.floor = max(l.floor, old.floor)
		l.trimFloor()
	}
	if old == nil || !sameRanking(old, l) {
		if err := writeFile(r.o.Dir, fileName(h), l.encode()); err != nil {
			return fmt.Errorf("write %s: %w", fileName(h), err)
		}
	}
	r.mu.Lock()
	r.hours[h] = &st
	r.forgetHead(h)
	r.mu.Unlock()
	r.built.Inc()
	r.buildDur.UpdateDuration(start)
	r.o.Logger.Debug("rollup: hour ranked", "hour", minute.Minute(h), "ads", len(sums), "listed", len(l.ents),
		"floor", l.floor, "took", time.Since(start))
	return nil
}

// trimFloor drops listed entries below the floor (the floor covers them).
func (l *list) trimFloor() {
	i := len(l.ents)
	for i > 0 && l.ents[i-1].n < l.floor {
		i--
	}
	l.ents = l.ents[:i]
}

// patch recomputes, in hour h's list, the count of every ad the changed minutes
// hold, after the hour partly or wholly left the window: late clicks that the
// merge brought back into the window. Each count is the sum over the hour's
// minutes of the larger of the window's and the store's value (the window holds
// the late minute's new total before the store does; the store holds every other
// minute). An ad whose count now tops the floor is listed. The caller holds
// buildMu.
func (r *Rollup) patch(h int64, mins []int64) error {
	start := time.Now()
	ads := map[string]uint64{}
	r.mu.Lock()
	st := *r.hours[h]
	r.mu.Unlock()
	for _, m := range mins {
		st.vers[m-h] = r.o.Window.AddMinuteTotals(m, ads)
	}
	path := filepath.Join(r.o.Dir, fileName(h))
	l, err := readList(path)
	if err != nil {
		return fmt.Errorf("patch: %w", err)
	}
	at := make(map[string]int, len(l.ents))
	for i, e := range l.ents {
		at[e.ad] = i
	}
	for ad := range ads {
		pts, err := r.o.Store.Series("clicks", ad, h, h+60)
		if err != nil {
			return fmt.Errorf("patch %s: %w", ad, err)
		}
		win, _ := r.o.Window.Series(ad, h, h+60, window.Filter{})
		var n uint64
		j := 0
		for _, mc := range win {
			v := mc.Clicks
			for j < len(pts) && pts[j].Minute < mc.Minute {
				j++
			}
			if j < len(pts) && pts[j].Minute == mc.Minute {
				v = max(v, pts[j].Value)
			}
			n += v
		}
		if i, ok := at[ad]; ok {
			l.ents[i].n = max(l.ents[i].n, n)
		} else if n > l.floor {
			at[ad] = len(l.ents)
			l.ents = append(l.ents, entry{ad, n})
		}
	}
	slices.SortFunc(l.ents, before)
	l.flags |= flagPatched
	l.builtMs = r.o.Now().UnixMilli()
	if err := writeFile(r.o.Dir, fileName(h), l.encode()); err != nil {
		return fmt.Errorf("write %s: %w", fileName(h), err)
	}
	r.mu.Lock()
	r.hours[h] = &st
	r.forgetHead(h)
	r.mu.Unlock()
	r.patched.Inc()
	r.o.Logger.Info("rollup: late clicks patched into an hour that left the window", "hour", minute.Minute(h),
		"minutes", len(mins), "ads", len(ads), "took", time.Since(start))
	return nil
}

// expire deletes the hour files past the retention.
func (r *Rollup) expire(now time.Time) {
	cut := int64(minute.Of(now.Add(-r.o.Retention)))
	r.mu.Lock()
	var old []int64
	for h := range r.hours {
		if h+60 <= cut {
			old = append(old, h)
		}
	}
	r.mu.Unlock()
	for _, h := range old {
		r.buildMu.Lock()
		err := os.Remove(filepath.Join(r.o.Dir, fileName(h)))
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			r.mu.Lock()
			delete(r.hours, h)
			r.forgetHead(h)
			r.mu.Unlock()
		} else {
			r.o.Logger.Warn("rollup: remove expired hour", "hour", minute.Minute(h), "err", err)
		}
		r.buildMu.Unlock()
	}
}

// heldHours returns the distinct hours of the given ascending minutes.
func heldHours(mins []int64) []int64 {
	var out []int64
	for _, m := range mins {
		if h := hourOf(m); len(out) == 0 || out[len(out)-1] != h {
			out = append(out, h)
		}
	}
	return out
}

// hourOf is the first minute of m's UTC hour.
func hourOf(m int64) int64 { return m - ((m%60)+60)%60 }

// Hours returns the hours with a file, ascending (for status and tests).
func (r *Rollup) Hours() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int64, 0, len(r.hours))
	for h := range r.hours {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}
