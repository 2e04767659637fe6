package scenario

import (
	"fmt"
	"runtime"
	"time"

	"github.com/clickagg/clickagg/bench/internal/report"
)

// Goals, from the issue that asked for this benchmark.
const (
	goalEdgeShare = 0.60 // edge full-path redirects/s ÷ nginx's
	goalFresh     = time.Second
	goalCount     = 5 * time.Millisecond
	goalTop       = 50 * time.Millisecond
	goalFilter    = 100 * time.Millisecond
)

// report turns the results into the report.
func (r *runner) report() *report.Report {
	res := r.res
	rep := &report.Report{Title: "clickbench", Env: r.env()}
	r.params(rep)
	r.edgeFigures(rep)
	r.queryFigures(rep)
	r.checkFigures(rep)
	r.notes(rep)
	for _, p := range res.phases {
		rep.Param("phase "+p.Name, p.Value)
	}
	return rep
}

func (r *runner) env() report.Env {
	e := report.Env{Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: cpuModel(), Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadAvg: r.res.loadAvg}
	if b := r.res.nginx; b != nil {
		e.Nginx = b.version
	}
	return e
}

func (r *runner) params(rep *report.Report) {
	c := r.cfg
	mode := "in-process (core + 2 edges + generator in one process)"
	if r.dep == nil {
		mode = fmt.Sprintf("external (core %s, %d edges)", c.CoreURL, len(c.EdgeURLs))
	}
	rep.Param("mode", mode)
	rep.Param("rate", fmt.Sprintf("%g clicks/s", c.Rate))
	rep.Param("duration", c.Duration)
	rep.Param("ads", c.Ads)
	rep.Param("zipf-s", c.ZipfS)
	rep.Param("dup-fraction", c.DupFraction)
	rep.Param("invalid-fraction", c.InvalidFraction)
	rep.Param("cross-edge-dups", c.CrossEdgeDups)
	rep.Param("users", c.Users)
	rep.Param("ips", c.IPs)
	rep.Param("capacity", fmt.Sprintf("%d conns × %v", c.CapacityConns, c.CapacityDuration))
	rep.Param("query-rate", fmt.Sprintf("%g/s", c.QueryRate))
	rep.Param("final", c.Final)
	rep.Param("seed", c.Seed)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}

func msFigure(name string, d time.Duration, goal time.Duration) report.Figure {
	f := report.Figure{Name: name, Value: float64(d) / 1e6, Unit: "ms", Text: ms(d), Status: report.Info}
	if goal > 0 {
		f.Goal, f.Status = "< "+ms(goal), report.Check(d < goal)
	}
	return f
}

func rateFigure(name string, rate float64) report.Figure {
	return report.Figure{Name: name, Value: rate, Unit: "1/s", Text: fmt.Sprintf("%.0f/s", rate), Status: report.Info}
}

func (r *runner) edgeFigures(rep *report.Report) {
	res, b := r.res, r.res.nginx
	conns := r.cfg.CapacityConns
	if res.capacity.Done > 0 {
		rep.Add(rateFigure(fmt.Sprintf("edge redirects/s, full path, closed loop (%d conns)", conns), res.capacity.Rate()))
	}
	switch {
	case b == nil || b.skipped != "":
		why := "n/a (nginx skipped)"
		if b != nil {
			why = b.skipped
		}
		rep.Add(report.Figure{Name: "nginx `return 302` redirects/s", Text: why, Status: report.NA})
		rep.Add(report.Figure{Name: "edge ÷ nginx", Text: why, Goal: "≥ 60%", Status: report.NA})
	case b.capacity.Done > 0:
		rep.Add(rateFigure(fmt.Sprintf("nginx `return 302` redirects/s, closed loop (%d conns)", conns), b.capacity.Rate()))
		share := res.capacity.Rate() / b.capacity.Rate()
		rep.Add(report.Figure{Name: "edge ÷ nginx", Value: share * 100, Unit: "%", Text: fmt.Sprintf("%.0f%%", share*100),
			Goal: "≥ 60%", Status: report.Check(share >= goalEdgeShare)})
	}
	all := res.mainTally.all()
	rate := fmt.Sprintf("%g/s", r.cfg.Rate)
	rep.Add(rateFigure(fmt.Sprintf("edge redirects/s achieved, open loop at %s", rate), res.main.Rate()))
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}} {
		rep.Add(msFigure(fmt.Sprintf("edge latency %s at %s (all clicks, from schedule)", q.name, rate), all.QuantileDuration(q.q), 0))
	}
	rep.Add(msFigure("edge latency p99 at "+rate+", first clicks only (journal + PubAck)", res.mainTally.latency[kindFirst].QuantileDuration(0.99), 0))
	if b != nil && b.skipped == "" && b.open.Done > 0 {
		rep.Add(msFigure(fmt.Sprintf("nginx latency p99 at %s (%v)", rate, min(r.cfg.Duration, baselineOpen)), b.tally.all().QuantileDuration(0.99), 0))
	}
	rep.Add(msFigure("freshness p50 (302 → visible in the count)", res.fresh.QuantileDuration(0.5), 0))
	rep.Add(msFigure("freshness p99", res.fresh.QuantileDuration(0.99), goalFresh))
}

