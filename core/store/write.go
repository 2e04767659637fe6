package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

const (
	// MaxFuture is how far ahead of the wall clock a Point's minute may lie. VM drops
	// rows more than 48 h ahead of its one-second clock; one minute of slack keeps a
	// row accepted here from being dropped there.
	MaxFuture = 48*time.Hour - time.Minute

	// MaxValue is the largest Point.Value: 2^26-1 (67M clicks of one ad in one
	// minute, 5x the seed's peak for all ads together). VM keeps float64 samples,
	// exact for integers up to 2^53; the 27 bits above the value hold its version
	// (see versioned).
	MaxValue  = 1<<valueBits - 1
	valueBits = 26
	// versionUnit and maxVersion: a version is the write's delay after the start of
	// its minute in 10 ms units, exact for writes within ~15.5 days of the minute
	// (2^27 × 10 ms); later ones share the last version and the larger value wins.
	versionUnit = 10 * time.Millisecond
	maxVersion  = 1<<(53-valueBits) - 1

	// adLabel is the label naming the ad; the metric is VM's metric name (__name__).
	adLabel = "ad"

	// precisionBits 64 makes VM's compression lossless for both timestamps and values.
	precisionBits = 64

	msPerMinute = 60_000
)

// Point is one sample: the cumulative value of a metric for an ad in a minute.
type Point struct {
	Metric string // e.g. "clicks", "fraud"; [a-z_]{1,32}
	AdID   string // [A-Za-z0-9_.-]{1,64}
	Minute int64  // unix minutes (unix seconds / 60)
	Value  uint64 // cumulative value for that (metric, ad, minute), at most MaxValue
}

// Put stores points; an empty batch is a no-op. It validates all of them first and
// writes none if any is invalid (bad metric or ad id, minute older than the
// retention or further ahead than MaxFuture, value above MaxValue).
//
// A (metric, ad, minute) may be Put many times; reads take the latest value (VM
// keeps every sample, so each carries its write time as a version, see versioned),
// so repeating a Put is harmless, and a value that went down (a cross-edge
// duplicate moved away, a reconciliation) is read as it is now. Writes of the same
// (metric, ad, minute) less than 10 ms apart may read as the larger of the two.
//
// Durability: rows reach disk within ~7 s (VM buffers them ≤2 s, then keeps small
// parts in memory ≤5 s) or at Close; a crash loses at most that window. Rows become
// searchable within a few seconds (up to ~10 s for a new series), or at once after
// Flush.
//
// Cost (2 cores, measured): ~0.3 µs per point for existing series (batches of 100
// over 1000 series, ~3M points/s on one goroutine), 0 allocations per call in steady
// state; a point of a new series ~5 µs (index insert). At most GOMAXPROCS Puts run
// inside VM at once; the others wait.
func (s *Store) Put(points []Point) (err error) {
	if len(points) == 0 {
		return nil
	}
	now := time.Now()
	lo, hi := s.minuteBounds(now)
	for i := range points {
		if err := points[i].validate(lo, hi); err != nil {
			return fmt.Errorf("put %d points: point %d: %w", len(points), i, err)
		}
	}
	vm, err := s.acquire("put")
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()

	b := getBatch(points, now)
	defer putBatch(b)
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	defer func() {
		if r := recover(); r != nil {
			err = s.panicError(fmt.Sprintf("put %d points", len(points)), r)
		}
	}()
	vm.AddRows(b.rows, precisionBits)
	return nil
}

// minuteBounds returns the oldest and newest minutes Put accepts at now. The lower
// bound has one minute of slack so a row validated here is not dropped by VM as
// outside the retention a moment later.
func (s *Store) minuteBounds(now time.Time) (lo, hi int64) {
	lo = now.Add(-s.retention+time.Minute).Unix()/60 + 1
	hi = now.Add(MaxFuture).Unix() / 60
	return max(lo, 0), hi
}

