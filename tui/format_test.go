package tui

import (
	"strings"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	f := func(n uint64, want string) {
		t.Helper()
		if got := thousands(n); got != want {
			t.Fatalf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	f(0, "0")
	f(999, "999")
	f(1000, "1,000")
	f(12345, "12,345")
	f(1234567, "1,234,567")
	f(18446744073709551615, "18,446,744,073,709,551,615")
}

func TestAge(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		if got := age(d); got != want {
			t.Fatalf("age(%v) = %q, want %q", d, got, want)
		}
	}
	f(-time.Second, "0s")
	f(0, "0.0s")
	f(430*time.Millisecond, "0.4s")
	f(9*time.Second, "9.0s")
	f(12*time.Second, "12s")
	f(3*time.Minute+5*time.Second, "3m05s")
	f(2*time.Hour+3*time.Minute, "2h03m")
	f(76*time.Hour, "3d04h")
}

func TestBytesAndPercent(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	f(bytesIEC(0), "0 B")
	f(bytesIEC(1023), "1023 B")
	f(bytesIEC(1536), "1.5 KiB")
	f(bytesIEC(1<<20), "1.0 MiB")
	f(bytesIEC(5<<40), "5.0 TiB")
	f(percent(1, 0), "-")
	f(percent(1, 3), "33.3%")
	f(clock(time.Time{}), "-")
	f(hhmm(time.Time{}), "-")
	f(clock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))), "02:04:05")
}

func TestSparklineAndBar(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	f(sparkline(nil, UnicodeGlyphs), "")
	f(sparkline([]uint64{0, 0}, UnicodeGlyphs), "▁▁")
	f(sparkline([]uint64{0, 1, 1000, 500}, UnicodeGlyphs), "▁▂█▅")
	f(sparkline([]uint64{0, 1, 1000, 500}, ASCIIGlyphs), "_.#-")
	f(strings.Join(barChart([]uint64{0, 1, 8, 16, 12}, 2, UnicodeGlyphs), "|"), "   █▄| ▁███")
	f(strings.Join(barChart([]uint64{0, 0}, 3, ASCIIGlyphs), "|"), "||")
	f(bar(0, 10, 10, ASCIIGlyphs), "")
	f(bar(1, 1000, 10, ASCIIGlyphs), "#")
	f(bar(5, 10, 10, ASCIIGlyphs), "#####")
	f(bar(10, 10, 10, UnicodeGlyphs), "██████████")
	f(bar(10, 10, 0, UnicodeGlyphs), "")
}

func TestFitPadSpread(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	f(fit("hello", 10, "~"), "hello")
	f(fit("hello world", 8, "~"), "hello w~")
	f(fit("hello", 0, "~"), "")
	f(pad("ab", 4, "~"), "ab  ")
	f(pad("abcdef", 4, "~"), "abc~")
	f(spread("left", "right", 12, "~"), "left   right")
	f(spread("a long left side", "right", 12, "~"), "a lon~ right")
	f(spread("left", "much too wide", 6, "~"), "much ~")
	f(fit("█████", 3, "…"), "██…")
}

func TestClampCursor(t *testing.T) {
	f := func(cursor, off, n, h, wantC, wantOff int) {
		t.Helper()
		if c, o := clampCursor(cursor, off, n, h); c != wantC || o != wantOff {
			t.Fatalf("clampCursor(%d, %d, %d, %d) = %d, %d; want %d, %d", cursor, off, n, h, c, o, wantC, wantOff)
		}
	}
	f(0, 0, 0, 5, 0, 0)   // empty list
	f(3, 0, 10, 5, 3, 0)  // in view
	f(7, 0, 10, 5, 7, 3)  // below: scroll down
	f(2, 5, 10, 5, 2, 2)  // above: scroll up
	f(20, 0, 10, 5, 9, 5) // past the end
	f(-4, 3, 10, 5, 0, 0) // before the start
	f(9, 8, 10, 5, 9, 5)  // no blank rows after a shrink of the list
	f(4, 0, 10, 0, 4, 4)  // zero height: one row
}