func (r *runner) queryFigures(rep *report.Report) {
	qs := r.res.queries
	name := func(k int) string {
		return fmt.Sprintf("%s query p99 (last 60 min, %d Zipf-drawn ads in the window)", queryNames[k], r.plan.drawn)
	}
	if r.cfg.QueryRate == 0 {
		return
	}
	for _, k := range []int{qCount, qTop, qTopCountry} {
		goal := goalTop
		if k == qCount {
			goal = goalCount
		}
		f := msFigure(name(k), qs[k].lat.QuantileDuration(0.99), goal)
		if n := qs[k].lat.Count() - uint64(qs[k].count(200)); n > 0 {
			f.Text += fmt.Sprintf(" (%d errors: %s)", n, qs[k].errors())
			f.Status = report.Fail
		}
		rep.Add(f)
	}
	f := qs[qFilter]
	switch {
	case f.lat.Count() > 0 && f.count(501) == int(f.lat.Count()):
		rep.Add(report.Figure{Name: "ip / user filter query p99", Text: "n/a (501)", Goal: "< 100 ms", Status: report.NA})
	default:
		fig := msFigure("ip / user filter query p99", f.lat.QuantileDuration(0.99), goalFilter)
		if n := f.lat.Count() - uint64(f.count(200)); n > 0 {
			fig.Text += fmt.Sprintf(" (%d not 200)", n)
			fig.Status = report.Fail
		}
		rep.Add(fig)
	}
	m := r.res.merge
	if d := m.end.Sub(m.start).Seconds(); d > 0 {
		counted := float64(r.res.mainTally.redirected[kindFirst].Load())
		rep.Add(report.Figure{Name: "core merge rate during the load", Value: counted / r.res.main.End.Sub(r.res.main.Start).Seconds(), Unit: "clicks/s",
			Text: fmt.Sprintf("%.0f clicks/s in %.1f partials/s; backlog ≤ %d partials", counted/r.res.main.End.Sub(r.res.main.Start).Seconds(),
				float64(m.mergedEnd-m.mergedStart)/d, m.maxPending), Status: report.Info})
	}
	for i, n := range r.res.rss.names {
		rep.Add(report.Figure{Name: "RSS, " + n, Value: float64(r.res.rss.peak[i]) / (1 << 20), Unit: "MiB",
			Text: fmt.Sprintf("%d MiB peak (%d MiB during the load)", r.res.rss.peak[i]>>20, r.res.rss.max[i]>>20), Status: report.Info})
	}
}

