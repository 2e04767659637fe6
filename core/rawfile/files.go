package rawfile

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultRetention keeps a week of raw clicks: long enough to audit a disputed
	// invoice week, short enough to bound disk use: ~260 GB at a sustained 10k
	// clicks/s, at the ~44 bytes per row bench_test.go measures.
	DefaultRetention = 7 * 24 * time.Hour

	// DefaultRowGroupRows is the rows per Parquet row group. Row groups are the unit
	// that statistics and bloom filters skip and that a matching scan decodes:
	// 64 Ki rows are ~2.8 MB on disk and ~15 ms to decode whole on the 2-core dev VM,
	// so a point lookup (one IP, one user) decodes little more than what it
	// returns, while the per-group cost (footer metadata, 4 bloom filters) stays
	// small next to the data. Analytics engines use 10-100x larger groups for full
	// scans; ours are mostly point lookups (RATIONALE.md).
	DefaultRowGroupRows = 64 << 10
)

// Options configure Open. Zero values take defaults.
type Options struct {
	// Dir holds the hour partitions; required, created if missing. One Files per
	// Dir: a second Open fails with ErrDirInUse.
	Dir string

	// Retention is how long raw clicks are kept; Expire deletes hours that end
	// at or before Now()-Retention. Zero means DefaultRetention.
	Retention time.Duration

	// RowGroupRows is the maximum number of rows per Parquet row group; zero means
	// DefaultRowGroupRows.
	RowGroupRows int

	// Now is the clock Expire reads; nil means time.Now.
	Now func() time.Time

	// Logger receives warnings about files Open cleaned up or could not read.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Files is the raw click store's set of Parquet files under one directory. All
// methods are safe for concurrent use. The zero value is not usable; call Open.
//
// Files keeps one open descriptor per file (about 170 for a week of compacted
// hours, plus the minute files of the hours not yet compacted) and a few hundred
// bytes of catalog per file; footers are parsed per scan, not cached.
type Files struct {
	dir          string
	retention    time.Duration
	rowGroupRows int
	now          func() time.Time
	log          *slog.Logger
	lock         *os.File

	// mu guards hours and closed. Scans hold it for reading only while they take
	// references to the files they will read; writers hold it for writing around the
	// rename that publishes a file (with the directory fsync), so a scan's snapshot
	// is always a set of files that were all current at one instant.
	mu     sync.RWMutex
	hours  map[int64]*hourFiles
	closed bool

	// compactMu serialises Compact and Expire.
	compactMu sync.Mutex

	ctr counters
}

// hourFiles is the catalog of one hour partition.
type hourFiles struct {
	files map[string]*file // by base name
	// absorbed holds the names merged into the hour's compacted file. A name in it
	// can never be written again (ErrCompacted), so a file of that name on disk is
	// always a stale input, and Open deletes it.
	absorbed map[string]bool
	gen      int64 // generation of the compacted file, 0 if none
}

// file is one published file. The catalog holds one reference; each scan or
// compaction reading it holds another, so a file replaced or deleted meanwhile is
// closed only when its last reader is done (its inode lives on until then).
type file struct {
	hour        int64
	name, path  string
	kind        kind
	first, last int64 // unix minutes, inclusive
	rows, size  int64
	absorbs     []string // kindCompacted
	fd          *os.File
	bad         error // set when the footer could not be read at Open; Scan returns it
	refs        atomic.Int32
}

func (e *file) acquire() { e.refs.Add(1) }

func (e *file) release() {
	switch n := e.refs.Add(-1); {
	case n == 0:
		e.fd.Close()
	case n < 0:
		panic("BUG: rawfile: file released more often than acquired: " + e.path)
	}
}

// counters are cumulative scan counters since Open (Stats reports them; tests read
// them to prove that skipping skips).
type counters struct {
	files         atomic.Int64 // files opened by scans
	groups        atomic.Int64 // row groups considered
	skippedStats  atomic.Int64 // row groups skipped by time_ms, ad_id or country min/max
	skippedBloom  atomic.Int64 // row groups skipped by a bloom filter
	skippedColumn atomic.Int64 // row groups skipped after reading the predicate column alone
	decodedGroups atomic.Int64 // row groups whose rows were decoded (wholly or in runs)
	decodedRows   atomic.Int64 // rows decoded into Row values
}

// Open opens the directory, creating it if needed, and recovers from crashed
// writes: it deletes temporary files, hour directories whose expiry was
// interrupted, and files already merged into a compacted file (FORMAT.md, crash
// rules). Files whose footer cannot be read are kept, logged, and reported by the
// Scans and Compacts that reach them.
//
// Cost: one footer read per file (~0.3 ms for a 600k-row minute file, a few ms
// for a compacted hour); a week of compacted hours opens in about a second.
func Open(o Options) (*Files, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("open: %w: Dir is required", ErrInvalidOptions)
	}
	if o.Retention < 0 || o.RowGroupRows < 0 {
		return nil, fmt.Errorf("open %s: %w: negative Retention or RowGroupRows", o.Dir, ErrInvalidOptions)
	}
	f := &Files{
		dir:          o.Dir,
		retention:    cmpOr(o.Retention, DefaultRetention),
		rowGroupRows: cmpOr(o.RowGroupRows, DefaultRowGroupRows),
		now:          o.Now,
		log:          o.Logger,
		hours:        map[int64]*hourFiles{},
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open %s: %w", o.Dir, err)
	}
	lock, err := lockDir(filepath.Join(o.Dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.Dir, err)
	}
	f.lock = lock
	if err := f.load(); err != nil {
		f.releaseAll()
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", o.Dir, err)
	}
	return f, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// load builds the catalog from disk, applying the crash rules.
func (f *Files) load() error {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return err
	}
	cleaned := false
	for _, de := range ents {
		name := de.Name()
		switch {
		case name == lockName:
		case strings.HasPrefix(name, deletingPfx) || strings.HasPrefix(name, tmpPfx):
			// An Expire that crashed after renaming the hour away (or a stray temp).
			f.log.Info("rawfile: removing leftover of an interrupted expiry", "path", filepath.Join(f.dir, name))
			if err := os.RemoveAll(filepath.Join(f.dir, name)); err != nil {
				return err
			}
			cleaned = true
		case de.IsDir():
			hour, ok := parseHourName(name)
			if !ok {
				f.log.Warn("rawfile: ignoring foreign directory", "path", filepath.Join(f.dir, name))
				continue
			}
			if err := f.loadHour(hour); err != nil {
				return err
			}
		default:
			f.log.Warn("rawfile: ignoring foreign file", "path", filepath.Join(f.dir, name))
		}
	}
	if cleaned {
		return syncDir(f.dir)
	}
	return nil
}

