package rawfile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// t0 is the start of the hour the tests write: 2026-11-22T10 UTC.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func m0() int64 { return t0.Unix() / 60 }

func openT(tb testing.TB, dir string, opts ...func(*Options)) *Files {
	tb.Helper()
	o := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	for _, fn := range opts {
		fn(&o)
	}
	f, err := Open(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func rowGroups(n int) func(*Options) { return func(o *Options) { o.RowGroupRows = n } }

// gen makes small-world click rows: 40 ads, 60 users, 80 IPs, 5 countries, so
// that every predicate matches several rows and skipping has something to skip.
type gen struct {
	rng *rand.Rand
	n   int
}

func newGen(seed uint64) *gen { return &gen{rng: rand.New(rand.NewPCG(seed, 7))} }

func (g *gen) row(ms int64) Row {
	r := g.rng
	g.n++
	row := Row{
		TimeMs:    ms,
		Edge:      fmt.Sprintf("pop-%c", 'a'+r.IntN(3)),
		Seq:       uint64(g.n),
		Outcome:   []string{"counted", "expired", "duplicate", "filtered", "unknown_ad"}[r.IntN(5)],
		Reason:    uint32(r.IntN(4)),
		Score:     uint32(r.IntN(1001)),
		ExpiresAt: ms/1000 + 3600,
		AdID:      fmt.Sprintf("ad-%02d", r.IntN(40)),
		Country:   []string{"DE", "FR", "US", "JP", "ZZ"}[r.IntN(5)],
		IP:        fmt.Sprintf("10.0.%d.%d", r.IntN(4), r.IntN(20)),
		Counted:   r.IntN(2) == 0,
	}
	if r.IntN(4) != 0 {
		row.UserID = fmt.Sprintf("u%02d", r.IntN(60))
	}
	if r.IntN(3) == 0 {
		row.Labels = "a=1&b=x"
		row.Fraud = "burst"
	}
	if r.IntN(7) == 0 {
		row.IP = fmt.Sprintf("2001:db8::%x", r.IntN(20))
	}
	for i := range row.ImpressionID {
		row.ImpressionID[i] = byte(r.Uint32())
	}
	return row
}

// minute makes n rows of one unix minute, unsorted.
func (g *gen) minute(minute int64, n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = g.row(minute*60_000 + g.rng.Int64N(60_000))
	}
	return rows
}

// scanAll returns what Scan yields, sorted canonically.
func scanAll(tb testing.TB, f *Files, from, to int64, p Pred) []Row {
	tb.Helper()
	var got []Row
	if err := f.Scan(context.Background(), from, to, p, func(r *Row) error {
		got = append(got, *r)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	sortRows(got)
	return got
}

// brute is the reference: a plain filter over every row written.
func brute(all []Row, from, to int64, p Pred) []Row {
	var want []Row
	for _, r := range all {
		if m := minuteOf(r.TimeMs); m >= from && m < to && p.match(&r) {
			want = append(want, r)
		}
	}
	sortRows(want)
	return want
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(compareRows(&a, &b), cmp.Compare(a.Seq, b.Seq))
	})
}

func checkRows(tb testing.TB, what string, got, want []Row) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: got %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			tb.Fatalf("%s: row %d:\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// model tracks what the files should hold: the rows of each current file key.
type model map[string][]Row

func (m model) all() []Row {
	var all []Row
	for _, k := range slices.Sorted(maps.Keys(m)) {
		all = append(all, m[k]...)
	}
	return all
}

// checkAll compares Scan with brute force for many ranges and predicates (a few
// when !full).
func checkAll(t *testing.T, f *Files, all []Row, full bool) {
	t.Helper()
	m := m0()
	probe := all[len(all)/3]
	preds := []Pred{
		{},
		{AdID: probe.AdID},
		{AdID: "ad-055"}, // absent, inside some groups' ranges
		{UserID: probe.UserID},
		{IP: probe.IP},
		{IP: "192.0.2.1"}, // absent
		{Country: "JP"},
		{AdID: probe.AdID, UserID: probe.UserID, IP: probe.IP, Country: probe.Country},
	}
	ranges := [][2]int64{{m - 600, m + 600}, {m + 3, m + 7}, {m + 59, m + 62}}
	if !full {
		preds, ranges = []Pred{{}, {AdID: probe.AdID}, {IP: probe.IP}}, ranges[:2]
	}
	for _, r := range ranges {
		for _, p := range preds {
			what := fmt.Sprintf("scan [m%+d, m%+d) %+v", r[0]-m, r[1]-m, p)
			checkRows(t, what, scanAll(t, f, r[0], r[1], p), brute(all, r[0], r[1], p))
		}
	}
}

func TestScanMatchesBruteForce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openT(t, dir, rowGroups(400))
	g := newGen(1)
	m := m0()
	want := model{}
	// Hour 0: minutes 0-9; hour 1: minutes 60-64; 150-1500 rows each.
	for _, mn := range []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 60, 61, 62, 63, 64} {
		rows := g.minute(m+mn, 100+int(mn%10)*100)
		if err := f.WriteMinute(m+mn, rows); err != nil {
			t.Fatal(err)
		}
		want[minuteName(m+mn)] = rows
	}
	// Late rows of hours -1, 0, 1 and 2 in one batch; another batch in hour 0.
	var late []Row
	for _, mn := range []int64{-5, 3, 3, 7, 59, 61, 130} {
		for range 40 {
			late = append(late, g.row((m+mn)*60_000+g.rng.Int64N(60_000)))
		}
	}
	if err := f.WriteLate("seq-100", late); err != nil {
		t.Fatal(err)
	}
	want["late-seq-100"] = late
	late2 := g.minute(m+4, 300)
	if err := f.WriteLate("seq-200", late2); err != nil {
		t.Fatal(err)
	}
	want["late-seq-200"] = late2
	all := want.all()

	t.Run("written", func(t *testing.T) { checkAll(t, f, all, true) })
	if err := f.Compact(m + 60); err != nil { // hour 0 only
		t.Fatal(err)
	}
	t.Run("hour0-compacted", func(t *testing.T) { checkAll(t, f, all, false) })
	if st := f.Stats(); st.Files != 1+1+7 || st.Rows != int64(len(all)) || st.Hours != 4 {
		t.Fatalf("stats after compacting hour 0: %+v", st)
	}
	// A late batch for the compacted hour, then compact everything.
	late3 := g.minute(m+10, 200)
	if err := f.WriteLate("seq-300", late3); err != nil {
		t.Fatal(err)
	}
	all = append(all, late3...)
	t.Run("late-after-compact", func(t *testing.T) { checkAll(t, f, all, false) })
	if err := f.Compact(m + 1000); err != nil {
		t.Fatal(err)
	}
	t.Run("all-compacted", func(t *testing.T) { checkAll(t, f, all, true) })
	st := f.Stats()
	if st.Files != 4 || st.Rows != int64(len(all)) {
		t.Fatalf("stats after compacting all: %+v", st)
	}
	// Reopen: the same.
	f.Close()
	f = openT(t, dir, rowGroups(400))
	t.Run("reopened", func(t *testing.T) { checkAll(t, f, all, false) })
	names, _ := filepath.Glob(filepath.Join(dir, hourName(hourOf(m)), "*"))
	if len(names) != 1 || filepath.Base(names[0]) != "h-2.parquet" {
		t.Fatalf("hour 0 holds %v, want only h-2.parquet", names)
	}
}

