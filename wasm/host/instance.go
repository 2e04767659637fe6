package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// instanceKey carries the *instance in the context of every guest call, so host
// functions find their per-call state without a lock or a map lookup.
type instanceKey struct{}

// instance is one instantiated module. It is used by one call at a time: the pool
// hands it out exclusively.
type instance struct {
	f     *Filter
	mod   api.Module
	mem   api.Memory
	fn    api.Function
	inPtr uint32
	stack [1]uint64

	// ctx is created once: per-call contexts would allocate. With a Timeout, timer
	// cancels it, which makes wazero stop the guest at its next loop header or call.
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	stale  bool // the timer fired: ctx is canceled, replace the instance

	// Per-call state, reset by resetCall.
	fault     error
	nLabels   int
	labels    [abi.MaxLabels]Label
	hmacCalls int
	logs      int

	macs    [4]macState // HMAC state per recent key: hmac.New allocates
	nextMac int
	sum     [sha256.Size]byte
	intern  map[string]string
	out     output // the guest's stdout and stderr, shown when it fails
}

type macState struct {
	id  uint32
	key []byte
	h   hash.Hash
}

// maxInterned bounds the per-instance label string cache; labels beyond it still
// work but allocate.
const maxInterned = 256

func instanceFrom(ctx context.Context) *instance {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	return in
}

// newInstance instantiates the filter's module and runs its initialisation under
// Options.InitTimeout (enforced only for filters with a Timeout).
func (f *Filter) newInstance(ctx context.Context) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInstantiate, err)
	}
	in := &instance{f: f, intern: make(map[string]string)}
	in.ctx = context.WithValue(context.Background(), instanceKey{}, in)
	if f.opts.Timeout > 0 {
		in.ctx, in.cancel = context.WithCancel(in.ctx)
		in.timer = time.AfterFunc(time.Hour, in.cancel)
		in.timer.Stop()
	}
	ictx, cancel := context.WithTimeout(in.ctx, f.opts.InitTimeout)
	defer cancel()
	mod, err := f.wr.InstantiateModule(ictx, f.cm, f.modCfg.WithStdout(&in.out).WithStderr(&in.out))
	if err != nil {
		in.release()
		return nil, fmt.Errorf("%w: %w%s", ErrInstantiate, err, in.out.suffix())
	}
	in.mod, in.mem, in.fn = mod, mod.Memory(), mod.ExportedFunction(abi.FilterExport)
	if err := in.init(ictx); err != nil {
		in.close()
		return nil, err
	}
	in.resetCall()
	return in, nil
}

// init calls _initialize if exported, then checks the ABI version and the input
// buffer.
func (in *instance) init(ctx context.Context) error {
	var st [1]uint64
	if fn := in.mod.ExportedFunction(abi.InitExport); fn != nil {
		if err := fn.CallWithStack(ctx, st[:]); err != nil {
			return fmt.Errorf("%w: %s: %w%s", ErrInstantiate, abi.InitExport, err, in.out.suffix())
		}
	}
	if err := in.mod.ExportedFunction(abi.VersionExport).CallWithStack(ctx, st[:]); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInstantiate, abi.VersionExport, err)
	}
	if v := uint32(st[0]); v != abi.Version {
		return fmt.Errorf("%w: module declares ABI version %d, host supports %d", ErrABIVersion, v, abi.Version)
	}
	if err := in.mod.ExportedFunction(abi.InputExport).CallWithStack(ctx, st[:]); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInstantiate, abi.InputExport, err)
	}
	in.inPtr = uint32(st[0])
	if uint64(in.inPtr)+abi.InputLen > uint64(in.mem.Size()) {
		return fmt.Errorf("%w: input buffer [%d, +%d) is outside memory of %d bytes",
			ErrExport, in.inPtr, abi.InputLen, in.mem.Size())
	}
	if in.fault != nil {
		return fmt.Errorf("%w: during initialisation: %w", ErrViolation, in.fault)
	}
	return nil
}

func (in *instance) resetCall() {
	in.fault, in.nLabels, in.hmacCalls, in.logs = nil, 0, 0, 0
	in.out.reset()
}

