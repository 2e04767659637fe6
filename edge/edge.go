// Package edge runs one clickagg edge node: an embedded NATS leaf node in its own
// JetStream domain, the click journal and aggregator on top of it, the catalogue
// mirror, and the fasthttp server that answers clicks. Everything an edge needs to
// answer and record clicks is local, so it keeps serving while the core or the link
// is down and forwards what it holds when the link returns.
package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"

	"github.com/clickagg/clickagg/edge/agg"
	"github.com/clickagg/clickagg/edge/catalog"
	"github.com/clickagg/clickagg/edge/click"
	"github.com/clickagg/clickagg/edge/dedup"
	"github.com/clickagg/clickagg/edge/filter"
	"github.com/clickagg/clickagg/edge/geo"
	"github.com/clickagg/clickagg/edge/journal"
	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options configure an edge. Zero values take the documented defaults.
type Options struct {
	ID       string // edge id and JetStream domain, e.g. "pop-a"; required
	DataDir  string // required
	HTTPAddr string // click listener, e.g. "127.0.0.1:8080"; port 0 picks one
	HubURL   string // the hub's leafnode URL, e.g. "nats-leaf://core:7422"; required
	// Trusted proxies (CIDRs) whose X-Forwarded-For / X-Geo-Country are believed.
	Trusted []netip.Prefix
	// Fsync makes every journal batch reach the disk before its redirects are
	// answered, so answered clicks survive a power loss too, not only a crash of
	// the process. Group commit keeps it affordable: one fsync per batch.
	Fsync bool
	// GeoIPPath, when set, is a MaxMind-format country database; the client's
	// country comes from it instead of a proxy's X-Geo-Country header.
	GeoIPPath string
	// WasmCache is wazero's compilation cache; default DataDir/filters/compiled.
	// Edges in one process can share one.
	WasmCache string
	// FlushInterval is how often partial counts are published; default 500 ms.
	FlushInterval time.Duration
	// Retention of the edge's streams: how long it can be cut off without losing
	// data; default 7 days.
	Retention time.Duration
	// DedupWindow bounds how far back the dedup set is rebuilt on start; it must be
	// at least the longest impression validity the core issues. Default 25 h.
	DedupWindow time.Duration
	Logger      *slog.Logger
}

func (o *Options) defaults() error {
	if err := wire.CheckEdgeID(o.ID); err != nil {
		return err
	}
	if o.DataDir == "" || o.HubURL == "" {
		return errors.New("edge: DataDir and HubURL are required")
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:8080"
	}
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 25 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("edge", o.ID)
	return nil
}

// Node is a running edge.
type Node struct {
	o       Options
	nats    *embednats.Server
	journal *journal.Journal
	dedup   *dedup.Set
	catalog *catalog.Catalog
	metrics *metrics.Set
	srv     *fasthttp.Server
	geo     *geo.DB
	filters *filter.Manager
	ln      net.Listener

	cancel     context.CancelFunc
	aggDone    chan error
	wg         sync.WaitGroup
	closeOnce  sync.Once
	registered chan struct{}
}