func (r *runner) checkFigures(rep *report.Report) {
	c := r.res.check
	count := func(name string, v uint64, goal string) {
		rep.Add(report.Figure{Name: name, Value: float64(v), Text: fmt.Sprint(v), Goal: goal, Status: report.Check(v == 0), Correctness: true})
	}
	what := fmt.Sprintf("all %d ads", c.ads)
	if c.checked < c.ads {
		what = fmt.Sprintf("%d of %d ads", c.checked, c.ads)
	}
	rep.Add(report.Figure{Name: "clicks counted ÷ valid distinct impressions answered 302 (" + what + ")", Value: float64(c.got),
		Text: fmt.Sprintf("%d / %d", c.got, c.expected), Goal: "equal", Status: report.Check(c.lost == 0 && c.double == 0 && c.queryErrors == 0), Correctness: true})
	count("lost clicks", c.lost, "0")
	dbl := report.Figure{Name: "double-counted clicks", Value: float64(c.double), Text: fmt.Sprint(c.double), Goal: "0", Status: report.Check(c.double == 0), Correctness: true}
	if c.crossEdge > 0 {
		dbl.Text += fmt.Sprintf(" (%d of them impressions answered at two edges: cross-edge dedup missed them)", c.crossEdge)
	}
	rep.Add(dbl)
	var wrong uint64
	for _, t := range []*tally{r.res.mainTally, r.res.capacityTally, r.res.probeTally} {
		wrong += t.wrong()
	}
	count("answers against the contract (valid not 302, invalid not 400/403)", wrong, "0")
	if c.topChecked {
		st, text := report.Pass, "exact"
		if c.top != "" {
			st, text = report.Fail, c.top
		}
		rep.Add(report.Figure{Name: "top-10 over the run equals the one from what was sent", Text: text, Goal: "exact", Status: st, Correctness: true})
	}
}

func (r *runner) notes(rep *report.Report) {
	res, c, p := r.res, r.res.check, r.plan
	t := res.mainTally
	rep.Note("Ads: the Zipf law ranges over %d ads; only the %d it drew are registered (PUT /v1/ads one by one for all would take longer than the run), in %v together with minting %d impressions (POST /v1/impressions, up to %d each). Top-N therefore runs over the ads that were clicked, as it would with 10M registered ads.",
		r.cfg.Ads, p.drawn, res.register.Round(100*time.Millisecond), len(p.imps), maxMint)
	rep.Note("Main load: %d clicks sent (%s); %d answered 302, %d rejected 400/403, %d failed (%s); generator dispatch lag ≤ %v. Latency counts from each click's scheduled time (coordinated omission corrected). Slowest seconds (UTC, by schedule): %s.",
		t.total(&t.sent), kindsSent(t), t.total(&t.redirected), t.total(&t.rejected), t.total(&t.failed), failure(t), res.main.MaxLag.Round(time.Millisecond),
		res.slowSeconds(3))
	capNote := fmt.Sprintf("Capacity (full path): closed loop, each click a new valid impression. Generator, core and edges share the machine's %d cores", runtime.NumCPU())
	if b := res.nginx; b != nil && b.skipped == "" {
		capNote += fmt.Sprintf("; nginx (%d workers) gets the same requests from the same generator", runtime.NumCPU())
	}
	rep.Note("%s.", capNote)
	rep.Note("Freshness: %d probe clicks during the load (one per %v per edge on an ad of its own, its count polled every %v, so each figure is up to %v late); %d never became visible in 30 s.",
		res.fresh.Count(), r.cfg.FreshInterval, pollInterval, pollInterval, res.freshMissed.Load())
	complete := "not awaited (--final watermark)"
	if r.cfg.Final == FinalComplete {
		complete = "passed the last click's minute " + c.completeAfter.Round(10*time.Millisecond).String() + " after it"
	}
	rep.Note("Correctness: every edge's watermark passed the last click %v after it (all merged); complete_through %s. %d impressions were clicked without an answer (either count is accepted for them). Cross-edge duplicates: %d (--cross-edge-dups %g), each to be counted once.",
		res.mergedAfter.Round(10*time.Millisecond), complete, c.unsure, t.sent[kindCrossDup].Load(), r.cfg.CrossEdgeDups)
	if c.top != "" && !c.topChecked {
		rep.Note("Top-10 exactness check %s.", c.top)
	}
	if r.dep != nil {
		rep.Note("Memory: core and both edges run in the clickbench process (with the generator), so one RSS covers them all.")
	}
}

func kindsSent(t *tally) string {
	s := ""
	for k := range kinds {
		if n := t.sent[k].Load(); n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%d %s", n, kindNames[k])
		}
	}
	return s
}

func failure(t *tally) string {
	if t.total(&t.failed) == 0 {
		return "none"
	}
	return "last: " + t.err().Error()
}
