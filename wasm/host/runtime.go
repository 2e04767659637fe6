package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	// CacheDir, if set, keeps compiled code on disk across processes (wazero's file
	// cache), turning a Go guest's ~1.3 s compile into a few ms load. Empty means an
	// in-memory cache shared by the runtime's filters.
	CacheDir string
	// Keys resolves key ids for hmac_verify; nil means every key id is unknown.
	Keys Keys
	// Logger is the default logger of filters; nil discards.
	Logger *slog.Logger
}

// Runtime compiles and runs filters. It is safe for concurrent use.
type Runtime struct {
	cache wazero.CompilationCache
	keys  Keys
	log   *slog.Logger

	mu      sync.Mutex
	closed  bool
	filters map[*Filter]struct{}
}

// NewRuntime returns a runtime with a compilation cache. Close releases it.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	r := &Runtime{keys: cfg.Keys, log: cfg.Logger, filters: make(map[*Filter]struct{})}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache in %s: %w", cfg.CacheDir, err)
		}
		r.cache = c
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	return r, nil
}

// Close closes every filter compiled by r, waiting for calls in flight until ctx is
// done, then the compilation cache. Further Compile calls fail with ErrRuntimeClosed.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	fs := make([]*Filter, 0, len(r.filters))
	for f := range r.filters {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	var errs []error
	for _, f := range fs {
		errs = append(errs, f.Close(ctx))
	}
	errs = append(errs, r.cache.Close(ctx))
	return errors.Join(errs...)
}

func (r *Runtime) track(f *Filter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrRuntimeClosed
	}
	r.filters[f] = struct{}{}
	return nil
}

func (r *Runtime) untrack(f *Filter) {
	r.mu.Lock()
	delete(r.filters, f)
	r.mu.Unlock()
}

// Compile checks wasm against ABI v1 (see Validate for the checks), compiles it (once
// per process or cache directory) and fills a pool of opts.PoolSize instances. name
// tags logs and errors. The errors wrap ErrNotWasm, ErrInvalid, ErrImport, ErrExport,
// ErrLimits, ErrABIVersion or ErrInstantiate.
func (r *Runtime) Compile(ctx context.Context, name string, wasm []byte, opts Options) (*Filter, error) {
	opts = opts.withDefaults(r)
	if !isWasm(wasm) {
		return nil, fmt.Errorf("filter %q: %w", name, ErrNotWasm)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrRuntimeClosed
	}
	wr, err := r.newWazero(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	cm, err := wr.CompileModule(ctx, wasm)
	if err != nil {
		wr.Close(ctx)
		kind := ErrInvalid
		if strings.Contains(err.Error(), "over limit") { // wazero's memory limit message
			kind = ErrLimits
		}
		return nil, fmt.Errorf("filter %q: compile: %w: %w", name, kind, err)
	}
	if err := checkModule(wr, cm); err != nil {
		wr.Close(ctx)
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	f, err := newFilter(ctx, r, name, wr, cm, opts)
	if err != nil {
		wr.Close(ctx)
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	if err := r.track(f); err != nil {
		f.Close(ctx)
		return nil, err
	}
	return f, nil
}

var wasmMagic = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

func isWasm(b []byte) bool { return bytes.HasPrefix(b, wasmMagic) }

// newWazero returns a wazero runtime for one filter, with the filter's memory and CPU
// limits, the shared compilation cache, and the two host modules instantiated.
func (r *Runtime) newWazero(ctx context.Context, opts Options) (wazero.Runtime, error) {
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(r.cache).
		WithMemoryLimitPages(opts.MemoryLimitPages).
		WithCloseOnContextDone(opts.Timeout > 0)
	wr := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wr); err != nil {
		wr.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, wr); err != nil {
		wr.Close(ctx)
		return nil, fmt.Errorf("instantiate host module %s: %w", abi.HostModule, err)
	}
	return wr, nil
}
