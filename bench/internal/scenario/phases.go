package scenario

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clickagg/clickagg/bench/internal/hist"
	"github.com/clickagg/clickagg/bench/internal/load"
	"github.com/clickagg/clickagg/bench/internal/report"
)

// results are what the phases measured.
type results struct {
	phases   []report.Param
	loadAvg  string    // when the run began
	start    time.Time // before the first click
	register time.Duration

	capacity      load.Result // closed loop at the edges
	capacityTally *tally
	main          load.Result // open loop at the edges
	mainTally     *tally
	slowest       []atomic.Int64 // per second of the main load (by schedule), its slowest click in ns
	probeTally    *tally
	lastClick     time.Time     // every click was answered (or timed out) by then
	merged        chan struct{} // closed when every edge's watermark passed lastClick
	mergedAfter   time.Duration // from lastClick to then
	mergeErr      error         // why the watch gave up (with merged closed)

	fresh       *hist.Histogram
	freshMissed atomic.Int64
	queries     [queryKinds]*queryStats
	merge       mergeStats
	rss         rssStats

	nginx *baselineResult
	check checkResult
}

func newResults() *results {
	res := &results{loadAvg: loadAvg(), capacityTally: newTally(), mainTally: newTally(), probeTally: newTally(), fresh: hist.New()}
	for q := range res.queries {
		res.queries[q] = newQueryStats()
	}
	return res
}

// capacity finds the most full-path redirects per second the edges answer: closed
// loop, CapacityConns connections spread over the edges, each click a new valid
// impression (journal append, PubAck, 302), until the tokens or the time run out.
func (r *runner) capacity(ctx context.Context) error {
	imps := r.plan.capacity
	if r.cfg.CapacityDuration == 0 || len(imps) == 0 {
		return nil
	}
	t := r.res.capacityTally
	r.res.capacity = load.Closed{Conns: r.cfg.CapacityConns, Duration: r.cfg.CapacityDuration, N: len(imps)}.Run(ctx,
		func(conn, i int) {
			imp := &r.plan.imps[imps[i]]
			e := conn % r.nEdges
			start := time.Now()
			rep := r.edges.send(e, imp.path, ipString(uint32(i)), "US", "u"+strconv.Itoa(i%r.cfg.Users))
			t.record(kindFirst, imp, e, rep, time.Since(start))
		})
	r.log.Info("edge capacity", "redirects_per_s", int(r.res.capacity.Rate()), "done", r.res.capacity.Done,
		"failed", t.total(&t.failed), "wrong", t.wrong())
	if r.res.capacity.Done == len(imps) {
		r.log.Warn("capacity phase ran out of tokens before its time; raise --capacity-tokens")
	}
	// Let the merge drain what the burst left before the timed load starts.
	return sleep(ctx, 2*time.Second)
}

// load drives the main open-loop load, with freshness probes, queries and samples
// of the core's merge and memory alongside.
func (r *runner) load(ctx context.Context) error {
	t := r.res.mainTally
	p := r.plan
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	side := []func(context.Context){r.sample}
	if r.cfg.QueryRate > 0 {
		side = append(side, r.queryLoad)
	}
	for e := range r.nEdges {
		side = append(side, func(ctx context.Context) { r.probe(ctx, e) })
	}
	for i, f := range side {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(bg)
			r.log.Debug("side task done", "task", i)
		}()
	}
	r.log.Info("load", "rate", r.cfg.Rate, "duration", r.cfg.Duration, "clicks", len(p.clicks))
	r.res.slowest = make([]atomic.Int64, int(float64(len(p.clicks))/r.cfg.Rate)+1)
	r.res.main = load.Open{Rate: r.cfg.Rate, N: len(p.clicks), Workers: r.cfg.Workers}.Run(ctx, func(i int, at time.Time) {
		c := &p.clicks[i]
		imp := &p.imps[c.imp]
		rep := r.edges.send(int(c.edge), p.path(c, i), ipString(c.ip), countries[c.country].code, "u"+strconv.Itoa(int(c.user)))
		took := time.Since(at)
		t.record(c.kind, imp, int(c.edge), rep, took)
		atomicMax(&r.res.slowest[int(float64(i)/r.cfg.Rate)], int64(took))
	})
	stop()
	wg.Wait()
	r.res.lastClick = time.Now()
	r.res.merged = make(chan struct{})
	go r.watchMerge(ctx)
	all := t.all()
	r.log.Info("load done", "achieved_rate", int(r.res.main.Rate()), "p50", all.QuantileDuration(0.5),
		"p99", all.QuantileDuration(0.99), "p999", all.QuantileDuration(0.999), "failed", t.total(&t.failed),
		"wrong", t.wrong(), "max_dispatch_lag", r.res.main.MaxLag)
	return ctx.Err()
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// slowSeconds describes the n seconds of the main load whose slowest click was
// slowest: when the stalls happened, to line them up with minute boundaries,
// commits or GC.
func (res *results) slowSeconds(n int) string {
	idx := make([]int, len(res.slowest))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(res.slowest[b].Load(), res.slowest[a].Load()) })
	var parts []string
	for _, i := range idx[:min(n, len(idx))] {
		at := res.main.Start.Add(time.Duration(i) * time.Second).UTC()
		parts = append(parts, fmt.Sprintf("%s (second %d) up to %s", at.Format("15:04:05"), i, ms(time.Duration(res.slowest[i].Load()))))
	}
	return strings.Join(parts, "; ")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
