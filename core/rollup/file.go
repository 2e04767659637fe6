package rollup

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clickagg/clickagg/pkg/minute"

	"github.com/clickagg/clickagg/core/internal/durable"
)

// The hour file, drawn in FORMAT.md: a 64-byte header, then the ranking in blocks
// of blockEntries entries, each block checksummed on its own so that a query can
// read and trust a prefix of the ranking without reading the rest.
const (
	magic      = "clkrank1"
	headerSize = 64
	blockHead  = 8 // payload length, CRC-32C of the payload

	// blockEntries is how many entries a block holds: ~1 KiB with 12-byte ad ids.
	// A top-10 over a week under Zipf traffic reads the first block of each hour
	// and no more (bench_test.go); smaller blocks would add checksums and reads,
	// larger ones decode entries never used (the decoding of the entries read is
	// a third of such a query's time).
	blockEntries = 64

	// minRead is the least a query reads of an hour file at first: the header and
	// the first block.
	minRead = 1 << 10

	// maxRead caps one read-ahead when a query goes deeper.
	maxRead = 1 << 20

	fileExt = ".top"
	tmpMark = durable.TempMark
)

// Flags in the header.
const (
	// flagProvisional: built before complete_through passed the hour's end, because
	// the hour was about to leave the hot window.
	flagProvisional uint32 = 1 << iota
	// flagPatched: late clicks that came after the hour left the hot window were
	// patched in (the counts of the ads they touched were recomputed).
	flagPatched
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one ad's clicks in an hour.
type entry struct {
	ad string
	n  uint64
}

// before orders entries: clicks descending, then ad id ascending.
func before(x, y entry) int { return cmp.Or(cmp.Compare(y.n, x.n), strings.Compare(x.ad, y.ad)) }

// list is one hour's ranking.
//
// Invariants (checked when read): ents is ordered by before, no ad twice; every
// listed count is ≥ floor; every ad not listed had at most floor clicks in the
// hour. A listed count is the ad's clicks in the hour, or more (see RATIONALE.md:
// counts are never lowered, because the store never lowers a minute).
type list struct {
	hour    int64  // unix minute of the hour's first minute
	k       uint32 // the depth the ranking was cut at
	floor   uint64 // largest count of an ad not listed; 0 if every ad is listed
	total   uint64 // clicks of all ads in the hour, as of the last full build
	builtMs int64  // unix ms of the last build or patch
	flags   uint32
	blocks  uint32 // when read: how many blocks the file holds
	n       uint32 // when read: how many entries the file holds
	ents    []entry
}

// fileName is the hour's file name: its UTC start, "2026-11-22T10.top".
func fileName(hour int64) string {
	return minute.Minute(hour).Time().Format("2006-01-02T15") + fileExt
}

// parseName is fileName's inverse; ok is false for any other name.
func parseName(name string) (hour int64, ok bool) {
	base, found := strings.CutSuffix(name, fileExt)
	if !found {
		return 0, false
	}
	t, err := time.Parse("2006-01-02T15", base)
	if err != nil {
		return 0, false
	}
	return int64(minute.Of(t)), true
}

// encode renders the file.
func (l *list) encode() []byte {
	nb := (len(l.ents) + blockEntries - 1) / blockEntries
	buf := make([]byte, headerSize, headerSize+len(l.ents)*16+nb*blockHead)
	copy(buf, magic)
	le := binary.LittleEndian
	le.PutUint64(buf[8:], uint64(l.hour))
	le.PutUint32(buf[16:], uint32(len(l.ents)))
	le.PutUint32(buf[20:], l.k)
	le.PutUint64(buf[24:], l.floor)
	le.PutUint64(buf[32:], l.total)
	le.PutUint64(buf[40:], uint64(l.builtMs))
	le.PutUint32(buf[48:], l.flags)
	le.PutUint32(buf[52:], uint32(nb))
	le.PutUint32(buf[60:], crc32.Checksum(buf[:60], castagnoli))
	for i := 0; i < len(l.ents); i += blockEntries {
		blk := l.ents[i:min(i+blockEntries, len(l.ents))]
		at := len(buf)
		buf = append(buf, make([]byte, blockHead)...)
		buf = binary.AppendUvarint(buf, blk[0].n)
		prev := blk[0].n
		for _, e := range blk {
			buf = binary.AppendUvarint(buf, uint64(len(e.ad)))
			buf = append(buf, e.ad...)
			buf = binary.AppendUvarint(buf, prev-e.n)
			prev = e.n
		}
		payload := buf[at+blockHead:]
		le.PutUint32(buf[at:], uint32(len(payload)))
		le.PutUint32(buf[at+4:], crc32.Checksum(payload, castagnoli))
	}
	return buf
}

// decodeHeader reads the header of b into l.
func (l *list) decodeHeader(b []byte) error {
	if len(b) < headerSize {
		return fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	if string(b[:8]) != magic {
		return fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:8])
	}
	le := binary.LittleEndian
	if crc32.Checksum(b[:60], castagnoli) != le.Uint32(b[60:]) {
		return fmt.Errorf("%w: header checksum", ErrCorrupt)
	}
	l.hour, l.n, l.k = int64(le.Uint64(b[8:])), le.Uint32(b[16:]), le.Uint32(b[20:])
	l.floor, l.total, l.builtMs = le.Uint64(b[24:]), le.Uint64(b[32:]), int64(le.Uint64(b[40:]))
	l.flags, l.blocks = le.Uint32(b[48:]), le.Uint32(b[52:])
	if l.n > 0 && l.blocks != (l.n+blockEntries-1)/blockEntries || l.n == 0 && l.blocks != 0 {
		return fmt.Errorf("%w: %d entries in %d blocks", ErrCorrupt, l.n, l.blocks)
	}
	return nil
}

