// Command clickcore runs a clickagg core node: the NATS hub edges join as leaf
// nodes, the merge of their partial counts, the time-series store and the query API.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/clickagg/clickagg/core"
	"github.com/clickagg/clickagg/core/raw"
	"github.com/clickagg/clickagg/pkg/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o core.Options
	var level string
	var memLimit int64
	fs := flag.NewFlagSet("clickcore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clickcore [flags]\n\nRuns a clickagg core node.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.DataDir, "data", "./data/core", "data directory")
	fs.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:8090", "HTTP API address")
	fs.StringVar(&o.LeafListen, "leaf-addr", "127.0.0.1:7422", "leafnode listen address edges dial")
	fs.StringVar(&o.NATSListen, "nats-addr", "", "optional NATS client listen address for operators' tools")
	fs.StringVar(&o.NATSURL, "nats-url", "", "use this external NATS server/cluster (JetStream domain \"hub\") instead of the embedded hub")
	fs.StringVar(&o.AdminToken, "admin-token", "", "admin API token, at least 16 characters (required)")
	fs.DurationVar(&o.Hot, "hot-window", 24*time.Hour, "how far back the country and label filters reach (kept in memory); unfiltered top-N reaches back the retention through hourly rankings")
	fs.DurationVar(&o.Retention, "retention", 400*24*time.Hour, "how long per-ad minute counts are kept")
	fs.DurationVar(&o.ImpressionTTL, "impression-ttl", time.Hour, "how long a minted impression may be clicked")
	fs.DurationVar(&o.CommitInterval, "commit-interval", time.Second, "how often merged counts are made durable")
	fs.DurationVar(&o.RawRetention, "raw-retention", 7*24*time.Hour, "how long raw click records (Parquet) are kept; the ip and user_id filters reach that far")
	o.Fraud = &raw.Rules{}
	fs.IntVar(&o.Fraud.IPClicksPerMinute, "fraud-ip-clicks", 20, "clicks from one IP on one ad in one minute beyond this many are subtracted as fraud (0: off)")
	var score uint
	fs.UintVar(&score, "fraud-score", 800, "clicks a filter flagged with at least this fraud score (0-1000) are subtracted (0: off)")
	fs.Float64Var(&o.RateLimit, "rate-limit", 50, "requests per second per API key (the admin token is not limited)")
	fs.IntVar(&o.RateBurst, "rate-burst", 100, "burst of requests per API key")
	// The Go runtime keeps freed memory until it needs it again; after a burst (a
	// replay, a backlog after an outage) that held a core at 2-3x its live heap
	// (bench/seed: 10 GB resident for a 2 GB heap). A soft limit makes the GC and
	// the scavenger give it back. GOMEMLIMIT, when set, wins.
	fs.Int64Var(&memLimit, "memory-limit", 3<<30, "soft memory limit for the Go runtime in bytes (0: none)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := cli.Parse(fs, args, getenv); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "clickcore:", err)
		return 2
	}
	if score > 1000 {
		fmt.Fprintln(stderr, "clickcore: --fraud-score must be 0 to 1000")
		return 2
	}
	o.Fraud.ScoreAtLeast = uint32(score)
	if len(o.AdminToken) < 16 {
		fmt.Fprintln(stderr, "clickcore: --admin-token (or CLICKAGG_ADMIN_TOKEN) of at least 16 characters is required")
		return 2
	}
	log, err := cli.Logger(stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "clickcore:", err)
		return 2
	}
	if memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit)
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	o.Logger = log
	n, err := core.Start(ctx, o)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "clickcore: API http://%s, leafnodes %s\n", n.APIAddr(), n.LeafURL())
	<-ctx.Done()
	log.Info("shutting down")
	n.Close()
	return 0
}
