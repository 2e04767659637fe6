// Package scenario is clickbench's standard benchmark of a whole clickagg system: it
// starts (or targets) a core and edges, draws a click plan (Zipf-distributed ads,
// varied IPs, countries and users, a share of duplicates and invalid tokens), mints
// the impressions through the core, drives the edges open loop at a fixed rate while
// it measures freshness and query latency, finds the edges' and nginx's ceilings
// closed loop, and finally checks that the core counted exactly what was sent.
//
// Phases, in order: prepare (deploy, plan, register ads, mint), capacity (closed
// loop at the edges), load (open loop; probes and queries alongside), baseline
// (nginx, while the last minute closes), settle (wait until every click is final),
// verify (per-ad counts and top-10 against what was sent), report.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/clickagg/clickagg/bench/internal/report"
)

// Config is one run. The zero value is not valid; start from Defaults.
type Config struct {
	Rate     float64       // main load, clicks per second
	Duration time.Duration // main load
	Ads      int64         // ads the Zipf law ranges over
	ZipfS    float64       // Zipf exponent, > 0
	// DupFraction, InvalidFraction and CrossEdgeDups are shares of the main load's
	// clicks: same-edge duplicates, invalid tokens (half malformed, half with a bad
	// MAC), and duplicates sent to another edge than the first click. The contract
	// counts an impression once whichever edges it is clicked at; CrossEdgeDups
	// defaults to 0 so the exactness check does not depend on cross-edge dedup.
	DupFraction, InvalidFraction, CrossEdgeDups float64
	Users, IPs                                  int // distinct uid cookies and X-Forwarded-For addresses

	// External mode: a running core and edges (all empty: start them in-process).
	CoreURL    string
	EdgeURLs   []string
	AdminToken string
	PIDs       []int // processes whose RSS to report in external mode

	Nginx            string        // "auto" (baseline if nginx is installed) or "off"
	CapacityDuration time.Duration // each closed-loop phase; 0 skips them
	CapacityConns    int
	CapacityTokens   int // impressions minted for the edge capacity phase
	QueryRate        float64
	FreshInterval    time.Duration // between freshness probes at each edge
	Workers          int           // open-loop concurrency (and connections per edge)
	MintWorkers      int
	VerifyMax        int // ads whose counts are checked one by one (a sample beyond)
	Final            string
	Seed             uint64
	Logger           *slog.Logger
}

// Final modes: how the run decides that counts are final before checking them.
const (
	FinalComplete  = "complete"  // complete_through passed the last click's minute (the contract's rule)
	FinalWatermark = "watermark" // every edge's watermark passed the last click (same data, no wait for the minute to close)
)

