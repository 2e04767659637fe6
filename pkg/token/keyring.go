package token

import (
	"crypto/rand"
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
// deployment rotates through.
type Keyring struct {
	m atomic.Pointer[map[uint32][]byte]
}

// Get returns the key with id, or nil.
func (r *Keyring) Get(id uint32) []byte {
	m := r.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// Set adds or replaces a key. A nil key removes it.
func (r *Keyring) Set(id uint32, key []byte) {
	for {
		old := r.m.Load()
		n := make(map[uint32][]byte)
		if old != nil {
			for k, v := range *old {
				n[k] = v
			}
		}
		if key == nil {
			delete(n, id)
		} else {
			n[id] = key
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
