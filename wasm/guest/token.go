package guest

import (
	"encoding/binary"

	"github.com/clickagg/clickagg/pkg/token"
)

// Token is a raw (already base64-decoded) impression token split into its fields,
// following pkg/token's layout. Slices alias the raw bytes.
type Token struct {
	KeyID        uint32
	ExpiresAt    int64 // unix seconds
	ImpressionID [16]byte
	AdID         []byte
	UserID       []byte
	Signed       []byte // the bytes covered by the MAC
	MAC          []byte // token.MACLen bytes
}

const (
	tokenHeaderLen = 1 + 4 + 4 + 16
	tokenMinLen    = tokenHeaderLen + 1 + 1 + 1 + token.MACLen
)

// ParseToken splits raw, the bytes of token.Parsed.Raw, into t without verifying the
// MAC. It accepts exactly the tokens token.Parse accepts (a differential fuzz test
// checks this) and returns pkg/token's errors. It does not allocate.
func ParseToken(raw []byte, t *Token) error {
	if len(raw) == 0 {
		return token.ErrEmpty
	}
	if len(raw) < tokenMinLen {
		return token.ErrShort
	}
	if raw[0] != token.Version {
		return token.ErrVersion
	}
	t.KeyID = binary.BigEndian.Uint32(raw[1:5])
	t.ExpiresAt = int64(binary.BigEndian.Uint32(raw[5:9]))
	copy(t.ImpressionID[:], raw[9:25])
	rest := raw[tokenHeaderLen : len(raw)-token.MACLen]
	a := int(rest[0])
	if a == 0 || a > token.MaxAdIDLen || len(rest) < 1+a+1 {
		return token.ErrAdID
	}
	t.AdID = rest[1 : 1+a]
	rest = rest[1+a:]
	u := int(rest[0])
	if u > token.MaxUserIDLen || len(rest) != 1+u {
		return token.ErrUserID
	}
	t.UserID = rest[1:]
	for _, c := range t.AdID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return token.ErrAdID
		}
	}
	for _, c := range t.UserID {
		if c <= ' ' || c > '~' {
			return token.ErrUserID
		}
	}
	t.Signed = raw[:len(raw)-token.MACLen]
	t.MAC = raw[len(raw)-token.MACLen:]
	return nil
}
