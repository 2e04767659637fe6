// Package merge applies the edges' partial counts to the core's state exactly once.
// It pulls partials from the hub's PARTIALS stream, adds each to the hot window
// unless its journal range was applied before, and every CommitInterval writes the
// changed minutes and the applied positions to the commit log (fsync), pushes per-ad
// minute totals to the time-series store, and only then acks the stream. A crash at
// any point redelivers exactly the partials whose effects were not committed.
package merge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options configure a Merger.
type Options struct {
	JS     jetstream.JetStream // the hub's
	Dir    string              // where the commit log lives
	Window *window.Window
	Store  *store.Store // per-ad minute history; required
	// CommitInterval bounds how much merged work a crash redoes; default 1 s.
	CommitInterval time.Duration
	// Hot is how long minutes stay in the window; default 24 h. Older minutes are
	// answered from the store (per ad, no country breakdown).
	Hot time.Duration
	// DedupWindow is how long counted impressions are remembered for cross-edge
	// dedup, and how far back the set is rebuilt on start; it must be at least the
	// longest impression TTL. Default 2 h.
	DedupWindow time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	Metrics     *metrics.Set
}

// Merger is driven by Run; its accessors are safe for concurrent use.
type Merger struct {
	o   Options
	log *commitLog

	mu      sync.Mutex
	applied map[source]uint64
	wms     map[string]int64

	// Only Run's goroutine touches these.
	dirty      map[int64]map[string]struct{} // minute → ads changed since the last commit
	unstored   map[int64]map[string]struct{} // minute → ads whose store write failed
	touched    map[int64]time.Time           // minute → last change, to evict only settled minutes
	coldBase   map[int64]map[string]bool     // evicted minutes re-loaded from the store
	imps       map[[16]byte]imp              // counted impressions (cross-edge dedup)
	edgeIdx    map[string]uint16
	edgeNames  []string
	dimIdx     map[string]uint16
	dimNames   []string
	crossDups  *metrics.Counter
	ready      chan struct{} // closed once Run has rebuilt the impression set
	reqs       chan reconcileReq
	stopped    chan struct{} // closed when Run returns
	impsFrom   string        // "snapshot" or "stream": how Run restored the set (read after Ready)
	last       jetstream.Msg
	hubSeq     uint64 // last PARTIALS sequence applied
	lastCommit atomic.Pointer[time.Time]
	buf        []byte
	merged     *metrics.Counter
	dups       *metrics.Counter
	bad        *metrics.Counter
	commitDur  *metrics.Histogram
}

