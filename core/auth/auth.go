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
	RolePartner    = "partner" // uploads and manages its own Wasm filters
)

// Principal is an authenticated caller.
type Principal struct {
	KeyID   string `json:"key_id,omitempty"` // "" for the admin token
	Role    string `json:"role"`
	Owner   string `json:"owner,omitempty"` // the advertiser or partner id the key belongs to
	Created string `json:"created,omitempty"`
	Hash    string `json:"hash,omitempty"` // hex SHA-256 of the key
}

// Bucket is the hub KV bucket of API key hashes.
const Bucket = "apikeys"

// Auth is safe for concurrent use.
type Auth struct {
	admin [32]byte
	kv    jetstream.KeyValue

	mu   sync.RWMutex
	keys map[string]Principal // key id (first 16 hex digits of the hash) → principal
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
	full := hex.EncodeToString(h[:])
	a.mu.RLock()
	p, ok := a.keys[full[:16]]
	a.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare([]byte(p.Hash), []byte(full)) != 1 {
		return Principal{}, false
	}
	return p, true
}

// NewKey mints a key of role for owner (an advertiser or partner id) and returns
// the key and its id. Only the key's hash is stored.
func (a *Auth) NewKey(ctx context.Context, role, owner string) (token, id string, err error) {
	var b [24]byte
	rand.Read(b[:])
	token = "ck_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	full := hex.EncodeToString(h[:])
	p := Principal{KeyID: full[:16], Role: role, Owner: owner, Created: time.Now().UTC().Format(time.RFC3339), Hash: full}
	v, _ := json.Marshal(p)
	if _, err := a.kv.Create(ctx, p.KeyID, v); err != nil {
		return "", "", fmt.Errorf("store key: %w", err)
	}
	a.mu.Lock()
	a.keys[p.KeyID] = p
	a.mu.Unlock()
	return token, p.KeyID, nil
}

// Revoke deletes a key; it stops working at once on this core.
func (a *Auth) Revoke(ctx context.Context, id string) (bool, error) {
	a.mu.Lock()
	_, ok := a.keys[id]
	delete(a.keys, id)
	a.mu.Unlock()
	if !ok {
		return false, nil
	}
	return true, a.kv.Delete(ctx, id)
}

// Close stops the watch.
func (a *Auth) Close() {
	a.w.Stop()
	<-a.done
}
