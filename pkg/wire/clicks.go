package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Outcome is what an edge decided about a click it answered.
type Outcome uint8

// Outcomes. Only OutcomeCounted is counted; the rest are kept for audit and
// reconciliation.
const (
	OutcomeCounted   Outcome = 1 // valid, first click of its impression, accepted by filters
	OutcomeExpired   Outcome = 2 // the impression's token had expired
	OutcomeDuplicate Outcome = 3 // the impression was clicked before
	OutcomeFiltered  Outcome = 4 // a filter rejected it (Reason says why)
	OutcomeUnknownAd Outcome = 5 // signed for an ad the edge's catalogue does not hold
	maxOutcome               = OutcomeUnknownAd
)

var outcomeNames = [...]string{"", "counted", "expired", "duplicate", "filtered", "unknown_ad"}

func (o Outcome) String() string {
	if o == 0 || o > maxOutcome {
		return fmt.Sprintf("outcome(%d)", uint8(o))
	}
	return outcomeNames[o]
}

// Bounds on a click record's fields.
const (
	MaxIDLen     = 128 // ad ids are ≤ 64, user ids ≤ 128
	MaxLabels    = 8
	MaxLabelLen  = 64
	minRecordLen = 1 + 1 + 1 + 1 + 16 + 1 + 1 + 1 + 2 + 16 + 1
)

// Label is a dimension a filter attached to a click.
type Label struct{ Key, Value string }

// Click is one raw click record as journaled by an edge.
type Click struct {
	TimeMs       int64 // edge receive time, unix ms
	Outcome      Outcome
	Reason       uint32 // filter reason code when Outcome is OutcomeFiltered
	Score        uint32 // fraud score 0..1000 from filters that flag
	ImpressionID [16]byte
	ExpiresAt    int64 // the impression token's expiry, unix seconds
	AdID         string
	UserID       string
	Country      [2]byte    // ISO 3166-1 alpha-2, "ZZ" when unknown
	IP           netip.Addr // the client's address; IPv4 is stored as IPv4-mapped IPv6
	Labels       []Label
}

// AppendClicks encodes a batch of clicks. Times are delta-encoded, so batches in
// time order are smallest.
func AppendClicks(dst []byte, cs []Click) []byte {
	body := make([]byte, 0, 64*len(cs))
	body = binary.AppendUvarint(body, uint64(len(cs)))
	var prev int64
	for i := range cs {
		c := &cs[i]
		body = binary.AppendVarint(body, c.TimeMs-prev)
		prev = c.TimeMs
		body = append(body, byte(c.Outcome))
		body = binary.AppendUvarint(body, uint64(c.Reason))
		body = binary.AppendUvarint(body, uint64(c.Score))
		body = append(body, c.ImpressionID[:]...)
		body = binary.AppendVarint(body, c.ExpiresAt)
		body = appendStr(body, c.AdID)
		body = appendStr(body, c.UserID)
		body = append(body, c.Country[:]...)
		ip := c.IP.As16()
		body = append(body, ip[:]...)
		body = binary.AppendUvarint(body, uint64(len(c.Labels)))
		for _, l := range c.Labels {
			body = appendStr(body, l.Key)
			body = appendStr(body, l.Value)
		}
	}
	return frame(dst, KindClicks, body)
}

// DecodeClicks decodes a batch written by AppendClicks, appending to dst.
func DecodeClicks(dst []Click, msg []byte) ([]Click, error) {
	body, err := unframe(msg, KindClicks)
	if err != nil {
		return dst, fmt.Errorf("decode clicks: %w", err)
	}
	r := reader{b: body}
	n := r.count(minRecordLen)
	var prev int64
	for i := 0; i < n && r.err == nil; i++ {
		var c Click
		prev += r.varint()
		c.TimeMs = prev
		c.Outcome = Outcome(r.byte1())
		if r.err == nil && (c.Outcome == 0 || c.Outcome > maxOutcome) {
			r.fail(fmt.Errorf("record %d: unknown outcome %d", i, c.Outcome))
		}
		c.Reason = uint32(min(r.uvarint(), 1<<32-1))
		c.Score = uint32(min(r.uvarint(), 1<<32-1))
		copy(c.ImpressionID[:], r.bytes(16))
		c.ExpiresAt = r.varint()
		c.AdID = r.str(MaxIDLen, "ad id")
		c.UserID = r.str(MaxIDLen, "user id")
		copy(c.Country[:], r.bytes(2))
		c.IP = netip.AddrFrom16([16]byte(pad16(r.bytes(16)))).Unmap()
		nl := r.count(2)
		if nl > MaxLabels {
			r.fail(fmt.Errorf("record %d has %d labels, more than %d", i, nl, MaxLabels))
		}
		for j := 0; j < nl && r.err == nil; j++ {
			c.Labels = append(c.Labels, Label{r.str(MaxLabelLen, "label key"), r.str(MaxLabelLen, "label value")})
		}
		if r.err == nil {
			dst = append(dst, c)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = ErrTrailing
	}
	if r.err != nil {
		return dst, fmt.Errorf("decode clicks: %w", r.err)
	}
	return dst, nil
}

func pad16(b []byte) []byte {
	if len(b) == 16 {
		return b
	}
	return make([]byte, 16)
}
