package rawfile

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// compactRetries bounds the attempts per hour when writers keep replacing the
// hour's files while it is merged (a re-seal or a late id written again); after
// that the hour is left for the next Compact.
const compactRetries = 3

// Compact merges the files of every hour partition that ends at or before minute
// before (unix minutes) and holds more than one file into one compacted file
// h-<generation>.parquet, sorted by (AdID, TimeMs). Late files arriving for an
// already compacted hour are merged by a later Compact, with the compacted file.
// An hour whose files keep being replaced while it is merged is left for the next
// Compact. Hours are independent: an hour that fails (e.g. an unreadable input, wrapped
// ErrCorrupt) is left as it was and reported in the joined error, the others are
// compacted.
//
// After an hour is compacted, its minute and late files of the merged names can no
// longer be replaced (ErrCompacted): call Compact only for hours whose minutes
// will not be re-sealed.
//
// Crash-safe: the compacted file names the files it replaces in its footer and is
// published by one rename before any input is deleted; Open deletes inputs a
// published compacted file names. Every row is visible exactly once before, during
// and after, and after a crash at any point. Safe to run alongside Scan and
// Write*; Compact and Expire run one at a time.
//
// Cost (bench_test.go, 2-core VM): a k-way merge of the hour's files, ~1.6 µs of
// CPU per row (~60 s for a full 36M-row hour), ~3 MB of memory per input file for
// its readers' current pages (~180 MB peak heap for 60 inputs), and the hour's size
// again on disk until the inputs are deleted. A late file for a compacted hour
// costs a rewrite of the whole hour.
func (f *Files) Compact(before int64) error {
	f.compactMu.Lock()
	defer f.compactMu.Unlock()
	f.mu.RLock()
	if err := f.errIfClosed("compact"); err != nil {
		f.mu.RUnlock()
		return err
	}
	var hours []int64
	for hour, h := range f.hours {
		if hour*60+60 <= before && len(h.files) > 1 {
			hours = append(hours, hour)
		}
	}
	f.mu.RUnlock()
	slices.Sort(hours)
	var errs []error
	for _, hour := range hours {
		var err error
		for range compactRetries {
			if err = f.compactHour(hour); !errors.Is(err, errStale) {
				break
			}
		}
		if errors.Is(err, errStale) {
			f.log.Info("rawfile: hour not compacted: its files kept being replaced; next Compact retries",
				"hour", hourName(hour))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("compact hour %s: %w", hourName(hour), err))
		}
	}
	return errors.Join(errs...)
}

