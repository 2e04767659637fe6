//go:build wasip1

// Command sigcheck is the signature check, the first filter of every default chain:
// it parses the impression token with pkg/token's layout and asks the host to verify
// its MAC by key id, so signing keys never enter guest memory.
//
// Verdicts: Accept, or Reject with reason 1 (malformed token, HTTP 400), 2 (unknown
// key id, HTTP 403) or 3 (bad signature, HTTP 403). It does not check expiry: the
// edge has the parsed expiry and its own clock.
//
// The committed sigcheck.wasm is embedded by package wasm/filters; rebuild it with
// `go generate ./wasm/filters`, which runs
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-buildid= -o sigcheck/sigcheck.wasm ./sigcheck
//
// -trimpath, -buildvcs=false and the empty build id make the bytes depend only on
// the compiled code (line numbers included) and the Go version. The name section is kept (-ldflags=-s would save 51 KB of 2.4 MB) so that
// a trap's stack trace names Go functions.
package main

import "github.com/clickagg/clickagg/wasm/guest"

func init() { guest.Handle(check) }

var tok guest.Token // reused: the filter does not allocate per call

func check(c *guest.Click) guest.Verdict {
	if guest.ParseToken(c.Token, &tok) != nil {
		return guest.Reject(guest.ReasonMalformed)
	}
	switch guest.VerifyHMAC(tok.KeyID, tok.Signed, tok.MAC) {
	case guest.HMACOK:
		return guest.Accept()
	case guest.HMACUnknownKey:
		return guest.Reject(guest.ReasonUnknownKey)
	default:
		return guest.Reject(guest.ReasonBadMAC)
	}
}

func main() {}
