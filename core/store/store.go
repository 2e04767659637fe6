package store

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

const (
	// DefaultRetention keeps a year of history plus a month, enough for
	// year-over-year comparisons of a whole month.
	DefaultRetention = 400 * 24 * time.Hour

	// MinRetention is VictoriaMetrics' documented minimum (-retentionPeriod=1d); its
	// indexdb rotates once per retention period, which is not meant to be shorter.
	MinRetention = 24 * time.Hour

	// MaxRetention is VictoriaMetrics' ceiling (100 × 12 × 31 days); longer values are
	// silently lowered by VM, so Open rejects them.
	MaxRetention = 100 * 12 * 31 * 24 * time.Hour
)

// Options configure Open. Zero values take defaults.
type Options struct {
	// Dir holds the data; required. Created if missing. One Store per Dir: a second
	// Open of the same Dir, in this process or another, fails with ErrDirInUse.
	Dir string

	// Retention is how long minutes are kept, from now backwards; zero means
	// DefaultRetention, otherwise it must lie in [MinRetention, MaxRetention].
	// VictoriaMetrics drops data in whole monthly partitions, so old minutes stay
	// readable up to about one month past Retention; Put rejects older ones (ErrTooOld).
	Retention time.Duration

	// CacheBytes caps the memory VictoriaMetrics' caches may take (its
	// -memory.allowedBytes); zero means DefaultCacheBytes. VM's own default is 60%
	// of the machine's RAM, which at 10M ads let a core grow past 7 GB. The budget is
	// process-wide: the first Open in a process sets it.
	CacheBytes int64

	// Logger receives VictoriaMetrics' own log lines (INFO as Debug, WARN, ERROR) and
	// this package's. Nil means slog.Default(). VM has one global log output: while
	// several stores are open, VM lines go to the most recently opened one's Logger.
	Logger *slog.Logger
}

// Store is durable per-(metric, ad, minute) click history on VictoriaMetrics' storage
// engine. All methods are safe for concurrent use. The zero value is not usable; call
// Open.
type Store struct {
	dir       string
	retention time.Duration
	log       *slog.Logger

	// mu guards vm: every operation holds it for reading, Close for writing, so Close
	// waits for operations in flight and vm is never used after MustClose.
	mu sync.RWMutex
	vm *storage.Storage // nil once closed

	// sem bounds concurrent AddRows calls to GOMAXPROCS, as VM asks of callers to
	// bound memory (each call holds a ~8 MB insert context).
	sem chan struct{}
}

// Open opens (creating if needed) the store in opts.Dir.
//
// Cost (2 cores, measured): ~20–25 ms on an empty or small directory; it starts ~43
// background goroutines, which Close stops.
// The first Open in a process also seals VictoriaMetrics' global state (see the
// package doc).
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("open: %w: Dir is required", ErrInvalidOptions)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Retention < MinRetention || opts.Retention > MaxRetention {
		return nil, fmt.Errorf("open %s: %w: Retention %v outside [%v, %v]",
			opts.Dir, ErrInvalidOptions, opts.Retention, MinRetention, MaxRetention)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w: %w", opts.Dir, ErrInvalidOptions, err)
	}
	if err := initVM(opts.CacheBytes); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	s := &Store{
		dir:       dir,
		retention: opts.Retention,
		log:       opts.Logger,
		sem:       make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	if err := reg.add(s); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		reg.remove(s)
		return nil, err
	}
	return s, nil
}

func (s *Store) open() (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err = s.panicError("open "+s.dir, r)
		if strings.Contains(err.Error(), "cannot acquire lock") {
			err = fmt.Errorf("open %s: %w (locked by another process): %w", s.dir, ErrDirInUse, err)
		}
	}()
	s.vm = storage.MustOpenStorage(s.dir, storage.OpenOptions{Retention: s.retention})
	return nil
}