// loadHour adds one hour directory to the catalog. Crash rules: temporary files
// are deleted; so is every file named in the absorbs list of the hour's newest
// compacted file (the compaction was published, its inputs not yet all deleted).
func (f *Files) loadHour(hour int64) error {
	dir := filepath.Join(f.dir, hourName(hour))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	h := &hourFiles{files: map[string]*file{}, absorbed: map[string]bool{}}
	f.hours[hour] = h
	removed := false
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, tmpPfx) {
			f.log.Info("rawfile: removing temporary file of an interrupted write", "path", path)
			if err := os.Remove(path); err != nil {
				return err
			}
			removed = true
			continue
		}
		pn, ok := parseName(name)
		if !ok || !de.Type().IsRegular() {
			f.log.Warn("rawfile: ignoring foreign file", "path", path)
			continue
		}
		e, err := f.loadFile(hour, name, path, pn)
		if err != nil {
			return err
		}
		h.files[name] = e
		if pn.kind == kindCompacted && pn.gen > h.gen && e.bad == nil {
			h.gen = pn.gen
		}
	}
	if h.gen > 0 {
		n, err := f.dropAbsorbed(h)
		if err != nil {
			return err
		}
		removed = removed || n > 0
	}
	// Generations must keep growing even if the newest compacted file is unreadable.
	for _, e := range h.files {
		if pn, _ := parseName(e.name); pn.kind == kindCompacted {
			if pn.gen > h.gen {
				f.log.Error("rawfile: newest compacted file is unreadable; its inputs stay visible",
					"path", e.path, "err", e.bad)
			}
			h.gen = max(h.gen, pn.gen)
		}
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// dropAbsorbed deletes the files that the hour's newest compacted file names as
// merged into it (crash rule 3) and marks those names absorbed.
func (f *Files) dropAbsorbed(h *hourFiles) (removed int, err error) {
	newest := h.files[compactName(h.gen)]
	for _, n := range newest.absorbs {
		h.absorbed[n] = true
		e := h.files[n]
		if e == nil {
			continue
		}
		f.log.Info("rawfile: removing file already merged into a compacted file",
			"path", e.path, "compacted", newest.name)
		delete(h.files, n)
		e.release()
		if err := os.Remove(e.path); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// loadFile opens one file and reads its footer metadata. An unreadable footer is
// not an error here: the file is kept with bad set, covering the minutes its name
// implies (its minute, or the whole hour).
func (f *Files) loadFile(hour int64, name, path string, pn parsedName) (*file, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	e := &file{hour: hour, name: name, path: path, kind: pn.kind, fd: fd}
	e.refs.Store(1)
	e.first, e.last = hour*60, hour*60+59
	if pn.kind == kindMinute {
		e.first, e.last = pn.minute, pn.minute
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, err
	}
	e.size = st.Size()
	m, err := readFileMeta(fd, e.size)
	if err == nil && m.kind != pn.kind {
		err = fmt.Errorf("footer says %s file, name says %s", m.kind, pn.kind)
	}
	if err == nil && m.first <= m.last && (hourOf(m.first) != hour || hourOf(m.last) != hour) {
		err = fmt.Errorf("minutes %d-%d outside hour %s", m.first, m.last, hourName(hour))
	}
	if err != nil {
		e.bad = fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		f.log.Error("rawfile: unreadable file kept; scans of its minutes will fail", "path", path, "err", err)
		return e, nil
	}
	e.first, e.last, e.rows, e.absorbs = m.first, m.last, m.rows, m.absorbs
	return e, nil
}

// readFileMeta parses the footer of the file open on fd, recovering panics of the
// Parquet decoder on malformed input.
func readFileMeta(fd *os.File, size int64) (m fileMeta, err error) {
	err = guard(func() error {
		pf, err := openParquet(fd, size)
		if err != nil {
			return err
		}
		m, err = readMeta(pf)
		return err
	})
	return m, err
}

// guard runs fn, turning a panic of the Parquet decoder on malformed input into an
// error. Callers never run user callbacks inside guard.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet decoder panic: %v", r)
		}
	}()
	return fn()
}

