package merge

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Progress is how far the merger has applied one edge's journal: every click the
// edge received before WatermarkMs is in journal sequences ≤ Through of journal
// Epoch, and all of those are merged. The raw store reads the same journal; once
// it has read through Through of Epoch, it too holds every click before WatermarkMs.
type Progress struct {
	Epoch       uint64
	Through     uint64
	WatermarkMs int64
}

// Progress returns each edge's progress as one consistent snapshot: a watermark
// never comes with a sequence older than the partial that carried it.
func (m *Merger) Progress() map[string]Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Progress, len(m.wms))
	for src, through := range m.applied {
		if p, ok := out[src.edge]; !ok || src.epoch > p.Epoch {
			out[src.edge] = Progress{Epoch: src.epoch, Through: through}
		}
	}
	for e, wm := range m.wms {
		p := out[e]
		p.WatermarkMs = wm
		out[e] = p
	}
	return out
}

// Adjustment is one cell a reconciliation changed: Before is what the merge had
// counted, After what the raw clicks say.
type Adjustment struct {
	Minute  int64
	AdID    string
	Country [2]byte
	Dims    string
	Before  uint64
	After   uint64
}

type reconcileReq struct {
	minute int64
	want   []wire.Cell
	reply  chan reconcileReply
}

type reconcileReply struct {
	adj []Adjustment
	err error
}

// errNotRunning answers a reconciliation when Run has stopped (or never ran).
var errNotRunning = errors.New("merge: not running")

// Reconcile makes one closed minute's counts equal want (every cell of the minute
// the raw clicks count, Clicks > 0) and returns what it changed. It runs on the
// merge goroutine, so it never interleaves with a partial, and a change is
// committed (commit log, then store) before Reconcile returns, so that a caller
// that records the minute as reconciled never outlives the change in a crash.
func (m *Merger) Reconcile(ctx context.Context, minute int64, want []wire.Cell) ([]Adjustment, error) {
	r := reconcileReq{minute, want, make(chan reconcileReply, 1)}
	select {
	case m.reqs <- r:
	case <-m.stopped:
		return nil, errNotRunning
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep.adj, rep.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type cellKey struct {
	ad      string
	country [2]byte
	dims    string
}

// reconcile runs a request on the merge goroutine.
func (m *Merger) reconcile(r reconcileReq) {
	have := map[cellKey]uint64{}
	for _, c := range m.o.Window.MinuteCells(r.minute) {
		have[cellKey{c.AdID, c.Country, c.Dims}] = c.Clicks
	}
	want := make(map[cellKey]uint64, len(r.want))
	for _, c := range r.want {
		want[cellKey{c.AdID, c.Country, c.Dims}] += c.Clicks
	}
	var adj []Adjustment
	for _, k := range sortedKeys(have, want) {
		h, w := have[k], want[k]
		if h == w {
			continue
		}
		if w > h {
			m.o.Window.AddCells([]wire.Cell{{Minute: r.minute, AdID: k.ad, Country: k.country, Dims: k.dims, Clicks: w - h}})
		} else {
			m.o.Window.Sub(r.minute, k.ad, window.Country(k.country), k.dims, h-w)
		}
		m.markDirty(r.minute, k.ad)
		adj = append(adj, Adjustment{Minute: r.minute, AdID: k.ad, Country: k.country, Dims: k.dims, Before: h, After: w})
	}
	var err error
	if len(adj) > 0 {
		err = m.commit()
	}
	r.reply <- reconcileReply{adj, err}
}

// sortedKeys returns the union of both maps' keys in a stable order, so that
// adjustments are reported the same way every time.
func sortedKeys(a, b map[cellKey]uint64) []cellKey {
	u := maps.Clone(a)
	maps.Copy(u, b)
	keys := make([]cellKey, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y cellKey) int {
		return cmp.Or(strings.Compare(x.ad, y.ad), bytes.Compare(x.country[:], y.country[:]), strings.Compare(x.dims, y.dims))
	})
	return keys
}