// decodeBlock appends one block's entries (payload without its head) to l.ents,
// checking the list's order and floor.
func (l *list) decodeBlock(p []byte) error {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return fmt.Errorf("%w: block base", ErrCorrupt)
	}
	p = p[k:]
	start := len(l.ents)
	for len(p) > 0 {
		size, k := binary.Uvarint(p)
		if k <= 0 || size == 0 || size > uint64(len(p)-k) {
			return fmt.Errorf("%w: entry %d: ad id", ErrCorrupt, len(l.ents))
		}
		ad := string(p[k : k+int(size)])
		p = p[k+int(size):]
		d, k := binary.Uvarint(p)
		if k <= 0 || d > n {
			return fmt.Errorf("%w: entry %d: count", ErrCorrupt, len(l.ents))
		}
		p, n = p[k:], n-d
		e := entry{ad, n}
		if i := len(l.ents); i > 0 && before(l.ents[i-1], e) >= 0 || n < l.floor {
			return fmt.Errorf("%w: entry %d out of order or below the floor", ErrCorrupt, i)
		}
		l.ents = append(l.ents, e)
	}
	// Every block but the last is full; the last ends the list.
	if got := len(l.ents) - start; got == 0 || got > blockEntries || got < blockEntries && uint32(len(l.ents)) != l.n ||
		uint32(len(l.ents)) > l.n {
		return fmt.Errorf("%w: block of %d entries", ErrCorrupt, got)
	}
	return nil
}

// reader reads an hour file's ranking a prefix at a time, so that a query over
// a long window reads a few KiB per hour instead of whole files. It opens the
// file for each read and keeps nothing open in between (a 400-day window spans
// 9600 files).
type reader struct {
	path string
	id   os.FileInfo // the file read first; a rebuild renames another over it
	l    list
	off  int64  // file offset of the next block
	read uint32 // blocks decoded
	next int    // size of the next read-ahead
}