func (p *Point) validate(lo, hi int64) error {
	if !validMetric(p.Metric) {
		return fmt.Errorf("%w: %q", ErrInvalidMetric, p.Metric)
	}
	if !validAdID(p.AdID) {
		return fmt.Errorf("%w: %q", ErrInvalidAdID, p.AdID)
	}
	if p.Minute < lo {
		return fmt.Errorf("%w: minute %d < %d (%s ad %s)", ErrTooOld, p.Minute, lo, p.Metric, p.AdID)
	}
	if p.Minute > hi {
		return fmt.Errorf("%w: minute %d > %d (%s ad %s)", ErrTooFarFuture, p.Minute, hi, p.Metric, p.AdID)
	}
	if p.Value > MaxValue {
		return fmt.Errorf("%w: %d > %d (%s ad %s)", ErrValueTooLarge, p.Value, uint64(MaxValue), p.Metric, p.AdID)
	}
	return nil
}

// validMetric reports whether m matches [a-z_]{1,32}.
func validMetric(m string) bool {
	if len(m) == 0 || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// validAdID reports whether id matches [A-Za-z0-9_.-]{1,64}.
func validAdID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// batch holds the VM rows for one Put; pooled so a steady Put allocates nothing.
type batch struct {
	rows  []storage.MetricRow
	names []byte // every row's MetricNameRaw, back to back
}

var batchPool sync.Pool

func getBatch(points []Point, now time.Time) *batch {
	b, _ := batchPool.Get().(*batch)
	if b == nil {
		b = &batch{}
	}
	size := 0
	for i := range points {
		size += rawNameSize(&points[i])
	}
	if cap(b.names) < size {
		b.names = make([]byte, 0, size)
	}
	if cap(b.rows) < len(points) {
		b.rows = make([]storage.MetricRow, 0, len(points))
	}
	b.names, b.rows = b.names[:0], b.rows[:0]
	var prev *Point
	for i := range points {
		p := &points[i]
		// Rows of one series share a name, which also lets VM skip its TSID lookup.
		if prev == nil || p.Metric != prev.Metric || p.AdID != prev.AdID {
			start := len(b.names)
			b.names = appendRawName(b.names, p.Metric, p.AdID)
			b.rows = append(b.rows, storage.MetricRow{MetricNameRaw: b.names[start:len(b.names):len(b.names)]})
		} else {
			b.rows = append(b.rows, storage.MetricRow{MetricNameRaw: b.rows[len(b.rows)-1].MetricNameRaw})
		}
		r := &b.rows[len(b.rows)-1]
		r.Timestamp = p.Minute * msPerMinute
		r.Value = float64(versioned(p, now))
		prev = p
	}
	return b
}

// versioned is the sample value stored for p written at now: its version (the
// write's delay after the minute's start, in versionUnit) above its value, so that
// the largest sample of a minute is its latest write. Samples written before
// versions existed read as version 0, older than any since. Versions come from
// the wall clock: if it steps back, a write in that step can lose to the one
// before it (the store then holds the earlier total until the minute is written
// again).
func versioned(p *Point, now time.Time) uint64 {
	v := (now.UnixMilli() - p.Minute*msPerMinute) / versionUnit.Milliseconds()
	return uint64(min(max(v, 1), maxVersion))<<valueBits | p.Value
}

func putBatch(b *batch) {
	clear(b.rows) // drop references to names
	batchPool.Put(b)
}

// rawNameSize is the length of appendRawName's output: each label is two
// length-prefixed (uint16) strings, the metric's label name being empty.
func rawNameSize(p *Point) int {
	return 2 + 2 + len(p.Metric) + 2 + len(adLabel) + 2 + len(p.AdID)
}

// appendRawName appends the VM raw metric name {__name__=metric, ad=adID}.
func appendRawName(dst []byte, metric, adID string) []byte {
	labels := [2]prompb.Label{{Name: "", Value: metric}, {Name: adLabel, Value: adID}}
	return storage.MarshalMetricNameRaw(dst, labels[:])
}
