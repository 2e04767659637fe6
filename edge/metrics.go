package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/clickagg/clickagg/edge/agg"
	"github.com/clickagg/clickagg/pkg/wire"
)

// instrument registers the edge-level metrics: flush latency, buffered messages,
// link state, dedup size.
func (n *Node) instrument(a *agg.Aggregator) {
	flush := n.metrics.NewHistogram(`clickagg_edge_flush_duration_seconds`)
	partials := n.metrics.NewCounter(`clickagg_edge_partials_published_total`)
	a.Published = func(p *wire.Partial, took time.Duration) {
		partials.Inc()
		flush.Update(took.Seconds())
	}
	n.metrics.NewGauge(`clickagg_edge_link_up`, func() float64 {
		if n.nats.LeafConnected() {
			return 1
		}
		return 0
	})
	n.metrics.NewGauge(`clickagg_edge_dedup_impressions`, func() float64 { return float64(n.dedup.Len()) })
	n.metrics.NewGauge(`clickagg_edge_journal_pending_clicks`, func() float64 { return float64(n.journal.Pending()) })
	n.metrics.NewGauge(`clickagg_edge_catalog_ads`, func() float64 { return float64(n.catalog.Len()) })
	n.metrics.NewGauge(`clickagg_edge_buffered_messages`, func() float64 { return float64(n.buffered()) })
}

// buffered is how many partials the hub has not yet taken: those not yet delivered,
// and, while the link is down, those delivered but unconfirmed (they will be sent
// again). With the link up, delivered-but-unconfirmed ones are in the hub already:
// flow-control acks come back in windows, so counting them would show a steady
// backlog that is not there.
func (n *Node) buffered() uint64 {
	ctx, cancel := ctxWithTimeout(time.Second)
	defer cancel()
	name, _ := wire.SourceConsumer(wire.PartialsStream, n.o.ID)
	c, err := n.nats.JS.PushConsumer(ctx, wire.PartialsStream, name)
	if err != nil {
		return 0
	}
	i, err := c.Info(ctx)
	if err != nil {
		return 0
	}
	if n.nats.LeafConnected() {
		return i.NumPending
	}
	return i.NumPending + uint64(i.NumAckPending)
}

// reportStatus publishes the edge's status every interval until ctx ends.
func (n *Node) reportStatus(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := wire.EdgeStatus{EdgeID: n.o.ID, AtMs: time.Now().UnixMilli(), Buffered: n.buffered(),
			Pending: n.journal.Pending(), Dedup: n.dedup.Len()}
		for _, f := range n.filters.Filters() {
			s := f.Stats
			st.Filters = append(st.Filters, wire.FilterStatus{Name: f.Name, Version: f.Version, Calls: s.Calls,
				Accepts: s.Accepts, Rejects: s.Rejects, Flags: s.Flags, Traps: s.Traps, Timeouts: s.Timeouts})
		}
		b, _ := json.Marshal(st)
		n.nats.NC.Publish(wire.StatusSubject(n.o.ID), b) // best effort: dropped while cut off
	}
}

// writeFilterMetrics writes each running filter's counters (calls, verdicts,
// traps, timeouts, time spent) in Prometheus text format.
func (n *Node) writeFilterMetrics(w io.Writer) {
	for _, f := range n.filters.Filters() {
		s, l := f.Stats, fmt.Sprintf(`filter=%q,version="%d"`, f.Name, f.Version)
		for _, c := range []struct {
			name string
			v    uint64
		}{{"calls", s.Calls}, {"accepts", s.Accepts}, {"rejects", s.Rejects}, {"flags", s.Flags},
			{"traps", s.Traps}, {"timeouts", s.Timeouts}, {"violations", s.Violations}} {
			fmt.Fprintf(w, "clickagg_edge_filter_%s_total{%s} %d\n", c.name, l, c.v)
		}
		fmt.Fprintf(w, "clickagg_edge_filter_seconds_total{%s} %g\n", l, float64(s.TotalNs)/1e9)
	}
}