// compactHour merges the current files of one hour.
func (f *Files) compactHour(hour int64) error {
	f.mu.RLock()
	h := f.hours[hour]
	if f.closed || h == nil || len(h.files) < 2 {
		f.mu.RUnlock()
		return nil
	}
	inputs := slices.SortedFunc(maps.Values(h.files), func(a, b *file) int { return cmp.Compare(a.name, b.name) })
	for _, e := range inputs {
		e.acquire()
	}
	m := fileMeta{kind: kindCompacted, first: hour*60 + 59, last: hour * 60}
	absorbed := maps.Clone(h.absorbed)
	gen := h.gen + 1
	f.mu.RUnlock()
	defer func() {
		for _, e := range inputs {
			e.release()
		}
	}()

	for _, e := range inputs {
		if e.bad != nil {
			return e.bad
		}
		absorbed[e.name] = true
		m.rows += e.rows
		if e.rows > 0 {
			m.first, m.last = min(m.first, e.first), max(m.last, e.last)
		}
	}
	m.absorbs = slices.Sorted(maps.Keys(absorbed))

	mg, err := newMerge(inputs)
	if err != nil {
		return err
	}
	dir := filepath.Join(f.dir, hourName(hour))
	e, tmp, err := f.writeFile(dir, hour, compactName(gen), &m, mg.all)
	if mg.err != nil {
		if err == nil {
			e.fd.Close()
			os.Remove(tmp)
		}
		return mg.err
	}
	if err != nil {
		return err
	}
	if err := f.publish(e, tmp, inputs); err != nil {
		return err
	}
	// Published: the inputs are garbage now. A crash from here on leaves some of
	// them on disk, and Open deletes them because e names them.
	for _, in := range inputs {
		if err := os.Remove(in.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncDir(dir)
}

// merge is a k-way merge of sorted files by (AdID, TimeMs).
type merge struct {
	heap cursorHeap
	err  error // first decoding error; all stops early when set
}

// cursor reads one input's row groups in order.
type cursor struct {
	e      *file
	groups []parquet.RowGroup // not yet started
	r      *groupReader       // current group, nil when exhausted
	buf    []Row
	i, n   int
}

// mergeBatch rows are buffered per input: 61 inputs hold ~3 MB of Rows.
const mergeBatch = 256

func newMerge(inputs []*file) (*merge, error) {
	mg := &merge{}
	for _, e := range inputs {
		if e.rows == 0 {
			continue
		}
		c := &cursor{e: e, buf: make([]Row, mergeBatch)}
		err := guard(func() error {
			pf, err := openParquet(e.fd, e.size)
			if err != nil {
				return err
			}
			c.groups = pf.RowGroups()
			return nil
		})
		if err == nil {
			err = c.fill()
		}
		if err != nil {
			if c.r != nil {
				c.r.close()
			}
			mg.close()
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, e.path, err)
		}
		if c.n > 0 {
			mg.heap = append(mg.heap, c)
		}
	}
	heap.Init(&mg.heap)
	return mg, nil
}

// fill refills c.buf; c.n == 0 afterwards means the input is exhausted.
func (c *cursor) fill() error {
	c.i, c.n = 0, 0
	return guard(func() error {
		for {
			if c.r == nil {
				if len(c.groups) == 0 {
					return nil
				}
				c.r, c.groups = newGroupReader(c.groups[0]), c.groups[1:]
			}
			n, err := c.r.read(c.buf)
			if err == io.EOF {
				c.r.close()
				c.r = nil
				continue
			}
			c.n = n
			return err
		}
	})
}

// all yields every row of the inputs in order, stopping early (with mg.err set) on
// a decoding error. The yielded *Row is valid until the next one.
func (mg *merge) all(yield func(*Row) bool) {
	defer mg.close()
	for len(mg.heap) > 0 {
		c := mg.heap[0]
		if !yield(&c.buf[c.i]) {
			return
		}
		if c.i++; c.i == c.n {
			if err := c.fill(); err != nil {
				mg.err = fmt.Errorf("%w: %s: %w", ErrCorrupt, c.e.path, err)
				return
			}
			if c.n == 0 {
				heap.Pop(&mg.heap)
				continue
			}
		}
		heap.Fix(&mg.heap, 0)
	}
}

func (mg *merge) close() {
	for _, c := range mg.heap {
		if c.r != nil {
			c.r.close()
		}
	}
	mg.heap = nil
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	return compareRows(&a.buf[a.i], &b.buf[b.i]) < 0
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// Expire deletes the hour partitions that end at or before Now()-Retention. An
// hour is first renamed to .del-<hour> (one atomic step, so no scan or Open ever
// sees part of it) and then removed; Open finishes removals a crash interrupted.
// Scans in flight keep reading the expired files they hold.
func (f *Files) Expire() error {
	f.compactMu.Lock()
	defer f.compactMu.Unlock()
	cutoff := f.now().Add(-f.retention).Unix()
	f.mu.Lock()
	if err := f.errIfClosed("expire"); err != nil {
		f.mu.Unlock()
		return err
	}
	var gone []string
	var err error
	for _, hour := range slices.Sorted(maps.Keys(f.hours)) {
		if (hour+1)*3600 > cutoff {
			break
		}
		name := hourName(hour)
		del := filepath.Join(f.dir, deletingPfx+name)
		if err = os.Rename(filepath.Join(f.dir, name), del); err != nil {
			break
		}
		for _, e := range f.hours[hour].files {
			e.release()
		}
		delete(f.hours, hour)
		gone = append(gone, del)
	}
	if len(gone) > 0 {
		if serr := syncDir(f.dir); err == nil {
			err = serr
		}
	}
	f.mu.Unlock()
	for _, del := range gone {
		if rerr := os.RemoveAll(del); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("expire: %w", err)
	}
	return nil
}
