// Command clickedge runs a clickagg edge node: click redirects, the durable click
// journal, pre-aggregation, and an embedded NATS leaf node that forwards to the hub.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/clickagg/clickagg/edge"
	"github.com/clickagg/clickagg/pkg/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o edge.Options
	var level, trusted string
	fs := flag.NewFlagSet("clickedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clickedge --id ID --hub nats-leaf://HOST:7422 [flags]\n\nRuns a clickagg edge node.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.ID, "id", "", "edge id, also its JetStream domain: [a-z0-9][a-z0-9-]{0,31} (required)")
	fs.StringVar(&o.HubURL, "hub", "nats-leaf://127.0.0.1:7422", "the hub's leafnode URL")
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:8080", "click listener address")
	fs.StringVar(&o.DataDir, "data", "", "data directory (default ./data/edges/ID)")
	fs.StringVar(&trusted, "trusted-proxies", "127.0.0.0/8,::1", "proxies (CIDRs) whose X-Forwarded-For and X-Geo-Country are believed")
	fs.StringVar(&o.GeoIPPath, "geoip", "", "MaxMind-format country database (GeoLite2-Country.mmdb); else X-Geo-Country from trusted proxies")
	fs.BoolVar(&o.Fsync, "fsync", false, "fsync every journal batch before answering (survives power loss; default survives process crashes)")
	fs.DurationVar(&o.FlushInterval, "flush-interval", 500*time.Millisecond, "how often partial counts are published")
	fs.DurationVar(&o.Retention, "retention", 7*24*time.Hour, "how long the edge keeps clicks while cut off")
	fs.DurationVar(&o.DedupWindow, "dedup-window", 25*time.Hour, "how far back impressions are remembered on restart (≥ the core's impression TTL)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := cli.Parse(fs, args, getenv); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "clickedge:", err)
		return 2
	}
	var err error
	if o.Trusted, err = cli.ParsePrefixes(trusted); err != nil {
		fmt.Fprintln(stderr, "clickedge:", err)
		return 2
	}
	if o.DataDir == "" {
		o.DataDir = "./data/edges/" + o.ID
	}
	log, err := cli.Logger(stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "clickedge:", err)
		return 2
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	o.Logger = log
	n, err := edge.Start(ctx, o)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "clickedge %s: clicks at http://%s/c/{token}, hub %s\n", n.ID(), n.Addr(), o.HubURL)
	<-ctx.Done()
	log.Info("shutting down: flushing")
	n.Close()
	return 0
}
