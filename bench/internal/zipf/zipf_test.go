package zipf

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBounds(t *testing.T) {
	f := func(n int64, s float64) {
		t.Helper()
		z, err := New(rand.New(rand.NewPCG(uint64(n), 1)), n, s)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := n, int64(0)
		for range 200000 {
			k := z.Rank()
			if k < 1 || k > n {
				t.Fatalf("n=%d s=%v: rank %d out of [1, n]", n, s, k)
			}
			lo, hi = min(lo, k), max(hi, k)
		}
		if lo != 1 {
			t.Errorf("n=%d s=%v: never drew rank 1", n, s)
		}
		if n <= 3 && hi != n {
			t.Errorf("n=%d s=%v: never drew rank n", n, s)
		}
	}
	f(1, 1)
	f(2, 0.5)
	f(3, 1)
	f(1000, 1)
	f(10_000_000, 1)
	f(10_000_000, 1.1)
	f(10_000_000, 2.5)
}

// The frequencies of the first ranks follow k^-s.
func TestShape(t *testing.T) {
	f := func(n int64, s float64) {
		t.Helper()
		z, _ := New(rand.New(rand.NewPCG(7, 7)), n, s)
		const draws = 1_000_000
		var c [5]float64
		for range draws {
			if k := z.Rank(); k <= 4 {
				c[k]++
			}
		}
		for k := 2; k <= 4; k++ {
			want := math.Pow(float64(k), -s)
			if got := c[k] / c[1]; math.Abs(got-want) > 0.03*want+0.005 {
				t.Errorf("n=%d s=%v: P(%d)/P(1) = %.4f, want %.4f", n, s, k, got, want)
			}
		}
	}
	f(10_000_000, 1)
	f(10_000_000, 1.2)
	f(100, 0.8)
}

func TestBadParams(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		n int64
		s float64
	}{{0, 1}, {10, 0}, {10, -1}, {10, math.NaN()}, {10, math.Inf(1)}} {
		if _, err := New(r, tc.n, tc.s); err == nil {
			t.Errorf("New(%d, %v) accepted", tc.n, tc.s)
		}
	}
}

func BenchmarkRank(b *testing.B) {
	z, _ := New(rand.New(rand.NewPCG(1, 2)), 10_000_000, 1)
	b.ReportAllocs()
	for b.Loop() {
		z.Rank()
	}
}
