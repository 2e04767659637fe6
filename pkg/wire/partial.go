package wire

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Cell is one partial count: clicks of one ad from one country with one set of
// filter labels in one minute.
type Cell struct {
	Minute  int64 // unix minutes (package minute)
	AdID    string
	Country [2]byte
	Dims    string // the clicks' filter labels, canonical (see Dims); "" for none
	Clicks  uint64
}

// MaxDimsLen bounds a cell's label set; a longer one is cut to DimsOverflow.
const MaxDimsLen = 160

// DimsOverflow stands for label sets that do not fit: the clicks still count, in a
// dimension of their own, and the edge's cardinality stays bounded.
const DimsOverflow = "~overflow"

// Dims returns the canonical form of labels as a pre-aggregation dimension:
// "k1=v1&k2=v2", sorted by key (then value), at most MaxLabels pairs and
// MaxDimsLen bytes, else DimsOverflow. Labels were validated by the filter host
// (keys and values without '=' or '&').
func Dims(labels []Label) string {
	switch {
	case len(labels) == 0:
		return ""
	case len(labels) > MaxLabels:
		return DimsOverflow
	}
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b Label) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	var b strings.Builder
	for i, l := range ls {
		if strings.ContainsAny(l.Key+l.Value, "=&") {
			return DimsOverflow
		}
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(l.Key)
		b.WriteByte('=')
		b.WriteString(l.Value)
	}
	if b.Len() > MaxDimsLen {
		return DimsOverflow
	}
	return b.String()
}

// HasDim reports whether canonical dims contain the pair "key=value".
func HasDim(dims, pair string) bool {
	for dims != "" {
		var d string
		d, dims, _ = strings.Cut(dims, "&")
		if d == pair {
			return true
		}
	}
	return false
}

// Ref names one counted click in a partial, so the core can count an impression
// once across edges: the earliest click of an impression (by time, then edge id)
// is the one that counts.
type Ref struct {
	ImpressionID [16]byte
	TimeMs       int64  // edge receive time, unix ms
	ExpiresAt    int64  // impression expiry, unix seconds: the core forgets it after
	Cell         uint32 // index into Partial.Cells
}

// Partial is what an edge publishes on PartialsSubject: the counted clicks of its
// journal sequences [FromSeq, ThroughSeq], summed per cell, and its low watermark.
//
// Every journal sequence is covered by exactly one partial, in order, so the core
// applies a partial iff ThroughSeq is above what it has applied for (Edge, Epoch):
// redeliveries and replays are dropped by that one comparison. A partial with
// FromSeq > ThroughSeq covers nothing and is a heartbeat.
//
// WatermarkMs promises that every click the edge received before it is covered by
// this or an earlier partial.
type Partial struct {
	Edge        string
	Epoch       uint64 // identifies the edge's journal; a new journal starts a new epoch
	FromSeq     uint64
	ThroughSeq  uint64
	WatermarkMs int64
	Cells       []Cell
	Refs        []Ref // one per counted click; Cells[i].Clicks equals the refs naming i
}

// Heartbeat reports whether p covers no journal sequences.
func (p *Partial) Heartbeat() bool { return p.FromSeq > p.ThroughSeq }

// MsgID is p's JetStream message id: unique per edge and epoch, and the same when
// a partial is published again after a crash, so the edge's and the hub's
// duplicate windows drop the copy.
func (p *Partial) MsgID() string {
	if p.Heartbeat() {
		return fmt.Sprintf("%s.%x.h.%d", p.Edge, p.Epoch, p.WatermarkMs)
	}
	return fmt.Sprintf("%s.%x.p.%d", p.Edge, p.Epoch, p.ThroughSeq)
}

const (
	minCellLen = 1 + 1 + 1 + 2 + 1 + 1
	minRefLen  = 16 + 1 + 1 + 1
)

// SortCells orders cells by minute, then ad id, then country, which makes encoded
// partials deterministic and smallest.
func SortCells(cs []Cell) {
	slices.SortFunc(cs, func(a, b Cell) int {
		if c := cmp.Compare(a.Minute, b.Minute); c != 0 {
			return c
		}
		if c := strings.Compare(a.AdID, b.AdID); c != 0 {
			return c
		}
		if c := cmp.Compare(string(a.Country[:]), string(b.Country[:])); c != 0 {
			return c
		}
		return strings.Compare(a.Dims, b.Dims)
	})
}