// openReader reads the header and at least the first block: first bytes, or
// more if the first block is larger.
func openReader(path string, first int) (*reader, error) {
	first = max(first, minRead)
	r := &reader{path: path, next: first}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if r.id, err = f.Stat(); err != nil {
		return nil, err
	}
	buf := make([]byte, first)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := r.l.decodeHeader(buf[:n]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.off = headerSize
	if err := r.decode(buf[headerSize:n]); err != nil {
		return nil, err
	}
	if r.read == 0 && r.l.blocks > 0 {
		if _, err := r.more(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// readList reads a whole hour file.
func readList(path string) (*list, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeList(path, b)
}

// decodeList decodes a whole hour file read from path.
func decodeList(path string, b []byte) (*list, error) {
	r := &reader{path: path}
	if err := r.l.decodeHeader(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.off = headerSize
	r.l.ents = make([]entry, 0, r.l.n)
	if err := r.decode(b[headerSize:]); err != nil {
		return nil, err
	}
	if r.read != r.l.blocks || r.off != int64(len(b)) {
		return nil, fmt.Errorf("%s: %w: %d bytes after %d of %d blocks", path, ErrCorrupt, int64(len(b))-r.off, r.read, r.l.blocks)
	}
	return &r.l, nil
}

// decode decodes the whole blocks at the start of b, which starts at r.off.
func (r *reader) decode(b []byte) error {
	le := binary.LittleEndian
	for r.read < r.l.blocks && len(b) >= blockHead {
		size := int(le.Uint32(b))
		if len(b)-blockHead < size {
			break
		}
		p := b[blockHead : blockHead+size]
		if crc32.Checksum(p, castagnoli) != le.Uint32(b[4:]) {
			return fmt.Errorf("%s: %w: block %d checksum", r.path, ErrCorrupt, r.read)
		}
		if err := r.l.decodeBlock(p); err != nil {
			return fmt.Errorf("%s: block %d: %w", r.path, r.read, err)
		}
		r.read++
		r.off += int64(blockHead + size)
		b = b[blockHead+size:]
	}
	return nil
}

// exhausted reports whether every entry has been read.
func (r *reader) exhausted() bool { return r.read == r.l.blocks }

// more reads at least one more block (reading ahead, twice as much as last
// time); false when there was none left.
func (r *reader) more() (bool, error) {
	if r.exhausted() {
		return false, nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || r.id == nil || !os.SameFile(fi, r.id) {
		return false, errReplaced
	}
	for {
		buf := make([]byte, r.next)
		n, err := f.ReadAt(buf, r.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read %s: %w", r.path, err)
		}
		before := r.read
		if err := r.decode(buf[:n]); err != nil {
			return false, err
		}
		r.next = min(2*r.next, maxRead)
		if r.read > before {
			return true, nil
		}
		if n < len(buf) || n < blockHead { // the file ends inside a block
			return false, fmt.Errorf("%s: %w: truncated at block %d", r.path, ErrCorrupt, r.read)
		}
		// A block larger than the read: read it whole.
		r.next = max(r.next, blockHead+int(binary.LittleEndian.Uint32(buf)))
	}
}

// errReplaced: the hour file was rebuilt while a query read it; the query
// starts again.
var errReplaced = errors.New("hour file replaced while read")

// frontier bounds the count of any ad not yet read: the last count read while
// entries remain, the floor once all are read.
func (r *reader) frontier() uint64 {
	if r.exhausted() || len(r.l.ents) == 0 {
		return r.l.floor
	}
	return max(r.l.ents[len(r.l.ents)-1].n, r.l.floor)
}

// writeFile writes data to dir/name atomically (durable.WriteFile): a crash leaves
// either the old file or the new one, and at worst a temporary file that Open
// removes.
func writeFile(dir, name string, data []byte) error {
	return durable.WriteFile(filepath.Join(dir, name), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// sameRanking reports whether two lists rank the same (a rebuild that finds
// nothing changed does not rewrite the file).
func sameRanking(a, b *list) bool {
	return a.floor == b.floor && a.total == b.total && a.k == b.k && a.flags == b.flags &&
		slices.Equal(a.ents, b.ents)
}

// String renders the head of the list, for test failures and debugging.
func (l *list) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "hour %s floor %d total %d:", minute.Minute(l.hour), l.floor, l.total)
	for _, e := range l.ents[:min(len(l.ents), 8)] {
		fmt.Fprintf(&b, " %s=%d", e.ad, e.n)
	}
	return b.String()
}
