// Package raw keeps every raw click the edges journaled, accepted or rejected, and
// uses them to prove the merged counts. It reads the hub's RAW stream (every
// edge's journal, sourced), holds each minute's records in memory until every edge
// is known to have delivered that minute, then seals the minute: it decides once
// and for all which clicks count (the first click of an impression across edges,
// by receive time then edge id, the rule the merge follows), applies the fraud
// rules, writes the minute to Parquet (package rawfile), and reconciles the merged
// counts of the minute with a recount of its raw clicks, adjusting the merge where
// they differ. Queries filtered by IP or user id are answered from here.
//
// Why a second path: the merge is fast and exact by construction, but billing wants
// proof. A recount from the raw records is independent of the partials, the
// commit log and the provisional cross-edge dedup, so a bug or a lost partial in
// any of those shows up as a mismatch, an adjustment, a metric and a log line.
package raw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options configure a Store.
type Options struct {
	JS  jetstream.JetStream // the hub's
	Dir string
	// Retention is how long raw files are kept; default 7 days.
	Retention time.Duration
	// DedupWindow is how long counted impressions are remembered for the
	// cross-edge rule; at least the longest impression TTL. Default 2 h.
	DedupWindow time.Duration
	// Hot is the merge's hot window: minutes older than it are sealed and stored
	// but not reconciled (the merge no longer holds their breakdown). Default 24 h.
	Hot time.Duration
	// Edges lists the registered edges: each one holds sealing back until it has
	// delivered (a decommissioned edge no longer does).
	Edges func(ctx context.Context) ([]string, error)
	// Progress is the merge's per-edge progress (merge.Merger.Progress).
	Progress func() map[string]merge.Progress
	// Reconcile makes the merged counts of a minute equal the recount
	// (merge.Merger.Reconcile). Nil: mismatches are reported, not adjusted.
	Reconcile func(ctx context.Context, minute int64, want []wire.Cell) ([]merge.Adjustment, error)
	// Store receives per-ad minute totals of subtracted (fraudulent) clicks as
	// metric "fraud", for billable counts beyond the hot window. Optional.
	Store *store.Store
	// Rules are the fraud rules; nil: DefaultRules.
	Rules *Rules
	// MaxHold is how long a minute waits in memory for every edge to deliver it
	// before it is sealed anyway, unreconciled; default 15 min (at 10k clicks/s
	// ~9M records, ~2 GB).
	MaxHold time.Duration
	// Tick is how often sealing is tried; default 1 s.
	Tick    time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *metrics.Set
}

// Rules are the core's fraud rules, applied when a minute is sealed, in time
// order, to clicks that count.
type Rules struct {
	// IPClicksPerMinute: clicks from one IP on one ad in one minute beyond this
	// many are subtracted (rule "ip-burst"); 0 turns the rule off.
	IPClicksPerMinute int
	// ScoreAtLeast: clicks a filter flagged with at least this fraud score
	// (0..1000) are subtracted (rule "filter-score"); 0 turns it off.
	ScoreAtLeast uint32
}

// DefaultRules: 20 clicks a minute from one address on one ad is far above what
// people behind one NAT do on one ad; 800 is where the example filters' "likely
// bot" scores start.
var DefaultRules = Rules{IPClicksPerMinute: 20, ScoreAtLeast: 800}

// Rule names in Row.Fraud and in the reconciliation report.
const (
	RuleIPBurst     = "ip-burst"
	RuleFilterScore = "filter-score"
)

// Store is safe for concurrent use; Run drives it.
type Store struct {
	o     Options
	files *rawfile.Files
	rep   *report
	fraud *window.Window // subtracted clicks per minute, ad, country and labels

	mu         sync.RWMutex
	buf        map[int64]*pending  // unsealed minutes
	sealed     int64               // every minute ≤ sealed is in files; -1: none yet
	imps       map[[16]byte]uint32 // counted impressions → expiry (unix s), as of the sealed minutes
	seen       map[string]position // per edge: the last journal position read
	rawWm      map[string]int64    // per edge: every click before it is held here (unix ms)
	behind     []string            // decommissioned edges whose merged clicks are not all here
	registered []string            // the edges as of the last tick

	// Only Run's goroutine touches these.
	cp       checkpoint
	hubSeq   uint64 // last RAW sequence ingested
	replayTo uint64 // after a restart: nothing is sealed before hubSeq reaches it
	late     []rawfile.Row
	lateSeq  uint64 // first RAW sequence in late
	ready    chan struct{}

	ingested, bad, lateRows, sealedMin, mismatches, adjusted, subtracted *metrics.Counter
	sealDur                                                              *metrics.Histogram
}

// pending is an unsealed minute's records.
type pending struct {
	rows   []rawfile.Row
	minSeq uint64 // first RAW sequence that brought a record of the minute
}

