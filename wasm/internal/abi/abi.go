// Package abi is the single source of truth for clickagg's filter ABI v1: the names a
// module must export and may import, the byte layout of a click in guest memory, the
// packing of a verdict into an i64, and the label rules. The host (wasm/host) and the
// Go guest SDK (wasm/guest) both import it, so the two sides cannot drift apart;
// wasm/ABI.md draws the same layout for authors of guests in other languages.
//
// It is pure Go with no dependencies so that it compiles into guests (GOOS=wasip1)
// without growing them.
package abi

import "encoding/binary"

// Version is the ABI version this package describes. A module declares the version it
// was written for by exporting VersionExport returning it.
const Version = 1

// Names of the exports a filter module provides.
const (
	VersionExport = "clickagg_abi_version" // () -> i32: must return Version
	InputExport   = "clickagg_input"       // () -> i32: address of a buffer of InputLen bytes
	FilterExport  = "clickagg_filter"      // (len i32) -> i64: packed verdict
	MemoryExport  = "memory"
	InitExport    = "_initialize" // optional; called once per instance before anything else
	StartExport   = "_start"      // forbidden: filters are reactors, not commands
)

// Host module and its functions, imported by guests.
const (
	HostModule = "clickagg"
	// HMACVerify is (key_id, msg_ptr, msg_len, mac_ptr, mac_len i32) -> i32.
	HMACVerify = "hmac_verify"
	// LabelFunc is (key_ptr, key_len, val_ptr, val_len i32) -> i32.
	LabelFunc = "label"
	// LogFunc is (level, ptr, len i32) -> ().
	LogFunc = "log"
)

// Results of hmac_verify and label. Anything negative means the guest broke the ABI;
// the host has recorded a violation and the current call will fail whatever it returns.
const (
	HMACOK         = 0
	HMACUnknownKey = 1
	HMACMismatch   = 2
	LabelOK        = 0
	CallViolation  = -1
)

// Limits on host function arguments.
const (
	MinMACLen      = 16       // shorter MACs are too easy to forge
	MaxMACLen      = 32       // HMAC-SHA256 output
	MaxHMACMsgLen  = 64 << 10 // bounds host CPU per hmac_verify call
	MaxHMACPerCall = 8        // hmac_verify calls allowed in one clickagg_filter call
	MaxLogLen      = 512      // longer log messages are truncated
	MaxLogsPerCall = 4        // further log calls in the same filter call are dropped
)

// Log levels of the log host function. Other values are treated as LogError.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Labels become pre-aggregation dimensions, so their number and size are bounded:
// every distinct value is a series downstream.
const (
	MaxLabels   = 4  // per verdict of one filter
	MaxLabelLen = 32 // bytes, for keys and values alike
)

