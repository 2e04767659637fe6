// Package auth decides who is calling the core's API. The admin token comes from
// the operator; advertiser keys are minted by the API and stored only as SHA-256
// hashes in a hub KV bucket, so a copy of the hub's disk does not leak usable keys.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Roles.
const (
	RoleAdmin      = "admin"
	RoleAdvertiser = "advertiser"
)

// Principal is an authenticated caller.
type Principal struct {
	Role       string `json:"role"`
	Advertiser string `json:"advertiser_id,omitempty"` // for RoleAdvertiser
	Created    string `json:"created,omitempty"`
}

// Bucket is the hub KV bucket of API key hashes.
const Bucket = "apikeys"

// Auth is safe for concurrent use.
type Auth struct {
	admin [32]byte
	kv    jetstream.KeyValue

	mu   sync.RWMutex
	keys map[string]Principal // hex(sha256(token)) → principal
	w    jetstream.KeyWatcher
	done chan struct{}
}

// Open loads the API keys. adminToken must be at least 16 characters.
func Open(ctx context.Context, js jetstream.JetStream, adminToken string) (*Auth, error) {
	if len(adminToken) < 16 {
		return nil, fmt.Errorf("admin token must be at least 16 characters")
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("api key bucket: %w", err)
	}
	a := &Auth{admin: sha256.Sum256([]byte(adminToken)), kv: kv, keys: map[string]Principal{}, done: make(chan struct{})}
	if a.w, err = kv.WatchAll(ctx); err != nil {
		return nil, err
	}
	for e := range a.w.Updates() {
		if e == nil {
			break
		}
		a.apply(e)
	}
	go func() {
		defer close(a.done)
		for e := range a.w.Updates() {
			if e != nil {
				a.apply(e)
			}
		}
	}()
	return a, nil
}

func (a *Auth) apply(e jetstream.KeyValueEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(a.keys, e.Key())
		return
	}
	var p Principal
	if json.Unmarshal(e.Value(), &p) == nil {
		a.keys[e.Key()] = p
	}
}

// Authenticate returns the principal of a bearer token.
func (a *Auth) Authenticate(token string) (Principal, bool) {
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], a.admin[:]) == 1 {
		return Principal{Role: RoleAdmin}, true
	}
	a.mu.RLock()
	p, ok := a.keys[hex.EncodeToString(h[:])]
	a.mu.RUnlock()
	return p, ok
}

// NewAdvertiserKey mints a key that sees only one advertiser's ads.
func (a *Auth) NewAdvertiserKey(ctx context.Context, advertiser string) (string, error) {
	var b [24]byte
	rand.Read(b[:])
	tok := "ck_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	p := Principal{Role: RoleAdvertiser, Advertiser: advertiser, Created: time.Now().UTC().Format(time.RFC3339)}
	v, _ := json.Marshal(p)
	k := hex.EncodeToString(h[:])
	if _, err := a.kv.Create(ctx, k, v); err != nil {
		return "", fmt.Errorf("store key: %w", err)
	}
	a.mu.Lock()
	a.keys[k] = p
	a.mu.Unlock()
	return tok, nil
}

// Close stops the watch.
func (a *Auth) Close() {
	a.w.Stop()
	<-a.done
}
