// Package host runs clickagg's WebAssembly click filters with wazero: the signature
// check first, then partner filters that extend the edge without being trusted by it.
//
// A Runtime owns the compilation cache (a Go guest compiles in ~1.3 s, so compile once
// per process, or once per machine with RuntimeConfig.CacheDir) and the host
// functions of ABI v1 (wasm/ABI.md): HMAC verification by key id, so signing keys
// never enter guest memory, labels, and logging.
//
// A Filter is one compiled module with a fixed pool of pre-filled instances. Each
// filter gets its own wazero runtime because memory limits and the CPU limit are
// runtime settings in wazero; they share the compiled code through the cache. A
// channel pool rather than sync.Pool keeps instance count and memory fixed (wazero
// keeps every instance until closed, so sync.Pool would leak them). An instance that
// fails in any way is closed and replaced: a guest that trapped may have broken its
// own invariants even if wazero did not mark it closed.
//
// Failures are values, never panics of the host: a trap, a timeout or an ABI
// violation (an out-of-bounds pointer, an invalid label or verdict) makes Run return
// the filter's policy verdict (fail-open Accept, or fail-closed Reject with
// ReasonFailClosed) with an error, and counts it in FilterStats.
package host

// The test modules in testdata are WAT, committed with their .wasm; regenerate them
// (needs wabt's wat2wasm) with go generate ./wasm/host.
//go:generate sh -c "cd testdata && for f in *.wat; do wat2wasm $DOLLAR{f} -o $DOLLAR{f%.wat}.wasm || exit 1; done"
