package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
)

// KeyLen is the length of generated signing keys (256 bits).
const KeyLen = 32

// NewKey returns a fresh random signing key.
func NewKey() []byte {
	k := make([]byte, KeyLen)
	rand.Read(k)
	return k
}

// Keyring maps key ids to signing keys. Reads are lock-free; it is safe for
// concurrent use. Updates copy the map, which is fine for the handful of keys a
// deployment rotates through. Each key keeps a pool of keyed HMAC states, so
// Verify allocates nothing once warm (~1 µs per token on this machine, against
// ~1.3 µs and 6 allocations for a fresh hmac.New).
type Keyring struct {
	m atomic.Pointer[map[uint32]*ringKey]
}

type ringKey struct {
	key  []byte
	macs sync.Pool // *mac keyed with key
}

type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newRingKey(key []byte) *ringKey {
	k := &ringKey{key: key}
	k.macs.New = func() any { return &mac{h: hmac.New(sha256.New, key)} }
	return k
}

// Get returns the key with id, or nil.
func (r *Keyring) Get(id uint32) []byte {
	if k := r.get(id); k != nil {
		return k.key
	}
	return nil
}

func (r *Keyring) get(id uint32) *ringKey {
	m := r.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// Verify checks p's MAC with the key it names. known is false when the keyring
// does not hold that key.
func (r *Keyring) Verify(p *Parsed) (known, ok bool) {
	k := r.get(p.KeyID)
	if k == nil {
		return false, false
	}
	m := k.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(p.Signed())
	ok = hmac.Equal(m.h.Sum(m.sum[:0])[:MACLen], p.MAC())
	k.macs.Put(m)
	return true, ok
}

// Set adds or replaces a key. A nil key removes it.
func (r *Keyring) Set(id uint32, key []byte) {
	for {
		old := r.m.Load()
		n := make(map[uint32]*ringKey)
		if old != nil {
			for k, v := range *old {
				n[k] = v
			}
		}
		if key == nil {
			delete(n, id)
		} else {
			n[id] = newRingKey(key)
		}
		if r.m.CompareAndSwap(old, &n) {
			return
		}
	}
}

// Len returns the number of keys.
func (r *Keyring) Len() int {
	m := r.m.Load()
	if m == nil {
		return 0
	}
	return len(*m)
}