// Open replays the commit log into the window and returns a Merger.
func Open(o Options) (*Merger, error) {
	if o.CommitInterval == 0 {
		o.CommitInterval = time.Second
	}
	if o.Hot == 0 {
		o.Hot = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 2 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Store == nil || o.Window == nil {
		return nil, errors.New("merge: Store and Window are required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	m := &Merger{o: o, applied: map[source]uint64{}, wms: map[string]int64{},
		dirty: map[int64]map[string]struct{}{}, unstored: map[int64]map[string]struct{}{},
		touched: map[int64]time.Time{}, coldBase: map[int64]map[string]bool{}, imps: map[[16]byte]imp{}, edgeIdx: map[string]uint16{}, dimIdx: map[string]uint16{}, ready: make(chan struct{}),
		reqs: make(chan reconcileReq), stopped: make(chan struct{})}
	replayed := map[int64]bool{}
	l, err := openLog(filepath.Join(o.Dir, "merge.log"), func(r *record) {
		if r.kind == recFull {
			for _, mi := range o.Window.Minutes() {
				o.Window.ReplaceMinute(mi, nil)
			}
		}
		m.applied, m.wms, m.hubSeq = r.applied, r.wms, r.hubSeq
		for mi, cells := range r.minutes {
			o.Window.ReplaceMinute(mi, cells)
			replayed[mi] = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	m.log = l
	// The store keeps the last seconds of writes in memory; write the minutes the
	// log knows again so a crash there loses nothing (writes are idempotent).
	for mi := range replayed {
		m.touched[mi] = o.Now()
		for _, c := range o.Window.MinuteCells(mi) {
			m.markUnstored(mi, c.AdID)
		}
	}
	m.merged = o.Metrics.NewCounter(`clickagg_core_partials_merged_total`)
	m.dups = o.Metrics.NewCounter(`clickagg_core_partials_duplicate_total`)
	m.bad = o.Metrics.NewCounter(`clickagg_core_partials_undecodable_total`)
	m.commitDur = o.Metrics.NewHistogram(`clickagg_core_commit_duration_seconds`)
	m.crossDups = o.Metrics.NewCounter(`clickagg_core_cross_edge_duplicates_total`)
	return m, nil
}

// Ready is closed once Run has rebuilt its impression set and merges again.
func (m *Merger) Ready() <-chan struct{} { return m.ready }

// Watermarks returns each edge's low watermark (unix ms) as merged so far.
func (m *Merger) Watermarks() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.wms)
}

// Stats are the merger's counters since start.
type Stats struct {
	Merged     uint64 `json:"partials_merged"`
	Duplicates uint64 `json:"partials_duplicate"`
	Bad        uint64 `json:"partials_undecodable"`
	Pending    uint64 `json:"partials_pending"` // in the hub stream, not yet delivered to the merger
	LastCommit string `json:"last_commit,omitempty"`
}

// Stats returns the merger's counters and its backlog.
func (m *Merger) Stats(ctx context.Context) Stats {
	st := Stats{Merged: m.merged.Get(), Duplicates: m.dups.Get(), Bad: m.bad.Get()}
	if c, err := m.o.JS.Consumer(ctx, wire.PartialsStream, consumerName); err == nil {
		if i, err := c.Info(ctx); err == nil {
			st.Pending = i.NumPending + uint64(i.NumAckPending)
		}
	}
	if t := m.lastCommit.Load(); t != nil {
		st.LastCommit = t.UTC().Format(time.RFC3339Nano)
	}
	return st
}

// consumerName is the hub's durable pull consumer the merger reads through.
const consumerName = "merger"

// Run merges until ctx ends, then commits what it holds.
func (m *Merger) Run(ctx context.Context) error {
	defer close(m.stopped)
	defer m.log.close()
	cons, err := m.consumer(ctx)
	if err != nil {
		return fmt.Errorf("merge consumer: %w", err)
	}
	if err := m.restoreImps(ctx); err != nil {
		return fmt.Errorf("merge: rebuild impression set: %w", err)
	}
	close(m.ready)
	next := m.o.Now().Add(m.o.CommitInterval)
	sweep := m.o.Now().Add(time.Minute)
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				m.o.Logger.Warn("merge fetch", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			m.apply(msg)
		}
		m.serveReconciles()
		if now := m.o.Now(); now.After(sweep) {
			m.sweepImps()
			sweep = now.Add(time.Minute)
		}
		if now := m.o.Now(); !now.Before(next) {
			if err := m.commit(); err != nil {
				m.o.Logger.Error("merge commit", "err", err)
			}
			next = now.Add(m.o.CommitInterval)
		}
	}
	if err := m.commit(); err != nil {
		return err
	}
	// Only after a clean final commit is the set exactly the commit log's.
	if err := m.saveImps(); err != nil {
		m.o.Logger.Warn("impression snapshot not saved; the next start replays the hub stream", "err", err)
	}
	return nil
}

// serveReconciles runs the reconciliations waiting, without blocking.
func (m *Merger) serveReconciles() {
	for {
		select {
		case r := <-m.reqs:
			m.reconcile(r)
		default:
			return
		}
	}
}

// consumer (re)creates the merger's durable consumer to start right after the last
// committed sequence, so a crash redelivers at once instead of after AckWait.
func (m *Merger) consumer(ctx context.Context) (jetstream.Consumer, error) {
	err := m.o.JS.DeleteConsumer(ctx, wire.PartialsStream, consumerName)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{Durable: consumerName, AckPolicy: jetstream.AckAllPolicy, AckWait: 2 * time.Minute,
		MaxAckPending: 1 << 20, DeliverPolicy: jetstream.DeliverAllPolicy}
	if m.hubSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, m.hubSeq+1
	}
	return m.o.JS.CreateOrUpdateConsumer(ctx, wire.PartialsStream, cfg)
}

func (m *Merger) apply(msg jetstream.Msg) {
	m.last = msg
	if md, err := msg.Metadata(); err == nil {
		m.hubSeq = md.Sequence.Stream
	}
	p, err := wire.DecodePartial(msg.Data())
	if err != nil {
		m.bad.Inc()
		m.o.Logger.Error("partial does not decode; skipped", "subject", msg.Subject(), "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.WatermarkMs > m.wms[p.Edge] {
		m.wms[p.Edge] = p.WatermarkMs
	}
	if p.Heartbeat() {
		return
	}
	src := source{p.Edge, p.Epoch}
	done := m.applied[src]
	if p.ThroughSeq <= done {
		m.dups.Inc()
		return
	}
	if p.FromSeq != done+1 {
		m.o.Logger.Warn("partials skip journal sequences", "edge", p.Edge, "applied", done, "from", p.FromSeq)
	}
	m.applied[src] = p.ThroughSeq
	hotStart := int64(minute.Of(m.o.Now().Add(-m.o.Hot)))
	for _, c := range p.Cells {
		if c.Minute < hotStart {
			m.loadColdBase(c.Minute, c.AdID)
		}
	}
	m.dedupRefs(&p, true)
	for _, c := range p.Cells {
		m.markDirty(c.Minute, c.AdID)
	}
	m.o.Window.AddCells(p.Cells)
	m.merged.Inc()
}

func (m *Merger) markDirty(mi int64, ad string) {
	ads := m.dirty[mi]
	if ads == nil {
		ads = map[string]struct{}{}
		m.dirty[mi] = ads
	}
	ads[ad] = struct{}{}
	m.touched[mi] = m.o.Now()
}

// loadColdBase brings an evicted minute's stored total for an ad back into the
// window before a late partial adds to it, so the store gets the new total. The
// country breakdown of evicted minutes is not kept: it lands as "ZZ".
func (m *Merger) loadColdBase(mi int64, ad string) {
	if m.coldBase[mi][ad] {
		return
	}
	if m.o.Window.AdTotal(mi, ad) == 0 {
		n, err := m.o.Store.Sum("clicks", ad, mi, mi+1)
		if err != nil {
			m.o.Logger.Error("late partial: stored total unreadable", "ad", ad, "minute", mi, "err", err)
		} else if n > 0 {
			m.o.Window.Add(mi, ad, window.Country{'Z', 'Z'}, n)
		}
	}
	if m.coldBase[mi] == nil {
		m.coldBase[mi] = map[string]bool{}
	}
	m.coldBase[mi][ad] = true
}

func (m *Merger) markUnstored(mi int64, ad string) {
	s := m.unstored[mi]
	if s == nil {
		s = map[string]struct{}{}
		m.unstored[mi] = s
	}
	s[ad] = struct{}{}
}