func TestWriteMinuteReplaces(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir())
	g := newGen(2)
	m := m0() + 5
	a, b := g.minute(m, 500), g.minute(m, 300)
	aCopy := slices.Clone(a)
	if err := f.WriteMinute(m, a); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, aCopy) {
		t.Fatal("WriteMinute reordered the caller's rows")
	}
	checkRows(t, "first write", scanAll(t, f, m, m+1, Pred{}), brute(a, m, m+1, Pred{}))
	if err := f.WriteMinute(m, b); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "rewrite", scanAll(t, f, m, m+1, Pred{}), brute(b, m, m+1, Pred{}))
	if st := f.Stats(); st.Files != 1 || st.Rows != 300 {
		t.Fatalf("stats after rewrite: %+v", st)
	}

	bad := g.minute(m, 10)
	bad[7].TimeMs = (m + 1) * 60_000
	if err := f.WriteMinute(m, bad); !errors.Is(err, ErrInvalidRow) {
		t.Fatalf("row of the next minute: err %v, want ErrInvalidRow", err)
	}
	checkRows(t, "after rejected write", scanAll(t, f, m, m+1, Pred{}), brute(b, m, m+1, Pred{}))

	if err := f.WriteMinute(m, nil); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, f, m, m+1, Pred{}); len(got) != 0 || f.Stats().Files != 0 {
		t.Fatalf("empty rewrite left %d rows, stats %+v", len(got), f.Stats())
	}
}