// position is where an edge's journal has been read to.
type position struct{ epoch, seq uint64 }

// Open opens the raw files, the checkpoint and the reconciliation report.
func Open(o Options) (*Store, error) {
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 2 * time.Hour
	}
	if o.Hot == 0 {
		o.Hot = 24 * time.Hour
	}
	if o.Rules == nil {
		o.Rules = &DefaultRules
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.MaxHold == 0 {
		o.MaxHold = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.JS == nil || o.Edges == nil || o.Progress == nil {
		return nil, errors.New("raw: JS, Edges and Progress are required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	s := &Store{o: o, fraud: window.New(), buf: map[int64]*pending{}, sealed: -1, imps: map[[16]byte]uint32{},
		seen: map[string]position{}, rawWm: map[string]int64{}, ready: make(chan struct{})}
	var err error
	if s.files, err = rawfile.Open(rawfile.Options{Dir: filepath.Join(o.Dir, "files"), Retention: o.Retention,
		Now: o.Now, Logger: o.Logger}); err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	if s.cp, err = readCheckpoint(filepath.Join(o.Dir, "checkpoint.json")); err != nil {
		s.files.Close()
		return nil, fmt.Errorf("raw: %w", err)
	}
	s.sealed, s.hubSeq = s.cp.Sealed, s.cp.Consumed
	for e, p := range s.cp.Seen {
		s.seen[e] = position{p[0], p[1]}
	}
	for e, wm := range s.cp.RawWm {
		s.rawWm[e] = wm
	}
	if s.rep, err = openReport(filepath.Join(o.Dir, "reconciliation.log"), s.fraud); err != nil {
		s.files.Close()
		return nil, fmt.Errorf("raw: %w", err)
	}
	ms := o.Metrics
	s.ingested = ms.NewCounter(`clickagg_core_raw_records_total`)
	s.bad = ms.NewCounter(`clickagg_core_raw_batches_undecodable_total`)
	s.lateRows = ms.NewCounter(`clickagg_core_raw_late_records_total`)
	s.sealedMin = ms.NewCounter(`clickagg_core_raw_minutes_sealed_total`)
	s.mismatches = ms.NewCounter(`clickagg_core_reconcile_mismatched_minutes_total`)
	s.adjusted = ms.NewCounter(`clickagg_core_reconcile_adjusted_cells_total`)
	s.subtracted = ms.NewCounter(`clickagg_core_fraud_subtracted_clicks_total`)
	s.sealDur = ms.NewHistogram(`clickagg_core_raw_seal_duration_seconds`)
	ms.NewGauge(`clickagg_core_raw_files`, func() float64 { return float64(s.files.Stats().Files) })
	ms.NewGauge(`clickagg_core_raw_bytes`, func() float64 { return float64(s.files.Stats().Bytes) })
	ms.NewGauge(`clickagg_core_raw_unsealed_records`, func() float64 { return float64(s.Unsealed()) })
	return s, nil
}

// Ready is closed once Run has rebuilt its impression set.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Sealed returns the last sealed minute (-1: none): clicks of it and every
// earlier minute are final in the raw files and reconciled.
func (s *Store) Sealed() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sealed
}

// Unsealed is how many records wait in memory for their minute to be sealed.
func (s *Store) Unsealed() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, p := range s.buf {
		n += len(p.rows)
	}
	return n
}

// Close closes the files; call it after Run has returned.
func (s *Store) Close() error {
	return errors.Join(s.rep.close(), s.files.Close())
}

// consumerName is the hub's durable consumer the raw store reads through.
const consumerName = "raw"

// Run ingests and seals until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	if err := s.rebuildImps(ctx); err != nil {
		return fmt.Errorf("raw: rebuild impression set: %w", err)
	}
	close(s.ready)
	cons, err := s.consumer(ctx)
	if err != nil {
		return fmt.Errorf("raw consumer: %w", err)
	}
	// Seal nothing until the replay has read as far as the checkpoint's positions
	// are from (or as far as the stream goes, if it holds less).
	s.replayTo = s.cp.ReadThrough
	if st, err := s.o.JS.Stream(ctx, wire.RawStream); err == nil {
		if info, err := st.Info(ctx); err == nil {
			s.replayTo = min(s.replayTo, info.State.LastSeq)
		}
	}
	// Ticks run on the wall clock; Options.Now is the clock of data (retention,
	// the hot window, expiries).
	next := time.Now().Add(s.o.Tick)
	housekeep := time.Now()
	var clicks []wire.Click
	for ctx.Err() == nil {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				s.o.Logger.Warn("raw fetch", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			clicks = s.ingest(msg, clicks[:0])
		}
		if now := time.Now(); !now.Before(next) {
			if err := s.tick(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Error("raw seal", "err", err)
			}
			next = now.Add(s.o.Tick)
		}
		if now := time.Now(); now.Sub(housekeep) > 5*time.Minute {
			s.housekeep()
			housekeep = now
		}
	}
	return nil
}