// Start starts an edge and returns once it answers clicks.
func Start(ctx context.Context, o Options) (*Node, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	ns, err := embednats.Start(embednats.Options{
		Name: "edge-" + o.ID, Dir: filepath.Join(o.DataDir, "nats"), Domain: o.ID,
		LeafRemotes: []string{o.HubURL}, SyncAlways: o.Fsync, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	n := &Node{o: o, nats: ns, dedup: dedup.New(), catalog: catalog.New(), metrics: metrics.NewSet(),
		aggDone: make(chan error, 1), registered: make(chan struct{})}
	if err := n.start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context) error {
	epoch, err := n.ensureStreams(ctx)
	if err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.catalog.SetHub(n.nats.NC)
	hubJS, err := jetstream.NewWithDomain(n.nats.NC, wire.HubDomain)
	if err != nil {
		return err
	}
	if n.filters, err = filter.New(ctx, filter.Options{Keys: &n.catalog.Keys, Dir: filepath.Join(n.o.DataDir, "filters"),
		CompileCache: n.o.WasmCache, Hub: hubJS, Logger: n.o.Logger}); err != nil {
		return err
	}
	n.catalog.OnFilter = n.filters.Apply
	loaded := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := catalog.Follow(bg, n.nats.JS, n.catalog, n.o.Logger, loaded); err != nil {
			n.o.Logger.Error("catalogue", "err", err)
		}
	}()
	select {
	case <-loaded:
	case <-time.After(30 * time.Second):
		return errors.New("edge: catalogue mirror did not load in 30s")
	}
	if err := n.rebuildDedup(ctx); err != nil {
		return err
	}
	var boot [4]byte
	rand.Read(boot[:])
	n.journal = journal.New(journal.Options{
		JS: n.nats.JS, Subject: wire.ClicksSubject(n.o.ID), Logger: n.o.Logger,
		MsgIDPrefix: fmt.Sprintf("%s.%x.%s.", n.o.ID, epoch, hex.EncodeToString(boot[:])),
	})
	a := agg.New(agg.Options{JS: n.nats.JS, Edge: n.o.ID, Epoch: epoch, Journal: n.journal,
		Interval: n.o.FlushInterval, Logger: n.o.Logger})
	n.instrument(a)
	go func() { n.aggDone <- a.Run(bg) }()
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.reportStatus(bg, 2*time.Second) }()
	go func() { defer n.wg.Done(); n.register(bg) }()
	go func() { defer n.wg.Done(); n.sweep(bg) }()
	return n.listen()
}

func (n *Node) listen() error {
	co := click.Options{Catalog: n.catalog, Filters: n.filters, Dedup: n.dedup, Journal: n.journal,
		Trusted: n.o.Trusted, Metrics: n.metrics, Logger: n.o.Logger, ExtraMetrics: n.writeFilterMetrics}
	if n.o.GeoIPPath != "" {
		db, err := geo.Open(n.o.GeoIPPath)
		if err != nil {
			return err
		}
		n.geo, co.Geo = db, db
	}
	h := click.New(co)
	n.srv = &fasthttp.Server{
		Handler: h.Serve, Name: "clickagg-edge", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second, MaxRequestBodySize: 64 << 10, NoDefaultServerHeader: true,
		NoDefaultContentType: true, NoDefaultDate: false,
	}
	ln, err := net.Listen("tcp", n.o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("edge %s: listen: %w", n.o.ID, err)
	}
	n.ln = ln
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(ln); err != nil {
			n.o.Logger.Error("http server", "err", err)
		}
	}()
	n.o.Logger.Info("edge listening", "addr", ln.Addr().String(), "hub", n.o.HubURL)
	return nil
}

// ensureStreams creates the edge's streams and the consumers the hub sources
// through, and returns the journal's epoch (its creation time in unix ns).
func (n *Node) ensureStreams(ctx context.Context) (uint64, error) {
	js := n.nats.JS
	for _, sc := range []jetstream.StreamConfig{
		{Name: wire.ClicksStream, Subjects: []string{wire.ClicksSubject(n.o.ID)}, MaxAge: n.o.Retention,
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute},
		{Name: wire.PartialsStream, Subjects: []string{wire.PartialsSubject(n.o.ID)}, MaxAge: n.o.Retention,
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute},
		catalog.MirrorConfig(),
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return 0, fmt.Errorf("edge stream %s: %w", sc.Name, err)
		}
	}
	for _, stream := range []string{wire.ClicksStream, wire.PartialsStream} {
		name, deliver := wire.SourceConsumer(stream, n.o.ID)
		_, err := js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: name, DeliverSubject: deliver, AckPolicy: jetstream.AckFlowControlPolicy,
			FlowControl: true, IdleHeartbeat: time.Second, MaxAckPending: 10000,
		})
		if err != nil {
			return 0, fmt.Errorf("edge source consumer %s: %w", name, err)
		}
	}
	s, err := js.Stream(ctx, wire.ClicksStream)
	if err != nil {
		return 0, err
	}
	return uint64(s.CachedInfo().Created.UnixNano()), nil
}

