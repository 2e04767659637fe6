// Package guest is the Go SDK for clickagg filters: it hides ABI v1 (wasm/ABI.md)
// behind a handler function, so a filter is a few lines of plain Go:
//
//	package main
//
//	import "github.com/clickagg/clickagg/wasm/guest"
//
//	func init() { guest.Handle(filter) } // init, not main: main never runs in a reactor
//
//	func filter(c *guest.Click) guest.Verdict {
//		if len(c.Referer) == 0 {
//			return guest.Flag(1001, 300)
//		}
//		return guest.Accept()
//	}
//
//	func main() {}
//
// Build it as a reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o f.wasm .
//
// The host functions (VerifyHMAC, AddLabel, Log) and the exports exist only in
// GOOS=wasip1 builds; ParseToken and the Verdict constructors are plain Go, so filter
// logic can be unit tested natively.
//
// The SDK does not allocate per call: the click is decoded in place from the input
// buffer and its slices are valid only until the handler returns. A Go guest costs
// 1.8-2.4 MB of module, ~3 MiB of memory per instance and ~1 s of compilation once.
// A call costs ~0.5 µs more than in WAT without a CPU limit; with one, every loop
// iteration costs ~35 ns, and Go code loops more than hand-written WAT: sigcheck
// costs 0.95 µs without a limit and 4.7 µs with one (see wasm/RATIONALE.md).
package guest
