package store

import (
	"fmt"
	"testing"
)

// BenchmarkPut writes batches of 100 points to 1000 existing series (one minute, 100
// ads per batch, values growing), the steady state of the core's flusher.
func BenchmarkPut(b *testing.B) {
	const ads, batch = 1000, 100
	s := openT(b, b.TempDir())
	m := dayStart()
	ids := make([]string, ads)
	for i := range ids {
		ids[i] = fmt.Sprintf("ad-%04d", i)
		mustPut(b, s, Point{"clicks", ids[i], m, 0})
	}
	s.Flush()
	pts := make([]Point, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range pts {
			pts[j] = Point{"clicks", ids[(i*batch+j)%ads], m + int64(i/ads%1440), uint64(i)}
		}
		if err := s.Put(pts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/point")
}

// BenchmarkSeries reads one day (1440 minutes, one sample each) of one series out of
// 100, all flushed.
func BenchmarkSeries(b *testing.B) {
	s := openT(b, b.TempDir())
	d := dayStart()
	for a := range 100 {
		pts := make([]Point, 1440)
		for i := range pts {
			pts[i] = Point{"clicks", fmt.Sprint("ad", a), d + int64(i), uint64(i)}
		}
		mustPut(b, s, pts...)
	}
	s.Flush()
	for _, r := range []struct {
		name string
		to   int64
	}{{"1h", d + 60}, {"1d", d + 1440}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				got, err := s.Series("clicks", fmt.Sprint("ad", i%100), d, r.to)
				if err != nil || len(got) != int(r.to-d) {
					b.Fatalf("Series: %d minutes, %v", len(got), err)
				}
			}
		})
	}
	b.Run("stats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Stats()
		}
	})
}