// rebuildDedup replays the journal's counted clicks of the dedup window, so a
// restarted edge still knows which impressions it counted.
func (n *Node) rebuildDedup(ctx context.Context) error {
	s, err := n.nats.JS.Stream(ctx, wire.ClicksStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return err
	}
	start := time.Now().Add(-n.o.DedupWindow)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	if err != nil {
		return fmt.Errorf("dedup replay: %w", err)
	}
	now := time.Now().Unix()
	var clicks []wire.Click
	var upTo uint64 // stream sequence read so far
	for read := uint64(0); ; {
		// Ask only for what remains: a batch larger than that waits out FetchMaxWait.
		want := int(min(512, info.State.LastSeq-min(upTo, info.State.LastSeq)))
		if want == 0 {
			n.o.Logger.Info("dedup rebuilt", "batches", read, "impressions", n.dedup.Len())
			return nil
		}
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("dedup replay: %w", err)
		}
		got := 0
		last := uint64(0)
		for m := range batch.Messages() {
			got++
			if md, err := m.Metadata(); err == nil {
				last = md.Sequence.Stream
				upTo = last
			}
			clicks, _ = wire.DecodeClicks(clicks[:0], m.Data())
			for i := range clicks {
				if c := &clicks[i]; c.Outcome == wire.OutcomeCounted && c.ExpiresAt > now {
					n.dedup.Add(c.ImpressionID, c.ExpiresAt)
				}
			}
		}
		read += uint64(got)
		if got == 0 || last >= info.State.LastSeq {
			n.o.Logger.Info("dedup rebuilt", "batches", read, "impressions", n.dedup.Len())
			return nil
		}
	}
}

// register asks the core to source this edge's streams until it says yes.
func (n *Node) register(ctx context.Context) {
	req, _ := json.Marshal(wire.Registration{EdgeID: n.o.ID})
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := n.nats.NC.RequestWithContext(rctx, wire.RegisterSubject, req)
		cancel()
		if err == nil {
			var r wire.RegistrationReply
			if err = json.Unmarshal(m.Data, &r); err == nil && r.Error != "" {
				err = errors.New(r.Error)
			}
			if err == nil {
				n.o.Logger.Info("registered with core")
				close(n.registered)
				return
			}
		}
		n.o.Logger.Debug("registration pending", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func ctxWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func (n *Node) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.dedup.Sweep(time.Now().Unix())
		}
	}
}

// Addr is the click listener's address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// ID is the edge id.
func (n *Node) ID() string { return n.o.ID }

// FilterVersion returns the version of a partner filter this edge runs, 0 if none.
func (n *Node) FilterVersion(name string) int {
	for _, f := range n.filters.Filters() {
		if f.Name == name {
			return f.Version
		}
	}
	return 0
}

// Registered is closed once the core has accepted this edge.
func (n *Node) Registered() <-chan struct{} { return n.registered }

// Close shuts the edge down gracefully: stops accepting clicks, lets requests in
// flight finish, writes the journal, publishes a last partial, gives the hub a few
// seconds to take what the edge holds, and stops the leaf node. Safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			n.srv.ShutdownWithContext(ctx)
			cancel()
		}
		if n.journal != nil {
			n.journal.Close()
		}
		if n.cancel != nil {
			n.cancel()
			if n.journal != nil {
				if err := <-n.aggDone; err != nil {
					n.o.Logger.Error("final flush", "err", err)
				}
			}
		}
		n.wg.Wait()
		n.drain(5 * time.Second)
		if n.filters != nil {
			n.filters.Close(context.Background())
		}
		n.nats.Shutdown()
		if n.geo != nil {
			n.geo.Close()
		}
	})
	return nil
}

// drain waits until the hub has taken every partial, or d passes.
func (n *Node) drain(d time.Duration) {
	if !n.nats.LeafConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	name, _ := wire.SourceConsumer(wire.PartialsStream, n.o.ID)
	for ctx.Err() == nil {
		c, err := n.nats.JS.PushConsumer(ctx, wire.PartialsStream, name)
		if err != nil {
			return
		}
		if i, err := c.Info(ctx); err == nil && i.NumPending == 0 && i.NumAckPending == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
