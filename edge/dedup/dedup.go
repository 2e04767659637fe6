// Package dedup remembers which impressions an edge has counted, so a second click
// of the same impression is answered but never counted again. Entries live until
// their token expires: after that a click is "expired" anyway.
//
// Memory: a Go map entry of a 16-byte key and an 8-byte expiry costs about 40 bytes
// with map overhead, so 1M impressions in the validity window take ~40 MB. The set
// is sharded 64 ways so concurrent clicks rarely contend.
package dedup

import (
	"sync"
	"sync/atomic"
)

const shards = 64

// Set is safe for concurrent use. The zero value is not usable; call New.
type Set struct {
	shards [shards]shard
	size   atomic.Int64
}

type shard struct {
	mu sync.Mutex
	m  map[[16]byte]int64
}

// New returns an empty set.
func New() *Set {
	s := &Set{}
	for i := range s.shards {
		s.shards[i].m = make(map[[16]byte]int64)
	}
	return s
}

func (s *Set) shard(id *[16]byte) *shard { return &s.shards[id[0]%shards] }

// Add records id until expires (unix seconds) and reports whether it was new.
func (s *Set) Add(id [16]byte, expires int64) bool {
	sh := s.shard(&id)
	sh.mu.Lock()
	_, seen := sh.m[id]
	if !seen {
		sh.m[id] = expires
	}
	sh.mu.Unlock()
	if !seen {
		s.size.Add(1)
	}
	return !seen
}

// Remove forgets id (used when a click could not be made durable).
func (s *Set) Remove(id [16]byte) {
	sh := s.shard(&id)
	sh.mu.Lock()
	_, ok := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	if ok {
		s.size.Add(-1)
	}
}

// Sweep drops entries that expired before now (unix seconds) and returns how many.
// It holds one shard's lock at a time.
func (s *Set) Sweep(now int64) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, exp := range sh.m {
			if exp < now {
				delete(sh.m, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	s.size.Add(int64(-n))
	return n
}

// Len is the number of impressions held.
func (s *Set) Len() int { return int(s.size.Load()) }