// Close releases the directory and every file. It waits for a running Compact or
// Expire (a compaction of a full hour takes about a minute); scans in flight
// finish on the files they hold. Later calls of any method return ErrClosed;
// Close itself is idempotent.
func (f *Files) Close() error {
	f.compactMu.Lock()
	defer f.compactMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.releaseAll()
	return f.lock.Close()
}

func (f *Files) releaseAll() {
	for _, h := range f.hours {
		for _, e := range h.files {
			e.release()
		}
	}
	f.hours = nil
}

// Stats describes the files at one instant; for metrics.
type Stats struct {
	Files, Rows, Bytes int64 // Rows excludes files with unreadable footers
	Hours              int   // hour partitions holding files
	Corrupt            int   // files whose footer could not be read at Open
	// OldestHour and NewestHour are the start times of the oldest and newest hour
	// partitions, UTC; zero when there are none.
	OldestHour, NewestHour time.Time

	// Cumulative scan counters since Open.
	ScannedFiles     int64 // files opened by scans (after pruning by name and minute range)
	ScannedRowGroups int64 // row groups considered in those files
	SkippedRowGroups int64 // of those, skipped by statistics, bloom filters or the predicate column
	DecodedRowGroups int64 // of those, decoded (wholly or in runs of matching rows)
	DecodedRows      int64 // rows decoded into Row values
	BloomSkipped     int64 // row groups skipped by a bloom filter (part of SkippedRowGroups)
}

// Stats returns the catalog's totals and the scan counters. Cost: one pass over the
// catalog under a read lock (~20 ns per file).
func (f *Files) Stats() Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var s Stats
	var hours []int64 // with files; an hour emptied by WriteMinute(m, nil) stays until Expire
	for _, hour := range slices.Sorted(maps.Keys(f.hours)) {
		h := f.hours[hour]
		if len(h.files) > 0 {
			hours = append(hours, hour)
		}
		for _, e := range h.files {
			s.Files++
			s.Bytes += e.size
			s.Rows += e.rows
			if e.bad != nil {
				s.Corrupt++
			}
		}
	}
	if s.Hours = len(hours); s.Hours > 0 {
		s.OldestHour = time.Unix(hours[0]*3600, 0).UTC()
		s.NewestHour = time.Unix(hours[len(hours)-1]*3600, 0).UTC()
	}
	c := &f.ctr
	s.ScannedFiles = c.files.Load()
	s.ScannedRowGroups = c.groups.Load()
	s.BloomSkipped = c.skippedBloom.Load()
	s.SkippedRowGroups = c.skippedStats.Load() + s.BloomSkipped + c.skippedColumn.Load()
	s.DecodedRowGroups = c.decodedGroups.Load()
	s.DecodedRows = c.decodedRows.Load()
	return s
}

// errIfClosed must be called with mu held.
func (f *Files) errIfClosed(op string) error {
	if f.closed {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return nil
}
