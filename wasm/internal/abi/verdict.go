package abi

// Actions a filter can return, in the low byte of the packed verdict.
const (
	ActionAccept = 0
	ActionReject = 1
	ActionFlag   = 2
)

// MaxScore is the highest fraud score; scores are in thousandths of certainty.
const MaxScore = 1000

// Reason codes below 1000 are reserved for clickagg; partner filters use 1000 and up.
const (
	ReasonMalformed  = 1  // sigcheck: the token does not parse (edge: HTTP 400)
	ReasonUnknownKey = 2  // sigcheck: no key with the token's key id (edge: HTTP 403)
	ReasonBadMAC     = 3  // sigcheck: the MAC does not match (edge: HTTP 403)
	ReasonFailClosed = 9  // host: a fail-closed filter failed (trap, timeout, violation)
	ReasonBot        = 10 // example botua: bot user agent
	ReasonIPBurst    = 20 // example ipflood: too many clicks from one IP in a minute
	FirstPartnerCode = 1000
)

// A packed verdict, the i64 returned by clickagg_filter:
//
//	bits 63..32  reason (u32)
//	bits 31..16  score (u16, 0..1000)
//	bits 15..8   reserved, must be 0
//	bits  7..0   action
//
// Accept carries reason 0 and score 0; Reject a non-zero reason and score 0; Flag any
// reason and a score in 0..1000. Anything else is an ABI violation.

// PackVerdict packs a verdict without checking it.
func PackVerdict(action uint8, reason, score uint32) uint64 {
	return uint64(reason)<<32 | uint64(score&0xffff)<<16 | uint64(action)
}

// UnpackVerdict splits v and reports whether it follows the rules above.
func UnpackVerdict(v uint64) (action uint8, reason, score uint32, ok bool) {
	action, reason, score = uint8(v), uint32(v>>32), uint32(v>>16)&0xffff
	if v>>8&0xff != 0 || score > MaxScore {
		return action, reason, score, false
	}
	switch action {
	case ActionAccept:
		ok = reason == 0 && score == 0
	case ActionReject:
		ok = reason != 0 && score == 0
	case ActionFlag:
		ok = true
	}
	return action, reason, score, ok
}
