package rollup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a real window and a real store loaded as the merge loads them, a
// rollup over both with a settable clock, and the raw counts they were loaded
// from.
type fixture struct {
	t     testing.TB
	w     *window.Window
	st    *store.Store
	r     *Rollup
	dir   string
	now   time.Time                   // the rollup's clock
	wnow  time.Time                   // the window's: add moves it a minute on, so every minute is settled
	h0    int64                       // first minute of the data, an hour start
	truth map[int64]map[string]uint64 // minute → ad → clicks
}

const hot = 6 * time.Hour

func newFixture(t testing.TB, k int) *fixture {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cur := int64(minute.Of(time.Now()))
	f := &fixture{t: t, w: window.New(), st: st, dir: t.TempDir(), h0: hourOf(cur) - 6*60, truth: map[int64]map[string]uint64{}}
	f.w.SetClock(func() time.Time { return f.wnow })
	f.open(k)
	return f
}

func (f *fixture) open(k int) {
	r, err := Open(Options{Dir: f.dir, Window: f.w, Store: f.st, Hot: hot, K: k, Logger: quiet, Metrics: metrics.NewSet(),
		Now:             func() time.Time { return f.now },
		CompleteThrough: func(context.Context) (int64, error) { return f.now.UnixMilli(), nil }})
	if err != nil {
		f.t.Fatal(err)
	}
	f.r = r
}

// setHotStart moves the clock so that the first minute held in full is m.
func (f *fixture) setHotStart(m int64) { f.now = minute.Minute(m - 1).Time().Add(hot) }

// add puts clicks into the window (as cells over a few countries) and the store
// (the minute's new totals), as the merge does.
func (f *fixture) add(counts map[int64]map[string]uint64) {
	var pts []store.Point
	for m, ads := range counts {
		var cells []wire.Cell
		for ad, n := range ads {
			us := n / 2
			cells = append(cells, wire.Cell{Minute: m, AdID: ad, Country: [2]byte{'U', 'S'}, Clicks: us},
				wire.Cell{Minute: m, AdID: ad, Country: [2]byte{'D', 'E'}, Clicks: n - us})
			if f.truth[m] == nil {
				f.truth[m] = map[string]uint64{}
			}
			f.truth[m][ad] += n
			pts = append(pts, store.Point{Metric: "clicks", AdID: ad, Minute: m, Value: f.truth[m][ad]})
		}
		f.w.AddCells(cells)
	}
	f.wnow = f.wnow.Add(time.Minute)
	if err := f.st.Put(pts); err != nil {
		f.t.Fatal(err)
	}
	f.st.Flush()
}

// zipf draws perMinute clicks a minute over hours hours from a Zipf law over pop
// ads; the 20 most popular swap places every hour.
func zipf(r *rand.Rand, h0 int64, hours, perMinute int, pop uint64, s float64) map[int64]map[string]uint64 {
	z := rand.NewZipf(r, s, 1, pop-1)
	out := map[int64]map[string]uint64{}
	for m := h0; m < h0+int64(hours)*60; m++ {
		hr := uint64(m-h0) / 60
		ads := map[string]uint64{}
		for range perMinute {
			k := z.Uint64()
			if k < 20 {
				k = (k + hr*7) % 20
			}
			ads[fmt.Sprintf("ad%05d", k)]++
		}
		out[m] = ads
	}
	return out
}

// brute is the answer from the raw counts.
func (f *fixture) brute(n int, from, to int64, ads []string) []window.AdCount {
	sums := map[string]uint64{}
	for m := from; m < to; m++ {
		for ad, c := range f.truth[m] {
			sums[ad] += c
		}
	}
	var out []window.AdCount
	for ad, c := range sums {
		if ads == nil || slices.Contains(ads, ad) {
			out = append(out, window.AdCount{AdID: ad, Clicks: c})
		}
	}
	slices.SortFunc(out, func(a, b window.AdCount) int {
		return cmp.Or(cmp.Compare(b.Clicks, a.Clicks), strings.Compare(a.AdID, b.AdID))
	})
	return append([]window.AdCount{}, out[:min(n, len(out))]...)
}

func (f *fixture) universe(limit int) []string {
	var all []string
	seen := map[string]bool{}
	for _, ads := range f.truth {
		for ad := range ads {
			if !seen[ad] {
				seen[ad] = true
				all = append(all, ad)
			}
		}
	}
	if len(all) > limit {
		return nil
	}
	return all
}

