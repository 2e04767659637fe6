package rollup

import "os"

// The head cache keeps the first blocks of recently read hour files, decoded, so
// that a dashboard asking for the week's top-10 every few seconds does not open
// 168 files each time: opening and reading one costs ~25 µs, two thirds of such
// a query (bench_test.go). A build or a patch of an hour drops its head.

// maxHeadEntries bounds the cache: ~40 bytes an entry, ~10 MiB; past it, heads
// are dropped at random (Go's map order), which is fine for a cache this cheap
// to refill.
const maxHeadEntries = 1 << 18

// maxHeadRead: only heads read with at most this many bytes are kept (top-N of
// up to ~80 ads); deeper reads are rare and would crowd out the common ones.
const maxHeadRead = 4 << 10

// head is the decoded start of an hour file; immutable.
type head struct {
	first int // the size of the read that filled it
	id    os.FileInfo
	l     list
	off   int64
	read  uint32
}

// cachedReader returns a reader of hour h positioned like a fresh openReader
// with first bytes, from the cache; nil on a miss.
func (r *Rollup) cachedReader(h int64, path string, first int) *reader {
	r.mu.Lock()
	c := r.heads[h]
	r.mu.Unlock()
	if c == nil || c.first < first && c.read < c.l.blocks {
		return nil
	}
	rd := &reader{path: path, id: c.id, l: c.l, off: c.off, read: c.read, next: c.first}
	rd.l.ents = c.l.ents[:len(c.l.ents):len(c.l.ents)] // appends copy
	return rd
}

// keepHead caches a freshly opened reader's head.
func (r *Rollup) keepHead(h int64, rd *reader, first int) {
	if first > maxHeadRead {
		return
	}
	c := &head{first: first, id: rd.id, l: rd.l, off: rd.off, read: rd.read}
	c.l.ents = rd.l.ents[:len(rd.l.ents):len(rd.l.ents)]
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.heads[h]; old != nil {
		r.headEntries -= len(old.l.ents)
	}
	for k, v := range r.heads {
		if r.headEntries+len(c.l.ents) <= maxHeadEntries {
			break
		}
		r.headEntries -= len(v.l.ents)
		delete(r.heads, k)
	}
	r.heads[h] = c
	r.headEntries += len(c.l.ents)
}

// forgetHead drops hour h's head; the caller holds r.mu.
func (r *Rollup) forgetHead(h int64) {
	if c := r.heads[h]; c != nil {
		r.headEntries -= len(c.l.ents)
		delete(r.heads, h)
	}
}
