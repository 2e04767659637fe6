// Package hist is a small log-linear (HDR-style) histogram of non-negative
// integers, used by clickbench for latencies in nanoseconds. Values below 128 are
// kept exactly; above, every power of two is split into 128 equal sub-buckets, so a
// reported percentile is within 1/128 (0.79 %) of the true value. It exists so the
// benchmark needs no HDR module: ~200 lines do what it needs.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the precision: 2^subBits linear sub-buckets per power of two. 7 gives
// ≤ 0.79 % relative error with 8 KB of counters per histogram (values < 2^40).
const (
	subBits  = 7
	subCount = 1 << subBits
	// maxExp caps the tracked range at 2^40 ns (about 18 minutes); larger values are
	// clamped into the top bucket (and still set Max exactly).
	maxExp  = 40
	buckets = (maxExp - subBits + 1) * subCount // e in [0, maxExp-subBits-1], plus the exact range
)

// Histogram counts values in log-linear buckets. The zero value is not usable; call
// New. Record, Merge and the readers are safe for concurrent use (atomic counters,
// no locks); a reader concurrent with writers sees a consistent-enough snapshot.
type Histogram struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Uint64 // stored as value+1 so 0 means "none"
	max    atomic.Uint64
}

// New returns an empty histogram (about 8 KB).
func New() *Histogram { return &Histogram{} }

// index maps v to its bucket: exact below subCount, then subCount buckets of width
// 2^e for each range [2^(e+subBits), 2^(e+subBits+1)).
func index(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	if e > maxExp-subBits-1 {
		return buckets - 1
	}
	return (e+1)<<subBits + int(v>>uint(e)) - subCount
}

// highest is the largest value that maps to bucket i.
func highest(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := i>>subBits - 1
	low := uint64(i-(e+1)<<subBits+subCount) << uint(e)
	return low + (1 << uint(e)) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[index(u)].Add(1)
	h.n.Add(1)
	h.sum.Add(u)
	for {
		m := h.max.Load()
		if u <= m || h.max.CompareAndSwap(m, u) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && u+1 >= m) || h.min.CompareAndSwap(m, u+1) {
			break
		}
	}
}

// RecordDuration records d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every count of o into h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > 0 {
		for {
			cur := h.max.Load()
			if m <= cur || h.max.CompareAndSwap(cur, m) {
				break
			}
		}
	}
	if m := o.min.Load(); m != 0 {
		for {
			cur := h.min.Load()
			if (cur != 0 && m >= cur) || h.min.CompareAndSwap(cur, m) {
				break
			}
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() int64 { return int64(h.max.Load()) }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() int64 {
	if m := h.min.Load(); m > 0 {
		return int64(m - 1)
	}
	return 0
}

// Mean is the arithmetic mean (exact), 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0, 1]: the highest value equivalent
// to the ceil(q·n)-th smallest recorded value, clamped to [Min, Max], so it is at
// most 1/128 above the true value and never below it. 0 when empty. Cost: a walk
// over the ~4 400 buckets.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(1, min(rank, n))
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := int64(highest(i))
			return max(h.Min(), min(v, h.Max()))
		}
	}
	return h.Max()
}

// QuantileDuration is Quantile for a histogram of nanoseconds.
func (h *Histogram) QuantileDuration(q float64) time.Duration { return time.Duration(h.Quantile(q)) }
