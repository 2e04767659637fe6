package merge

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Cross-edge dedup. Each edge counts an impression at most once; the merge makes
// that hold across edges. It remembers every counted impression until it expires,
// and when a second edge counts one again, the earliest click (by receive time, then
// edge id) keeps the count: a later click is dropped, an earlier one moves the count
// to its own minute. Both clicks are merged before complete_through passes either
// minute, so counts are final once it has.
//
// The set is not in the commit log: on start it is rebuilt by replaying, in stream
// order, the applied partials of the last DedupWindow from the hub stream, which
// reproduces exactly the decisions made the first time.

type imp struct {
	timeMs  int64
	exp     int64
	edge    string
	minute  int64
	ad      string
	country [2]byte
}

// earlier orders clicks of one impression: time, then edge id.
func earlier(t1 int64, e1 string, t2 int64, e2 string) bool {
	return t1 < t2 || t1 == t2 && e1 < e2
}

// dedupRefs applies p's refs to the impression set. With live set it adjusts
// p.Cells and the window; replaying, it only rebuilds the set.
func (m *Merger) dedupRefs(p *wire.Partial, live bool) {
	now := m.o.Now().Unix()
	for _, r := range p.Refs {
		c := &p.Cells[r.Cell]
		prev, seen := m.imps[r.ImpressionID]
		cur := imp{r.TimeMs, r.ExpiresAt, p.Edge, c.Minute, c.AdID, c.Country}
		switch {
		case !seen || prev.exp < now:
			m.imps[r.ImpressionID] = cur
			continue
		case earlier(r.TimeMs, p.Edge, prev.timeMs, prev.edge):
			m.imps[r.ImpressionID] = cur
			if live {
				m.o.Window.Sub(prev.minute, prev.ad, window.Country(prev.country), 1)
				m.markDirty(prev.minute, prev.ad)
			}
		default:
			if live {
				c.Clicks--
			}
		}
		if live {
			m.crossDups.Inc()
		}
	}
}

// sweepImps forgets expired impressions.
func (m *Merger) sweepImps() {
	now := m.o.Now().Unix()
	for id, e := range m.imps {
		if e.exp < now {
			delete(m.imps, id)
		}
	}
}

// rebuildImps replays applied partials of the last DedupWindow.
func (m *Merger) rebuildImps(ctx context.Context) error {
	s, err := m.o.JS.Stream(ctx, wire.PartialsStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return err
	}
	start := m.o.Now().Add(-m.o.DedupWindow)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	if err != nil {
		return err
	}
	began, n := time.Now(), 0
	for done := false; !done; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("replay partials: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, _ := msg.Metadata()
			if md != nil && md.Sequence.Stream >= info.State.LastSeq {
				done = true
			}
			p, err := wire.DecodePartial(msg.Data())
			if err != nil || p.Heartbeat() || p.ThroughSeq > m.applied[source{p.Edge, p.Epoch}] {
				continue // undecodable, heartbeat, or not applied yet: the consumer delivers it
			}
			m.dedupRefs(&p, false)
			n++
		}
		done = done || got == 0
	}
	m.o.Logger.Info("impression set rebuilt", "partials", n, "impressions", len(m.imps), "took", time.Since(began))
	return nil
}
