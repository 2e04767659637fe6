package minute

import (
	"testing"
	"time"
)

func TestOfMillis(t *testing.T) {
	f := func(ms int64, want Minute) {
		t.Helper()
		if got := OfMillis(ms); got != want {
			t.Fatalf("OfMillis(%d) = %d, want %d", ms, got, want)
		}
	}
	f(0, 0)
	f(59999, 0)
	f(60000, 1)
	f(-1, -1)
	f(-60000, -1)
	f(-60001, -2)
	f(1700000000000, 28333333)
}

func TestRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 22, 10, 7, 31, 5, time.UTC)
	m := Of(ts)
	if got := m.Time(); !got.Equal(time.Date(2026, 11, 22, 10, 7, 0, 0, time.UTC)) {
		t.Fatalf("Time() = %v", got)
	}
	if m.String() != "2026-11-22T10:07:00Z" {
		t.Fatalf("String() = %q", m.String())
	}
	if !Aligned(m.Time()) || Aligned(ts) {
		t.Fatal("Aligned wrong")
	}
	if OfUnix(m.Unix()) != m {
		t.Fatal("OfUnix(Unix()) != m")
	}
}
