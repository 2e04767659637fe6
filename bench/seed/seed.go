// Package seed measures the core at the seed's scale: 10M active ads and 10k
// clicks/s for an hour (36M clicks), loaded through the real merge path (partials
// published to the hub stream exactly as sourcing delivers them, merged, committed
// and stored), then queried: one ad's count over 60 minutes, top-10 over 60 minutes
// with and without a country filter, and the process's memory.
//
// The clicks are synthetic but shaped like traffic: ads drawn from a Zipf law,
// countries skewed, one partial per edge per second, every counted click carried
// as a ref for cross-edge dedup, as real edges send them.
package seed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/hub"
	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options size a run. The seed's scale is Ads 10M, Rate 10000, Minutes 60.
type Options struct {
	Dir     string
	Ads     uint64
	Rate    int // clicks per second
	Minutes int
	Edges   int
	ZipfS   float64
	Queries int // of each kind, for the percentiles
	Logger  *slog.Logger
}

// Result is what a run measured.
type Result struct {
	Clicks, Cells, Partials uint64
	Load                    time.Duration // publishing and merging everything
	MergeRate               float64       // clicks merged per second of Load
	Count, Top, TopCountry  Percentiles
	RSSBytes, HeapBytes     uint64
	SettledRSS              uint64        // after the runtime returned freed memory to the OS
	Stop                    time.Duration // a clean stop: the final commit and the impression snapshot
	Restart                 time.Duration // reopening the merger from its commit log
	Rebuild                 time.Duration // then restoring the cross-edge impression set from the snapshot
	Replay                  time.Duration // the same after a crash (no snapshot): replaying the hub stream
}

// Percentiles of a query's latency.
type Percentiles struct{ P50, P99, Max time.Duration }

func pct(d []time.Duration) Percentiles {
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Percentiles{at(0.50), at(0.99), d[len(d)-1]}
}

var countryCodes = []string{"US", "US", "US", "DE", "DE", "GB", "FR", "JP", "BR", "IN", "CA", "AU", "ES", "IT", "NL", "SE", "PL", "MX", "KR", "ZA"}