func TestWriteLateReplacesByID(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir())
	g := newGen(3)
	m := m0()
	twoHours := append(g.minute(m+10, 50), g.minute(m+70, 50)...)
	if err := f.WriteLate("seq-7", twoHours); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "two hours", scanAll(t, f, m-60, m+180, Pred{}), brute(twoHours, m-60, m+180, Pred{}))
	oneHour := g.minute(m+20, 30)
	if err := f.WriteLate("seq-7", oneHour); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "replaced", scanAll(t, f, m-60, m+180, Pred{}), brute(oneHour, m-60, m+180, Pred{}))
	if st := f.Stats(); st.Files != 1 {
		t.Fatalf("stale late file of the other hour kept: %+v", st)
	}
	for _, id := range []string{"", "Seq-1", "a/b", "x.y", string(make([]byte, 65))} {
		if err := f.WriteLate(id, oneHour); !errors.Is(err, ErrInvalidID) {
			t.Errorf("id %q: err %v, want ErrInvalidID", id, err)
		}
	}
}

func TestCompactedNamesCannotBeRewritten(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir())
	g := newGen(4)
	m := m0()
	a, b, late := g.minute(m, 100), g.minute(m+1, 100), g.minute(m+2, 10)
	for _, err := range []error{f.WriteMinute(m, a), f.WriteMinute(m+1, b), f.WriteLate("x", late), f.Compact(m + 60)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.WriteMinute(m, a); !errors.Is(err, ErrCompacted) {
		t.Fatalf("rewrite of a compacted minute: err %v, want ErrCompacted", err)
	}
	if err := f.WriteLate("x", late); !errors.Is(err, ErrCompacted) {
		t.Fatalf("rewrite of a compacted late id: err %v, want ErrCompacted", err)
	}
	// A minute that was not part of the compaction is fine, and so is a new late id.
	c := g.minute(m+3, 100)
	if err := f.WriteMinute(m+3, c); err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(a, b, late, c)
	checkRows(t, "after refused rewrites", scanAll(t, f, m, m+60, Pred{}), brute(all, m, m+60, Pred{}))
}

func TestExpire(t *testing.T) {
	t.Parallel()
	now := t0.Add(3*time.Hour + 30*time.Minute)
	f := openT(t, t.TempDir(), func(o *Options) {
		o.Retention = 2 * time.Hour
		o.Now = func() time.Time { return now }
	})
	g := newGen(5)
	m := m0()
	var all []Row
	for h := range int64(4) {
		rows := g.minute(m+h*60+1, 20)
		if err := f.WriteMinute(m+h*60+1, rows); err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
	}
	// cutoff = 11:30: hour 10 (ends 11:00) goes; hour 11 (ends 12:00) stays.
	if err := f.Expire(); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Hours != 3 || !st.OldestHour.Equal(t0.Add(time.Hour)) || !st.NewestHour.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("after expiry: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(f.dir, hourName(hourOf(m)))); !os.IsNotExist(err) {
		t.Fatalf("expired hour directory still there: %v", err)
	}
	checkRows(t, "after expiry", scanAll(t, f, m-60, m+300, Pred{}), brute(all[20:], m-60, m+300, Pred{}))
	now = now.Add(time.Hour)
	if err := f.Expire(); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.Hours != 2 {
		t.Fatalf("after second expiry: %+v", st)
	}
}

func TestOpenTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openT(t, dir)
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrDirInUse) {
		t.Fatalf("second Open: %v, want ErrDirInUse", err)
	}
	f.Close()
	if err := f.WriteMinute(m0(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
	if err := f.Scan(context.Background(), 0, 1, Pred{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("scan after Close: %v, want ErrClosed", err)
	}
	openT(t, dir) // the lock was released
	if _, err := Open(Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Open without Dir: %v", err)
	}
}

func TestScanStopsOnFnError(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir())
	rows := newGen(6).minute(m0(), 100)
	if err := f.WriteMinute(m0(), rows); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	n := 0
	err := f.Scan(context.Background(), m0(), m0()+1, Pred{}, func(*Row) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("err %v after %d rows, want the fn's error after 3", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Scan(ctx, m0(), m0()+1, Pred{}, func(*Row) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
	if err := f.Scan(context.Background(), 5, 4, Pred{}, nil); !errors.Is(err, ErrInvalidRange) {
		t.Fatalf("from > to: %v", err)
	}
}
