// Package agg pre-aggregates an edge's journal into partial minute counts. It reads
// the edge's CLICKS stream in order, sums counted clicks per (minute, ad, country),
// and publishes a wire.Partial every Interval, even when idle, so the core always
// learns the edge's watermark.
//
// Exactly-once rests on one rule: partials cover consecutive journal sequences, and
// the next partial starts where the last published one ended. On start the
// aggregator reads its own last partial back from the PARTIALS stream, so a crash
// between reading clicks and publishing them re-publishes the same range, never a
// gap and never an overlap.
package agg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Watermarker is the journal's promise about what is in the stream.
type Watermarker interface {
	// LowWatermark returns a unix ms time before which every click is in the stream.
	LowWatermark() int64
}

// Options configure an Aggregator.
type Options struct {
	JS       jetstream.JetStream
	Edge     string
	Epoch    uint64
	Journal  Watermarker
	Interval time.Duration // publish period; default 500 ms, so the core sees a click within ~1 s
	// MaxCells bounds one partial; a larger backlog is published in several.
	MaxCells int
	Logger   *slog.Logger
}

type cellKey struct {
	minute  int64
	ad      string
	country [2]byte
	dims    string // the filters' labels (wire.Dims)
}

type pendingRef struct {
	ref  wire.Ref
	cell cellKey
}

// Aggregator runs in one goroutine (Run).
type Aggregator struct {
	o       Options
	through uint64 // last journal sequence covered by a published partial
	wm      int64  // last published watermark
	cells   map[cellKey]uint64
	refs    []pendingRef
	pending uint64 // journal sequence read but not yet published
	clicks  []wire.Click
	cons    jetstream.Consumer // reads the journal from pending+1 on; nil after an error

	// Published counts partials published; for metrics and tests.
	Published func(p *wire.Partial, took time.Duration)
}

// New returns an aggregator; Run starts it.
func New(o Options) *Aggregator {
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.MaxCells == 0 {
		o.MaxCells = 50000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Aggregator{o: o, cells: make(map[cellKey]uint64)}
}

// Run publishes partials until ctx ends, then publishes once more (the final flush
// of a graceful shutdown) and returns.
func (a *Aggregator) Run(ctx context.Context) error {
	if err := a.resume(ctx); err != nil {
		return err
	}
	clicks, err := a.o.JS.Stream(ctx, wire.ClicksStream)
	if err != nil {
		return fmt.Errorf("agg: %w", err)
	}
	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return a.tick(fctx, clicks)
		case <-t.C:
			if err := a.tick(ctx, clicks); err != nil && ctx.Err() == nil {
				a.o.Logger.Warn("aggregate", "err", err)
			}
		}
	}
}

// resume finds where the last published partial of this epoch ended.
func (a *Aggregator) resume(ctx context.Context) error {
	s, err := a.o.JS.Stream(ctx, wire.PartialsStream)
	if err != nil {
		return fmt.Errorf("agg: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, wire.PartialsSubject(a.o.Edge))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agg: last partial: %w", err)
	}
	p, err := wire.DecodePartial(m.Data)
	if err != nil {
		return fmt.Errorf("agg: last partial: %w", err)
	}
	if p.Epoch == a.o.Epoch {
		a.through, a.wm = p.ThroughSeq, p.WatermarkMs
	}
	a.pending = a.through
	return nil
}

// tick reads the journal up to what it held when the watermark was taken and
// publishes what it read with that watermark.
func (a *Aggregator) tick(ctx context.Context, s jetstream.Stream) error {
	wm := a.o.Journal.LowWatermark()
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	target := info.State.LastSeq
	if target > a.pending {
		if a.cons == nil {
			a.cons, err = s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: a.pending + 1})
			if err != nil {
				return err
			}
		}
		for a.pending < target {
			if err := a.read(ctx, a.cons, target); err != nil {
				a.cons = nil // start over from a.pending next time
				return err
			}
			if len(a.cells) >= a.o.MaxCells && a.pending < target {
				// Mid-backlog: the watermark stays where it was.
				if err := a.publish(ctx, a.wm); err != nil {
					return err
				}
			}
		}
	}
	return a.publish(ctx, max(wm, a.wm))
}

func (a *Aggregator) read(ctx context.Context, cons jetstream.Consumer, target uint64) error {
	batch, err := cons.Fetch(int(min(target-a.pending, 256)), jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	n := 0
	for m := range batch.Messages() {
		n++
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq <= a.pending { // ordered consumers may redeliver after a reset
			continue
		}
		a.clicks, err = wire.DecodeClicks(a.clicks[:0], m.Data())
		if err != nil {
			// A batch this edge wrote itself does not decode: count nothing from it,
			// say so loudly, and move on rather than stall the edge forever.
			a.o.Logger.Error("journal batch does not decode; skipped", "seq", seq, "err", err)
		}
		for i := range a.clicks {
			c := &a.clicks[i]
			if c.Outcome == wire.OutcomeCounted {
				k := cellKey{int64(minute.OfMillis(c.TimeMs)), c.AdID, c.Country, wire.Dims(c.Labels)}
				a.cells[k]++
				a.refs = append(a.refs, pendingRef{wire.Ref{ImpressionID: c.ImpressionID, TimeMs: c.TimeMs, ExpiresAt: c.ExpiresAt}, k})
			}
		}
		a.pending = seq
		if seq >= target {
			break
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
		return err
	}
	if n == 0 {
		return fmt.Errorf("journal read stalled at %d of %d", a.pending, target)
	}
	return nil
}

func (a *Aggregator) publish(ctx context.Context, wm int64) error {
	p := wire.Partial{Edge: a.o.Edge, Epoch: a.o.Epoch, FromSeq: a.through + 1, ThroughSeq: a.pending, WatermarkMs: wm}
	if len(a.cells) > 0 {
		p.Cells = make([]wire.Cell, 0, len(a.cells))
		for k, n := range a.cells {
			p.Cells = append(p.Cells, wire.Cell{Minute: k.minute, AdID: k.ad, Country: k.country, Dims: k.dims, Clicks: n})
		}
		wire.SortCells(p.Cells)
		index := make(map[cellKey]uint32, len(p.Cells))
		for i, c := range p.Cells {
			index[cellKey{c.Minute, c.AdID, c.Country, c.Dims}] = uint32(i)
		}
		p.Refs = make([]wire.Ref, len(a.refs))
		for i, r := range a.refs {
			p.Refs[i] = r.ref
			p.Refs[i].Cell = index[r.cell]
		}
	}
	start := time.Now()
	_, err := a.o.JS.Publish(ctx, wire.PartialsSubject(a.o.Edge), wire.AppendPartial(nil, &p), jetstream.WithMsgID(p.MsgID()))
	if err != nil {
		return fmt.Errorf("publish partial %s: %w", p.MsgID(), err)
	}
	a.through, a.wm = p.ThroughSeq, wm
	clear(a.cells)
	a.refs = a.refs[:0]
	if a.Published != nil {
		a.Published(&p, time.Since(start))
	}
	return nil
}
