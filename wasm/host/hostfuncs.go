package host

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"log/slog"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// instantiateHostModule defines module "clickagg" in wr. The functions use wazero's
// stack-based GoModuleFunc form: no reflection and no allocation per call.
func instantiateHostModule(ctx context.Context, wr wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := wr.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostHMACVerify), []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("key_id", "msg_ptr", "msg_len", "mac_ptr", "mac_len").
		Export(abi.HMACVerify).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLabel), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("key_ptr", "key_len", "val_ptr", "val_len").
		Export(abi.LabelFunc).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.LogFunc).
		Instantiate(ctx)
	return err
}

func hostHMACVerify(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil { // called from a start function, before the instance exists
		stack[0] = api.EncodeI32(abi.CallViolation)
		return
	}
	r := in.hmacVerify(mod.Memory(), api.DecodeU32(stack[0]), api.DecodeU32(stack[1]),
		api.DecodeU32(stack[2]), api.DecodeU32(stack[3]), api.DecodeU32(stack[4]))
	stack[0] = api.EncodeI32(r)
}

func (in *instance) hmacVerify(mem api.Memory, keyID, msgPtr, msgLen, macPtr, macLen uint32) int32 {
	if in.hmacCalls++; in.hmacCalls > abi.MaxHMACPerCall {
		return in.violate("hmac_verify: more than %d calls", abi.MaxHMACPerCall)
	}
	if macLen < abi.MinMACLen || macLen > abi.MaxMACLen {
		return in.violate("hmac_verify: mac_len %d outside %d..%d", macLen, abi.MinMACLen, abi.MaxMACLen)
	}
	if msgLen > abi.MaxHMACMsgLen {
		return in.violate("hmac_verify: msg_len %d over %d", msgLen, abi.MaxHMACMsgLen)
	}
	msg, ok1 := mem.Read(msgPtr, msgLen)
	mac, ok2 := mem.Read(macPtr, macLen)
	if !ok1 || !ok2 {
		return in.violate("hmac_verify: msg [%d,+%d) or mac [%d,+%d) outside memory of %d bytes",
			msgPtr, msgLen, macPtr, macLen, mem.Size())
	}
	var key []byte
	if k := in.f.rt.keys; k != nil {
		key = k.Get(keyID)
	}
	if len(key) == 0 {
		return abi.HMACUnknownKey
	}
	h := in.macFor(keyID, key)
	h.Reset()
	h.Write(msg)
	if !hmac.Equal(h.Sum(in.sum[:0])[:macLen], mac) {
		return abi.HMACMismatch
	}
	return abi.HMACOK
}

// macFor returns reusable HMAC state for key, rebuilt when the key id maps to a new
// key slice (rotation).
func (in *instance) macFor(id uint32, key []byte) hash.Hash {
	for i := range in.macs {
		m := &in.macs[i]
		if m.h != nil && m.id == id && len(m.key) == len(key) && &m.key[0] == &key[0] {
			return m.h
		}
	}
	m := &in.macs[in.nextMac%len(in.macs)]
	in.nextMac++
	*m = macState{id: id, key: key, h: hmac.New(sha256.New, key)}
	return m.h
}

func hostLabel(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		stack[0] = api.EncodeI32(abi.CallViolation)
		return
	}
	r := in.label(mod.Memory(), api.DecodeU32(stack[0]), api.DecodeU32(stack[1]),
		api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	stack[0] = api.EncodeI32(r)
}

func (in *instance) label(mem api.Memory, kp, kl, vp, vl uint32) int32 {
	if in.nLabels >= abi.MaxLabels {
		return in.violate("label: more than %d labels", abi.MaxLabels)
	}
	k, ok1 := mem.Read(kp, kl)
	v, ok2 := mem.Read(vp, vl)
	if !ok1 || !ok2 {
		return in.violate("label: key [%d,+%d) or value [%d,+%d) outside memory of %d bytes", kp, kl, vp, vl, mem.Size())
	}
	if !abi.ValidLabelKey(k) {
		return in.violate("label: invalid key %q", clip(k))
	}
	if !abi.ValidLabelValue(v) {
		return in.violate("label: invalid value %q for key %s", clip(v), k)
	}
	for _, l := range in.labels[:in.nLabels] {
		if l.Key == string(k) {
			return in.violate("label: duplicate key %s", k)
		}
	}
	in.labels[in.nLabels] = Label{Key: in.str(k), Value: in.str(v)}
	in.nLabels++
	return abi.LabelOK
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 2*abi.MaxLabelLen {
		return b[:2*abi.MaxLabelLen]
	}
	return b
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	in.logMsg(mod.Memory(), api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]))
}

func (in *instance) logMsg(mem api.Memory, level int32, p, n uint32) {
	b, ok := mem.Read(p, n)
	if !ok {
		in.violate("log: message [%d,+%d) outside memory of %d bytes", p, n, mem.Size())
		return
	}
	if in.logs++; in.logs > abi.MaxLogsPerCall {
		in.f.misc.logsDropped.Add(1)
		return
	}
	if len(b) > abi.MaxLogLen {
		b = b[:abi.MaxLogLen]
	}
	lvl := slog.LevelError
	switch level {
	case abi.LogDebug:
		lvl = slog.LevelDebug
	case abi.LogInfo:
		lvl = slog.LevelInfo
	case abi.LogWarn:
		lvl = slog.LevelWarn
	}
	in.f.log.Log(context.Background(), lvl, string(b), "source", "guest")
}
