package load

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clickagg/clickagg/bench/internal/hist"
)

// A server that stalls for 200 ms once: the open loop keeps scheduling, so the
// requests due during the stall show the stall in their latency.
func TestOpenCountsStalls(t *testing.T) {
	h := hist.New()
	var calls atomic.Int64
	o := Open{Rate: 1000, N: 500, Workers: 1, Latency: h}
	res := o.Run(context.Background(), func(i int, _ time.Time) {
		calls.Add(1)
		if i == 100 {
			time.Sleep(200 * time.Millisecond)
		}
	})
	if res.Done != 500 || calls.Load() != 500 {
		t.Fatalf("done %d calls %d", res.Done, calls.Load())
	}
	// ~200 requests were due during the stall: well over 10% saw ≥ 50 ms.
	if p90 := h.QuantileDuration(0.9); p90 < 20*time.Millisecond {
		t.Fatalf("p90 %v: the stall was omitted", p90)
	}
	if d := res.End.Sub(res.Start); d < 450*time.Millisecond || d > 3*time.Second {
		t.Fatalf("run took %v for 500 requests at 1000/s", d)
	}
}

func TestOpenStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := Open{Rate: 100, N: 1000, Workers: 4}.Run(ctx, func(int, time.Time) {})
	if res.Done > 50 {
		t.Fatalf("did %d requests after cancel", res.Done)
	}
}

func TestClosed(t *testing.T) {
	seen := make([]atomic.Int32, 1000)
	res := Closed{Conns: 4, Duration: 5 * time.Second, N: 1000}.Run(context.Background(), func(conn, i int) {
		if conn < 0 || conn >= 4 {
			t.Errorf("conn %d", conn)
		}
		seen[i].Add(1)
	})
	if res.Done != 1000 {
		t.Fatalf("done %d", res.Done)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("request %d done %d times", i, seen[i].Load())
		}
	}
	res = Closed{Conns: 2, Duration: 50 * time.Millisecond}.Run(context.Background(), func(int, int) { time.Sleep(time.Millisecond) })
	if res.End.Sub(res.Start) > time.Second || res.Done == 0 || res.Rate() <= 0 {
		t.Fatalf("duration-bound run: %+v", res)
	}
}
