// Package core runs one clickagg core node: the NATS hub that edges join, the
// catalogue they mirror, the exactly-once merge of their partial counts into the
// hot window and the time-series store, and the HTTP query API.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clickagg/clickagg/core/api"
	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/filters"
	"github.com/clickagg/clickagg/core/hub"
	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/raw"
	"github.com/clickagg/clickagg/core/registry"
	"github.com/clickagg/clickagg/core/rollup"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
)

// Options configure a core. Zero values take the documented defaults.
type Options struct {
	DataDir    string // required
	APIAddr    string // HTTP API, default "127.0.0.1:8090"; port 0 picks one
	LeafListen string // leafnode listener edges dial, default "127.0.0.1:7422"; port 0 picks one
	// NATSListen optionally exposes the hub to ordinary NATS clients.
	NATSListen string
	// NATSURL, when set, uses an external NATS server or cluster (JetStream domain
	// "hub", leafnodes enabled) instead of the embedded hub; LeafListen, NATSListen
	// and the hub's store directory are then the server's business.
	NATSURL    string
	AdminToken string // required, ≥ 16 characters
	// Hot is how far back the country and label filters reach (in memory);
	// default 24 h. Unfiltered top-N reaches further, through hourly rankings
	// built from the window (core/rollup).
	Hot time.Duration
	// Retention is how long per-ad minute counts are kept; default 400 days.
	Retention time.Duration
	// ImpressionTTL is how long an impression may be clicked; default 1 h.
	ImpressionTTL  time.Duration
	CommitInterval time.Duration // default 1 s
	// RateLimit is each API key's requests per second (0: unlimited); RateBurst
	// the bursts allowed. Defaults 50/s, 100.
	RateLimit float64
	RateBurst int
	// RawRetention is how long raw click records are kept; default 7 days.
	RawRetention time.Duration
	// Fraud are the core's fraud rules; nil: raw.DefaultRules.
	Fraud  *raw.Rules
	Logger *slog.Logger
}

