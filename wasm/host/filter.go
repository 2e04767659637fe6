package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
)

// Filter is a compiled filter module with a fixed pool of instances. Run is safe for
// concurrent use; at most PoolSize calls run at once, the others wait.
type Filter struct {
	name   string
	rt     *Runtime
	wr     wazero.Runtime
	cm     wazero.CompiledModule
	opts   Options
	log    *slog.Logger
	modCfg wazero.ModuleConfig

	slots []*slot
	pool  chan *slot // holds every slot not in use; len(pool)+in flight = len(slots)
	done  chan struct{}

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	misc        counters // events not tied to a slot
	lastFailLog atomic.Int64
}

// slot is a place in the pool: its counters and its instance, nil after a failed
// re-instantiation (the next call through the slot tries again).
type slot struct {
	c  counters
	in *instance
}

// counters are padded so that slots used by different cores do not share a line.
type counters struct {
	calls, accepts, rejects, flags           atomic.Uint64
	traps, timeouts, violations, unavailable atomic.Uint64
	replaced, logsDropped, ns                atomic.Uint64
	_                                        [64]byte
}

func newFilter(ctx context.Context, rt *Runtime, name string, wr wazero.Runtime, cm wazero.CompiledModule, opts Options) (*Filter, error) {
	f := &Filter{
		name: name, rt: rt, wr: wr, cm: cm, opts: opts,
		log:  opts.Logger.With("filter", name),
		pool: make(chan *slot, opts.PoolSize),
		done: make(chan struct{}),
		// No arguments, environment or directories; a real clock (Go's scheduler
		// reads it) and crypto/rand (seeds the guest's map hashing). Sleep stays
		// wazero's no-op, so a guest cannot park the host's thread.
		modCfg: wazero.NewModuleConfig().WithName("").WithStartFunctions().
			WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader),
	}
	for range opts.PoolSize {
		in, err := f.newInstance(ctx)
		if err != nil {
			for _, s := range f.slots {
				s.in.close()
			}
			return nil, err
		}
		s := &slot{in: in}
		f.slots = append(f.slots, s)
		f.pool <- s
	}
	return f, nil
}

// Name returns the name given to Compile.
func (f *Filter) Name() string { return f.name }

// Options returns the filter's options with defaults applied.
func (f *Filter) Options() Options { return f.opts }

// Run runs the filter on c. On success it returns the guest's verdict. On failure
// (trap, timeout, ABI violation, no instance) it returns the policy verdict, Accept
// if FailOpen, else Reject with ReasonFailClosed, and an error wrapping ErrTrap,
// ErrTimeout, ErrViolation, ErrClosed or ErrNoInstance; a failed instance is replaced.
// ctx bounds only the wait for a free instance: the CPU limit is Options.Timeout.
//
// Without a Timeout it does not allocate unless the guest adds labels (one slice per
// verdict) or fails; with one, wazero allocates 3 times (176 B) per call.
func (f *Filter) Run(ctx context.Context, c *Click) (Verdict, error) {
	start := time.Now()
	s, err := f.acquire(ctx)
	if err != nil {
		f.misc.calls.Add(1)
		f.misc.unavailable.Add(1)
		f.misc.ns.Add(uint64(time.Since(start)))
		return f.policy(), err
	}
	v, err := f.runSlot(s, c)
	s.c.ns.Add(uint64(time.Since(start)))
	f.pool <- s
	return v, err
}

func (f *Filter) acquire(ctx context.Context) (*slot, error) {
	var s *slot
	select {
	case s = <-f.pool:
	default:
		select {
		case s = <-f.pool:
		case <-f.done:
			return nil, f.errorf(ErrClosed, "")
		case <-ctx.Done():
			return nil, f.errorf(ErrNoInstance, "%w", ctx.Err())
		}
	}
	if f.closing.Load() {
		f.pool <- s
		return nil, f.errorf(ErrClosed, "")
	}
	return s, nil
}

