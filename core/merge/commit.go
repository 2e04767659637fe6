package merge

import (
	"maps"
	"time"

	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// compactAt is how large the commit log may grow past its last full record before
// it is rewritten as one full record: 64 MiB, or the full record's own size when
// that is larger. Tying it to the full record keeps the rewrites amortised (at most
// one byte of snapshot per byte of deltas) and a restart's replay at most twice
// the state: at the seed's scale a full record is ~0.5 GB, and a fixed 64 MiB
// would rewrite it every ~16 s.
const compactAt = 64 << 20

// commit makes everything applied so far durable, then acks it.
func (m *Merger) commit() error {
	if m.last == nil && len(m.dirty) == 0 && len(m.unstored) == 0 {
		return m.evict()
	}
	start := time.Now()
	r := &record{kind: recDelta, hubSeq: m.hubSeq, minutes: make(map[int64][]wire.Cell, len(m.dirty))}
	m.mu.Lock()
	r.applied, r.wms = maps.Clone(m.applied), maps.Clone(m.wms)
	m.mu.Unlock()
	for mi := range m.dirty {
		r.minutes[mi] = m.o.Window.MinuteCells(mi)
	}
	m.buf = appendRecord(m.buf[:0], r)
	var err error
	if m.log.size-m.log.full+int64(len(m.buf)) > max(compactAt, m.log.full) {
		err = m.compact(r)
	} else {
		err = m.log.append(m.buf)
	}
	if err != nil {
		return err // not acked: redelivered after a restart
	}
	for mi, ads := range m.dirty {
		for ad := range ads {
			m.markUnstored(mi, ad)
		}
	}
	clear(m.dirty)
	m.store()
	if m.last != nil {
		if err := m.last.Ack(); err != nil {
			m.o.Logger.Warn("ack partials", "err", err) // redelivered; dropped as duplicates
		}
		m.last = nil
	}
	m.commitDur.UpdateDuration(start)
	now := time.Now()
	m.lastCommit.Store(&now)
	m.o.Window.Prepare()
	return m.evict()
}

// compact rewrites the log as one full record of the whole window.
func (m *Merger) compact(r *record) error {
	r.kind = recFull
	for _, mi := range m.o.Window.Minutes() {
		r.minutes[mi] = m.o.Window.MinuteCells(mi)
	}
	m.buf = appendRecord(m.buf[:0], r)
	return m.log.rewrite(m.buf)
}

// store pushes per-ad minute totals; what fails is retried at the next commit.
func (m *Merger) store() {
	if len(m.unstored) == 0 {
		return
	}
	pts := make([]store.Point, 0, 64)
	for mi, ads := range m.unstored {
		for ad := range ads {
			pts = append(pts, store.Point{Metric: "clicks", AdID: ad, Minute: mi, Value: m.o.Window.AdTotal(mi, ad)})
		}
	}
	if err := m.o.Store.Put(pts); err != nil {
		m.o.Logger.Error("store put; will retry", "points", len(pts), "err", err)
		return
	}
	clear(m.unstored)
}

// evict drops settled minutes that left the hot window; the store holds them.
func (m *Merger) evict() error {
	hotStart := int64(minute.Of(m.o.Now().Add(-m.o.Hot)))
	settled := m.o.Now().Add(-time.Minute)
	var drop []int64
	for _, mi := range m.o.Window.Minutes() {
		if mi >= hotStart {
			break
		}
		if t, ok := m.touched[mi]; ok && t.After(settled) || len(m.unstored[mi]) > 0 || len(m.dirty[mi]) > 0 {
			continue
		}
		drop = append(drop, mi)
	}
	if len(drop) == 0 {
		return nil
	}
	for _, mi := range drop {
		m.o.Window.ReplaceMinute(mi, nil)
		delete(m.touched, mi)
		delete(m.coldBase, mi)
	}
	// The log still names these minutes; the next compaction forgets them.
	return nil
}
