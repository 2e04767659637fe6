package rawfile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentScanWriteCompact runs scans while minutes are rewritten (same
// rows), late batches are added and hours are compacted over and over. Every
// scan must see each base row exactly once and each late batch wholly or not at
// all: a file being replaced or merged is never read twice or missed.
func TestConcurrentScanWriteCompact(t *testing.T) {
	t.Parallel()
	now := t0.Add(2 * time.Hour) // Expire deletes only the hour a day before t0
	f := openT(t, t.TempDir(), rowGroups(64), func(o *Options) {
		o.Retention = 24 * time.Hour
		o.Now = func() time.Time { return now }
	})
	g := newGen(20)
	m := m0()
	minutes := map[int64][]Row{}
	base := map[uint64]bool{} // Seq of every base row
	for _, mn := range []int64{0, 1, 2, 3, 4, 5, 60, 61, 62, 63, 64, 65} {
		rows := g.minute(m+mn, 60)
		minutes[mn] = rows
		for _, r := range rows {
			base[r.Seq] = true
		}
		if err := f.WriteMinute(m+mn, rows); err != nil {
			t.Fatal(err)
		}
	}
	// Late batches: each within one hour, so each is one atomic file.
	const batches = 9
	batchOf := map[uint64]int{} // Seq -> batch
	lates := make([][]Row, batches)
	for b := range lates {
		lates[b] = g.minute(m+int64(b%2)*60+10, 15)
		for _, r := range lates[b] {
			batchOf[r.Seq] = b
		}
	}
	// An old hour for Expire to delete meanwhile (outside the scanned range).
	if err := f.WriteMinute(m-24*60, g.minute(m-24*60, 10)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var failed error
	fail := func(err error) {
		failMu.Lock()
		failed = cmp.Or(failed, err)
		failMu.Unlock()
		cancel()
	}
	var writers sync.WaitGroup
	var writing atomic.Int32
	writing.Store(2)
	writers.Go(func() { // rewrites of the same minutes
		defer writing.Add(-1)
		for i := 0; i < 12 && ctx.Err() == nil; i++ {
			mn := []int64{0, 1, 2, 3, 4, 5, 60, 61, 62, 63, 64, 65}[i%12]
			if err := f.WriteMinute(m+mn, minutes[mn]); err != nil && !errors.Is(err, ErrCompacted) {
				fail(err)
			}
		}
	})
	writers.Go(func() { // late batches, with a compaction every few
		defer writing.Add(-1)
		for b := range batches {
			if ctx.Err() != nil {
				return
			}
			if err := f.WriteLate(fmt.Sprintf("b-%d", b), lates[b]); err != nil {
				fail(err)
			}
			if b%3 == 2 {
				if err := f.Compact(m + 120); err != nil {
					fail(err)
				}
			}
		}
		if err := f.Expire(); err != nil {
			fail(err)
		}
	})
	scans := atomic.Int64{}
	for range 2 {
		wg.Go(func() {
			for done := false; !done && ctx.Err() == nil; {
				done = writing.Load() == 0 // one more scan after the writers finish
				if err := checkSnapshot(ctx, f, m, base, batchOf, lates); err != nil {
					fail(err)
					return
				}
				scans.Add(1)
			}
		})
	}
	writers.Wait()
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	if err := f.Compact(m + 120); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Files != 2 || st.Hours != 2 || st.Rows != int64(len(base)+batches*15) {
		t.Fatalf("final stats %+v, want one compacted file per hour holding every row", st)
	}
	t.Logf("%d consistent scans", scans.Load())
}

// checkSnapshot scans minutes [m, m+120) and checks that every base row is seen
// exactly once and every late batch wholly or not at all.
func checkSnapshot(ctx context.Context, f *Files, m int64, base map[uint64]bool, batchOf map[uint64]int, lates [][]Row) error {
	seen := map[uint64]int{}
	perBatch := map[int]int{}
	err := f.Scan(ctx, m, m+120, Pred{}, func(r *Row) error {
		if seen[r.Seq]++; seen[r.Seq] > 1 {
			return fmt.Errorf("row seq %d seen twice", r.Seq)
		}
		if b, ok := batchOf[r.Seq]; ok {
			perBatch[b]++
		} else if !base[r.Seq] {
			return fmt.Errorf("unknown row seq %d", r.Seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for s := range base {
		if seen[s] != 1 {
			return fmt.Errorf("base row seq %d seen %d times", s, seen[s])
		}
	}
	for b, n := range perBatch {
		if n != len(lates[b]) {
			return fmt.Errorf("late batch %d: %d of %d rows visible", b, n, len(lates[b]))
		}
	}
	return nil
}
