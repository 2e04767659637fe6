package scenario

import (
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clickagg/clickagg/pkg/minute"
)

// settleTimeout bounds the wait for the last clicks to become final.
const settleTimeout = 3 * time.Minute

// watchMerge records when every edge's merged watermark passes the last click
// (all clicks are merged), while the baseline runs; it gives up after
// settleTimeout.
func (r *runner) watchMerge(ctx context.Context) {
	defer close(r.res.merged)
	last := r.res.lastClick
	deadline := last.Add(settleTimeout)
	for {
		marks, err := r.api.edgeMarks(ctx)
		if err == nil && allAfter(marks, last, r.nEdges) {
			r.res.mergedAfter = time.Since(last)
			return
		}
		if time.Now().After(deadline) {
			r.res.mergeErr = fmt.Errorf("edge watermarks %v did not pass the last click %v within %v (err %v)", marks, last, settleTimeout, err)
			return
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			r.res.mergeErr = err
			return
		}
	}
}

// settle waits until every click is merged and, with Final "complete", until
// complete_through has passed the last click's minute (the contract's word that
// counts are final).
func (r *runner) settle(ctx context.Context) error {
	<-r.res.merged
	if r.res.mergeErr != nil {
		return r.res.mergeErr
	}
	if r.cfg.Final != FinalComplete {
		return nil
	}
	last := r.res.lastClick
	want := minute.Of(last).Time().Add(time.Minute)
	deadline := last.Add(settleTimeout)
	for {
		st, err := r.api.status(ctx)
		ct, perr := time.Parse(time.RFC3339, st.CompleteThrough)
		if err == nil && perr == nil && !ct.Before(want) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("complete_through %q did not reach %v within %v (err %v)", st.CompleteThrough, want, settleTimeout, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	r.res.check.completeAfter = time.Since(last)
	return nil
}

func allAfter(marks map[string]time.Time, t time.Time, n int) bool {
	if len(marks) < n {
		return false
	}
	for _, m := range marks {
		if !m.After(t) {
			return false
		}
	}
	return true
}

// checkResult compares what the core counts with what was sent.
type checkResult struct {
	completeAfter time.Duration // from the last click
	ads, checked  int
	expected, got uint64 // summed over the checked ads
	lost, double  uint64
	crossEdge     uint64 // of double: impressions answered at more than one edge
	unsure        uint64 // impressions clicked without an answer: either count is right
	queryErrors   int
	top           string // "", or why the top-10 check failed or was skipped
	topChecked    bool
}

// want is what one ad must count: exactly min, or up to min+unsure when clicks
// went unanswered; perEdge is what a core without cross-edge dedup counts.
type want struct{ min, unsure, perEdge uint64 }

func (r *runner) expected() []want {
	w := make([]want, len(r.plan.ads))
	for i := range r.plan.imps {
		imp := &r.plan.imps[i]
		a, u := imp.answered.Load(), imp.unsure.Load()
		if a != 0 {
			w[imp.ad].min++
		} else if u != 0 {
			w[imp.ad].unsure++
		}
		w[imp.ad].perEdge += uint64(bits.OnesCount32(a))
	}
	return w
}

// verify asks the core for each ad's count over the run's minutes and compares.
func (r *runner) verify(ctx context.Context) error {
	c := &r.res.check
	w := r.expected()
	ads := r.adsToCheck(w)
	c.ads, c.checked = len(r.plan.ads), len(ads)
	q := url.Values{"from": {strconv.FormatInt(minute.Of(r.res.start).Unix(), 10)},
		"to": {strconv.FormatInt(minute.Of(r.res.lastClick).Unix()+60, 10)}}
	got := make([]uint64, len(ads))
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(ads); i = int(next.Add(1) - 1) {
				a, err := r.api.count(ctx, r.plan.ads[ads[i]].id, q)
				if err != nil {
					errs.Add(1)
					r.log.Error("verify: count", "ad", r.plan.ads[ads[i]].id, "err", err)
				}
				got[i] = a.Clicks
			}
		}()
	}
	wg.Wait()
	c.queryErrors = int(errs.Load())
	for i, a := range ads {
		e, g := w[a], got[i]
		c.expected += e.min
		c.got += g
		c.unsure += e.unsure
		if g < e.min {
			c.lost += e.min - g
		}
		if g > e.min+e.unsure {
			d := g - e.min - e.unsure
			c.double += d
			c.crossEdge += min(d, e.perEdge-e.min)
		}
	}
	r.checkTop(ctx, w, q)
	return ctx.Err()
}

// adsToCheck is every ad, or when there are more than VerifyMax, the 100 with the
// most clicks and a random sample of the rest.
func (r *runner) adsToCheck(w []want) []int {
	all := make([]int, len(w))
	for i := range all {
		all[i] = i
	}
	if len(all) <= r.cfg.VerifyMax {
		return all
	}
	slices.SortFunc(all, func(a, b int) int { return int(w[b].min) - int(w[a].min) })
	rest := all[100:]
	rand.New(rand.NewPCG(r.cfg.Seed, 3)).Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return all[:r.cfg.VerifyMax]
}

// checkTop compares the core's top-10 over the run with the one computed from what
// was sent, when it is exactly known and this run owns the core.
func (r *runner) checkTop(ctx context.Context, w []want, q url.Values) {
	c := &r.res.check
	switch {
	case r.dep == nil:
		c.top = "skipped: an external core may hold other ads"
		return
	case c.unsure > 0:
		c.top = "skipped: unanswered clicks make it inexact"
		return
	}
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	ads := r.plan.ads
	slices.SortFunc(idx, func(a, b int) int {
		if w[a].min != w[b].min {
			return int(w[b].min) - int(w[a].min)
		}
		if ads[a].id < ads[b].id {
			return -1
		}
		return 1
	})
	q = url.Values{"from": q["from"], "to": q["to"], "n": {"10"}}
	t, err := r.api.top(ctx, q)
	c.topChecked = true
	if err != nil {
		c.top = err.Error()
		return
	}
	var gotS, wantS string
	for i := 0; i < 10 && i < len(idx); i++ {
		wantS += fmt.Sprintf("%s=%d ", ads[idx[i]].id, w[idx[i]].min)
	}
	for _, a := range t.Ads {
		gotS += fmt.Sprintf("%s=%d ", a.AdID, a.Clicks)
	}
	if gotS != wantS {
		c.top = fmt.Sprintf("top-10 is %s, want %s", gotS, wantS)
	}
}