func (f *fixture) check(q Query) Stats {
	f.t.Helper()
	got, st, err := f.r.TopStats(context.Background(), q)
	if err != nil {
		f.t.Fatalf("top %d [%s, %s) ads %d: %v", q.N, minute.Minute(q.From), minute.Minute(q.To), len(q.Ads), err)
	}
	if want := f.brute(q.N, q.From, q.To, q.Ads); !slices.Equal(got, want) {
		f.t.Fatalf("top %d [+%d, +%d) ads %d: got %v\nwant %v\nstats %+v", q.N, q.From-f.h0, q.To-f.h0, len(q.Ads), first6(got), first6(want), st)
	}
	return st
}

func first6(a []window.AdCount) []window.AdCount { return a[:min(len(a), 6)] }

// The rollup answers exactly what summing every ad answers, for windows aligned
// or not, before, across and after the hot boundary, with and without an
// advertiser's ads, once the hours left the window.
func TestTopMatchesBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 2; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			f := newFixture(t, 150)
			f.add(zipf(r, f.h0, 5, 250, 3000, 1.05+float64(seed)/10))
			f.now = minute.Minute(f.h0 + 5*60 + 2).Time()
			f.r.Tick(context.Background())
			if got := f.r.Hours(); len(got) != 5 || got[0] != f.h0 {
				t.Fatalf("hours built: %v", got)
			}
			hs := f.h0 + 2*60 + 17 // the hot window now starts mid-hour, as the merge evicts
			f.setHotStart(hs)
			f.w.Evict(hs - 1)
			f.r.Tick(context.Background())
			var all []string
			for m := range f.truth {
				for ad := range f.truth[m] {
					all = append(all, ad)
				}
			}
			slices.Sort(all)
			all = slices.Compact(all)
			var evaluated, queries, fallbacks [3]int
			for i := range 150 {
				from := f.h0 + r.Int64N(5*60)
				if i%4 == 0 {
					from = hourOf(from)
				}
				to := from + 1 + r.Int64N(f.h0+5*60+30-from)
				if i%5 == 0 {
					to = min(hourOf(to)+60, f.h0+6*60)
				}
				q := Query{N: 1 + r.IntN(50), From: from, To: to, Universe: f.universe}
				switch i % 3 {
				case 1: // an advertiser with many ads: the lists, filtered
					q.Ads = pick(r, all, 120)
				case 2: // an advertiser with few: summed one by one
					q.Ads = pick(r, all, 10)
				}
				st := f.check(q)
				evaluated[i%3] += st.Evaluated
				queries[i%3]++
				if st.Fallback {
					fallbacks[i%3]++
				}
			}
			for i, kind := range []string{"all ads", "120 ads", "10 ads"} {
				t.Logf("%s: %d queries, %.1f ads summed each, %d fallbacks", kind, queries[i], float64(evaluated[i])/float64(queries[i]), fallbacks[i])
			}
			// An hour before the data has no ranking.
			_, err := f.r.Top(context.Background(), Query{N: 5, From: f.h0 - 30, To: f.h0 + 30})
			var nr *NoRankingError
			if !errors.As(err, &nr) || nr.Hour != f.h0-60 || nr.Since != f.h0 {
				t.Fatalf("before the first hour: %v", err)
			}
		})
	}
}

