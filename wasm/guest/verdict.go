package guest

import "github.com/clickagg/clickagg/wasm/internal/abi"

// Click is the click a handler sees. Its slices alias the input buffer: copy what
// must outlive the call.
type Click = abi.Click

// Verdict is a packed verdict, built with Accept, Reject or Flag.
type Verdict uint64

// Accept lets the click through.
func Accept() Verdict { return Verdict(abi.PackVerdict(abi.ActionAccept, 0, 0)) }

// Reject drops the click. reason must not be 0; codes below 1000 are reserved for
// clickagg (see wasm/ABI.md), partners use 1000 and up.
func Reject(reason uint32) Verdict {
	return Verdict(abi.PackVerdict(abi.ActionReject, reason, 0))
}

// Flag counts the click but marks it as suspect with a fraud score in thousandths
// (0..1000; larger values are clamped to 1000).
func Flag(reason, score uint32) Verdict {
	if score > abi.MaxScore {
		score = abi.MaxScore
	}
	return Verdict(abi.PackVerdict(abi.ActionFlag, reason, score))
}

// Reason codes of clickagg's own filters, re-exported for guests.
const (
	ReasonMalformed  = abi.ReasonMalformed
	ReasonUnknownKey = abi.ReasonUnknownKey
	ReasonBadMAC     = abi.ReasonBadMAC
	ReasonBot        = abi.ReasonBot
	ReasonIPBurst    = abi.ReasonIPBurst
	FirstPartnerCode = abi.FirstPartnerCode
)

// ValidLabel reports whether key and value follow the label rules of ABI v1: key
// [a-z][a-z0-9_]{0,31}, value [A-Za-z0-9_.:-]{1,32}. The host fails the whole call on
// an invalid label, so check values that come from the click before adding them.
func ValidLabel(key, value string) bool {
	return abi.ValidLabelKey([]byte(key)) && abi.ValidLabelValue([]byte(value))
}

// HMACResult is the outcome of VerifyHMAC.
type HMACResult int32

// Results of VerifyHMAC.
const (
	HMACOK         HMACResult = abi.HMACOK
	HMACUnknownKey HMACResult = abi.HMACUnknownKey
	HMACMismatch   HMACResult = abi.HMACMismatch
	HMACViolation  HMACResult = abi.CallViolation // bad arguments: the call will fail
)

// Level is a log level for Log.
type Level int32

// Log levels.
const (
	LevelDebug Level = abi.LogDebug
	LevelInfo  Level = abi.LogInfo
	LevelWarn  Level = abi.LogWarn
	LevelError Level = abi.LogError
)