// Run loads and queries; it takes ~Minutes×Rate/500k seconds of load at the
// merge rates measured here.
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := hub.Start(ctx, hub.Options{Dir: filepath.Join(o.Dir, "nats"), Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer h.Close()
	st, err := store.Open(store.Options{Dir: filepath.Join(o.Dir, "store"), Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer st.Close()
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-time.Duration(o.Minutes) * time.Minute)
	win := window.New()
	mopts := merge.Options{JS: h.JS, Dir: filepath.Join(o.Dir, "merge"), Window: win, Store: st, Logger: o.Logger}
	m, err := merge.Open(mopts)
	if err != nil {
		return res, err
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()

	t0 := time.Now()
	if err := publish(ctx, h.JS, o, start, &res); err != nil {
		stop()
		return res, err
	}
	if err := waitMerged(ctx, m, res.Partials); err != nil {
		stop()
		return res, err
	}
	res.Load = time.Since(t0)
	res.MergeRate = float64(res.Clicks) / res.Load.Seconds()
	tStop := time.Now()
	stop()
	if err := <-done; err != nil {
		return res, err
	}
	res.Stop = time.Since(tStop)
	win.SetClock(func() time.Time { return time.Now().Add(time.Minute) }) // a running core would have settled them
	win.Prepare()
	query(win, o, start, end, &res)
	res.RSSBytes, res.HeapBytes = rss(), heap()
	debug.FreeOSMemory()
	res.SettledRSS = rss()

	if res.Restart, res.Rebuild, err = restart(ctx, mopts); err != nil {
		return res, err
	}
	// A crash leaves no snapshot: the set comes back from the hub stream.
	os.Remove(filepath.Join(mopts.Dir, "imps.snap"))
	if _, res.Replay, err = restart(ctx, mopts); err != nil {
		return res, err
	}
	return res, nil
}

// restart reopens a merger and runs it until its impression set is back, then
// stops it cleanly; it returns how long the two steps took.
func restart(ctx context.Context, mopts merge.Options) (open, ready time.Duration, err error) {
	t1 := time.Now()
	mopts.Window = window.New()
	m2, err := merge.Open(mopts)
	if err != nil {
		return 0, 0, err
	}
	open = time.Since(t1)
	t2 := time.Now()
	rctx, rstop := context.WithCancel(ctx)
	rdone := make(chan error, 1)
	go func() { rdone <- m2.Run(rctx) }()
	select {
	case <-m2.Ready():
		ready = time.Since(t2)
	case err := <-rdone:
		rstop()
		return 0, 0, fmt.Errorf("restarted merger: %w", err)
	}
	rstop()
	return open, ready, <-rdone
}

// publish writes one partial per edge per second of traffic into the hub stream.
func publish(ctx context.Context, js jetstream.JetStream, o Options, start time.Time, res *Result) error {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, o.ZipfS, 1, o.Ads-1)
	seq := make([]uint64, o.Edges)
	var imp uint64
	var buf []byte
	type key struct {
		ad string
		c  [2]byte
	}
	cells := map[key]int{}
	for s := 0; s < o.Minutes*60; s++ {
		sec := start.Add(time.Duration(s) * time.Second)
		for e := 0; e < o.Edges; e++ {
			clear(cells)
			p := wire.Partial{Edge: "e" + strconv.Itoa(e), Epoch: 1, FromSeq: seq[e] + 1, ThroughSeq: seq[e] + 1,
				WatermarkMs: sec.Add(time.Second).UnixMilli()}
			seq[e]++
			n := o.Rate / o.Edges
			for i := 0; i < n; i++ {
				cc := countryCodes[r.IntN(len(countryCodes))]
				k := key{"ad" + strconv.FormatUint(z.Uint64(), 10), [2]byte{cc[0], cc[1]}}
				idx, ok := cells[k]
				if !ok {
					idx = len(p.Cells)
					cells[k] = idx
					p.Cells = append(p.Cells, wire.Cell{Minute: int64(minute.Of(sec)), AdID: k.ad, Country: k.c})
				}
				p.Cells[idx].Clicks++
				imp++
				var id [16]byte
				for b := 0; b < 8; b++ {
					id[b] = byte(imp >> (8 * b))
				}
				p.Refs = append(p.Refs, wire.Ref{ImpressionID: id, TimeMs: sec.UnixMilli() + int64(i%1000),
					ExpiresAt: sec.Add(time.Hour).Unix(), Cell: uint32(idx)})
			}
			res.Clicks += uint64(n)
			res.Cells += uint64(len(p.Cells))
			res.Partials++
			buf = wire.AppendPartial(buf[:0], &p)
			if _, err := js.PublishAsync("clickagg.hub."+wire.PartialsStream, buf, jetstream.WithMsgID(p.MsgID())); err != nil {
				return err
			}
		}
		if s%60 == 59 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	<-js.PublishAsyncComplete()
	return nil
}

func waitMerged(ctx context.Context, m *merge.Merger, partials uint64) error {
	for {
		if st := m.Stats(ctx); st.Merged >= partials {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// query measures count and top-10 latencies over the last 60 loaded minutes.
func query(win *window.Window, o Options, start, end time.Time, res *Result) {
	from, to := int64(minute.Of(end))-60, int64(minute.Of(end))
	from = max(from, int64(minute.Of(start)))
	r := rand.New(rand.NewPCG(3, 4))
	z := rand.NewZipf(r, o.ZipfS, 1, o.Ads-1)
	var count, top, topC []time.Duration
	for i := 0; i < o.Queries; i++ {
		ad := "ad" + strconv.FormatUint(z.Uint64(), 10)
		t := time.Now()
		win.Series(ad, from, to, window.Filter{})
		count = append(count, time.Since(t))
		t = time.Now()
		win.Top(10, from, to, window.Filter{}, nil)
		top = append(top, time.Since(t))
		cc := countryCodes[r.IntN(len(countryCodes))]
		t = time.Now()
		win.Top(10, from, to, window.Filter{Country: window.Country{cc[0], cc[1]}}, nil)
		topC = append(topC, time.Since(t))
	}
	res.Count, res.Top, res.TopCountry = pct(count), pct(top), pct(topC)
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Markdown renders a result as a report table with the goals.
func (r Result) Markdown(o Options) string {
	ok := func(b bool) string {
		if b {
			return "pass"
		}
		return "FAIL"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Core at scale: %d ads (Zipf s=%.2f), %d clicks/s for %d min = %d clicks in %d partials (%d cells), %s, %d CPUs\n\n",
		o.Ads, o.ZipfS, o.Rate, o.Minutes, r.Clicks, r.Partials, r.Cells, runtime.Version(), runtime.NumCPU())
	fmt.Fprintf(&b, "| measure | value | goal | |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| load through the merge | %s (%.0f clicks/s) | keep up with 10k/s | %s |\n", r.Load.Round(time.Millisecond), r.MergeRate, ok(r.MergeRate > 10000))
	fmt.Fprintf(&b, "| count, one ad, 60 min | p50 %s, p99 %s | p99 < 5 ms | %s |\n", r.Count.P50, r.Count.P99, ok(r.Count.P99 < 5*time.Millisecond))
	fmt.Fprintf(&b, "| top-10, 60 min | p50 %s, p99 %s | p99 < 50 ms | %s |\n", r.Top.P50, r.Top.P99, ok(r.Top.P99 < 50*time.Millisecond))
	fmt.Fprintf(&b, "| top-10, 60 min, one country | p50 %s, p99 %s | p99 < 50 ms | %s |\n", r.TopCountry.P50, r.TopCountry.P99, ok(r.TopCountry.P99 < 50*time.Millisecond))
	fmt.Fprintf(&b, "| RSS right after the load (Go heap in use) | %.2f GB (%.2f GB) | | |\n", float64(r.RSSBytes)/1e9, float64(r.HeapBytes)/1e9)
	fmt.Fprintf(&b, "| RSS once freed memory is returned to the OS | %.2f GB | < 4 GB | %s |\n", float64(r.SettledRSS)/1e9, ok(r.SettledRSS < 4e9))
	fmt.Fprintf(&b, "| restart: reopen the hot window from the commit log | %s | | |\n", r.Restart.Round(time.Millisecond))
	fmt.Fprintf(&b, "| clean stop: final commit and impression snapshot | %s | | |\n", r.Stop.Round(time.Millisecond))
	fmt.Fprintf(&b, "| restart after a clean stop: impression set from its snapshot | %s | | |\n", r.Rebuild.Round(time.Millisecond))
	fmt.Fprintf(&b, "| restart after a crash: impression set replayed from the hub stream | %s | | |\n", r.Replay.Round(time.Millisecond))
	return b.String()
}
