// Package filters is the core's registry of partner Wasm filters. An upload is
// validated (it compiles, declares ABI v1, imports only what the host offers,
// stays within limits, and decides sample clicks in a dry run), stored as a new
// version in the hub's object store, and recorded in the catalogue bucket that
// every edge mirrors; activating a version (or rolling back to an older one) is a
// catalogue update that edges follow within seconds.
package filters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/wire"
	"github.com/clickagg/clickagg/wasm/host"
)

// Errors the API maps to statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid filter")
)

// Registry is safe for concurrent use.
type Registry struct {
	kv  jetstream.KeyValue // the catalogue bucket
	obj jetstream.ObjectStore
	rt  *host.Runtime
	log *slog.Logger
}

// noKeys is the keyring of the validation runtime: dry runs never see real keys.
type noKeys struct{}

func (noKeys) Get(uint32) []byte { return nil }

// Open creates the module bucket if needed.
func Open(ctx context.Context, js jetstream.JetStream, catalog jetstream.KeyValue, cacheDir string, log *slog.Logger) (*Registry, error) {
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: wire.FilterBucket,
		Description: "partner Wasm filter modules, one object per version", Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("filter bucket: %w", err)
	}
	rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: cacheDir, Keys: noKeys{}, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Registry{kv: catalog, obj: obj, rt: rt, log: log}, nil
}

// Close releases the validation runtime.
func (r *Registry) Close() { r.rt.Close(context.Background()) }

// Caller is who manages filters: the admin (Owner "") or a partner.
type Caller struct {
	Admin bool
	Owner string
}

func (c Caller) may(f *wire.Filter) bool { return c.Admin || f.Owner == c.Owner }

// Upload validates wasm and stores it as the next version of name. The first
// upload of a name makes the caller its owner. Nothing is activated.
func (r *Registry) Upload(ctx context.Context, c Caller, name string, wasm []byte) (wire.FilterVersion, host.Info, error) {
	if err := wire.CheckFilterName(name); err != nil {
		return wire.FilterVersion{}, host.Info{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	info, err := r.rt.Validate(ctx, wasm)
	if err != nil {
		return wire.FilterVersion{}, info, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	h := sha256.Sum256(wasm)
	var v wire.FilterVersion
	err = r.update(ctx, name, func(f *wire.Filter, exists bool) error {
		if exists && !c.may(f) {
			return ErrNotFound
		}
		if !exists {
			f.Owner = c.Owner
		}
		v = wire.FilterVersion{Version: 1, SHA256: hex.EncodeToString(h[:]), Size: len(wasm), Created: time.Now().UTC().Format(time.RFC3339)}
		for _, old := range f.Versions {
			v.Version = max(v.Version, old.Version+1)
		}
		if _, err := r.obj.PutBytes(ctx, wire.FilterObject(name, v.Version), wasm); err != nil {
			return fmt.Errorf("store module: %w", err)
		}
		f.Versions = append(f.Versions, v)
		return nil
	})
	return v, info, err
}

// Activate makes version the one edges run; 0 deactivates the filter.
func (r *Registry) Activate(ctx context.Context, c Caller, name string, version int) (wire.Filter, error) {
	var out wire.Filter
	err := r.update(ctx, name, func(f *wire.Filter, exists bool) error {
		if !exists || !c.may(f) {
			return ErrNotFound
		}
		if version != 0 && !slices.ContainsFunc(f.Versions, func(v wire.FilterVersion) bool { return v.Version == version }) {
			return fmt.Errorf("%w: filter %s has no version %d", ErrInvalid, name, version)
		}
		f.Active = version
		out = *f
		return nil
	})
	return out, err
}

// Get returns one filter.
func (r *Registry) Get(ctx context.Context, c Caller, name string) (wire.Filter, error) {
	f, _, err := r.get(ctx, name)
	if err != nil || !c.may(&f) {
		return wire.Filter{}, ErrNotFound
	}
	return f, nil
}

// List returns the filters the caller may see, by name.
func (r *Registry) List(ctx context.Context, c Caller) (map[string]wire.Filter, error) {
	out := map[string]wire.Filter{}
	keys, err := r.kv.ListKeysFiltered(ctx, wire.FilterKey(">"))
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		_, name, _ := wire.ParseCatalogKey(k)
		if f, _, err := r.get(ctx, name); err == nil && c.may(&f) {
			out[name] = f
		}
	}
	return out, nil
}

func (r *Registry) get(ctx context.Context, name string) (wire.Filter, uint64, error) {
	var f wire.Filter
	e, err := r.kv.Get(ctx, wire.FilterKey(name))
	if err != nil {
		return f, 0, err
	}
	return f, e.Revision(), json.Unmarshal(e.Value(), &f)
}

// update applies fn to the record with optimistic concurrency, retrying when
// another update won the race.
func (r *Registry) update(ctx context.Context, name string, fn func(f *wire.Filter, exists bool) error) error {
	for attempt := 0; attempt < 5; attempt++ {
		f, rev, err := r.get(ctx, name)
		exists := err == nil
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		if err := fn(&f, exists); err != nil {
			return err
		}
		b, _ := json.Marshal(f)
		if exists {
			_, err = r.kv.Update(ctx, wire.FilterKey(name), b, rev)
		} else {
			_, err = r.kv.Create(ctx, wire.FilterKey(name), b)
		}
		if err == nil {
			return nil
		}
		r.log.Debug("filter record changed meanwhile; retrying", "filter", name, "err", err)
	}
	return fmt.Errorf("filter %s: too many concurrent updates", name)
}
