package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clickagg/clickagg/bench/internal/hist"
	"github.com/clickagg/clickagg/bench/internal/load"
)

// pollInterval is how often a freshness probe asks for its ad's count: the
// resolution of the freshness figures (each is at most this much late).
const pollInterval = 10 * time.Millisecond

// probe measures freshness at edge e: every FreshInterval it clicks a new
// impression of an ad of its own (so the expected count is exact whatever the load
// does), while a poller asks for that ad's count every pollInterval. Click k (the
// k-th answered with a 302) is visible once the count reaches k — the edge
// journals clicks in order and the core merges journal ranges in order — and the
// delay from its 302 to then is one sample.
func (r *runner) probe(ctx context.Context, e int) {
	pr := &prober{r: r, e: e}
	done := make(chan struct{})
	go func() { defer close(done); pr.poll(ctx) }()
	next := time.Now()
	for _, idx := range r.plan.probe[e] {
		if sleep(ctx, time.Until(next)) != nil {
			break
		}
		next = next.Add(r.cfg.FreshInterval)
		imp := &r.plan.imps[idx]
		start := time.Now()
		rep := r.edges.send(e, imp.path, "", "", "")
		r.res.probeTally.record(kindFirst, imp, e, rep, time.Since(start))
		if rep.status == 302 {
			pr.answered(time.Now())
		}
	}
	<-done
}

// prober tracks one edge's probe clicks that are not visible yet.
type prober struct {
	r       *runner
	e       int
	mu      sync.Mutex
	clicks  uint64      // answered so far
	pending []time.Time // answer times of clicks seen+1 .. clicks
	seen    uint64      // the count last read
}

func (p *prober) answered(t time.Time) {
	p.mu.Lock()
	p.clicks++
	p.pending = append(p.pending, t)
	p.mu.Unlock()
}

// poll reads the count until ctx ends and nothing is pending (or a pending click
// has waited 30 s: it is counted as missed).
func (p *prober) poll(ctx context.Context) {
	r := p.r
	adID := r.plan.ads[r.plan.imps[r.plan.probe[p.e][0]].ad].id
	q := url.Values{"last": {"5"}}
	for {
		p.mu.Lock()
		n := len(p.pending)
		stale := n > 0 && time.Since(p.pending[0]) > 30*time.Second
		p.mu.Unlock()
		switch {
		case stale:
			r.res.freshMissed.Add(int64(n))
			return
		case n == 0 && ctx.Err() != nil:
			return
		case n > 0:
			if c, err := r.api.count(context.WithoutCancel(ctx), adID, q); err == nil {
				p.resolve(c.Clicks, time.Now())
			}
		}
		time.Sleep(pollInterval)
	}
}

func (p *prober) resolve(count uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.seen < count && len(p.pending) > 0 {
		p.r.res.fresh.RecordDuration(now.Sub(p.pending[0]))
		p.pending = p.pending[1:]
		p.seen++
	}
}

// Query kinds measured during the load.
const (
	qCount      = iota // one ad's clicks over the last 60 minutes
	qTop               // top-10 over the last 60 minutes
	qTopCountry        // the same, for one country
	qFilter            // top-10 by ip or user_id (501 until the raw click store lands)
	queryKinds
)

var queryNames = [queryKinds]string{"count", "top-10", "top-10 by country", "ip/user filter"}

// queryStats are one query kind's latencies and answers. Safe for concurrent use.
type queryStats struct {
	lat    *hist.Histogram
	mu     sync.Mutex
	status map[int]int // HTTP status → answers; 0 for transport errors
}

func newQueryStats() *queryStats { return &queryStats{lat: hist.New(), status: map[int]int{}} }

func (q *queryStats) add(code int, d time.Duration) {
	q.lat.RecordDuration(d)
	q.mu.Lock()
	q.status[code]++
	q.mu.Unlock()
}

func (q *queryStats) count(code int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.status[code]
}

// errors describes the answers other than 200, e.g. "503×2, transport×1".
func (q *queryStats) errors() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(q.status)) {
		switch {
		case code == 200:
		case code == 0:
			parts = append(parts, fmt.Sprintf("transport×%d", q.status[code]))
		default:
			parts = append(parts, fmt.Sprintf("%d×%d", code, q.status[code]))
		}
	}
	return strings.Join(parts, ", ")
}

// queryLoad asks count and top-N queries open loop at QueryRate, rotating the
// kinds, until ctx ends; latency is from each query's scheduled time.
func (r *runner) queryLoad(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, 99))
	n := int(r.cfg.QueryRate * r.cfg.Duration.Seconds())
	qs := make([]url.Values, n)
	ads := make([]string, n)
	cum := countryCDF()
	for i := range qs {
		v := url.Values{"last": {"60"}, "n": {"10"}}
		switch i % queryKinds {
		case qCount:
			c := r.plan.clicks[rnd.IntN(len(r.plan.clicks))] // a Zipf-weighted ad
			ads[i] = r.plan.ads[r.plan.imps[c.imp].ad].id
			v.Del("n")
		case qTopCountry:
			v.Set("country", countries[pickCountry(rnd, cum)].code)
		case qFilter:
			if i%2 == 0 {
				v.Set("ip", ipString(rnd.Uint32N(uint32(r.cfg.IPs))))
			} else {
				v.Set("user_id", "u"+strconv.Itoa(rnd.IntN(r.cfg.Users)))
			}
		}
		qs[i] = v
	}
	load.Open{Rate: r.cfg.QueryRate, N: n, Workers: 16}.Run(ctx, func(i int, at time.Time) {
		var err error
		if i%queryKinds == qCount {
			_, err = r.api.count(ctx, ads[i], qs[i])
		} else {
			_, err = r.api.top(ctx, qs[i])
		}
		r.res.queries[i%queryKinds].add(statusOf(err), time.Since(at))
	})
}

// statusOf is the HTTP status of an api call's error: 200 for none, 0 for a
// transport error.
func statusOf(err error) int {
	var he *httpError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &he):
		return he.Status
	}
	return 0
}

// mergeStats describe the core's merge during the load.
type mergeStats struct {
	mergedStart, mergedEnd uint64
	start, end             time.Time
	maxPending             uint64
	samples                int
}

// rssStats are resident set sizes in bytes: the largest sampled, per process.
type rssStats struct {
	names []string
	max   []int64
	peak  []int64 // VmHWM at the end: the largest ever, sampled or not
}

// sample reads the core's merge counters and the processes' memory every second.
func (r *runner) sample(ctx context.Context) {
	m := &r.res.merge
	pids := r.pids()
	r.res.rss = rssStats{names: pids.names, max: make([]int64, len(pids.pids)), peak: make([]int64, len(pids.pids))}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for first := true; ; first = false {
		if st, err := r.api.status(context.WithoutCancel(ctx)); err == nil {
			if first {
				m.mergedStart, m.start = st.Core.Merge.Merged, time.Now()
			}
			m.mergedEnd, m.end = st.Core.Merge.Merged, time.Now()
			m.maxPending = max(m.maxPending, st.Core.Merge.Pending)
			m.samples++
		}
		for i, pid := range pids.pids {
			if rss, hwm, err := readRSS(pid); err == nil {
				r.res.rss.max[i] = max(r.res.rss.max[i], rss)
				r.res.rss.peak[i] = max(r.res.rss.peak[i], hwm)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
