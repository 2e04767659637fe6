// Package token mints and verifies impression tokens: the signed, URL-safe strings an
// ad server embeds in click links (/c/{token}). A token carries everything an edge
// needs to answer a click without asking the core: which ad, which impression (for
// dedup), which user, and until when the click may count.
//
// Byte layout of version 1, before base64url (RFC 4648 §5, no padding):
//
//	offset  size  field
//	0       1     version (1)
//	1       4     key id, big endian: which signing key made the MAC (keys rotate)
//	5       4     expires at, unix seconds, big endian
//	9       16    impression id (random)
//	25      1     len(ad id) = A, 1..64
//	26      A     ad id, [A-Za-z0-9_.-]
//	26+A    1     len(user id) = U, 0..128
//	27+A    U     user id, printable ASCII without spaces
//	27+A+U  16    MAC: HMAC-SHA256(key, bytes 0..27+A+U) truncated to 128 bits
//
// A token for a 10-byte ad id and a 10-byte user id is 63 bytes, 84 characters.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Version is the only token layout this package writes and reads.
const Version = 1

const (
	headerLen = 1 + 4 + 4 + 16
	// MACLen is the length of the truncated HMAC-SHA256. 128 bits keep forgery out of
	// reach (2^-128 per guess) while keeping links short.
	MACLen = 16
	// MaxAdIDLen and MaxUserIDLen bound the variable fields.
	MaxAdIDLen   = 64
	MaxUserIDLen = 128
	// MaxEncodedLen is the longest valid encoded token; longer input is rejected
	// before decoding.
	MaxEncodedLen = (headerLen + 2 + MaxAdIDLen + MaxUserIDLen + MACLen + 2) * 4 / 3
	minRawLen     = headerLen + 1 + 1 + 1 + MACLen
)

// ImpressionID identifies one impression; a click of it counts at most once.
type ImpressionID [16]byte

// Claims are the signed contents of a token.
type Claims struct {
	KeyID        uint32
	ExpiresAt    int64 // unix seconds
	ImpressionID ImpressionID
	AdID         string
	UserID       string
}

// Expired reports whether the claims are past their expiry at now.
func (c *Claims) Expired(now time.Time) bool { return now.Unix() >= c.ExpiresAt }

// Sign encodes c and signs it with key, which must be the key named by c.KeyID.
func Sign(c *Claims, key []byte) (string, error) {
	if !ValidAdID(c.AdID) {
		return "", ErrAdID
	}
	if !ValidUserID(c.UserID) {
		return "", ErrUserID
	}
	if c.ExpiresAt <= 0 || c.ExpiresAt > 1<<32-1 {
		return "", ErrExpiry
	}
	raw := make([]byte, 0, headerLen+2+len(c.AdID)+len(c.UserID)+MACLen)
	raw = append(raw, Version)
	raw = binary.BigEndian.AppendUint32(raw, c.KeyID)
	raw = binary.BigEndian.AppendUint32(raw, uint32(c.ExpiresAt))
	raw = append(raw, c.ImpressionID[:]...)
	raw = append(raw, byte(len(c.AdID)))
	raw = append(raw, c.AdID...)
	raw = append(raw, byte(len(c.UserID)))
	raw = append(raw, c.UserID...)
	raw = appendMAC(raw, key, raw)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

func appendMAC(dst, key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var sum [sha256.Size]byte
	return append(dst, m.Sum(sum[:0])[:MACLen]...)
}

// Parsed is a decoded but not yet verified token. Its strings alias Raw; it is
// reusable across calls to Parse to keep the click path free of allocations.
type Parsed struct {
	Raw    []byte // the decoded bytes, MAC included
	KeyID  uint32
	Expiry int64
	ImpID  ImpressionID
	AdID   []byte
	UserID []byte
}

// Signed returns the bytes covered by the MAC.
func (p *Parsed) Signed() []byte { return p.Raw[:len(p.Raw)-MACLen] }

// MAC returns the token's truncated HMAC.
func (p *Parsed) MAC() []byte { return p.Raw[len(p.Raw)-MACLen:] }

// Parse decodes s into p without verifying the MAC. It does not allocate once p.Raw
// has grown to hold a token. Errors say which part is malformed.
func Parse(p *Parsed, s []byte) error {
	if len(s) == 0 {
		return ErrEmpty
	}
	if len(s) > MaxEncodedLen {
		return ErrTooLong
	}
	n := base64.RawURLEncoding.DecodedLen(len(s))
	if cap(p.Raw) < n {
		p.Raw = make([]byte, n, MaxEncodedLen)
	}
	p.Raw = p.Raw[:n]
	n, err := base64.RawURLEncoding.Decode(p.Raw, s)
	if err != nil {
		return ErrEncoding
	}
	b := p.Raw[:n]
	p.Raw = b
	if len(b) < minRawLen {
		return ErrShort
	}
	if b[0] != Version {
		return ErrVersion
	}
	p.KeyID = binary.BigEndian.Uint32(b[1:5])
	p.Expiry = int64(binary.BigEndian.Uint32(b[5:9]))
	copy(p.ImpID[:], b[9:25])
	rest := b[headerLen : len(b)-MACLen]
	a := int(rest[0])
	if a == 0 || a > MaxAdIDLen || len(rest) < 1+a+1 {
		return ErrAdID
	}
	p.AdID = rest[1 : 1+a]
	rest = rest[1+a:]
	u := int(rest[0])
	if u > MaxUserIDLen || len(rest) != 1+u {
		return ErrUserID
	}
	p.UserID = rest[1:]
	if !validAdIDBytes(p.AdID) {
		return ErrAdID
	}
	if !validUserIDBytes(p.UserID) {
		return ErrUserID
	}
	return nil
}

// Verify checks p's MAC with key in constant time.
func Verify(p *Parsed, key []byte) bool {
	var buf [sha256.Size]byte
	m := hmac.New(sha256.New, key)
	m.Write(p.Signed())
	return hmac.Equal(m.Sum(buf[:0])[:MACLen], p.MAC())
}

// Claims returns p's contents as Claims (allocates the strings).
func (p *Parsed) Claims() Claims {
	return Claims{KeyID: p.KeyID, ExpiresAt: p.Expiry, ImpressionID: p.ImpID, AdID: string(p.AdID), UserID: string(p.UserID)}
}

// ValidAdID reports whether s is a valid ad or advertiser id: [A-Za-z0-9_.-]{1,64}.
func ValidAdID(s string) bool {
	if len(s) == 0 || len(s) > MaxAdIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

func validAdIDBytes(b []byte) bool {
	for _, c := range b {
		if !idByte(c) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// ValidUserID reports whether s is a valid user id: printable ASCII without spaces,
// at most 128 bytes, possibly empty.
func ValidUserID(s string) bool {
	return len(s) <= MaxUserIDLen && validUserIDBytes([]byte(s))
}

func validUserIDBytes(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
