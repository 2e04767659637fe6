// Package filter runs an edge's Wasm filters: the built-in signature check, which
// decides 400/403 before any redirect, and the partners' active filters, which
// decide whether an answered click counts. Partner filters follow the catalogue:
// when a filter's active version changes, the module is fetched from the hub's
// object store (and kept on disk, so an edge restarted while cut off still runs
// it), compiled, and swapped in atomically. A click runs against one snapshot of
// the chain, so every click is decided by exactly one version of each filter.
package filter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/wire"
	"github.com/clickagg/clickagg/wasm/filters"
	"github.com/clickagg/clickagg/wasm/host"
)

// Options configure a Manager.
type Options struct {
	Keys host.Keys // the signing keys the built-in sigcheck verifies with
	Dir  string    // where fetched modules are kept
	// CompileCache is wazero's compilation cache; edges in one process may share
	// one (compiling the built-in sigcheck costs ~1 s, ~10 s under -race).
	// Default Dir/compiled.
	CompileCache string
	// Hub reads the hub's object store of modules; nil disables fetching.
	Hub jetstream.JetStream
	// PoolSize is each filter's number of instances (≈ concurrent clicks it can
	// decide at once); default 2 × GOMAXPROCS.
	PoolSize int
	Logger   *slog.Logger
}

// Manager is safe for concurrent use.
type Manager struct {
	o   Options
	rt  *host.Runtime
	sig *host.Filter

	mu      sync.Mutex // serialises loads and swaps
	loaded  map[string]*loaded
	chain   atomic.Pointer[host.Chain]
	ctx     context.Context
	cancel  context.CancelFunc
	pending sync.WaitGroup
}

type loaded struct {
	version int
	sha     string
	f       *host.Filter
}

// New compiles the built-in sigcheck and returns a manager with no partner filters.
func New(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "modules"), 0o755); err != nil {
		return nil, err
	}
	if o.CompileCache == "" {
		o.CompileCache = filepath.Join(o.Dir, "compiled")
	}
	rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: o.CompileCache, Keys: o.Keys, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("filter runtime: %w", err)
	}
	sig, err := filters.NewSigCheck(ctx, rt, o.PoolSize)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	m := &Manager{o: o, rt: rt, sig: sig, loaded: map[string]*loaded{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Verify runs the built-in signature check.
func (m *Manager) Verify(ctx context.Context, c *host.Click) (host.Verdict, error) {
	return m.sig.Run(ctx, c)
}

// Partners returns the current chain of partner filters, or nil when none is active.
func (m *Manager) Partners() *host.Chain { return m.chain.Load() }

// Filters lists the built-in and active partner filters with their versions.
func (m *Manager) Filters() []Active {
	out := []Active{{Name: "sigcheck", Stats: m.sig.Stats()}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, l := range m.loaded {
		out = append(out, Active{Name: name, Version: l.version, SHA256: l.sha, Stats: l.f.Stats()})
	}
	slices.SortFunc(out[1:], func(a, b Active) int { return cmpString(a.Name, b.Name) })
	return out
}

// Active describes a running filter.
type Active struct {
	Name    string
	Version int
	SHA256  string
	Stats   host.FilterStats
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Apply follows one catalogue record: spec nil (deleted) or with no active
// version removes the filter; otherwise the active version is loaded in the
// background (retrying while the hub is unreachable) and swapped in.
func (m *Manager) Apply(name string, spec *wire.Filter) {
	var want wire.FilterVersion
	ok := false
	if spec != nil {
		want, ok = spec.ActiveVersion()
	}
	if !ok {
		m.swap(name, nil)
		return
	}
	m.mu.Lock()
	cur := m.loaded[name]
	m.mu.Unlock()
	if cur != nil && cur.version == want.Version && cur.sha == want.SHA256 {
		return
	}
	m.pending.Add(1)
	go func() {
		defer m.pending.Done()
		m.load(name, want)
	}()
}

// load fetches and compiles a version until it succeeds, the module proves bad, or
// the manager closes.
func (m *Manager) load(name string, v wire.FilterVersion) {
	for attempt := 0; m.ctx.Err() == nil; attempt++ {
		wasm, err := m.module(name, v)
		if err == nil {
			var f *host.Filter
			if f, err = m.rt.Compile(m.ctx, name, wasm, host.PartnerOptions()); err == nil {
				m.swap(name, &loaded{version: v.Version, sha: v.SHA256, f: f})
				m.o.Logger.Info("filter active", "filter", name, "version", v.Version)
				return
			}
			m.o.Logger.Error("filter does not compile; keeping the previous version", "filter", name, "version", v.Version, "err", err)
			return
		}
		m.o.Logger.Warn("filter module not available yet", "filter", name, "version", v.Version, "err", err)
		select {
		case <-m.ctx.Done():
		case <-time.After(time.Duration(min(attempt+1, 10)) * time.Second):
		}
	}
}

// module returns a version's bytes from the disk cache or the hub, checked
// against its SHA-256.
func (m *Manager) module(name string, v wire.FilterVersion) ([]byte, error) {
	path := filepath.Join(m.o.Dir, "modules", fmt.Sprintf("%s-v%d-%s.wasm", name, v.Version, v.SHA256[:min(16, len(v.SHA256))]))
	if b, err := os.ReadFile(path); err == nil && sum(b) == v.SHA256 {
		return b, nil
	}
	if m.o.Hub == nil {
		return nil, fmt.Errorf("not cached and no hub")
	}
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	obj, err := m.o.Hub.ObjectStore(ctx, wire.FilterBucket)
	if err != nil {
		return nil, err
	}
	b, err := obj.GetBytes(ctx, wire.FilterObject(name, v.Version))
	if err != nil {
		return nil, err
	}
	if sum(b) != v.SHA256 {
		return nil, fmt.Errorf("module %s v%d: sha256 mismatch", name, v.Version)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		os.Rename(tmp, path)
	}
	return b, nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// swap installs (or with l nil removes) a filter and publishes a new chain. The
// replaced filter is closed once clicks in flight on the old chain are done with it
// (a grace period: Run holds no reference after it returns).
func (m *Manager) swap(name string, l *loaded) {
	m.mu.Lock()
	old := m.loaded[name]
	if l == nil {
		delete(m.loaded, name)
	} else {
		m.loaded[name] = l
	}
	names := make([]string, 0, len(m.loaded))
	for n := range m.loaded {
		names = append(names, n)
	}
	slices.Sort(names)
	fs := make([]*host.Filter, len(names))
	for i, n := range names {
		fs[i] = m.loaded[n].f
	}
	if len(fs) == 0 {
		m.chain.Store(nil)
	} else {
		m.chain.Store(host.NewChain(fs...))
	}
	m.mu.Unlock()
	if old != nil && (l == nil || old.f != l.f) {
		time.AfterFunc(10*time.Second, func() { old.f.Close(context.Background()) })
	}
}

// Close stops loading and closes every filter.
func (m *Manager) Close(ctx context.Context) {
	m.cancel()
	m.pending.Wait()
	m.rt.Close(ctx)
}