// Close flushes everything to disk, stops VM's background goroutines and releases
// the directory. It waits for operations in flight; later calls return ErrClosed.
// Close is idempotent: calls after the first return nil.
//
// Cost: ~70 ms for a small store (measured; VM writes its caches and parts), more with
// much unflushed data.
func (s *Store) Close() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vm == nil {
		return nil
	}
	defer func() {
		s.vm = nil
		reg.remove(s)
		if r := recover(); r != nil {
			err = s.panicError("close "+s.dir, r)
		}
	}()
	s.vm.MustClose()
	return nil
}

// Flush makes every Put that returned before it searchable. It does not fsync:
// flushed data may still sit in in-memory parts that VM writes to disk within ~5 s.
// Flush on a closed store does nothing; a VM failure is logged (Flush has no error).
//
// Cost: ~8 ms (measured on a small store); each call creates small parts that VM
// merges later, so flushing after every Put slows ingestion. Call it when fresh data
// must be readable at once (tests, a periodic tick), not per Put.
func (s *Store) Flush() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.vm == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			_ = s.panicError("flush "+s.dir, r)
		}
	}()
	s.vm.DebugFlush()
}

// acquire returns the open VM storage with s.mu read-locked; the caller must call
// s.mu.RUnlock. It fails with ErrClosed after Close.
func (s *Store) acquire(op string) (*storage.Storage, error) {
	s.mu.RLock()
	if s.vm == nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("%s %s: %w", op, s.dir, ErrClosed)
	}
	return s.vm, nil
}

// panicError turns a panic recovered from VM into an ErrBackend error and logs it
// with its stack.
func (s *Store) panicError(op string, r any) error {
	cause, ok := r.(error)
	if !ok {
		cause = fmt.Errorf("%v", r)
	}
	err := fmt.Errorf("%s: %w: %w", op, ErrBackend, cause)
	s.log.Error("store: recovered VictoriaMetrics panic",
		slog.String("op", op), slog.Any("err", cause), slog.String("stack", string(debug.Stack())))
	return err
}

// Stats are cheap counters for /metrics, read from VM's UpdateMetrics.
type Stats struct {
	Rows         uint64 // samples stored (pending + in memory + on disk), before merges drop nothing
	PendingRows  uint64 // samples not yet searchable (Flush makes them so)
	ActiveSeries uint64 // (metric, ad) series written in the current or previous hour
	NewSeries    uint64 // series created since Open
	Parts        uint64 // data parts; grows with Flush calls until VM merges them
	DataBytes    uint64 // size of sample data, in memory and on disk
	IndexBytes   uint64 // size of the series index, in memory and on disk
	DroppedRows  uint64 // rows VM refused since Open; stays 0 unless validation and VM disagree
}

// Stats returns current counters; the zero Stats after Close.
//
// Cost: ~150 µs (measured; a directory listing plus walking VM's caches and parts):
// fine per scrape, not per request.
func (s *Store) Stats() Stats {
	vm, err := s.acquire("stats")
	if err != nil {
		return Stats{}
	}
	defer s.mu.RUnlock()
	var m storage.Metrics
	func() {
		defer func() {
			if r := recover(); r != nil {
				_ = s.panicError("stats "+s.dir, r)
			}
		}()
		vm.UpdateMetrics(&m)
	}()
	tm, im := &m.TableMetrics, &m.IndexDBMetrics
	return Stats{
		Rows:         tm.TotalRowsCount(),
		PendingRows:  tm.PendingRows,
		ActiveSeries: m.HourMetricIDCacheSize,
		NewSeries:    m.NewTimeseriesCreated,
		Parts:        tm.InmemoryPartsCount + tm.SmallPartsCount + tm.BigPartsCount,
		DataBytes:    tm.InmemorySizeBytes + tm.SmallSizeBytes + tm.BigSizeBytes,
		IndexBytes:   im.InmemorySizeBytes + im.FileSizeBytes,
		DroppedRows:  m.TooSmallTimestampRows + m.TooBigTimestampRows + m.InvalidRawMetricNames,
	}
}
