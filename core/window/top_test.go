package window

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var countries = []Country{{'U', 'S'}, {'D', 'E'}, {'F', 'R'}, {'J', 'P'}}

// fill adds clicks drawn from a Zipf law over ads to minutes [0, minutes), with the
// clock at t; the last `fresh` minutes are written last, so they count as changing.
func fill(w *Window, r *rand.Rand, minutes, perMinute int, ads uint64, s float64) {
	z := rand.NewZipf(r, s, 1, ads-1)
	for m := 0; m < minutes; m++ {
		for i := 0; i < perMinute; i++ {
			w.Add(int64(m), fmt.Sprintf("ad%06d", z.Uint64()), countries[r.IntN(len(countries))], 1+uint64(r.IntN(2)))
		}
	}
}

// The threshold algorithm answers exactly what summing every cell answers.
func TestTopMatchesScan(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		now := time.Unix(1e9, 0)
		w := New()
		w.SetClock(func() time.Time { return now })
		fill(w, r, 12, 400, 2000, 1.1+float64(seed%3)/5)
		now = now.Add(time.Minute) // minutes 0..11 are settled
		w.Add(11, "ad000001", countries[0], 5)
		w.Add(12, "late-only", countries[1], 10_000) // changing minutes
		w.Add(13, "ad000002", countries[2], 3)
		for _, tc := range []struct {
			n        int
			from, to int64
			c        Country
			allow    func(string) bool
		}{
			{10, 0, 14, Country{}, nil},
			{1, 0, 14, Country{}, nil},
			{25, 3, 9, Country{}, nil},
			{10, 0, 14, countries[1], nil},
			{10, 12, 14, Country{}, nil}, // only changing minutes
			{7, 0, 12, countries[3], func(ad string) bool { return ad[len(ad)-1]%2 == 0 }},
			{1000, 0, 14, Country{}, nil}, // more than there are
			{5, 20, 30, Country{}, nil},   // empty
		} {
			got := w.Top(tc.n, tc.from, tc.to, Filter{Country: tc.c}, tc.allow)
			want := w.topScan(tc.n, tc.from, tc.to, Filter{Country: tc.c}, tc.allow)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d n=%d [%d,%d) %v:\n got %v\nwant %v", seed, tc.n, tc.from, tc.to, tc.c, head(got), head(want))
			}
		}
		among := w.TopAmong(3, 0, 14, Filter{}, []string{"ad000001", "ad000003", "late-only", "nope"})
		want := w.topScan(3, 0, 14, Filter{}, func(ad string) bool { return ad == "ad000001" || ad == "ad000003" || ad == "late-only" })
		if !reflect.DeepEqual(among, want) {
			t.Fatalf("TopAmong %v, want %v", among, want)
		}
	}
}

// Ties are broken by ad id even when the threshold equals the N-th total.
func TestTopTies(t *testing.T) {
	now := time.Unix(1e9, 0)
	w := New()
	w.SetClock(func() time.Time { return now })
	for _, ad := range []string{"d", "c", "b", "a"} {
		w.Add(1, ad, countries[0], 5)
		w.Add(2, ad, countries[0], 5)
	}
	now = now.Add(time.Hour)
	if got := fmt.Sprint(w.Top(2, 0, 3, Filter{}, nil)); got != "[{a 10} {b 10}]" {
		t.Fatalf("ties: %s", got)
	}
}

func head(a []AdCount) []AdCount { return a[:min(len(a), 5)] }

// BenchmarkTop compares the threshold algorithm with the full scan over 60
// minutes of Zipf traffic: 60k clicks a minute over 1M ads (the seed's 10k/s
// over 10M ads is in bench/).
func BenchmarkTop(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1e9, 0)
	w := New()
	w.SetClock(func() time.Time { return now })
	fill(w, r, 60, 60_000, 1_000_000, 1.1)
	now = now.Add(time.Hour)
	w.Prepare() // rank the minutes once, as a running core's merger does
	for _, bc := range []struct {
		name string
		c    Filter
		f    func(int, int64, int64, Filter, func(string) bool) []AdCount
	}{
		{"threshold", Filter{}, w.Top}, {"threshold-country", Filter{Country: countries[0]}, w.Top},
		{"scan", Filter{}, w.topScan}, {"scan-country", Filter{Country: countries[0]}, w.topScan},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f(10, 0, 60, bc.c, nil)
			}
		})
	}
}
