package host

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// Click is what a filter sees. The caller owns it and may reuse it across calls; Run
// copies it into guest memory and keeps no reference. Over-long fields are cut as
// described in wasm/ABI.md (a token over 256 bytes becomes empty, user agent and
// referer are cut to 512 bytes).
type Click = abi.Click

// Action is what a filter decided.
type Action uint8

// Actions.
const (
	Accept Action = abi.ActionAccept // count the click
	Reject Action = abi.ActionReject // drop it; Reason says why
	Flag   Action = abi.ActionFlag   // count it as suspect, with Score
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Flag:
		return "flag"
	}
	return "invalid"
}

// Reason codes of clickagg's own filters and of the host (wasm/ABI.md lists them).
// The edge maps ReasonMalformed to HTTP 400 and ReasonUnknownKey and ReasonBadMAC to
// HTTP 403.
const (
	ReasonMalformed  = abi.ReasonMalformed
	ReasonUnknownKey = abi.ReasonUnknownKey
	ReasonBadMAC     = abi.ReasonBadMAC
	ReasonFailClosed = abi.ReasonFailClosed
	ReasonBot        = abi.ReasonBot
	ReasonIPBurst    = abi.ReasonIPBurst
	FirstPartnerCode = abi.FirstPartnerCode
)

// Label limits: at most MaxLabels labels per filter verdict, keys and values at most
// MaxLabelLen bytes (key [a-z][a-z0-9_]*, value [A-Za-z0-9_.:-]+).
const (
	MaxLabels   = abi.MaxLabels
	MaxLabelLen = abi.MaxLabelLen
	MaxScore    = abi.MaxScore
)

// Label is a pre-aggregation dimension a filter attached to its verdict. Strings are
// interned per instance, so a filter with a small set of labels does not allocate
// them per call.
type Label struct{ Key, Value string }

// Verdict is a filter's (or a chain's) decision on a click.
type Verdict struct {
	Action Action
	Reason uint32 // non-zero for Reject; optional for Flag
	Score  uint32 // 0..1000, Flag only
	Labels []Label
}

// Keys gives the HMAC keys by key id, nil when unknown. *token.Keyring satisfies it.
// It must be safe for concurrent use. The host compares key slices by identity to
// reuse HMAC state, so replace a key with a new slice rather than editing it in place.
type Keys interface {
	Get(id uint32) []byte
}

// Defaults for Options fields left zero.
const (
	// DefaultMemoryLimitPages is 16 MiB of 64 KiB pages: a Go guest needs ~48 pages,
	// WAT and Rust guests 1-17. It bounds memory at PoolSize x limit per filter.
	DefaultMemoryLimitPages = 256
	// DefaultInitTimeout bounds instantiation (start function and _initialize) of a
	// filter with a Timeout; a Go guest initialises in ~4 ms, 100x that leaves room
	// for a loaded machine.
	DefaultInitTimeout = 500 * time.Millisecond
)

// Options configure one filter.
type Options struct {
	// PoolSize is the number of instances, filled at Compile. Zero means GOMAXPROCS.
	// Each instance costs the guest's memory (~3 MiB for Go, 64 KiB for small WAT).
	PoolSize int
	// MemoryLimitPages caps each instance's linear memory in 64 KiB pages; zero means
	// DefaultMemoryLimitPages. A module whose minimum exceeds it is refused.
	MemoryLimitPages uint32
	// Timeout is the CPU limit of one call, measured as wall-clock time; zero means
	// none. A limit costs ~1.3 µs and 3 allocations per call plus ~35 ns per loop
	// iteration of the guest (wazero checks at every loop header), so use zero only
	// for trusted filters such as sigcheck. It does not stop unbounded recursion
	// (see wasm/ABI.md).
	Timeout time.Duration
	// InitTimeout bounds the instantiation of each instance, like Timeout bounds a
	// call, and only when Timeout is set; zero means DefaultInitTimeout.
	InitTimeout time.Duration
	// FailOpen makes a failed call return Accept; otherwise (fail-closed) it returns
	// Reject with ReasonFailClosed.
	FailOpen bool
	// Logger receives the guest's log calls and the host's reports on failures;
	// nil means the runtime's logger.
	Logger *slog.Logger
}

func (o Options) withDefaults(rt *Runtime) Options {
	if o.PoolSize <= 0 {
		o.PoolSize = runtime.GOMAXPROCS(0)
	}
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = DefaultInitTimeout
	}
	if o.Logger == nil {
		o.Logger = rt.log
	}
	return o
}

// PartnerOptions are the options Validate uses and a sane start for partner filters:
// one 16 MiB instance per core, a 10 ms CPU limit, fail-open. The limit is wall-clock
// time and a loaded 2-core machine stalls a call for up to ~4 ms now and then, so
// it is 10 ms although a filter should take microseconds.
func PartnerOptions() Options {
	return Options{MemoryLimitPages: DefaultMemoryLimitPages, Timeout: 10 * time.Millisecond, FailOpen: true}
}

// FilterStats are a filter's counters since Compile. Accepts, Rejects and Flags count
// the guest's own verdicts; failed calls count in Traps, Timeouts, Violations or
// Unavailable and return the policy verdict instead.
type FilterStats struct {
	Calls       uint64
	Accepts     uint64
	Rejects     uint64
	Flags       uint64
	Traps       uint64
	Timeouts    uint64
	Violations  uint64
	Unavailable uint64 // no instance: closed filter, canceled context, failed re-instantiation
	// Replaced counts instances thrown away after an error and instantiated anew.
	Replaced uint64
	// LogsDropped counts guest log messages over the per-call cap.
	LogsDropped uint64
	// TotalNs is the wall time spent in Run, waiting for an instance included.
	TotalNs uint64
}