// ValidLabelKey reports whether k is a label key: [a-z][a-z0-9_]{0,31}.
func ValidLabelKey(k []byte) bool {
	if len(k) == 0 || len(k) > MaxLabelLen || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidLabelValue reports whether v is a label value: [A-Za-z0-9_.:-]{1,32}, a set
// that is safe in NATS subjects, metric labels and file names.
func ValidLabelValue(v []byte) bool {
	if len(v) == 0 || len(v) > MaxLabelLen {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// Click layout in guest memory, little endian (Wasm's byte order). See wasm/ABI.md.
const (
	offTimeMs    = 0  // i64 unix ms
	offKeyID     = 8  // u32
	offImpID     = 12 // [16]byte
	offIP        = 28 // [16]byte, IPv4 as IPv4-mapped IPv6
	offCountry   = 44 // [2]byte
	offTokenLen  = 46 // u16
	offAdIDLen   = 48 // u16
	offUserIDLen = 50 // u16
	offUALen     = 52 // u16
	offRefLen    = 54 // u16
	// HeaderLen is the fixed part of an encoded click; the variable fields follow in
	// the order token, ad id, user id, user agent, referer.
	HeaderLen = 56
)

// Bounds of the variable fields. The host replaces a token longer than MaxTokenLen by
// an empty one (no valid token is that long) and truncates the other fields.
const (
	MaxTokenLen     = 256 // a valid raw token is at most 235 bytes
	MaxAdIDLen      = 64
	MaxUserIDLen    = 128
	MaxUserAgentLen = 512
	MaxRefererLen   = 512
	// MaxClickLen is the longest encoded click.
	MaxClickLen = HeaderLen + MaxTokenLen + MaxAdIDLen + MaxUserIDLen + MaxUserAgentLen + MaxRefererLen
	// InputLen is the size of the input buffer a guest exports; it leaves room for
	// later fields without changing v1 guests' buffers.
	InputLen = 2048
)

// Click is one click as a filter sees it. Slices alias the buffer they were decoded
// from (guest side) or belong to the caller (host side); a Click is reused per call.
type Click struct {
	TimeMs       int64 // edge receive time, unix ms
	Token        []byte
	KeyID        uint32
	ImpressionID [16]byte
	AdID         []byte
	UserID       []byte
	IP           [16]byte // IPv4 as IPv4-mapped IPv6
	Country      [2]byte  // ISO 3166 alpha-2, "ZZ" unknown
	UserAgent    []byte
	Referer      []byte
}

// EncodeClick writes c into dst, which must hold MaxClickLen bytes, and returns the
// encoded length. Over-long fields are cut as documented on MaxTokenLen. It does not
// allocate.
func EncodeClick(dst []byte, c *Click) int {
	_ = dst[MaxClickLen-1]
	tok := c.Token
	if len(tok) > MaxTokenLen {
		tok = nil
	}
	ad, user := clip(c.AdID, MaxAdIDLen), clip(c.UserID, MaxUserIDLen)
	ua, ref := clip(c.UserAgent, MaxUserAgentLen), clip(c.Referer, MaxRefererLen)
	le := binary.LittleEndian
	le.PutUint64(dst[offTimeMs:], uint64(c.TimeMs))
	le.PutUint32(dst[offKeyID:], c.KeyID)
	copy(dst[offImpID:offImpID+16], c.ImpressionID[:])
	copy(dst[offIP:offIP+16], c.IP[:])
	copy(dst[offCountry:offCountry+2], c.Country[:])
	le.PutUint16(dst[offTokenLen:], uint16(len(tok)))
	le.PutUint16(dst[offAdIDLen:], uint16(len(ad)))
	le.PutUint16(dst[offUserIDLen:], uint16(len(user)))
	le.PutUint16(dst[offUALen:], uint16(len(ua)))
	le.PutUint16(dst[offRefLen:], uint16(len(ref)))
	n := HeaderLen
	n += copy(dst[n:], tok)
	n += copy(dst[n:], ad)
	n += copy(dst[n:], user)
	n += copy(dst[n:], ua)
	n += copy(dst[n:], ref)
	return n
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// DecodeClick fills c from src, the first n bytes of the input buffer. The slices in
// c alias src. It reports false if src is not a well-formed encoded click; it does
// not allocate.
func DecodeClick(src []byte, c *Click) bool {
	if len(src) < HeaderLen || len(src) > MaxClickLen {
		return false
	}
	le := binary.LittleEndian
	t, a := int(le.Uint16(src[offTokenLen:])), int(le.Uint16(src[offAdIDLen:]))
	u, g := int(le.Uint16(src[offUserIDLen:])), int(le.Uint16(src[offUALen:]))
	r := int(le.Uint16(src[offRefLen:]))
	if t > MaxTokenLen || a > MaxAdIDLen || u > MaxUserIDLen || g > MaxUserAgentLen || r > MaxRefererLen ||
		HeaderLen+t+a+u+g+r != len(src) {
		return false
	}
	c.TimeMs = int64(le.Uint64(src[offTimeMs:]))
	c.KeyID = le.Uint32(src[offKeyID:])
	copy(c.ImpressionID[:], src[offImpID:])
	copy(c.IP[:], src[offIP:])
	copy(c.Country[:], src[offCountry:])
	p := HeaderLen
	c.Token, p = src[p:p+t:p+t], p+t
	c.AdID, p = src[p:p+a:p+a], p+a
	c.UserID, p = src[p:p+u:p+u], p+u
	c.UserAgent, p = src[p:p+g:p+g], p+g
	c.Referer = src[p : p+r : p+r]
	return true
}