// Defaults is the standard scenario (under 5 minutes on the 2-core dev machine).
func Defaults() Config {
	return Config{Rate: 3000, Duration: 60 * time.Second, Ads: 10_000_000, ZipfS: 1.0,
		DupFraction: 0.05, InvalidFraction: 0.02, CrossEdgeDups: 0.02, Users: 200_000, IPs: 1 << 20,
		Nginx: "auto", CapacityDuration: 5 * time.Second, CapacityConns: 64, CapacityTokens: 160_000,
		QueryRate: 40, FreshInterval: 250 * time.Millisecond, Workers: 256, MintWorkers: 16,
		VerifyMax: 200_000, Final: FinalComplete, Seed: 1}
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	bad := func(cond bool, format string, args ...any) {
		if cond {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	bad(!(c.Rate > 0), "--rate must be > 0")
	bad(c.Duration <= 0, "--duration must be > 0")
	bad(c.Ads < 1, "--ads must be ≥ 1")
	bad(!(c.ZipfS > 0), "--zipf-s must be > 0")
	for _, f := range []float64{c.DupFraction, c.InvalidFraction, c.CrossEdgeDups} {
		bad(f < 0 || f > 1, "fractions must be in [0, 1]")
	}
	bad(c.DupFraction+c.InvalidFraction+c.CrossEdgeDups >= 1, "duplicate and invalid fractions must leave room for first clicks")
	bad(c.Users < 1 || c.IPs < 1, "--users and --ips must be ≥ 1")
	bad((c.CoreURL == "") != (len(c.EdgeURLs) == 0), "--core and --edges go together")
	bad(c.CoreURL != "" && c.AdminToken == "", "--admin-token is needed with --core")
	bad(len(c.EdgeURLs) > 32, "at most 32 edges")
	bad(c.Nginx != "auto" && c.Nginx != "off", "--nginx must be auto or off")
	bad(c.CapacityDuration < 0 || c.CapacityConns < 1 || c.CapacityTokens < 0, "bad capacity settings")
	bad(c.QueryRate < 0 || c.FreshInterval <= 0, "bad probe settings")
	bad(c.Workers < 1 || c.MintWorkers < 1 || c.VerifyMax < 1, "worker counts must be ≥ 1")
	bad(c.Final != FinalComplete && c.Final != FinalWatermark, "--final must be complete or watermark")
	return errors.Join(errs...)
}

// probes is how many freshness probe tokens each edge needs.
func (c *Config) probes() int { return int(c.Duration/c.FreshInterval) + 5 }

// Run runs the scenario and returns its report. An error means the run could not
// be completed; a completed run whose checks failed returns a report with Passed
// false.
func Run(ctx context.Context, cfg Config) (*report.Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &runner{cfg: &cfg, log: cfg.Logger, res: newResults()}
	defer r.close()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{{"prepare", r.prepare}, {"capacity", r.capacity}, {"load", r.load}, {"baseline", r.baseline},
		{"settle", r.settle}, {"verify", r.verify}}
	for _, s := range steps {
		t := time.Now()
		r.log.Info("phase start", "phase", s.name)
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		r.res.phases = append(r.res.phases, report.Param{Name: s.name, Value: time.Since(t).Round(100 * time.Millisecond).String()})
	}
	return r.report(), nil
}

// runner holds a run's state between phases.
type runner struct {
	cfg    *Config
	log    *slog.Logger
	dep    *inproc // nil in external mode
	tmp    string
	api    *api
	edges  *sender
	nEdges int
	plan   *plan
	res    *results
}

func (r *runner) close() {
	if r.dep != nil {
		r.dep.Close()
	}
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
}

func (r *runner) prepare(ctx context.Context) error {
	addrs, err := r.deploy(ctx)
	if err != nil {
		return err
	}
	r.nEdges = len(addrs)
	r.res.start = time.Now()
	r.edges = newSender(addrs, r.cfg.Workers)
	t := time.Now()
	if r.plan, err = newPlan(r.cfg, r.nEdges); err != nil {
		return err
	}
	r.log.Info("plan drawn", "clicks", len(r.plan.clicks), "ads", len(r.plan.ads), "impressions", len(r.plan.imps), "took", time.Since(t))
	t = time.Now()
	err = r.plan.register(ctx, r.api, r.cfg.MintWorkers, func(done, total int) {
		r.log.Info("registering ads and minting", "done", done, "of", total)
	})
	r.res.register = time.Since(t)
	r.log.Info("ads registered, impressions minted", "took", r.res.register)
	return err
}

// deploy starts the in-process system, or checks the external one, and returns the
// edges' host:port addresses.
func (r *runner) deploy(ctx context.Context) ([]string, error) {
	if r.cfg.CoreURL != "" {
		r.api = newAPI(strings.TrimRight(r.cfg.CoreURL, "/"), r.cfg.AdminToken)
		if _, err := r.api.status(ctx); err != nil {
			return nil, fmt.Errorf("core %s: %w", r.cfg.CoreURL, err)
		}
		var addrs []string
		for _, u := range r.cfg.EdgeURLs {
			u = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(u), "http://"), "/")
			addrs = append(addrs, u)
		}
		return addrs, nil
	}
	dir, err := os.MkdirTemp("", "clickbench-")
	if err != nil {
		return nil, err
	}
	r.tmp = dir
	quiet := r.log.Handler()
	if r.dep, err = startInproc(ctx, dir, 2, slog.New(levelAtLeast{quiet, slog.LevelWarn})); err != nil {
		return nil, err
	}
	r.api = newAPI(r.dep.coreURL(), r.dep.token)
	return r.dep.edgeAddrs(), nil
}

// levelAtLeast keeps the system's own logs to warnings and errors.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(as), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
