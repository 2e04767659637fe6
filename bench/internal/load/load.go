// Package load drives requests at a target: open loop (a fixed arrival rate, the
// way real users arrive, with latency measured from each request's scheduled time
// so that a stalled server cannot hide its stall — no coordinated omission) and
// closed loop (a fixed number of connections sending back to back, to find the
// most a server can answer). It knows nothing about HTTP: callers pass a function
// that performs request i.
package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clickagg/clickagg/bench/internal/hist"
)

// Open describes an open-loop run: N requests, request i scheduled at
// Start + i/Rate, performed by a pool of Workers.
type Open struct {
	Rate    float64 // requests per second, > 0
	N       int     // how many requests
	Workers int     // concurrent requests at most; when all are busy, requests queue and their latency grows
	// Latency receives, per request, the time from its scheduled start to its
	// completion, in nanoseconds (nil: not recorded). do gets the scheduled time
	// too, to record finer histograms of its own.
	Latency *hist.Histogram
}

// Result summarizes a run.
type Result struct {
	Start, End time.Time
	Done       int // requests performed (fewer than N when ctx ended early)
	// MaxLag is how far behind schedule the dispatcher fell (the generator itself
	// could not keep up when this is large; every lag is in the latencies anyway).
	MaxLag time.Duration
}

// Rate is the achieved throughput in requests per second.
func (r Result) Rate() float64 {
	if d := r.End.Sub(r.Start).Seconds(); d > 0 {
		return float64(r.Done) / d
	}
	return 0
}

type job struct {
	i  int
	at time.Time
}

// Run performs request i by calling do(i, scheduled) for every i in [0, N) on
// schedule, until done or ctx ends. do must be safe for concurrent use.
func (o Open) Run(ctx context.Context, do func(i int, scheduled time.Time)) Result {
	workers := max(1, o.Workers)
	jobs := make(chan job, workers)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				do(j.i, j.at)
				if o.Latency != nil {
					o.Latency.RecordDuration(time.Since(j.at))
				}
				done.Add(1)
			}
		}()
	}
	res := Result{Start: time.Now()}
	interval := float64(time.Second) / o.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
loop:
	for i := 0; i < o.N; i++ {
		at := res.Start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		} else {
			res.MaxLag = max(res.MaxLag, -d)
		}
		select {
		case jobs <- job{i, at}: // blocks when every worker is busy; the request's clock is already running
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	res.End, res.Done = time.Now(), int(done.Load())
	return res
}

// Closed describes a closed-loop run: Conns goroutines each perform requests back
// to back until Duration has passed or N requests were taken (N ≤ 0: no limit).
type Closed struct {
	Conns    int
	Duration time.Duration
	N        int
	// Latency receives each request's service time in nanoseconds (nil: not recorded).
	Latency *hist.Histogram
}

// Run calls do(conn, i) with a unique, increasing i; conn is the goroutine's number
// in [0, Conns), so callers can pin a goroutine to a target.
func (o Closed) Run(ctx context.Context, do func(conn, i int)) Result {
	var next, done atomic.Int64
	res := Result{Start: time.Now()}
	deadline := res.Start.Add(o.Duration)
	var wg sync.WaitGroup
	for c := range max(1, o.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if o.N > 0 && i >= o.N {
					return
				}
				t := time.Now()
				do(c, i)
				if o.Latency != nil {
					o.Latency.RecordDuration(time.Since(t))
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	res.End, res.Done = time.Now(), int(done.Load())
	return res
}
