package rollup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testList(n int, floor uint64) *list {
	l := &list{hour: 29_000_040, k: 20000, floor: floor, total: 12345, builtMs: 1e12, flags: flagPatched}
	for i := range n {
		l.ents = append(l.ents, entry{fmt.Sprintf("ad-%05d", i), floor + uint64(n-i)/3})
	}
	slices.SortFunc(l.ents, before)
	return l
}

// A list survives encoding whole and read a prefix at a time.
func TestFileRoundTrip(t *testing.T) {
	f := func(n int, floor uint64) {
		t.Helper()
		dir := t.TempDir()
		l := testList(n, floor)
		if err := writeFile(dir, "x.top", l.encode()); err != nil {
			t.Fatal(err)
		}
		got, err := readList(filepath.Join(dir, "x.top"))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if got.hour != l.hour || got.floor != l.floor || got.total != l.total || got.flags != l.flags || got.k != l.k ||
			got.builtMs != l.builtMs || !slices.Equal(got.ents, l.ents) {
			t.Fatalf("n=%d: read %v, wrote %v", n, got, l)
		}
		rd, err := openReader(filepath.Join(dir, "x.top"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for steps := 0; !rd.exhausted(); steps++ {
			if f := rd.frontier(); f < l.floor || len(rd.l.ents) > 0 && f != rd.l.ents[len(rd.l.ents)-1].n {
				t.Fatalf("n=%d: frontier %d after %d entries", n, f, len(rd.l.ents))
			}
			if ok, err := rd.more(); err != nil || !ok {
				t.Fatalf("n=%d: more after %d entries: %v %v", n, len(rd.l.ents), ok, err)
			}
		}
		if !slices.Equal(rd.l.ents, l.ents) || rd.frontier() != l.floor {
			t.Fatalf("n=%d: prefix reads differ", n)
		}
	}
	f(0, 0)
	f(1, 0)
	f(blockEntries, 3)
	f(blockEntries+1, 0)
	f(5000, 7)
	f(20000, 0)
}

// Any flipped byte or cut is caught, never read as a different ranking.
func TestFileCorruption(t *testing.T) {
	dir := t.TempDir()
	l := testList(300, 2)
	b := l.encode()
	path := filepath.Join(dir, "x.top")
	for i := 0; i < len(b); i += 7 {
		c := slices.Clone(b)
		c[i] ^= 0x40
		os.WriteFile(path, c, 0o644)
		if _, err := readList(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, n := range []int{0, 10, headerSize, headerSize + 5, len(b) - 1} {
		os.WriteFile(path, b[:n], 0o644)
		if _, err := readList(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	os.WriteFile(path, append(slices.Clone(b), 0), 0o644)
	if _, err := readList(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestFileName(t *testing.T) {
	f := func(hour int64, name string) {
		t.Helper()
		if got := fileName(hour); got != name {
			t.Fatalf("fileName(%d) = %q, want %q", hour, got, name)
		}
		if h, ok := parseName(name); !ok || h != hour {
			t.Fatalf("parseName(%q) = %d, %v", name, h, ok)
		}
	}
	f(0, "1970-01-01T00.top")
	f(29_500_020, "2026-02-02T03.top")
	for _, bad := range []string{"x.top", "2026-02-01T10.top.tmp-1", "2026-02-01T10", "2026-02-01T10:00.top"} {
		if _, ok := parseName(bad); ok {
			t.Fatalf("parseName(%q) accepted", bad)
		}
	}
}

// FuzzDecode: whatever the bytes, reading fails cleanly or yields a list that
// keeps the invariants.
func FuzzDecode(f *testing.F) {
	f.Add(testList(3, 1).encode())
	f.Add(testList(blockEntries+2, 0).encode())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeList("f.top", b)
		if err != nil {
			return
		}
		if uint32(len(l.ents)) != l.n {
			t.Fatalf("%d entries, header says %d", len(l.ents), l.n)
		}
		for i, e := range l.ents {
			if e.n < l.floor || i > 0 && before(l.ents[i-1], e) >= 0 {
				t.Fatalf("entry %d breaks the invariants", i)
			}
		}
	})
}

// A reader notices when a rebuild renamed a new file over the one it read.
func TestReaderReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.top")
	if err := writeFile(dir, "x.top", testList(1000, 0).encode()); err != nil {
		t.Fatal(err)
	}
	rd, err := openReader(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.more(); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir, "x.top", testList(900, 1).encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.more(); !errors.Is(err, errReplaced) {
		t.Fatalf("more after a rebuild: %v", err)
	}
}