// AppendPartial encodes p. Cells should be sorted (SortCells) for a compact encoding.
func AppendPartial(dst []byte, p *Partial) []byte {
	body := make([]byte, 0, 32+24*len(p.Cells))
	body = appendStr(body, p.Edge)
	body = binary.BigEndian.AppendUint64(body, p.Epoch)
	body = binary.AppendUvarint(body, p.FromSeq)
	body = binary.AppendUvarint(body, p.ThroughSeq)
	body = binary.AppendVarint(body, p.WatermarkMs)
	body = binary.AppendUvarint(body, uint64(len(p.Cells)))
	var prev int64
	for _, c := range p.Cells {
		body = binary.AppendVarint(body, c.Minute-prev)
		prev = c.Minute
		body = appendStr(body, c.AdID)
		body = append(body, c.Country[:]...)
		body = appendStr(body, c.Dims)
		body = binary.AppendUvarint(body, c.Clicks)
	}
	body = binary.AppendUvarint(body, uint64(len(p.Refs)))
	prev = 0
	for _, r := range p.Refs {
		body = append(body, r.ImpressionID[:]...)
		body = binary.AppendVarint(body, r.TimeMs-prev)
		prev = r.TimeMs
		body = binary.AppendVarint(body, r.ExpiresAt-r.TimeMs/1000)
		body = binary.AppendUvarint(body, uint64(r.Cell))
	}
	return frame(dst, KindPartial, body)
}

// DecodePartial decodes a message written by AppendPartial.
func DecodePartial(msg []byte) (Partial, error) {
	var p Partial
	body, err := unframe(msg, KindPartial)
	if err != nil {
		return p, fmt.Errorf("decode partial: %w", err)
	}
	r := reader{b: body}
	p.Edge = r.str(32, "edge id")
	p.Epoch = binary.BigEndian.Uint64(pad8(r.bytes(8)))
	p.FromSeq = r.uvarint()
	p.ThroughSeq = r.uvarint()
	p.WatermarkMs = r.varint()
	n := r.count(minCellLen)
	if n > 0 {
		p.Cells = make([]Cell, 0, n)
	}
	var prev int64
	for i := 0; i < n && r.err == nil; i++ {
		var c Cell
		prev += r.varint()
		c.Minute = prev
		c.AdID = r.str(MaxIDLen, "ad id")
		copy(c.Country[:], r.bytes(2))
		c.Dims = r.str(MaxDimsLen, "dims")
		c.Clicks = r.uvarint()
		if r.err == nil {
			p.Cells = append(p.Cells, c)
		}
	}
	p.Refs = decodeRefs(&r, len(p.Cells))
	if r.err == nil && len(r.b) != 0 {
		r.err = ErrTrailing
	}
	if r.err == nil && !ValidEdgeID(p.Edge) {
		r.err = fmt.Errorf("edge id %q is invalid", p.Edge)
	}
	if r.err != nil {
		return Partial{}, fmt.Errorf("decode partial: %w", r.err)
	}
	return p, nil
}

func pad8(b []byte) []byte {
	if len(b) == 8 {
		return b
	}
	return make([]byte, 8)
}

func decodeRefs(r *reader, cells int) []Ref {
	n := r.count(minRefLen)
	if n == 0 {
		return nil
	}
	out := make([]Ref, 0, n)
	var prev int64
	for i := 0; i < n && r.err == nil; i++ {
		var x Ref
		copy(x.ImpressionID[:], r.bytes(16))
		prev += r.varint()
		x.TimeMs = prev
		x.ExpiresAt = r.varint() + x.TimeMs/1000
		c := r.uvarint()
		if r.err == nil && c >= uint64(cells) {
			r.fail(fmt.Errorf("ref %d names cell %d of %d", i, c, cells))
		}
		x.Cell = uint32(c)
		out = append(out, x)
	}
	return out
}