func pick(r *rand.Rand, all []string, n int) []string {
	out := slices.Clone(all)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// Clicks spread evenly over more ads than a list holds: the lists cannot prove
// the answer, so the rollup sums every ad, or says it cannot answer.
func TestFlatWindowFallsBack(t *testing.T) {
	f := newFixture(t, 20)
	counts := map[int64]map[string]uint64{}
	for m := f.h0; m < f.h0+180; m++ {
		counts[m] = map[string]uint64{}
		for a := range 300 {
			if (int64(a)+m)%3 == 0 {
				counts[m][fmt.Sprintf("flat%03d", a)] = 1
			}
		}
	}
	f.add(counts)
	f.now = minute.Minute(f.h0 + 3*60 + 1).Time()
	f.r.Tick(context.Background())
	hs := f.h0 + 150
	f.setHotStart(hs)
	f.w.Evict(hs - 1)
	q := Query{N: 10, From: f.h0 + 5, To: f.h0 + 170, Universe: f.universe}
	if st := f.check(q); !st.Fallback {
		t.Fatalf("flat window answered without the fallback: %+v", st)
	}
	q.Universe = func(int) []string { return nil }
	if _, err := f.r.Top(context.Background(), q); !errors.Is(err, ErrTooFlat) {
		t.Fatalf("no universe: %v", err)
	}
	if f.r.flat.Get() != 1 || f.r.fallbacks.Get() != 1 {
		t.Fatalf("fallback metrics: summed %d, too flat %d", f.r.fallbacks.Get(), f.r.flat.Get())
	}
}

// Clicks that change an hour after it was ranked reach its list: rebuilt while
// the window holds the hour whole, patched from the store and the window after
// it left; and a query right after the change already sees it.
func TestLateChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	f := newFixture(t, 100)
	f.add(zipf(r, f.h0, 4, 200, 2000, 1.1))
	f.now = minute.Minute(f.h0 + 4*60 + 1).Time()
	f.r.Tick(context.Background())
	hs := f.h0 + 60 + 30
	f.setHotStart(hs)
	f.w.Evict(hs - 1)
	f.r.Tick(context.Background())
	built := f.r.built.Get()

	// An hour held whole: a reconciliation adds clicks; no Tick before the query.
	f.add(map[int64]map[string]uint64{f.h0 + 3*60 + 7: {"ad01999": 5000}})
	q := Query{N: 3, From: f.h0, To: f.h0 + 4*60, Universe: f.universe}
	if got := f.check(q); got.Evaluated == 0 {
		t.Fatal("nothing evaluated")
	}
	if f.r.built.Get() != built+1 {
		t.Fatalf("query did not rebuild the changed hour: %d builds", f.r.built.Get()-built)
	}
	l, err := readList(filepath.Join(f.dir, fileName(f.h0+3*60)))
	if err != nil || l.ents[0] != (entry{"ad01999", f.hourSum("ad01999", f.h0+3*60)}) {
		t.Fatalf("rebuilt list starts %v (%v)", l, err)
	}

	// An hour that left the window: the merge's late path reloads the minute's
	// stored total into the window and adds the late clicks; Tick patches.
	m := f.h0 + 12
	base := f.truth[m]["ad01998"]
	f.w.Add(m, "ad01998", window.Country{'Z', 'Z'}, base) // the cold base (f.add settles it)
	f.add(map[int64]map[string]uint64{m: {"ad01998": 4000}})
	f.r.Tick(context.Background())
	if f.r.patched.Get() != 1 {
		t.Fatalf("patches: %d", f.r.patched.Get())
	}
	f.w.Evict(hs - 1) // the merge evicts the minute again once settled
	f.check(Query{N: 3, From: f.h0, To: f.h0 + 60})
	f.check(Query{N: 3, From: f.h0 + 30, To: f.h0 + 4*60})
	l, err = readList(filepath.Join(f.dir, fileName(f.h0)))
	if err != nil || l.ents[0].ad != "ad01998" || l.flags&flagPatched == 0 {
		t.Fatalf("patched list starts %v (%v)", l, err)
	}

	// A restart: the hours held whole are checked against the window again, the
	// others taken as they are.
	f.open(100)
	f.r.Tick(context.Background())
	if got := f.r.Hours(); !slices.Contains(got, f.h0) || !slices.Contains(got, f.h0+180) {
		t.Fatalf("hours after restart: %v (h0 %d)", got, f.h0)
	}
	// The closed hours after the data have no clicks, and empty lists.
	if l, err := readList(filepath.Join(f.dir, fileName(f.h0+4*60))); err != nil || len(l.ents) != 0 || l.floor != 0 {
		t.Fatalf("empty hour: %v %v", l, err)
	}
	f.check(Query{N: 7, From: f.h0 + 1, To: f.h0 + 4*60 - 1, Universe: f.universe})
}

func (f *fixture) hourSum(ad string, h int64) uint64 {
	var n uint64
	for m := h; m < h+60; m++ {
		n += f.truth[m][ad]
	}
	return n
}

// A write a crash interrupted leaves a temporary file, which is removed; a torn
// hour file is rebuilt from the window if the window still holds the hour, and
// otherwise the hour is reported as not ranked, never read.
func TestCrashLeftovers(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	f := newFixture(t, 100)
	f.add(zipf(r, f.h0, 3, 100, 1000, 1.1))
	f.now = minute.Minute(f.h0 + 3*60 + 1).Time()
	f.r.Tick(context.Background())
	tmp := filepath.Join(f.dir, fileName(f.h0)+tmpMark+"123")
	if err := os.WriteFile(tmp, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range []int64{f.h0, f.h0 + 120} {
		p := filepath.Join(f.dir, fileName(h))
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)/2], 0o644)
	}
	hs := f.h0 + 100
	f.setHotStart(hs)
	f.w.Evict(hs - 1)
	f.open(100)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	f.r.Tick(context.Background()) // rebuilds h0+120 from the window
	f.check(Query{N: 10, From: f.h0 + 60, To: f.h0 + 3*60, Universe: f.universe})
	var nr *NoRankingError
	if _, err := f.r.Top(context.Background(), Query{N: 10, From: f.h0, To: f.h0 + 3*60}); !errors.As(err, &nr) || nr.Hour != f.h0 {
		t.Fatalf("torn evicted hour: %v", err)
	}
}

