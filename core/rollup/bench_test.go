package rollup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
)

// The benchmark's traffic: a week of hours over benchPop ads. Ad i gets
// benchTop/(i+1) clicks an hour (Zipf, s = 1), times a jitter in [0.5, 1.5) drawn
// per ad and hour, rounded at random: ~200k ads have clicks in an hour, ~720k
// clicks an hour (200 a second). It is a pure function of (ad, hour), so the
// exact sums need no store of a week of minutes.
const (
	benchPop   = 1_000_000
	benchTop   = 50_000
	benchHours = 7 * 24
)

func mix(x uint64) uint64 { // splitmix64
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func unit(x uint64) float64 { return float64(mix(x)>>11) / (1 << 53) }

func benchCount(i, h int64) uint64 {
	k := uint64(i)<<20 ^ uint64(h)
	v := benchTop / float64(i+1) * (0.5 + unit(k))
	return uint64(v + unit(k^0x5555_5555_5555))
}

func benchAd(i int64) string { return fmt.Sprintf("ad%07d", i) }

// benchStore answers Sum from benchCount for whole hours; with real set, it also
// reads a week of minutes of one series from a real store, for the cost.
type benchStore struct {
	h0   int64
	real *store.Store
	ad   string
	sums int
}

func (s *benchStore) Sum(metric, ad string, from, to int64) (uint64, error) {
	s.sums++
	if s.real != nil {
		if _, err := s.real.Sum("clicks", s.ad, from, to); err != nil {
			return 0, err
		}
	}
	i, err := strconv.ParseInt(ad[2:], 10, 64)
	if err != nil {
		return 0, err
	}
	var n uint64
	for h := max(from, s.h0); h+60 <= to; h += 60 {
		n += benchCount(i, (h-s.h0)/60)
	}
	return n, nil
}

func (s *benchStore) Series(string, string, int64, int64) ([]store.MinuteValue, error) {
	return nil, nil
}

// benchList ranks hour h of the model: the top k by clicks, and the floor. It
// finds the k-th count with a histogram instead of sorting 200k ads.
func benchList(h int64, k int) *list {
	counts := make([]uint32, benchPop)
	hist := make([]int, benchTop*2)
	for i := range counts {
		c := benchCount(int64(i), h)
		counts[i] = uint32(c)
		hist[c]++
	}
	// t: the count of the k-th ad; above: how many have more.
	t, above := len(hist)-1, 0
	for ; t > 0 && above+hist[t] < k; t-- {
		above += hist[t]
	}
	l := &list{k: uint32(k)}
	ties := k - above
	for i, c := range counts {
		if c > uint32(t) || c == uint32(t) && c > 0 && ties > 0 {
			if c == uint32(t) {
				ties--
			}
			l.ents = append(l.ents, entry{benchAd(int64(i)), uint64(c)})
		}
		l.total += uint64(c)
	}
	if ties == 0 && above+hist[t] > k {
		l.floor = uint64(t)
	} else {
		for f := t - 1; f > 0; f-- {
			if hist[f] > 0 {
				l.floor = uint64(f)
				break
			}
		}
	}
	slices.SortFunc(l.ents, before)
	return l
}

type week struct {
	dir string
	h0  int64
	w   *window.Window
}

// setupWeek writes a week of hour files and fills a window with the hour after
// it: 12k clicks a minute from the same Zipf law. ~10 s on 2 cores.
func setupWeek(b *testing.B) *week {
	s := &week{dir: b.TempDir()}
	cur := int64(minute.Of(time.Now()))
	s.h0 = hourOf(cur) - benchHours*60
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for h := range int64(benchHours) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			l := benchList(h, DefaultK)
			l.hour = s.h0 + h*60
			if err := writeFile(s.dir, fileName(l.hour), l.encode()); err != nil {
				panic(err)
			}
		}()
	}
	wg.Wait()
	s.w = hourWindow(s.h0 + benchHours*60)
	return s
}

// hourWindow is a window holding the hour from h: 12k clicks a minute from a
// Zipf law over benchPop ads (~160k ads in the hour).
func hourWindow(h int64) *window.Window {
	w := window.New()
	clock := time.Unix(1e9, 0)
	w.SetClock(func() time.Time { return clock })
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.01, 1, benchPop-1)
	for m := h; m < h+60; m++ {
		for range 12_000 {
			w.Add(m, benchAd(int64(z.Uint64())), window.Country{'U', 'S'}, 1)
		}
	}
	clock = clock.Add(time.Minute) // every minute settled
	w.Prepare()
	return w
}