// Node is a running core.
type Node struct {
	o       Options
	hub     *hub.Hub
	store   *store.Store
	reg     *registry.Registry
	auth    *auth.Auth
	filters *filters.Registry
	merger  *merge.Merger
	raw     *raw.Store
	rollup  *rollup.Rollup
	http    *http.Server
	ln      net.Listener
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Start starts a core and returns when it serves its API.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.DataDir == "" {
		return nil, errors.New("core: DataDir is required")
	}
	if o.APIAddr == "" {
		o.APIAddr = "127.0.0.1:8090"
	}
	if o.LeafListen == "" {
		o.LeafListen = "127.0.0.1:7422"
	}
	if o.Hot == 0 {
		o.Hot = 24 * time.Hour
	}
	if o.Retention == 0 {
		o.Retention = store.DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RawRetention == 0 {
		o.RawRetention = 7 * 24 * time.Hour
	}
	if o.RateLimit == 0 {
		o.RateLimit, o.RateBurst = 50, 100
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	n := &Node{o: o}
	if err := n.start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	o.Logger.Info("core ready", "api", n.ln.Addr().String(), "leafnodes", n.hub.LeafURL())
	return n, nil
}

func (n *Node) start(ctx context.Context) (err error) {
	o := n.o
	if n.hub, err = hub.Start(ctx, hub.Options{URL: o.NATSURL, Dir: filepath.Join(o.DataDir, "nats"), LeafListen: o.LeafListen,
		ClientListen: o.NATSListen, Logger: o.Logger}); err != nil {
		return err
	}
	if n.store, err = store.Open(store.Options{Dir: filepath.Join(o.DataDir, "store"), Retention: o.Retention, Logger: o.Logger}); err != nil {
		return err
	}
	if n.reg, err = registry.Open(ctx, n.hub.JS, o.Logger); err != nil {
		return err
	}
	if n.auth, err = auth.Open(ctx, n.hub.JS, o.AdminToken); err != nil {
		return err
	}
	if n.filters, err = filters.Open(ctx, n.hub.JS, n.reg.KV(), filepath.Join(o.DataDir, "wasmcache"), o.Logger); err != nil {
		return err
	}
	ms := metrics.NewSet()
	win := window.New()
	if n.merger, err = merge.Open(merge.Options{JS: n.hub.JS, Dir: filepath.Join(o.DataDir, "merge"), Window: win,
		Store: n.store, CommitInterval: o.CommitInterval, Hot: o.Hot, Logger: o.Logger, Metrics: ms,
		// Cross-edge dedup must remember impressions as long as they can be clicked.
		DedupWindow: max(2*time.Hour, o.ImpressionTTL+10*time.Minute)}); err != nil {
		return err
	}
	dedup := max(2*time.Hour, o.ImpressionTTL+10*time.Minute)
	if n.raw, err = raw.Open(raw.Options{JS: n.hub.JS, Dir: filepath.Join(o.DataDir, "raw"), Retention: o.RawRetention,
		DedupWindow: dedup, Hot: o.Hot, Edges: n.hub.Edges, Progress: n.merger.Progress, Reconcile: n.merger.Reconcile,
		Store: n.store, Rules: o.Fraud, Logger: o.Logger, Metrics: ms}); err != nil {
		return err
	}
	if n.rollup, err = rollup.Open(rollup.Options{Dir: filepath.Join(o.DataDir, "rollup"), Window: win, Store: n.store,
		CompleteThrough: n.completeThrough, Hot: o.Hot, Retention: o.Retention, Logger: o.Logger, Metrics: ms}); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		if err := n.rollup.Run(bg); err != nil {
			o.Logger.Error("hourly rankings stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.merger.Run(bg); err != nil {
			o.Logger.Error("merge stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.raw.Run(bg); err != nil {
			o.Logger.Error("raw store stopped", "err", err)
		}
	}()
	a := api.New(api.Options{Registry: n.reg, Auth: n.auth, Filters: n.filters, Raw: n.raw, RawRetention: o.RawRetention, Rollup: n.rollup, Window: win, Store: n.store, Watermarks: n.watermarks,
		Ready: n.ready, Status: n.status, EdgeStatus: n.hub.Status, Hot: o.Hot, Retention: o.Retention, ImpressionTTL: o.ImpressionTTL, Logger: o.Logger, Metrics: ms,
		RateLimit: o.RateLimit, RateBurst: o.RateBurst, Decommission: n.decommission, Readmit: n.hub.Readmit})
	n.instrument(ms)
	if n.ln, err = net.Listen("tcp", o.APIAddr); err != nil {
		return fmt.Errorf("core: api listen: %w", err)
	}
	n.http = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("api server", "err", err)
		}
	}()
	return nil
}

// watermarks maps every registered edge to its merged watermark.
func (n *Node) watermarks(ctx context.Context) (map[string]int64, error) {
	edges, err := n.hub.Edges(ctx)
	if err != nil {
		return nil, err
	}
	wms := n.merger.Watermarks()
	out := make(map[string]int64, len(edges))
	for _, e := range edges {
		out[e] = wms[e]
	}
	return out, nil
}

// completeThrough is the API's complete_through in unix ms (the rollup ranks an
// hour once it has passed the hour's end).
func (n *Node) completeThrough(ctx context.Context) (int64, error) {
	wms, err := n.watermarks(ctx)
	if err != nil {
		return 0, err
	}
	return api.LowWatermark(wms, time.Now().UnixMilli()), nil
}

// decommission stops sourcing an edge and drops it from complete_through. What it
// sent stays counted.
func (n *Node) decommission(ctx context.Context, edge string) error {
	if err := n.hub.Deregister(ctx, edge); err != nil {
		return err
	}
	n.o.Logger.Info("edge decommissioned", "edge", edge)
	return nil
}

// status is GET /v1/status's "core" object.
func (n *Node) status(ctx context.Context) any {
	st := n.store.Stats()
	return map[string]any{
		"merge":      n.merger.Stats(ctx),
		"ads":        n.reg.Len(),
		"leafnodes":  n.hub.LeafNodes(),
		"store_rows": st.Rows, "store_bytes": st.DataBytes + st.IndexBytes,
		"hot_window": n.o.Hot.String(),
		"rollup":     n.rollupStatus(),
		"raw":        n.rawStatus(),
	}
}

// rollupStatus is the hourly rankings' part of GET /v1/status: how many hours
// are ranked, and the oldest.
func (n *Node) rollupStatus() map[string]any {
	hours := n.rollup.Hours()
	out := map[string]any{"hours": len(hours)}
	if len(hours) > 0 {
		out["oldest_hour"] = minute.Minute(hours[0]).String()
	}
	return out
}

// rawStatus is the raw store's part of GET /v1/status.
func (n *Node) rawStatus() map[string]any {
	out := map[string]any{"unsealed_records": n.raw.Unsealed()}
	if s := n.raw.Sealed(); s >= 0 {
		out["sealed_through"] = minute.Minute(s + 1).String()
	}
	return out
}

func (n *Node) ready() error {
	if !n.hub.NC.IsConnected() {
		return errors.New("not connected to the NATS hub")
	}
	return nil
}

func (n *Node) instrument(ms *metrics.Set) {
	ms.NewGauge(`clickagg_core_leafnodes`, func() float64 { return float64(n.hub.LeafNodes()) })
	ms.NewGauge(`clickagg_core_merge_pending_partials`, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return float64(n.merger.Stats(ctx).Pending)
	})
	// How long ago complete_through is: the time for a minute to close, plus the
	// current minute's age. A cut-off edge makes it grow.
	ms.NewGauge(`clickagg_core_complete_through_lag_seconds`, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		wms, err := n.watermarks(ctx)
		if err != nil {
			return -1
		}
		now := time.Now().UnixMilli()
		return float64(now-api.LowWatermark(wms, now)) / 1000
	})
	ms.NewGauge(`clickagg_core_ads`, func() float64 { return float64(n.reg.Len()) })
	ms.NewGauge(`clickagg_core_store_rows`, func() float64 { return float64(n.store.Stats().Rows) })
	ms.NewGauge(`clickagg_core_store_bytes`, func() float64 {
		st := n.store.Stats()
		return float64(st.DataBytes + st.IndexBytes)
	})
}

// APIAddr is the API listener's address.
func (n *Node) APIAddr() string { return n.ln.Addr().String() }

// LeafURL is the URL edges dial.
func (n *Node) LeafURL() string { return n.hub.LeafURL() }

// Close stops the API, commits the merge, and stops the store and the hub.
func (n *Node) Close() error {
	n.once.Do(func() {
		if n.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.http.Shutdown(ctx)
			cancel()
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.auth != nil {
			n.auth.Close()
		}
		if n.filters != nil {
			n.filters.Close()
		}
		if n.reg != nil {
			n.reg.Close()
		}
		if n.raw != nil {
			n.raw.Close()
		}
		if n.store != nil {
			n.store.Close()
		}
		if n.hub != nil {
			n.hub.Close()
		}
	})
	return nil
}
