// Command clickbench is clickagg's load generator and benchmark runner. By default
// it starts a core and two edges in-process (in a temp dir), runs the standard
// scenario — open-loop clicks at a fixed rate over Zipf-distributed ads, freshness
// probes, count and top-N queries, closed-loop ceilings of the edges and of nginx's
// bare `return 302` — checks that the final counts equal what was sent, and writes
// latest.md and latest.json into --out:
//
//	go run ./bench/cmd/clickbench                  # the standard scenario, < 5 min
//	go run ./bench/cmd/clickbench --rate 500 --duration 10s --nginx off
//	go run ./bench/cmd/clickbench --core http://127.0.0.1:8090 \
//	    --edges http://127.0.0.1:8080,http://127.0.0.1:8081 --admin-token T
//
// Exit status: 0 when the run completed and every goal was met, 1 when it could not
// run or counted wrong (lost, double-counted or wrongly answered clicks), 2 for bad
// flags, 3 when it counted right but missed a performance goal.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/clickagg/clickagg/bench/internal/report"
	"github.com/clickagg/clickagg/bench/internal/scenario"
	"github.com/clickagg/clickagg/pkg/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

type config struct {
	scenario.Config
	edges, pids, out, logLevel, cpuProfile string
}

func parse(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	c := &config{Config: scenario.Defaults()}
	fs := flag.NewFlagSet("clickbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clickbench [flags]\n\nBenchmarks a clickagg system (by default one it starts in-process) and writes\nlatest.md and latest.json into --out.\n\n")
		fs.PrintDefaults()
	}
	s := &c.Config
	fs.Float64Var(&s.Rate, "rate", s.Rate, "main load in clicks per second (open loop)")
	fs.DurationVar(&s.Duration, "duration", s.Duration, "main load duration")
	fs.Int64Var(&s.Ads, "ads", s.Ads, "ads the Zipf law ranges over (only those drawn are registered)")
	fs.Float64Var(&s.ZipfS, "zipf-s", s.ZipfS, "Zipf exponent (> 0)")
	fs.Float64Var(&s.DupFraction, "dup-fraction", s.DupFraction, "share of clicks that repeat an impression at the same edge")
	fs.Float64Var(&s.InvalidFraction, "invalid-fraction", s.InvalidFraction, "share of clicks with a malformed or forged token")
	fs.Float64Var(&s.CrossEdgeDups, "cross-edge-dups", s.CrossEdgeDups, "share of clicks that repeat an impression at another edge (counted once by the contract; exercises cross-edge dedup)")
	fs.IntVar(&s.Users, "users", s.Users, "distinct uid cookies")
	fs.IntVar(&s.IPs, "ips", s.IPs, "distinct X-Forwarded-For addresses")
	fs.StringVar(&s.CoreURL, "core", "", "a running core's API URL (external mode; default: start one in-process)")
	fs.StringVar(&c.edges, "edges", "", "running edges' URLs, comma-separated (external mode)")
	fs.StringVar(&s.AdminToken, "admin-token", "", "the core's admin token (external mode)")
	fs.StringVar(&c.pids, "pids", "", "external mode: pids of core and edges whose RSS to report, comma-separated")
	fs.StringVar(&c.out, "out", "bench/reports", "directory for latest.md and latest.json")
	fs.StringVar(&s.Nginx, "nginx", s.Nginx, "nginx baseline: auto (when installed) or off")
	fs.DurationVar(&s.CapacityDuration, "capacity-duration", s.CapacityDuration, "each closed-loop ceiling run (edges, nginx); 0 skips them")
	fs.IntVar(&s.CapacityConns, "capacity-conns", s.CapacityConns, "connections of the closed-loop runs")
	fs.IntVar(&s.CapacityTokens, "capacity-tokens", s.CapacityTokens, "impressions minted for the edges' closed-loop run (it stops when they run out)")
	fs.Float64Var(&s.QueryRate, "query-rate", s.QueryRate, "count and top-N queries per second during the load (0: none)")
	fs.DurationVar(&s.FreshInterval, "fresh-interval", s.FreshInterval, "time between freshness probes at each edge")
	fs.IntVar(&s.Workers, "workers", s.Workers, "open-loop concurrency (connections per edge at most)")
	fs.IntVar(&s.MintWorkers, "mint-workers", s.MintWorkers, "concurrent ad registrations and mints")
	fs.IntVar(&s.VerifyMax, "verify-max", s.VerifyMax, "ads whose counts are checked one by one; beyond, the top 100 and a sample")
	fs.StringVar(&s.Final, "final", s.Final, "when counts are final: complete (complete_through passed the last minute) or watermark (every edge's watermark passed the last click)")
	fs.Uint64Var(&s.Seed, "seed", s.Seed, "random seed of the click plan")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (generator and in-process system) to this file")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return nil, err
	}
	if c.edges != "" {
		s.EdgeURLs = strings.Split(c.edges, ",")
	}
	for _, p := range strings.FieldsFunc(c.pids, func(r rune) bool { return r == ',' }) {
		pid, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--pids: %q is not a pid", p)
		}
		s.PIDs = append(s.PIDs, pid)
	}
	return c, s.Validate()
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c, err := parse(args, stderr, getenv)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "clickbench:", err)
		return 2
	}
	log, err := cli.Logger(stderr, c.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "clickbench:", err)
		return 2
	}
	c.Logger = log
	ctx, stop := cli.SignalContext()
	defer stop()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			log.Error("cpu profile", "err", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rep, err := scenario.Run(ctx, c.Config)
	if err != nil {
		log.Error("run failed", "err", err)
		return 1
	}
	if err := rep.WriteFiles(c.out); err != nil {
		log.Error("write report", "err", err)
		return 1
	}
	rep.Table(stdout)
	fmt.Fprintf(stdout, "\nreport: %s/latest.md, %s/latest.json\n", c.out, c.out)
	return exitCode(rep)
}

// exitCode is 0 when every goal was met, 1 when a correctness figure failed, 3 when
// only performance goals were missed.
func exitCode(rep *report.Report) int {
	if rep.Passed {
		return 0
	}
	if rep.CorrectnessFailed() {
		return 1
	}
	return 3
}
