//go:build wasip1

package guest

import (
	"errors"
	"unsafe"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// input is the buffer the host writes each click into. Go's garbage collector does
// not move globals, so its address, reported once by clickagg_input, stays valid.
var input [abi.InputLen]byte

var (
	handler func(*Click) Verdict
	click   Click // reused per call: no allocation on the hot path
)

// Handle registers the filter function. Call it from init: a reactor module runs
// package initialisers in _initialize but never calls main. A second call replaces
// the first handler. Without a handler every call traps.
func Handle(f func(*Click) Verdict) { handler = f }

//go:wasmexport clickagg_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport clickagg_input
func inputAddr() int32 { return int32(uintptr(unsafe.Pointer(&input[0]))) }

//go:wasmexport clickagg_filter
func filter(n int32) int64 {
	if handler == nil {
		panic("guest: no handler registered; call guest.Handle in init")
	}
	if n < 0 || n > abi.InputLen || !abi.DecodeClick(input[:n], &click) {
		panic("guest: malformed click from host")
	}
	return int64(handler(&click))
}

//go:wasmimport clickagg hmac_verify
func hostHMACVerify(keyID uint32, msg unsafe.Pointer, msgLen uint32, mac unsafe.Pointer, macLen uint32) int32

//go:wasmimport clickagg label
func hostLabel(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport clickagg log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32)

// VerifyHMAC asks the host whether mac is HMAC-SHA256(key, msg) truncated to len(mac)
// bytes, with the key named keyID; the key never enters guest memory. len(mac) must
// be 16..32 and len(msg) at most 64 KiB, and a call may verify at most 8 MACs, or the
// result is HMACViolation and the call fails.
func VerifyHMAC(keyID uint32, msg, mac []byte) HMACResult {
	return HMACResult(hostHMACVerify(keyID, unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)),
		unsafe.Pointer(unsafe.SliceData(mac)), uint32(len(mac))))
}

// ErrLabel is returned by AddLabel when the host refused a label: invalid key or
// value, a duplicate key, or more than 4 labels. The current call then fails.
var ErrLabel = errors.New("guest: label refused by host")

// AddLabel attaches a label to the verdict of the current call. Labels become
// pre-aggregation dimensions downstream; keep their values few.
func AddLabel(key, value string) error {
	if hostLabel(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.StringData(value)), uint32(len(value))) != abi.LabelOK {
		return ErrLabel
	}
	return nil
}

// Log writes msg to the host's logger, tagged with the filter's name. The host keeps
// at most 4 messages of at most 512 bytes per call and drops the rest.
func Log(level Level, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}
