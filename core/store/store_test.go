package store

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testLogger keeps VM's Debug chatter out of test output but shows warnings.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dayStart is the first minute of the UTC day two days ago: old enough that every
// minute of its day is in the past, aligned for hour and day rollups.
func dayStart() int64 {
	now := time.Now().Unix() / 60
	return now - now%1440 - 2*1440
}

func mustPut(t testing.TB, s *Store, pts ...Point) {
	t.Helper()
	if err := s.Put(pts); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func checkSeries(t *testing.T, s *Store, metric, ad string, from, to int64, want []MinuteValue) {
	t.Helper()
	got, err := s.Series(metric, ad, from, to)
	if err != nil {
		t.Fatalf("Series(%s, %s, %d, %d): %v", metric, ad, from, to, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Series(%s, %s, %d, %d) = %v, want %v", metric, ad, from, to, got, want)
	}
}

func TestPutFlushRead(t *testing.T) {
	s := openT(t, t.TempDir())
	m := dayStart()
	mustPut(t, s,
		Point{"clicks", "ad-1", m + 0, 10},
		Point{"clicks", "ad-1", m + 1, 20},
		Point{"clicks", "ad-1", m + 5, 7},
		Point{"fraud", "ad-1", m + 1, 2},
		Point{"clicks", "ad.2", m + 1, MaxValue},
	)
	s.Flush()
	checkSeries(t, s, "clicks", "ad-1", m, m+10, []MinuteValue{{m, 10}, {m + 1, 20}, {m + 5, 7}})
	checkSeries(t, s, "clicks", "ad-1", m+1, m+5, []MinuteValue{{m + 1, 20}}) // to is exclusive
	checkSeries(t, s, "fraud", "ad-1", m, m+10, []MinuteValue{{m + 1, 2}})
	checkSeries(t, s, "clicks", "ad.2", m, m+10, []MinuteValue{{m + 1, MaxValue}})
	checkSeries(t, s, "clicks", "ad-3", m, m+10, nil)

	sum, err := s.Sum("clicks", "ad-1", m, m+10)
	if err != nil || sum != 37 {
		t.Fatalf("Sum = %d, %v; want 37", sum, err)
	}
	st := s.Stats()
	if st.Rows != 5 || st.NewSeries != 3 || st.DroppedRows != 0 {
		t.Fatalf("Stats = %+v; want 5 rows, 3 new series, 0 dropped", st)
	}
}

// The latest write of a minute wins, also when it is lower (a cross-edge duplicate
// moved away, a reconciliation), across flushed parts; a repeat is harmless.
func TestRepeatedPutsLatestWins(t *testing.T) {
	s := openT(t, t.TempDir())
	m := dayStart() + 100
	for v := uint64(1); v <= 50; v++ {
		mustPut(t, s, Point{"clicks", "ad", m, v}, Point{"clicks", "ad", m + 1, 2 * v})
		if v%10 == 0 {
			s.Flush() // spread the samples over several parts
			time.Sleep(versionUnit)
		}
	}
	time.Sleep(2 * versionUnit)
	mustPut(t, s, Point{"clicks", "ad", m, 3}, Point{"clicks", "ad", m + 1, 100})
	mustPut(t, s, Point{"clicks", "ad", m, 3})
	s.Flush()
	checkSeries(t, s, "clicks", "ad", m, m+2, []MinuteValue{{m, 3}, {m + 1, 100}})
	if sum, err := s.Sum("clicks", "ad", m, m+2); err != nil || sum != 103 {
		t.Fatalf("Sum = %d, %v; want 103", sum, err)
	}
}

func TestRanges(t *testing.T) {
	s := openT(t, t.TempDir())
	d := dayStart()
	// One point per hour at minute 30 for two days, value = hour index + 1.
	var pts []Point
	for h := int64(0); h < 48; h++ {
		pts = append(pts, Point{"clicks", "ad", d + h*60 + 30, uint64(h + 1)})
	}
	mustPut(t, s, pts...)
	s.Flush()

	t.Run("empty ranges", func(t *testing.T) {
		checkSeries(t, s, "clicks", "ad", d, d+30, nil)
		checkSeries(t, s, "clicks", "ad", d-5000, d, nil)
		checkSeries(t, s, "clicks", "ad", -100, -1, nil)
		if sum, err := s.Sum("clicks", "ad", d+31, d+90); err != nil || sum != 0 {
			t.Fatalf("Sum over empty range = %d, %v", sum, err)
		}
		if r, err := s.Rollup("clicks", "ad", d, d+30, 60); err != nil || r != nil {
			t.Fatalf("Rollup over empty range = %v, %v", r, err)
		}
	})
	t.Run("from>=to rejected", func(t *testing.T) {
		for _, to := range []int64{d, d - 1} {
			if _, err := s.Series("clicks", "ad", d, to); !errors.Is(err, ErrInvalidRange) {
				t.Errorf("Series [%d,%d): err %v, want ErrInvalidRange", d, to, err)
			}
			if _, err := s.Sum("clicks", "ad", d, to); !errors.Is(err, ErrInvalidRange) {
				t.Errorf("Sum [%d,%d): err %v, want ErrInvalidRange", d, to, err)
			}
			if _, err := s.Rollup("clicks", "ad", d, to, 60); !errors.Is(err, ErrInvalidRange) {
				t.Errorf("Rollup [%d,%d): err %v, want ErrInvalidRange", d, to, err)
			}
		}
		if _, err := s.Rollup("clicks", "ad", d, d+10, 0); !errors.Is(err, ErrInvalidRange) {
			t.Errorf("Rollup step 0: err %v, want ErrInvalidRange", err)
		}
	})
	t.Run("day rollup", func(t *testing.T) {
		got, err := s.Rollup("clicks", "ad", d, d+2*1440, 1440)
		want := []MinuteValue{{d, 300}, {d + 1440, 876}} // 1..24, 25..48
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Rollup day = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("hour rollup, cut buckets", func(t *testing.T) {
		// [d+31, d+211): hour 0's point (minute 30) is outside, hours 1 and 2 inside,
		// hour 3's point at d+210 is inside its cut bucket.
		got, err := s.Rollup("clicks", "ad", d+31, d+211, 60)
		want := []MinuteValue{{d + 60, 2}, {d + 120, 3}, {d + 180, 4}}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Rollup hour = %v, %v; want %v", got, err, want)
		}
		if sum, err := s.Sum("clicks", "ad", d+31, d+211); err != nil || sum != 9 {
			t.Fatalf("Sum = %d, %v; want 9", sum, err)
		}
	})
}

func TestPutValidation(t *testing.T) {
	s := openT(t, t.TempDir())
	now := time.Now().Unix() / 60
	good := Point{"clicks", "good", dayStart(), 1}
	tests := []struct {
		name string
		p    Point
		want error
	}{
		{"empty metric", Point{"", "ad", now, 1}, ErrInvalidMetric},
		{"upper metric", Point{"Clicks", "ad", now, 1}, ErrInvalidMetric},
		{"long metric", Point{strings.Repeat("a", 33), "ad", now, 1}, ErrInvalidMetric},
		{"digit metric", Point{"clicks1", "ad", now, 1}, ErrInvalidMetric},
		{"empty ad", Point{"clicks", "", now, 1}, ErrInvalidAdID},
		{"ad with space", Point{"clicks", "a d", now, 1}, ErrInvalidAdID},
		{"ad with brace", Point{"clicks", "a}", now, 1}, ErrInvalidAdID},
		{"long ad", Point{"clicks", strings.Repeat("a", 65), now, 1}, ErrInvalidAdID},
		{"far future", Point{"clicks", "ad", now + 2*1440 + 1, 1}, ErrTooFarFuture},
		{"too old", Point{"clicks", "ad", now - 401*1440, 1}, ErrTooOld},
		{"negative minute", Point{"clicks", "ad", -1, 1}, ErrTooOld},
		{"value too large", Point{"clicks", "ad", now, MaxValue + 1}, ErrValueTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Put([]Point{good, tc.p, good})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put: err %v, want %v", err, tc.want)
			}
		})
	}
	s.Flush()
	checkSeries(t, s, "clicks", "good", good.Minute-10, good.Minute+10, nil)
	if st := s.Stats(); st.Rows != 0 {
		t.Fatalf("Stats.Rows = %d after rejected Puts, want 0", st.Rows)
	}
	// The edges that are accepted.
	mustPut(t, s, Point{"a", strings.Repeat("Z", 64), now + 2*1440 - 2, MaxValue},
		Point{strings.Repeat("_", 32), "A-z.0_9", now - 400*1440 + 2, 0})
}

func TestCloseReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m := dayStart()
	mustPut(t, s, Point{"clicks", "ad", m, 5}, Point{"clicks", "ad", m + 1, 6})
	s.Flush()
	mustPut(t, s, Point{"clicks", "ad", m + 1, 9}, Point{"fraud", "ad", m + 2, 1}) // not flushed
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Put([]Point{{"clicks", "ad", m, 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Series("clicks", "ad", m, m+1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Series after Close: %v, want ErrClosed", err)
	}
	s.Flush() // no-op
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("Stats after Close = %+v", st)
	}

	s2 := openT(t, dir)
	checkSeries(t, s2, "clicks", "ad", m, m+10, []MinuteValue{{m, 5}, {m + 1, 9}})
	checkSeries(t, s2, "fraud", "ad", m, m+10, []MinuteValue{{m + 2, 1}})
}

func TestTwoStores(t *testing.T) {
	a, b := openT(t, t.TempDir()), openT(t, t.TempDir())
	m := dayStart()
	mustPut(t, a, Point{"clicks", "ad", m, 1})
	mustPut(t, b, Point{"clicks", "ad", m, 2})
	a.Flush()
	b.Flush()
	checkSeries(t, a, "clicks", "ad", m, m+1, []MinuteValue{{m, 1}})
	checkSeries(t, b, "clicks", "ad", m, m+1, []MinuteValue{{m, 2}})

	if _, err := Open(Options{Dir: a.dir}); !errors.Is(err, ErrDirInUse) {
		t.Fatalf("second Open of the same dir: %v, want ErrDirInUse", err)
	}
	checkSeries(t, a, "clicks", "ad", m, m+1, []MinuteValue{{m, 1}}) // a unharmed
}

func TestOpenOptions(t *testing.T) {
	for _, o := range []Options{{}, {Dir: t.TempDir(), Retention: time.Hour}, {Dir: t.TempDir(), Retention: MaxRetention + 1}} {
		if _, err := Open(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Open(%+v): %v, want ErrInvalidOptions", o, err)
		}
	}
	s, err := Open(Options{Dir: t.TempDir(), Retention: MinRetention, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := time.Now().Unix()/60 - 1440
	if err := s.Put([]Point{{"clicks", "ad", old, 1}}); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Put older than 1-day retention: %v, want ErrTooOld", err)
	}
}

// A read of a series that does not exist yet must not hide it once written and
// flushed (VM caches search results).
func TestNewSeriesVisibleAfterEmptyRead(t *testing.T) {
	s := openT(t, t.TempDir())
	m := time.Now().Unix() / 60
	checkSeries(t, s, "clicks", "new", m-10, m+10, nil)
	mustPut(t, s, Point{"clicks", "new", m, 3})
	s.Flush()
	checkSeries(t, s, "clicks", "new", m-10, m+10, []MinuteValue{{m, 3}})
}

func TestConcurrent(t *testing.T) {
	s := openT(t, t.TempDir())
	m := dayStart()
	const writers, ads, rounds = 4, 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				pts := make([]Point, 0, ads)
				for a := range ads {
					pts = append(pts, Point{"clicks", fmt.Sprint("ad", a), m + int64(w), uint64(r + 1)})
				}
				if err := s.Put(pts); err != nil {
					t.Error(err)
					return
				}
				if r%5 == 0 {
					s.Flush()
				}
				if _, err := s.Series("clicks", fmt.Sprint("ad", w), m, m+writers); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Flush()
	want := []MinuteValue{{m, rounds}, {m + 1, rounds}, {m + 2, rounds}, {m + 3, rounds}}
	for a := range ads {
		checkSeries(t, s, "clicks", fmt.Sprint("ad", a), m, m+writers, want)
	}
	_ = s.Stats()
}

func TestCloseStopsGoroutines(t *testing.T) {
	cycle := func() {
		s, err := Open(Options{Dir: t.TempDir(), Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, Point{"clicks", "ad", dayStart(), 1})
		s.Flush()
		if _, err := s.Series("clicks", "ad", dayStart(), dayStart()+1); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // starts VM's process-global goroutines, if not yet running
	before := runtime.NumGoroutine()
	s := openT(t, t.TempDir())
	open := runtime.NumGoroutine()
	_ = s.Close()
	for range 3 {
		cycle()
	}
	// Slack 2: goroutines that just signalled Done may not have returned yet.
	after := settledGoroutines(before + 2)
	t.Logf("goroutines: %d before, %d with one store open, %d after", before, open, after)
	if after > before+2 {
		t.Fatalf("goroutines: %d before, %d after 3 Open/Close cycles", before, after)
	}
}

// settledGoroutines waits up to 2 s for the goroutine count to drop to target.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > target; i++ {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestLogBridge(t *testing.T) {
	var buf syncBuffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(Options{Dir: t.TempDir(), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = bridge.Write([]byte("warn\tlib/x/y.go:12\tdisk is slow\n"))
	_ = s.Close()
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="disk is slow" component=victoriametrics caller=lib/x/y.go:12`,
		`level=DEBUG`, // VM's INFO lines from opening the storage
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestValidNames(t *testing.T) {
	f := func(metric, ad string, wantMetric, wantAd bool) {
		t.Helper()
		if got := validMetric(metric); got != wantMetric {
			t.Errorf("validMetric(%q) = %v", metric, got)
		}
		if got := validAdID(ad); got != wantAd {
			t.Errorf("validAdID(%q) = %v", ad, got)
		}
	}
	f("clicks", "ad-1.x_Y", true, true)
	f("a", "0", true, true)
	f("", "", false, false)
	f("clicks\n", "ad/1", false, false)
	f("clïcks", "ad\x00", false, false)
	f(strings.Repeat("z", 32), strings.Repeat("9", 64), true, true)
	f(strings.Repeat("z", 33), strings.Repeat("9", 65), false, false)
}

// Opening a store caps VictoriaMetrics' caches unless the host set the budget.
func TestCacheBudget(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := flag.CommandLine.Lookup("memory.allowedBytes")
	if f == nil || f.Value.String() != fmt.Sprint(DefaultCacheBytes) {
		t.Fatalf("-memory.allowedBytes = %v, want %d", f.Value, DefaultCacheBytes)
	}
}