func (f *Filter) runSlot(s *slot, c *Click) (Verdict, error) {
	s.c.calls.Add(1)
	if s.in == nil {
		in, err := f.newInstance(context.Background())
		if err != nil {
			s.c.unavailable.Add(1)
			err = f.errorf(ErrNoInstance, "%w", err)
			f.logFailure(err)
			return f.policy(), err
		}
		s.in = in
	}
	v, err := s.in.call(c)
	if err != nil || s.in.stale {
		f.replace(s)
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrTimeout):
			s.c.timeouts.Add(1)
		case errors.Is(err, ErrViolation):
			s.c.violations.Add(1)
		case errors.Is(err, ErrClosed):
			s.c.unavailable.Add(1)
		default:
			s.c.traps.Add(1)
		}
		f.logFailure(err)
		return f.policy(), err
	}
	switch v.Action {
	case Accept:
		s.c.accepts.Add(1)
	case Reject:
		s.c.rejects.Add(1)
	case Flag:
		s.c.flags.Add(1)
	}
	return v, nil
}

// replace closes the slot's instance and instantiates a fresh one. If that fails the
// slot is left empty and the next call through it tries again.
func (f *Filter) replace(s *slot) {
	s.in.close()
	s.in = nil
	s.c.replaced.Add(1)
	if f.closing.Load() {
		return
	}
	in, err := f.newInstance(context.Background())
	if err != nil {
		f.logFailure(f.errorf(ErrNoInstance, "replace instance: %w", err))
		return
	}
	s.in = in
}

func (f *Filter) policy() Verdict {
	if f.opts.FailOpen {
		return Verdict{Action: Accept}
	}
	return Verdict{Action: Reject, Reason: ReasonFailClosed}
}

// errorf wraps kind with the filter's name and details.
func (f *Filter) errorf(kind error, format string, args ...any) error {
	if format == "" {
		return fmt.Errorf("filter %q: %w", f.name, kind)
	}
	return fmt.Errorf("filter %q: %w: %w", f.name, kind, fmt.Errorf(format, args...))
}

// logFailure logs at most one failure per second per filter: a hostile module that
// fails on every click must not flood the log. Stats count every failure.
func (f *Filter) logFailure(err error) {
	now := time.Now().UnixNano()
	last := f.lastFailLog.Load()
	if now-last < int64(time.Second) || !f.lastFailLog.CompareAndSwap(last, now) {
		return
	}
	f.log.Warn("filter call failed", "err", err)
}

// Stats returns the filter's counters. It is safe to call at any time and costs
// ~11 atomic loads per instance.
func (f *Filter) Stats() FilterStats {
	var st FilterStats
	add := func(c *counters) {
		st.Calls += c.calls.Load()
		st.Accepts += c.accepts.Load()
		st.Rejects += c.rejects.Load()
		st.Flags += c.flags.Load()
		st.Traps += c.traps.Load()
		st.Timeouts += c.timeouts.Load()
		st.Violations += c.violations.Load()
		st.Unavailable += c.unavailable.Load()
		st.Replaced += c.replaced.Load()
		st.LogsDropped += c.logsDropped.Load()
		st.TotalNs += c.ns.Load()
	}
	add(&f.misc)
	for _, s := range f.slots {
		add(&s.c)
	}
	return st
}

// Close stops the filter: new calls fail with ErrClosed, calls in flight finish
// (Close waits for them until ctx is done), then every instance and the filter's
// wazero runtime are closed. It is idempotent.
func (f *Filter) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		f.closing.Store(true)
		close(f.done)
		var errs []error
		for n := 0; n < len(f.slots); n++ {
			select {
			case s := <-f.pool:
				if s.in != nil {
					s.in.release()
				}
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("filter %q: %d calls still running: %w", f.name, len(f.slots)-n, ctx.Err()))
				n = len(f.slots)
			}
		}
		errs = append(errs, f.wr.Close(context.Background()))
		f.rt.untrack(f)
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}
