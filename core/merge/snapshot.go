package merge

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/clickagg/clickagg/core/internal/durable"
)

// A snapshot of the impression set, written when Run stops cleanly, spares a
// restart the replay of the hub stream (97 s at the seed's scale, bench/seed):
// reading it back is a sequential read of 34 bytes per impression. It is used only
// if it was taken at exactly the commit log's hub sequence, i.e. nothing was
// merged after it; after a crash the set is rebuilt from the stream as before.
//
// Layout (little endian): "CAIS" | version u8 | hubSeq u64 | names u16, then each
// edge name (u8 length, bytes) | dims u16, then each label set (u16 length, bytes)
// | count u64 | count × (id [16] | timeMs i64 | exp u32 | edge u16 | country [2] |
// dims u16).
const (
	snapMagic   = "CAIS"
	snapVersion = 1
	snapEntry   = 16 + 8 + 4 + 2 + 2 + 2
)

func (m *Merger) snapPath() string { return filepath.Join(m.o.Dir, "imps.snap") }

// saveImps writes the snapshot (temp file, fsync, rename).
func (m *Merger) saveImps() error {
	began := time.Now()
	err := durable.WriteFile(m.snapPath(), func(w io.Writer) error {
		var b []byte
		b = append(b, snapMagic...)
		b = append(b, snapVersion)
		b = binary.LittleEndian.AppendUint64(b, m.hubSeq)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.edgeNames)))
		for _, e := range m.edgeNames {
			b = append(b, byte(len(e)))
			b = append(b, e...)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.dimNames)))
		for _, d := range m.dimNames {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(d)))
			b = append(b, d...)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(len(m.imps)))
		if _, err := w.Write(b); err != nil {
			return err
		}
		var e [snapEntry]byte
		for id, im := range m.imps {
			copy(e[:16], id[:])
			binary.LittleEndian.PutUint64(e[16:], uint64(im.timeMs))
			binary.LittleEndian.PutUint32(e[24:], im.exp)
			binary.LittleEndian.PutUint16(e[28:], im.edge)
			copy(e[30:32], im.country[:])
			binary.LittleEndian.PutUint16(e[32:], im.dims)
			if _, err := w.Write(e[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.o.Logger.Info("impression set saved", "impressions", len(m.imps), "took", time.Since(began))
	return nil
}

var errStaleSnapshot = errors.New("snapshot is not at the commit log's position")

// loadImps reads the snapshot if it is current; the file is removed either way,
// so that it can never be read again once merging has moved on.
func (m *Merger) loadImps() error {
	f, err := os.Open(m.snapPath())
	if err != nil {
		return err
	}
	defer os.Remove(m.snapPath())
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [4 + 1 + 8 + 2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != snapMagic || hdr[4] != snapVersion {
		return fmt.Errorf("not an impression snapshot of version %d", snapVersion)
	}
	if binary.LittleEndian.Uint64(hdr[5:]) != m.hubSeq {
		return errStaleSnapshot
	}
	readStr := func(n int) (string, error) {
		s := make([]byte, n)
		_, err := io.ReadFull(r, s)
		return string(s), err
	}
	var edges, dims []string
	for range binary.LittleEndian.Uint16(hdr[13:]) {
		n, err := r.ReadByte()
		if err != nil {
			return err
		}
		s, err := readStr(int(n))
		if err != nil {
			return err
		}
		edges = append(edges, s)
	}
	var u16 [2]byte
	if _, err := io.ReadFull(r, u16[:]); err != nil {
		return err
	}
	for range binary.LittleEndian.Uint16(u16[:]) {
		if _, err := io.ReadFull(r, u16[:]); err != nil {
			return err
		}
		s, err := readStr(int(binary.LittleEndian.Uint16(u16[:])))
		if err != nil {
			return err
		}
		dims = append(dims, s)
	}
	var u64 [8]byte
	if _, err := io.ReadFull(r, u64[:]); err != nil {
		return err
	}
	count := binary.LittleEndian.Uint64(u64[:])
	imps := make(map[[16]byte]imp, min(count, 1<<26))
	now := m.o.Now().Unix()
	var e [snapEntry]byte
	for range count {
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return err
		}
		im := imp{timeMs: int64(binary.LittleEndian.Uint64(e[16:])), exp: binary.LittleEndian.Uint32(e[24:]),
			edge: binary.LittleEndian.Uint16(e[28:]), country: [2]byte(e[30:32]), dims: binary.LittleEndian.Uint16(e[32:])}
		if int(im.edge) >= len(edges) || int(im.dims) >= len(dims) {
			return errors.New("impression snapshot: index out of range")
		}
		if int64(im.exp) >= now {
			imps[[16]byte(e[:16])] = im
		}
	}
	m.imps, m.edgeNames, m.dimNames = imps, edges, dims
	clear(m.edgeIdx)
	for i, e := range edges {
		m.edgeIdx[e] = uint16(i)
	}
	clear(m.dimIdx)
	for i, d := range dims {
		m.dimIdx[d] = uint16(i)
	}
	return nil
}

// restoreImps loads the snapshot when it is current, else replays the stream.
func (m *Merger) restoreImps(ctx context.Context) error {
	began := time.Now()
	err := m.loadImps()
	if err == nil {
		m.impsFrom = "snapshot"
		m.o.Logger.Info("impression set loaded from its snapshot", "impressions", len(m.imps), "took", time.Since(began))
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		m.o.Logger.Info("impression snapshot not used; replaying the hub stream", "reason", err)
	}
	m.imps, m.edgeNames, m.dimNames = map[[16]byte]imp{}, nil, nil
	clear(m.edgeIdx)
	clear(m.dimIdx)
	m.impsFrom = "stream"
	return m.rebuildImps(ctx)
}
