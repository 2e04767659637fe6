// Command local runs the embedded default deployment in one process: a core (NATS
// hub with JetStream, time-series store, query API) and two edges (pop-a, pop-b),
// each with its own embedded NATS leaf node and JetStream domain, joined to the hub
// over real leafnode TCP connections on loopback. It is the quickest way to see the
// whole product work:
//
//	go run ./deploy/local --demo
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/clickagg/clickagg/core"
	"github.com/clickagg/clickagg/edge"
	"github.com/clickagg/clickagg/pkg/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

type config struct {
	data       string
	coreAddr   string
	leafAddr   string
	edgeAddrs  string
	adminToken string
	demo       bool
	demoRate   float64
	geoip      string
	logLevel   string
	wasmCache  string // shared by the edges; default <data>/wasmcache
}

func parse(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./deploy/local [flags]\n\nRuns a core and two edges in one process.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.data, "data", "./data", "data directory")
	fs.StringVar(&c.coreAddr, "core-addr", "127.0.0.1:8090", "core HTTP API address")
	fs.StringVar(&c.leafAddr, "leaf-addr", "127.0.0.1:7422", "hub leafnode address the edges dial (port 0 picks one)")
	fs.StringVar(&c.edgeAddrs, "edge-addrs", "127.0.0.1:8080,127.0.0.1:8081", "edge click addresses, comma-separated; edges are named pop-a, pop-b, ...")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin API token (default $CLICKAGG_ADMIN_TOKEN, else generated and printed)")
	fs.BoolVar(&c.demo, "demo", false, "register sample ads and send synthetic clicks")
	fs.Float64Var(&c.demoRate, "demo-rate", 20, "synthetic clicks per second with --demo")
	fs.StringVar(&c.geoip, "geoip", "", "MaxMind-format country database for the edges (else X-Geo-Country from loopback proxies)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return nil, err
	}
	if c.demoRate <= 0 || c.demoRate > 10000 {
		return nil, fmt.Errorf("--demo-rate must be in (0, 10000]")
	}
	n := len(strings.Split(c.edgeAddrs, ","))
	if c.edgeAddrs == "" || n > 26 {
		return nil, fmt.Errorf("--edge-addrs needs 1 to 26 addresses")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c, err := parse(args, stderr, getenv)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "local:", err)
		return 2
	}
	log, err := cli.Logger(stderr, c.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "local:", err)
		return 2
	}
	generated := false
	if c.adminToken == "" {
		var b [16]byte
		rand.Read(b[:])
		c.adminToken, generated = hex.EncodeToString(b[:]), true
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	d, err := start(ctx, c, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	defer d.Close()
	d.banner(stdout, generated)
	if c.demo {
		go runDemo(ctx, d, c.demoRate, log)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return 0
}

// deployment is a running local deployment.
type deployment struct {
	core       *core.Node
	edges      []*edge.Node
	adminToken string
}

func start(ctx context.Context, c *config, log *slog.Logger) (*deployment, error) {
	d := &deployment{adminToken: c.adminToken}
	var err error
	d.core, err = core.Start(ctx, core.Options{DataDir: filepath.Join(c.data, "core"), APIAddr: c.coreAddr,
		LeafListen: c.leafAddr, AdminToken: c.adminToken, Logger: log.With("node", "core")})
	if err != nil {
		return nil, err
	}
	if c.wasmCache == "" {
		c.wasmCache = filepath.Join(c.data, "wasmcache")
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for i, addr := range strings.Split(c.edgeAddrs, ",") {
		id := fmt.Sprintf("pop-%c", 'a'+i)
		e, err := edge.Start(ctx, edge.Options{ID: id, DataDir: filepath.Join(c.data, "edges", id),
			HTTPAddr: strings.TrimSpace(addr), HubURL: d.core.LeafURL(), Trusted: loopback, GeoIPPath: c.geoip, WasmCache: c.wasmCache, Logger: log})
		if err != nil {
			d.Close()
			return nil, err
		}
		d.edges = append(d.edges, e)
	}
	return d, nil
}

// Close stops the edges (each flushes what it holds) and then the core.
func (d *deployment) Close() {
	for _, e := range d.edges {
		e.Close()
	}
	if d.core != nil {
		d.core.Close()
	}
}

func (d *deployment) banner(w io.Writer, generated bool) {
	fmt.Fprintf(w, "clickagg local deployment\n  core API:   http://%s\n  leafnodes:  %s\n", d.core.APIAddr(), d.core.LeafURL())
	for _, e := range d.edges {
		fmt.Fprintf(w, "  edge %s: http://%s/c/{token}\n", e.ID(), e.Addr())
	}
	if generated {
		fmt.Fprintf(w, "  admin token (generated; set --admin-token or CLICKAGG_ADMIN_TOKEN to keep one): %s\n", d.adminToken)
	}
	api := "http://" + d.core.APIAddr()
	fmt.Fprintf(w, `
Try:
  curl -X PUT -H 'Authorization: Bearer %[1]s' %[2]s/v1/ads/ad1 -d '{"advertiser_id":"acme","redirect_url":"https://example.com/"}'
  curl -X POST -H 'Authorization: Bearer %[1]s' %[2]s/v1/impressions -d '{"ad_id":"ad1"}'
  curl -i http://%[3]s/c/<token>
  curl -H 'Authorization: Bearer %[1]s' '%[2]s/v1/top?n=10&last=5'
`, d.adminToken, api, d.edges[0].Addr())
}
