package rawfile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"
	"time"
)

// The benchmarks use the seed's scale: 10k clicks/s, so 600k rows per sealed minute,
// ads drawn Zipf-like from 10M, random IPv4 (1 in 10 IPv6) and 2M users (1 in 5
// clicks without a user id).

const (
	benchRowsPerMinute = 600_000
	benchAds           = 10_000_000
	benchUsers         = 2_000_000
	benchMinutes       = 60
)

var benchCountries = []string{"US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "PL", "SE", "MX", "KR", "AU", "ZZ"}

// benchGen makes realistic click rows.
type benchGen struct {
	rng  *rand.Rand
	zipf *rand.Zipf
}

func newBenchGen(seed uint64) *benchGen {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &benchGen{rng: rng, zipf: rand.NewZipf(rng, 1.07, 2, benchAds-1)}
}

// minute fills rows with one minute of clicks, in arrival order.
func (g *benchGen) minute(rows []Row, minute int64) {
	r := g.rng
	for i := range rows {
		row := &rows[i]
		*row = Row{
			TimeMs:    minute*60_000 + int64(i)*60_000/int64(len(rows)),
			Edge:      [...]string{"pop-a", "pop-b", "pop-c"}[r.IntN(3)],
			Seq:       uint64(minute*1000 + int64(i/64)),
			Outcome:   "counted",
			ExpiresAt: minute*60 + 3600 + r.Int64N(3600),
			AdID:      fmt.Sprintf("ad-%07d", g.zipf.Uint64()),
			Country:   benchCountries[r.IntN(len(benchCountries))],
			Counted:   true,
		}
		for j := range row.ImpressionID {
			row.ImpressionID[j] = byte(r.Uint32())
		}
		if r.IntN(5) != 0 {
			row.UserID = fmt.Sprintf("u-%d", r.IntN(benchUsers))
		}
		if r.IntN(10) == 0 {
			var a [16]byte
			for j := range a {
				a[j] = byte(r.Uint32())
			}
			row.IP = netip.AddrFrom16(a).String()
		} else {
			row.IP = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}).String()
		}
		switch n := r.IntN(100); {
		case n < 3:
			row.Outcome, row.Counted = "duplicate", false
		case n < 5:
			row.Outcome, row.Counted, row.Reason, row.Score = "filtered", false, uint32(1+r.IntN(5)), uint32(r.IntN(1001))
		case n < 6:
			row.Outcome, row.Counted = "expired", false
		case n < 7:
			row.Counted, row.Fraud = false, "burst"
		}
		if r.IntN(4) == 0 {
			row.Labels = "campaign=c" + fmt.Sprint(r.IntN(50))
		}
	}
}

func benchMinute0() int64 {
	return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Unix() / 60
}

// BenchmarkWriteMinute writes one sealed minute of 600k rows (unsorted input).
func BenchmarkWriteMinute(b *testing.B) {
	f := openT(b, b.TempDir())
	rows := make([]Row, benchRowsPerMinute)
	newBenchGen(1).minute(rows, benchMinute0())
	b.ReportAllocs()
	b.SetBytes(int64(len(rows))) // "MB/s" reads as millions of rows per second
	for b.Loop() {
		if err := f.WriteMinute(benchMinute0(), rows); err != nil {
			b.Fatal(err)
		}
	}
	st := f.Stats()
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(st.Bytes)/float64(st.Rows), "disk-B/row")
}

// BenchmarkScan looks up one IP, one user and one ad over 60 minute files (36M
// rows, one hour at 10k clicks/s). Building the data takes about a minute.
func BenchmarkScan(b *testing.B) {
	f := openT(b, b.TempDir())
	m0 := benchMinute0()
	g := newBenchGen(2)
	rows := make([]Row, benchRowsPerMinute)
	var probe Row
	for m := range int64(benchMinutes) {
		g.minute(rows, m0+m)
		if m == benchMinutes/2 {
			probe = rows[12345]
		}
		if err := f.WriteMinute(m0+m, rows); err != nil {
			b.Fatal(err)
		}
	}
	rows = nil
	st := f.Stats()
	b.Logf("60 minute files: %d rows, %.1f MB, %.1f bytes/row", st.Rows, float64(st.Bytes)/1e6, float64(st.Bytes)/float64(st.Rows))
	for _, c := range []struct {
		name string
		p    Pred
	}{
		{"ip", Pred{IP: probe.IP}},
		{"user", Pred{UserID: probe.UserID}},
		{"ad", Pred{AdID: probe.AdID}},
		{"country", Pred{Country: "ZZ"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var found int
			before := f.Stats()
			b.ReportAllocs()
			for b.Loop() {
				found = 0
				err := f.Scan(context.Background(), m0, m0+60, c.p, func(*Row) error { found++; return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			after := f.Stats()
			n := float64(b.N)
			b.ReportMetric(float64(st.Rows)*n/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(found), "found")
			b.ReportMetric(float64(after.DecodedRowGroups-before.DecodedRowGroups)/n, "decoded-groups/op")
			b.ReportMetric(float64(after.ScannedRowGroups-before.ScannedRowGroups)/n, "groups/op")
		})
	}
}

// BenchmarkCompactHour merges 60 minute files of 20k rows (1.2M rows; a full hour at
// 10k clicks/s is 30 times that) into one compacted file.
func BenchmarkCompactHour(b *testing.B) {
	const perMinute = 20_000
	src := b.TempDir()
	f := openT(b, src)
	g := newBenchGen(3)
	rows := make([]Row, perMinute)
	m0 := benchMinute0()
	for m := range int64(60) {
		g.minute(rows, m0+m)
		if err := f.WriteMinute(m0+m, rows); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
			b.Fatal(err)
		}
		f := openT(b, dir)
		b.StartTimer()
		if err := f.Compact(m0 + 60); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := f.Stats(); st.Files != 1 || st.Rows != 60*perMinute {
			b.Fatalf("after compaction: %+v", st)
		}
		f.Close()
		b.StartTimer()
	}
	b.ReportMetric(60*perMinute*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
