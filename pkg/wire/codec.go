package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Message kinds: the first byte of every binary message.
const (
	KindClicks  byte = 'C'
	KindPartial byte = 'P'
)

// FormatVersion is the version of the binary layouts written by this package.
const FormatVersion byte = 1

const (
	flagS2 byte = 1 << 0 // body is s2-compressed
	hdrLen      = 3      // kind, version, flags
	// MaxMessage bounds a decoded message so a hostile or corrupt message cannot
	// make a reader allocate without limit. NATS' default max payload is 1 MiB; a
	// compressed batch of clicks expands about 4x.
	MaxMessage = 16 << 20
)

// Decoding errors.
var (
	ErrTruncated = errors.New("message is truncated")
	ErrKind      = errors.New("message kind is wrong")
	ErrVersion   = errors.New("message version is not supported")
	ErrTooLarge  = errors.New("message is too large")
	ErrTrailing  = errors.New("message has trailing bytes")
)

// reader decodes a body with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail(ErrTruncated)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// str reads a length-prefixed string of at most max bytes.
func (r *reader) str(max int, what string) string {
	n := r.uvarint()
	if n > uint64(max) {
		r.fail(fmt.Errorf("%s is %d bytes, more than %d", what, n, max))
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *reader) byte1() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// count reads an element count and rejects counts that cannot fit in the rest of
// the body (each element takes at least min bytes).
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("count %d does not fit in %d bytes", n, len(r.b)))
		return 0
	}
	return int(n)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// frame writes the header and body, compressing bodies over 512 bytes.
func frame(dst []byte, kind byte, body []byte) []byte {
	if len(body) > 512 {
		c := s2.Encode(nil, body)
		if len(c) < len(body) {
			dst = append(dst, kind, FormatVersion, flagS2)
			return append(dst, c...)
		}
	}
	dst = append(dst, kind, FormatVersion, 0)
	return append(dst, body...)
}

// unframe checks the header and returns the (decompressed) body.
func unframe(msg []byte, kind byte) ([]byte, error) {
	if len(msg) < hdrLen {
		return nil, ErrTruncated
	}
	if msg[0] != kind {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrKind, msg[0], kind)
	}
	if msg[1] != FormatVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, msg[1])
	}
	flags, body := msg[2], msg[hdrLen:]
	if flags&^flagS2 != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags)
	}
	if flags&flagS2 == 0 {
		return body, nil
	}
	n, err := s2.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("s2 body: %w", err)
	}
	if n > MaxMessage {
		return nil, ErrTooLarge
	}
	out, err := s2.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("s2 body: %w", err)
	}
	return out, nil
}
