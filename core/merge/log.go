package merge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/clickagg/clickagg/pkg/wire"
)

// The commit log makes the merged state durable together with the position it
// covers, so a restart neither loses nor re-applies a partial. It is a file of
// records (layout in FORMAT.md):
//
//	u32 len | u32 crc32c(payload) | payload
//	payload: kind (3 full, 4 delta; 1 and 2 are the same without dims, still read)
//	         hub seq:    uvarint, the last PARTIALS sequence applied
//	         applied:    uvarint n, n × (edge, u64 epoch, uvarint through)
//	         watermarks: uvarint n, n × (edge, varint unix ms)
//	         minutes:    uvarint n, n × (varint minute, uvarint cells, cells × (ad, 2-byte country, dims, uvarint clicks))
//
// Every record carries the whole applied map and the full contents of each minute it
// names, so replaying records in order (a full record resets) rebuilds the state,
// and a torn last record is simply dropped: its partials are redelivered by
// JetStream because they were never acked.

const (
	recFull  byte = 3
	recDelta byte = 4
	// Kinds 1 and 2 are full and delta records written before cells had dims.
	recFullV1  byte = 1
	recDeltaV1 byte = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type source struct {
	edge  string
	epoch uint64
}

type record struct {
	kind    byte
	hubSeq  uint64
	applied map[source]uint64
	wms     map[string]int64
	minutes map[int64][]wire.Cell
}

func appendRecord(dst []byte, r *record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, r.kind)
	dst = binary.AppendUvarint(dst, r.hubSeq)
	dst = binary.AppendUvarint(dst, uint64(len(r.applied)))
	for s, through := range r.applied {
		dst = appendStr(dst, s.edge)
		dst = binary.BigEndian.AppendUint64(dst, s.epoch)
		dst = binary.AppendUvarint(dst, through)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.wms)))
	for e, wm := range r.wms {
		dst = appendStr(dst, e)
		dst = binary.AppendVarint(dst, wm)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.minutes)))
	for m, cells := range r.minutes {
		dst = binary.AppendVarint(dst, m)
		dst = binary.AppendUvarint(dst, uint64(len(cells)))
		for _, c := range cells {
			dst = appendStr(dst, c.AdID)
			dst = append(dst, c.Country[:]...)
			dst = appendStr(dst, c.Dims)
			dst = binary.AppendUvarint(dst, c.Clicks)
		}
	}
	payload := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt record")

type dec struct {
	b   []byte
	bad bool
}

func (d *dec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) v() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) raw(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.raw(d.uv())) }

func decodeRecord(p []byte) (*record, error) {
	if len(p) == 0 {
		return nil, errCorrupt
	}
	d := &dec{b: p}
	r := &record{kind: d.raw(1)[0], applied: map[source]uint64{}, wms: map[string]int64{}, minutes: map[int64][]wire.Cell{}}
	hasDims := r.kind == recFull || r.kind == recDelta
	switch r.kind {
	case recFullV1:
		r.kind = recFull
	case recDeltaV1:
		r.kind = recDelta
	}
	r.hubSeq = d.uv()
	for n := d.uv(); n > 0 && !d.bad; n-- {
		e := d.str()
		ep := d.raw(8)
		if d.bad {
			break
		}
		r.applied[source{e, binary.BigEndian.Uint64(ep)}] = d.uv()
	}
	for n := d.uv(); n > 0 && !d.bad; n-- {
		e := d.str()
		r.wms[e] = d.v()
	}
	for n := d.uv(); n > 0 && !d.bad; n-- {
		m := d.v()
		nc := d.uv()
		if nc > uint64(len(d.b)) {
			return nil, errCorrupt
		}
		cells := make([]wire.Cell, 0, nc)
		for ; nc > 0 && !d.bad; nc-- {
			c := wire.Cell{Minute: m, AdID: d.str()}
			copy(c.Country[:], d.raw(2))
			if hasDims {
				c.Dims = d.str()
			}
			c.Clicks = d.uv()
			cells = append(cells, c)
		}
		r.minutes[m] = cells
	}
	if d.bad || len(d.b) != 0 || (r.kind != recFull && r.kind != recDelta) {
		return nil, errCorrupt
	}
	return r, nil
}

// commitLog appends records with fsync.
type commitLog struct {
	path string
	f    *os.File
	size int64
	full int64 // size of the last full record
}

// openLog replays the log at path through fn and opens it for appending. A torn or
// corrupt tail is cut off.
func openLog(path string, fn func(*record)) (*commitLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	l := &commitLog{path: path, f: f}
	br := bufio.NewReaderSize(f, 1<<20)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n > 1<<30 {
			break
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil || crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			break
		}
		r, err := decodeRecord(p)
		if err != nil {
			break
		}
		fn(r)
		if r.kind == recFull {
			l.full = int64(n) + 8
		}
		l.size += int64(n) + 8
	}
	if err := f.Truncate(l.size); err != nil {
		f.Close()
		return nil, fmt.Errorf("commit log truncate: %w", err)
	}
	if _, err := f.Seek(l.size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// append writes and fsyncs a record.
func (l *commitLog) append(b []byte) error {
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("commit log write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("commit log sync: %w", err)
	}
	l.size += int64(len(b))
	return nil
}

// rewrite replaces the log with one full record, atomically.
func (l *commitLog) rewrite(b []byte) error {
	tmp := l.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, l.path); err != nil {
		f.Close()
		return err
	}
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		d.Sync()
		d.Close()
	}
	l.f.Close()
	l.f, l.size, l.full = f, int64(len(b)), int64(len(b))
	return nil
}

func (l *commitLog) close() error { return l.f.Close() }