// consumer (re)creates the durable consumer to start right after the checkpoint.
// Positions are the checkpoint's business, so it needs no acks.
func (s *Store) consumer(ctx context.Context) (jetstream.Consumer, error) {
	err := s.o.JS.DeleteConsumer(ctx, wire.RawStream, consumerName)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{Durable: consumerName, AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy}
	if s.cp.Consumed > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.cp.Consumed+1
	}
	return s.o.JS.CreateOrUpdateConsumer(ctx, wire.RawStream, cfg)
}

// ingest files one RAW message's records by minute.
func (s *Store) ingest(msg jetstream.Msg, clicks []wire.Click) []wire.Click {
	md, err := msg.Metadata()
	if err != nil {
		s.bad.Inc()
		return clicks
	}
	seq := md.Sequence.Stream
	s.hubSeq = seq
	edge, ok := strings.CutPrefix(msg.Subject(), "clickagg.clicks.")
	if !ok || !wire.ValidEdgeID(edge) {
		s.bad.Inc()
		s.o.Logger.Error("raw batch on an unexpected subject; skipped", "subject", msg.Subject())
		return clicks
	}
	clicks, err = wire.DecodeClicks(clicks, msg.Data())
	if err != nil {
		s.bad.Inc()
		s.o.Logger.Error("raw batch does not decode; skipped", "edge", edge, "seq", seq, "err", err)
		return clicks
	}
	pos, okPos := journalPosition(msg.Headers().Get(jetstream.MsgIDHeader), msg.Headers().Get("Nats-Stream-Source"))
	nowMin := int64(minute.Of(s.o.Now()))
	s.mu.Lock()
	defer s.mu.Unlock()
	if okPos {
		if cur := s.seen[edge]; pos.epoch > cur.epoch || pos.epoch == cur.epoch && pos.seq > cur.seq {
			s.seen[edge] = pos
		}
	}
	for i := range clicks {
		r := toRow(&clicks[i], edge, seq)
		mi := int64(minute.OfMillis(r.TimeMs))
		// A record stamped far ahead (an edge clock gone wrong) would hold the
		// checkpoint back until its minute came: it is stored at once, as late.
		if mi <= s.sealed || mi > nowMin+10 {
			if seq > s.cp.LateThrough { // not yet written by an earlier run
				if len(s.late) == 0 {
					s.lateSeq = seq
				}
				// The cross-edge rule as far as it still can: a late click counts
				// unless its impression already did. Fraud rules saw its minute
				// without it and are not run again.
				if _, dup := s.imps[r.ImpressionID]; !dup && r.Outcome == outcomeCounted {
					r.Counted = true
					s.imps[r.ImpressionID] = uint32(r.ExpiresAt)
				}
				s.late = append(s.late, r)
				s.lateRows.Inc()
			}
			continue
		}
		p := s.buf[mi]
		if p == nil {
			p = &pending{minSeq: seq}
			s.buf[mi] = p
		}
		p.rows = append(p.rows, r)
	}
	s.ingested.Add(len(clicks))
	return clicks
}

// journalPosition reads which edge journal (epoch) and sequence a sourced message
// came from: the epoch from the edge's message id ("<edge>.<epoch hex>.<boot>.<n>",
// package journal), the sequence from the header JetStream adds when sourcing
// ("<stream> <seq> ...").
func journalPosition(msgID, source string) (position, bool) {
	parts := strings.Split(msgID, ".")
	if len(parts) != 4 {
		return position{}, false
	}
	epoch, err1 := strconv.ParseUint(parts[1], 16, 64)
	f := strings.Fields(source)
	if len(f) < 2 || err1 != nil {
		return position{}, false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return position{}, false
	}
	return position{epoch, seq}, true
}

// toRow is a click as stored; Counted and Fraud are decided when its minute is sealed.
func toRow(c *wire.Click, edge string, seq uint64) rawfile.Row {
	r := rawfile.Row{TimeMs: c.TimeMs, Edge: edge, Seq: seq, Outcome: c.Outcome.String(), Reason: c.Reason, Score: c.Score,
		ImpressionID: c.ImpressionID, ExpiresAt: c.ExpiresAt, AdID: c.AdID, UserID: c.UserID, Country: string(c.Country[:])}
	if c.IP.IsValid() {
		r.IP = c.IP.Unmap().String()
	}
	r.Labels = wire.Dims(c.Labels) // as the edge's pre-aggregation keys its cells
	return r
}
