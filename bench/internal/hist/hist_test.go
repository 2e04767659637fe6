package hist

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestIndexRoundTrip(t *testing.T) {
	f := func(v uint64) {
		t.Helper()
		i := index(v)
		if hi := highest(i); hi < v || float64(hi-v) > float64(v)/subCount {
			t.Fatalf("v=%d: bucket %d highest %d: more than 1/%d off", v, i, hi, subCount)
		}
		if i > 0 && highest(i-1) >= v {
			t.Fatalf("v=%d: bucket %d is not the lowest that holds it", v, i)
		}
	}
	for v := uint64(0); v < 5000; v++ {
		f(v)
	}
	for _, v := range []uint64{1 << 20, 1<<20 - 1, 1<<20 + 1, 123456789, 1<<40 - 1} {
		f(v)
	}
	if index(1<<62) != buckets-1 {
		t.Fatal("huge values must clamp to the top bucket")
	}
}

// Percentiles agree with the exact order statistic within the bucket precision.
func TestQuantileWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New()
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * float64(time.Millisecond)) // a long tail
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := max(1, int(q*float64(len(vals))+0.999999))
		exact := vals[rank-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
			t.Errorf("q=%v: got %d, exact %d", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != uint64(len(vals)) {
		t.Errorf("min/max/count %d %d %d", h.Min(), h.Max(), h.Count())
	}
}

func TestSmallAndEmpty(t *testing.T) {
	h := New()
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Min() != 0 {
		t.Fatal("empty histogram must answer 0")
	}
	for _, v := range []int64{5, 1, 3, -7} {
		h.Record(v)
	}
	f := func(q float64, want int64) {
		t.Helper()
		if got := h.Quantile(q); got != want {
			t.Errorf("q=%v: %d, want %d", q, got, want)
		}
	}
	f(0, 0) // -7 counts as 0
	f(0.25, 0)
	f(0.5, 1)
	f(0.75, 3)
	f(1, 5)
	if h.Mean() != 9.0/4 {
		t.Errorf("mean %v", h.Mean())
	}
}

// Merging per-worker histograms equals recording everything into one.
func TestMerge(t *testing.T) {
	all, parts := New(), []*Histogram{New(), New(), New()}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(p), 9))
			for range 20000 {
				v := r.Int64N(1 << 30)
				parts[p].Record(v)
				all.Record(v) // concurrent with the other workers
			}
		}()
	}
	wg.Wait()
	m := New()
	for _, p := range parts {
		m.Merge(p)
	}
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged %d/%d/%d, direct %d/%d/%d", m.Count(), m.Min(), m.Max(), all.Count(), all.Min(), all.Max())
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v: merged %d, direct %d", q, m.Quantile(q), all.Quantile(q))
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := int64(1)
		for pb.Next() {
			h.Record(v)
			v = v*31 + 7&(1<<30-1)
		}
	})
}
