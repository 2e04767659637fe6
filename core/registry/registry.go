// Package registry is the core's catalogue of ads and token signing keys. It lives in
// a JetStream KV bucket at the hub, which edges mirror, so registering an ad here is
// what makes every edge able to redirect its clicks. The core keeps an in-memory
// copy, fed by a watch, for lookups on the query path.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
)

// ErrNotFound is returned for an unknown ad.
var ErrNotFound = errors.New("not found")

// Registry is safe for concurrent use.
type Registry struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu    sync.RWMutex
	ads   map[string]wire.Ad
	byAdv map[string]map[string]struct{} // advertiser → its ads
	keyID uint32
	key   []byte

	watcher jetstream.KeyWatcher
	done    chan struct{}
}

// Open creates the bucket if needed, makes sure a signing key exists, and loads the
// ads.
func Open(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.CatalogBucket, History: 1,
		Storage: jetstream.FileStorage, Description: "clickagg ads and signing keys; mirrored by every edge"})
	if err != nil {
		return nil, fmt.Errorf("catalogue bucket: %w", err)
	}
	r := &Registry{kv: kv, log: log, ads: make(map[string]wire.Ad), byAdv: map[string]map[string]struct{}{}, done: make(chan struct{})}
	if err := r.loadKey(ctx); err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		return nil, fmt.Errorf("catalogue watch: %w", err)
	}
	r.watcher = w
	for e := range w.Updates() {
		if e == nil { // initial values done
			break
		}
		r.apply(e)
	}
	go r.follow()
	return r, nil
}

func (r *Registry) follow() {
	defer close(r.done)
	for e := range r.watcher.Updates() {
		if e != nil {
			r.apply(e)
		}
	}
}

func (r *Registry) apply(e jetstream.KeyValueEntry) {
	kind, id, ok := wire.ParseCatalogKey(e.Key())
	if !ok || kind != "ad" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		r.setLocked(id, nil)
		return
	}
	a, err := wire.DecodeAd(e.Value())
	if err != nil {
		r.log.Error("catalogue ad does not decode", "ad", id, "err", err)
		return
	}
	r.setLocked(id, &a)
}

// setLocked sets (nil: deletes) an ad and keeps the advertiser index.
func (r *Registry) setLocked(id string, a *wire.Ad) {
	if old, ok := r.ads[id]; ok {
		delete(r.byAdv[old.AdvertiserID], id)
	}
	if a == nil {
		delete(r.ads, id)
		return
	}
	r.ads[id] = *a
	if r.byAdv[a.AdvertiserID] == nil {
		r.byAdv[a.AdvertiserID] = map[string]struct{}{}
	}
	r.byAdv[a.AdvertiserID][id] = struct{}{}
}

// AdsOf lists an advertiser's ads.
func (r *Registry) AdsOf(advertiser string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.byAdv[advertiser]))
	for id := range r.byAdv[advertiser] {
		out = append(out, id)
	}
	return out
}

// loadKey picks the newest signing key, creating key 1 on a new deployment.
func (r *Registry) loadKey(ctx context.Context) error {
	keys, err := r.kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	for k := range keys.Keys() {
		kind, id, _ := wire.ParseCatalogKey(k)
		if kind != "signkey" {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil || uint32(n) < r.keyID {
			continue
		}
		e, err := r.kv.Get(ctx, k)
		if err != nil {
			return err
		}
		var sk wire.SigningKey
		if err := json.Unmarshal(e.Value(), &sk); err != nil {
			return fmt.Errorf("signing key %d: %w", n, err)
		}
		r.keyID, r.key = uint32(n), sk.Key
	}
	if r.key != nil {
		return nil
	}
	return r.RotateKey(ctx)
}

// RotateKey adds a new signing key and makes it current. Old keys stay, so tokens
// already issued keep verifying until they expire.
func (r *Registry) RotateKey(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.keyID + 1
	k := token.NewKey()
	b, _ := json.Marshal(wire.SigningKey{Key: k})
	if _, err := r.kv.Create(ctx, wire.SigningKeyKey(id), b); err != nil {
		return fmt.Errorf("signing key %d: %w", id, err)
	}
	r.keyID, r.key = id, k
	return nil
}

// SigningKey returns the current key and its id.
func (r *Registry) SigningKey() (uint32, []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keyID, r.key
}

// PutAd registers or updates an ad. ids and the URL must already be valid.
func (r *Registry) PutAd(ctx context.Context, id string, a wire.Ad) (created bool, err error) {
	b, _ := json.Marshal(a)
	_, existed := r.Ad(id)
	if _, err := r.kv.Put(ctx, wire.AdKey(id), b); err != nil {
		return false, fmt.Errorf("put ad %s: %w", id, err)
	}
	r.mu.Lock()
	r.setLocked(id, &a)
	r.mu.Unlock()
	return !existed, nil
}

// Ad returns an ad.
func (r *Registry) Ad(id string) (wire.Ad, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.ads[id]
	return a, ok
}

// Len is the number of ads.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.ads)
}

// IDs lists every ad, in no particular order: O(ads), ~50 ns each (the rollup's
// exact fallback asks for it only when there are few).
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.ads))
	for id := range r.ads {
		out = append(out, id)
	}
	return out
}

// Close stops the watch.
func (r *Registry) Close() {
	if r.watcher != nil {
		r.watcher.Stop()
		<-r.done
	}
}

// KV is the catalogue bucket, for the other writers of catalogue records (filters).
func (r *Registry) KV() jetstream.KeyValue { return r.kv }
