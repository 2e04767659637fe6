package merge

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
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

// imp is a counted impression: 16 bytes, so 36M of them (an hour at 10k clicks/s)
// take ~1.5 GB with the map's overhead. Its ad is not kept: every click of an
// impression is of the ad its token names. Its minute is that of timeMs.
type imp struct {
	timeMs  int64
	exp     uint32 // unix seconds
	edge    uint16 // index into Merger.edgeNames
	country [2]byte
	dims    uint16 // index into Merger.dimNames: the click's filter labels
}

// edgeIndex interns an edge id.
func (m *Merger) edgeIndex(e string) uint16 {
	if i, ok := m.edgeIdx[e]; ok {
		return i
	}
	i := uint16(len(m.edgeNames))
	m.edgeNames = append(m.edgeNames, e)
	m.edgeIdx[e] = i
	return i
}

// dimsIndex interns a label set. Label sets are few (filters' labels are
// bounded); past 65535 distinct ones the rest share the overflow dimension.
func (m *Merger) dimsIndex(d string) uint16 {
	if i, ok := m.dimIdx[d]; ok {
		return i
	}
	if len(m.dimNames) >= 1<<16-1 {
		return m.dimsIndex(wire.DimsOverflow)
	}
	i := uint16(len(m.dimNames))
	m.dimNames = append(m.dimNames, d)
	m.dimIdx[d] = i
	return i
}

// CompareClicks orders clicks of one impression by the counting rule: receive
// time (unix ms), then edge id; the first one counts. The raw store's recount
// orders by the same function.
func CompareClicks(t1 int64, e1 string, t2 int64, e2 string) int {
	return cmp.Or(cmp.Compare(t1, t2), strings.Compare(e1, e2))
}

// dedupRefs applies p's refs to the impression set. With live set it adjusts
// p.Cells and the window; replaying, it only rebuilds the set.
func (m *Merger) dedupRefs(p *wire.Partial, live bool) {
	edge := m.edgeIndex(p.Edge)
	for _, r := range p.Refs {
		c := &p.Cells[r.Cell]
		prev, seen := m.imps[r.ImpressionID]
		cur := imp{r.TimeMs, uint32(r.ExpiresAt), edge, c.Country, m.dimsIndex(c.Dims)}
		switch {
		case !seen: // (a counted click is always before its impression's expiry)
			m.imps[r.ImpressionID] = cur
			continue
		case CompareClicks(r.TimeMs, p.Edge, prev.timeMs, m.edgeNames[prev.edge]) < 0:
			m.imps[r.ImpressionID] = cur
			if live {
				pm := int64(minute.OfMillis(prev.timeMs))
				m.o.Window.Sub(pm, c.AdID, window.Country(prev.country), m.dimNames[prev.dims], 1)
				m.markDirty(pm, c.AdID)
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

// sweepSlack is how long an impression is remembered past its expiry: a partial
// carrying another edge's click of it (made before the expiry) can still arrive
// that much later and be recognised as a duplicate. Later than that (an edge cut
// off longer) the fast path counts it provisionally and the raw store's
// reconciliation takes it back.
const sweepSlack = 10 * time.Minute

// sweepImps forgets impressions that expired more than sweepSlack ago.
func (m *Merger) sweepImps() {
	cutoff := m.o.Now().Add(-sweepSlack).Unix()
	for id, e := range m.imps {
		if int64(e.exp) < cutoff {
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
	var last uint64
	for done := false; !done; {
		// Ask only for what remains: a batch larger than that waits out FetchMaxWait.
		want := int(min(1000, info.State.LastSeq-min(last, info.State.LastSeq)))
		if want == 0 {
			break
		}
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("replay partials: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, _ := msg.Metadata()
			if md != nil {
				last = md.Sequence.Stream
				done = last >= info.State.LastSeq
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