// call runs the filter on c. It does not allocate unless the guest adds labels or
// fails. The caller replaces the instance if call fails or in.stale is set.
func (in *instance) call(c *Click) (Verdict, error) {
	buf, ok := in.mem.Read(in.inPtr, abi.InputLen)
	if !ok {
		return Verdict{}, in.f.errorf(ErrViolation, "input buffer is outside memory")
	}
	n := abi.EncodeClick(buf, c)
	in.resetCall()
	in.stack[0] = uint64(n)
	if in.timer != nil {
		in.timer.Reset(in.f.opts.Timeout)
	}
	err := in.fn.CallWithStack(in.ctx, in.stack[:])
	if in.timer != nil && !in.timer.Stop() {
		in.stale = true // fired, or firing: ctx is (about to be) canceled
	}
	if err != nil {
		return Verdict{}, in.callError(err)
	}
	if in.fault != nil {
		return Verdict{}, in.f.errorf(ErrViolation, "%w", in.fault)
	}
	a, reason, score, ok := abi.UnpackVerdict(in.stack[0])
	if !ok {
		return Verdict{}, in.f.errorf(ErrViolation, "invalid verdict %#x", in.stack[0])
	}
	v := Verdict{Action: Action(a), Reason: reason, Score: score}
	if in.nLabels > 0 {
		v.Labels = make([]Label, in.nLabels)
		copy(v.Labels, in.labels[:in.nLabels])
	}
	return v, nil
}

// callError classifies an error of the guest call. Only our timer cancels in.ctx,
// so wazero's context-canceled exit code means the CPU limit was hit.
func (in *instance) callError(err error) error {
	if in.f.closing.Load() {
		return in.f.errorf(ErrClosed, "%w", err)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code == sys.ExitCodeContextCanceled || code == sys.ExitCodeDeadlineExceeded {
			return in.f.errorf(ErrTimeout, "after %s", in.f.opts.Timeout)
		}
		return in.f.errorf(ErrTrap, "guest exited with code %d%s", exit.ExitCode(), in.out.suffix())
	}
	return in.f.errorf(ErrTrap, "%w%s", err, in.out.suffix())
}

// violate records the first ABI violation of the current call; the call fails when
// the guest returns. It returns the code host functions hand back to the guest.
func (in *instance) violate(format string, args ...any) int32 {
	if in.fault == nil {
		in.fault = fmt.Errorf(format, args...)
	}
	return abi.CallViolation
}

func (in *instance) str(b []byte) string {
	if s, ok := in.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.intern) < maxInterned {
		in.intern[s] = s
	}
	return s
}

// close closes the module and releases the timer.
func (in *instance) close() {
	if in.mod != nil {
		in.mod.Close(context.Background())
	}
	in.release()
}

func (in *instance) release() {
	if in.timer != nil {
		in.timer.Stop()
		in.cancel()
	}
}

// output keeps the first and the last bytes a guest wrote to stdout or stderr in a
// call: a Go guest prints its panic message first, then goroutine dumps.
type output struct {
	head    [256]byte
	tail    [256]byte
	nh, nt  int
	dropped bool // bytes between head and tail were lost
}

func (o *output) Write(p []byte) (int, error) {
	n := len(p)
	c := copy(o.head[o.nh:], p)
	o.nh += c
	p = p[c:]
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= len(o.tail) {
		o.dropped = o.dropped || o.nt > 0 || len(p) > len(o.tail)
		o.nt = copy(o.tail[:], p[len(p)-len(o.tail):])
		return n, nil
	}
	if over := o.nt + len(p) - len(o.tail); over > 0 {
		o.nt = copy(o.tail[:], o.tail[over:o.nt])
		o.dropped = true
	}
	o.nt += copy(o.tail[o.nt:], p)
	return n, nil
}

func (o *output) reset() { o.nh, o.nt, o.dropped = 0, 0, false }

// suffix formats the output for an error message, empty if the guest wrote nothing.
func (o *output) suffix() string {
	if o.nh == 0 {
		return ""
	}
	gap := ""
	if o.dropped {
		gap = "..."
	}
	return fmt.Sprintf(" (guest output: %q)", string(o.head[:o.nh])+gap+string(o.tail[:o.nt]))
}
