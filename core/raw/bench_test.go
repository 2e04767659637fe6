package raw

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/pkg/wire"
)

// BenchmarkSeal seals one minute at the seed's rate (10k clicks/s: 600k records,
// Zipf over 10M ads, 2% cross-edge duplicates): the cross-edge rule, the fraud
// rules, the Parquet write and the recount. It reports records sealed per second.
func BenchmarkSeal(b *testing.B) {
	const perMinute = 600_000
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 10_000_000-1)
	base := time.Now().Truncate(time.Minute).Add(-30 * time.Minute)
	rows := make([]rawfile.Row, perMinute)
	for i := range rows {
		var id [16]byte
		binary.LittleEndian.PutUint64(id[:], rng.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rng.Uint64())
		if i > 0 && rng.IntN(50) == 0 {
			id = rows[rng.IntN(i)].ImpressionID // clicked at another edge too
		}
		rows[i] = rawfile.Row{TimeMs: base.UnixMilli() + int64(i)*60000/perMinute, Edge: fmt.Sprintf("pop-%d", i%4), Seq: uint64(i / 500),
			Outcome: outcomeCounted, ImpressionID: id, ExpiresAt: base.Add(time.Hour).Unix(), AdID: fmt.Sprintf("ad-%d", zipf.Uint64()),
			UserID: fmt.Sprintf("u%d", rng.IntN(1_000_000)), Country: "US", IP: fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))}
	}
	h := startHub(b)
	f := &fakeMerge{prog: map[string]merge.Progress{}, got: map[int64][]wire.Cell{}}
	s := open(b, h, b.TempDir(), f, base.Add(time.Hour))
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mi := base.Unix()/60 + int64(i)
		for j := range rows {
			rows[j].TimeMs = mi*60000 + int64(j)*60000/perMinute
		}
		s.buf[mi] = &pending{rows: rows, minSeq: 1}
		b.StartTimer()
		if err := s.seal(context.Background(), mi, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perMinute)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