// Hour files older than the retention are deleted.
func TestRetention(t *testing.T) {
	f := newFixture(t, 10)
	f.add(map[int64]map[string]uint64{f.h0 + 5: {"a": 1}, f.h0 + 65: {"b": 2}})
	f.now = minute.Minute(f.h0 + 2*60 + 1).Time()
	f.r.Tick(context.Background())
	if got := f.r.Hours(); !slices.Contains(got, f.h0) || !slices.Contains(got, f.h0+60) {
		t.Fatalf("hours: %v", got)
	}
	f.now = f.now.Add(store.DefaultRetention - 61*time.Minute) // the first hour ends past the retention
	f.w.Evict(f.h0 + 3*60)
	f.r.Tick(context.Background())
	if got := f.r.Hours(); slices.Contains(got, f.h0) || !slices.Contains(got, f.h0+60) {
		t.Fatalf("hours after retention: %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, fileName(f.h0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("expired file: %v", err)
	}
}

// Queries run while late changes arrive and hours are rebuilt and patched (for
// the race detector; the answers are checked once things are quiet).
func TestConcurrentQueriesAndRebuilds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	f := newFixture(t, 80)
	f.add(zipf(r, f.h0, 3, 150, 1500, 1.1))
	f.now = minute.Minute(f.h0 + 3*60 + 1).Time()
	f.r.Tick(context.Background())
	hs := f.h0 + 70
	f.setHotStart(hs)
	f.w.Evict(hs - 1)
	done := make(chan struct{})
	errs := make(chan error, 2)
	for g := range 2 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				q := Query{N: 1 + i%20, From: f.h0 + int64(g*13+i%50), To: f.h0 + 3*60, Universe: func(int) []string { return nil }}
				if _, err := f.r.Top(context.Background(), q); err != nil && !errors.Is(err, ErrTooFlat) {
					errs <- err
					return
				}
			}
		}()
	}
	late := map[int64]map[string]uint64{}
	for i := range 20 {
		m := f.h0 + int64(r.IntN(180))
		ad := fmt.Sprintf("ad%05d", r.IntN(1500))
		if late[m] == nil {
			late[m] = map[string]uint64{}
		}
		if _, again := late[m][ad]; m < hs-1 && !again { // the merge's late path: the stored total comes back first
			f.w.Add(m, ad, window.Country{'Z', 'Z'}, f.truth[m][ad])
		}
		n := uint64(1 + r.IntN(300))
		f.w.Add(m, ad, window.Country{'U', 'S'}, n)
		late[m][ad] += n
		if err := f.st.Put([]store.Point{{Metric: "clicks", AdID: ad, Minute: m, Value: f.truth[m][ad] + late[m][ad]}}); err != nil {
			t.Fatal(err)
		}
		f.st.Flush()
		if i%3 == 0 {
			f.r.Tick(context.Background())
		}
	}
	f.r.Tick(context.Background())
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for m, ads := range late {
		for ad, n := range ads {
			f.truth[m][ad] += n
		}
	}
	f.w.Evict(hs - 1)
	for i := range 20 {
		f.check(Query{N: 1 + i, From: f.h0 + int64(i*7), To: f.h0 + 3*60 - int64(i), Universe: f.universe})
	}
}

// The store keeps the largest value of a minute, so clicks taken back in the
// window (a reconciliation) stay in the store: a rebuild never lowers a listed
// count, and a list built after the take-back, which is short of the store, is
// noticed when the ad is summed.
func TestTakenBackClicks(t *testing.T) {
	f := newFixture(t, 10)
	counts := map[int64]map[string]uint64{}
	for m := f.h0; m < f.h0+120; m++ {
		counts[m] = map[string]uint64{"big": 50, "mid": 20, "small": 1}
	}
	f.add(counts)
	f.now = minute.Minute(f.h0 + 60 + 1).Time() // only the first hour is closed
	f.r.Tick(context.Background())
	f.w.Sub(f.h0+5, "big", window.Country{'U', 'S'}, "", 25)
	f.w.Sub(f.h0+65, "big", window.Country{'U', 'S'}, "", 25)
	f.now = minute.Minute(f.h0 + 120 + 1).Time()
	f.r.Tick(context.Background()) // rebuilds the first hour, builds the second
	l, err := readList(filepath.Join(f.dir, fileName(f.h0)))
	if err != nil || l.ents[0] != (entry{"big", 3000}) {
		t.Fatalf("rebuilt after a take-back: %v %v", l, err)
	}
	hs := f.h0 + 125
	f.setHotStart(hs)
	f.w.Evict(hs - 1)
	got, err := f.r.Top(context.Background(), Query{N: 2, From: f.h0, To: f.h0 + 120})
	if err != nil || fmt.Sprint(got) != "[{big 6000} {mid 2400}]" { // the store's totals
		t.Fatalf("top: %v %v", got, err)
	}
	if f.r.violations.Get() != 1 {
		t.Fatalf("violations: %d", f.r.violations.Get())
	}
}
