package dedup

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestAddSweep(t *testing.T) {
	s := New()
	a, b := [16]byte{1}, [16]byte{2}
	if !s.Add(a, 100) || s.Add(a, 100) || !s.Add(b, 200) {
		t.Fatal("Add")
	}
	if s.Len() != 2 {
		t.Fatalf("Len %d", s.Len())
	}
	if n := s.Sweep(150); n != 1 || s.Len() != 1 {
		t.Fatalf("Sweep dropped %d, len %d", n, s.Len())
	}
	if !s.Add(a, 300) {
		t.Fatal("expired entry still blocks")
	}
	s.Remove(a)
	if !s.Add(a, 300) {
		t.Fatal("removed entry still blocks")
	}
}

// Many goroutines clicking the same impressions: each counts exactly once.
func TestConcurrentOnce(t *testing.T) {
	s := New()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if s.Add([16]byte{byte(i), byte(i >> 8)}, 1) {
					wins.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1000 || s.Len() != 1000 {
		t.Fatalf("wins %d len %d", wins.Load(), s.Len())
	}
}