// BenchmarkBuildHour: ranking an hour from the window and writing its file.
func BenchmarkBuildHour(b *testing.B) {
	h := hourOf(int64(minute.Of(time.Now()))) - 120
	w := hourWindow(h)
	sums := map[string]uint64{}
	for m := h; m < h+60; m++ {
		w.AddMinuteTotals(m, sums)
	}
	dir := b.TempDir()
	r, err := Open(Options{Dir: dir, Window: w, Store: &benchStore{}, Logger: quiet, Metrics: metrics.NewSet(),
		CompleteThrough: func(context.Context) (int64, error) { return 0, nil }})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		os.Remove(filepath.Join(dir, fileName(h))) // a first build, not a check against the file
		if err := r.build(h, h+60); err != nil {
			b.Fatal(err)
		}
	}
	fi, _ := os.Stat(filepath.Join(dir, fileName(h)))
	b.ReportMetric(float64(len(sums)), "ads")
	b.ReportMetric(float64(fi.Size()), "file-bytes")
}

// BenchmarkTopWeek: top-10 over the last 7 days: 168 hours from their lists (K =
// 20000, ~200k ads an hour) and the last hour from the window. "model" sums from
// the traffic model; "store" also pays one real store read of a week of minutes
// per sum; "uncached" reads every hour file's head again. hot-60m is the
// window's own top-10 over its last hour, for scale.
func BenchmarkTopWeek(b *testing.B) {
	s := setupWeek(b)
	hot := s.h0 + benchHours*60
	real, err := store.Open(store.Options{Dir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer real.Close()
	var pts []store.Point
	for m := s.h0; m < hot; m++ {
		pts = append(pts, store.Point{Metric: "clicks", AdID: "probe", Minute: m, Value: uint64(m % 7)})
	}
	if err := real.Put(pts); err != nil {
		b.Fatal(err)
	}
	real.Flush()
	for _, bc := range []struct {
		name    string
		real    *store.Store
		n       int
		nocache bool
	}{{"model/n=10", nil, 10, false}, {"store/n=10", real, 10, false}, {"store-uncached/n=10", real, 10, true},
		{"store/n=100", real, 100, false}, {"store/n=1000", real, 1000, false}} {
		b.Run(bc.name, func(b *testing.B) {
			bs := &benchStore{h0: s.h0, real: bc.real, ad: "probe"}
			r, err := Open(Options{Dir: s.dir, Window: s.w, Store: bs, Logger: quiet, Metrics: metrics.NewSet(),
				CompleteThrough: func(context.Context) (int64, error) { return 0, nil }})
			if err != nil {
				b.Fatal(err)
			}
			q := Query{N: bc.n, From: s.h0, To: hot + 60, HotStart: hot}
			var st Stats
			b.ReportAllocs()
			for b.Loop() {
				if bc.nocache { // every hour file opened and read again
					r.mu.Lock()
					clear(r.heads)
					r.headEntries = 0
					r.mu.Unlock()
				}
				var ads []window.AdCount
				if ads, st, err = r.TopStats(context.Background(), q); err != nil || len(ads) != bc.n {
					b.Fatalf("%v %d", err, len(ads))
				}
			}
			b.ReportMetric(float64(st.Evaluated), "candidates/op")
			b.ReportMetric(float64(st.Read), "entries-read/op")
			b.ReportMetric(float64(st.Rounds), "rounds/op")
		})
	}
	b.Run("hot-60m/n=10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.w.Top(10, hot, hot+60, window.Filter{}, nil)
		}
	})
	b.Run("store-sum-week", func(b *testing.B) {
		for b.Loop() {
			if _, err := real.Sum("clicks", "probe", s.h0, hot); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The benchmark's model ranks as the threshold algorithm expects: its answer is
// the brute-force answer over the model (the top 5000 ads suffice: past rank
// 5000 an ad gets at most 16 clicks an hour, far below the 50th).
func TestBenchModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 6 hours of 1M ads")
	}
	const hours = 6
	dir := t.TempDir()
	h0 := hourOf(int64(minute.Of(time.Now()))) - hours*60
	for h := range int64(hours) {
		l := benchList(h, 2000)
		l.hour = h0 + h*60
		if err := writeFile(dir, fileName(l.hour), l.encode()); err != nil {
			t.Fatal(err)
		}
	}
	bs := &benchStore{h0: h0}
	r, err := Open(Options{Dir: dir, Window: window.New(), Store: bs, Logger: quiet, Metrics: metrics.NewSet(),
		CompleteThrough: func(context.Context) (int64, error) { return 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := r.TopStats(context.Background(), Query{N: 50, From: h0, To: h0 + hours*60, HotStart: h0 + hours*60})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]window.AdCount, 0, 5000)
	for i := range int64(5000) {
		var n uint64
		for h := range int64(hours) {
			n += benchCount(i, h)
		}
		want = append(want, window.AdCount{AdID: benchAd(i), Clicks: n})
	}
	slices.SortFunc(want, func(a, b window.AdCount) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, want[:50]) {
		t.Fatalf("got %v\nwant %v", first6(got), first6(want))
	}
	if st.Evaluated > 500 {
		t.Fatalf("%d ads summed for a top-50", st.Evaluated)
	}
}
