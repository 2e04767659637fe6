package api

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3) // 2/s, burst 3
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("k", t0); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.allow("k", t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th: %v %v, want refused for 500ms", ok, wait)
	}
	if ok, _ := l.allow("other", t0); !ok {
		t.Fatal("keys share a bucket")
	}
	if ok, _ := l.allow("k", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("token not refilled after 500ms")
	}
	if ok, _ := (*limiter)(nil).allow("k", t0); !ok {
		t.Fatal("nil limiter limits")
	}
}
