package rawfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkCorrupt asserts that err reports the file at path as corrupt.
func checkCorrupt(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: err %v, want ErrCorrupt naming %s", what, err, path)
	}
}

func scanErr(f *Files, from, to int64, p Pred) error {
	return f.Scan(context.Background(), from, to, p, func(*Row) error { return nil })
}

// TestScanCorruptFile damages a minute file under an open Files: truncated at many
// points and with single bytes flipped all over it. Scan must return an error
// naming the file, or (for bytes no reader checks, such as bloom filter bits) the
// same rows; never panic and never wrong rows silently where checksums cover them.
func TestScanCorruptFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openT(t, dir, rowGroups(300))
	g := newGen(30)
	m := m0()
	good, bad := g.minute(m, 400), g.minute(m+1, 900)
	if err := f.WriteMinute(m, good); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteMinute(m+1, bad); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, hourName(hourOf(m)), minuteName(m+1))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Files keeps the file open: writing the same inode changes what it reads.
	damage := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := brute(bad, m+1, m+2, Pred{})
	preds := []Pred{{}, {IP: bad[5].IP}}
	for i := 1; i < 20; i++ {
		damage(orig[:len(orig)*i/20])
		for _, p := range preds {
			checkCorrupt(t, "truncated", scanErr(f, m+1, m+2, p), path)
		}
	}
	errs := 0
	const flips = 80
	for i := range flips {
		b := []byte(string(orig))
		b[i*len(b)/flips] ^= 0x5a
		damage(b)
		for _, p := range preds {
			var got []Row
			err := f.Scan(context.Background(), m+1, m+2, p, func(r *Row) error {
				got = append(got, *r)
				return nil
			})
			if err != nil {
				checkCorrupt(t, "flipped byte", err, path)
				errs++
				continue
			}
			if p == (Pred{}) {
				sortRows(got)
				checkRows(t, "scan of a file with an unchecked byte flipped", got, want)
			}
		}
	}
	t.Logf("%d of %d scans of a file with a flipped byte reported corruption", errs, len(preds)*flips)
	// The other minute is unaffected.
	damage(orig[:100])
	checkRows(t, "good minute", scanAll(t, f, m, m+1, Pred{}), brute(good, m, m+1, Pred{}))
	checkCorrupt(t, "compact", f.Compact(m+60), path)

	// Reopened with the damaged file: Open succeeds, counts it, scans name it.
	f.Close()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), minuteName(m+2)), []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	f = openT(t, dir)
	if st := f.Stats(); st.Corrupt != 2 || st.Files != 3 {
		t.Fatalf("stats with two damaged files: %+v", st)
	}
	checkRows(t, "good minute after reopen", scanAll(t, f, m, m+1, Pred{}), brute(good, m, m+1, Pred{}))
	checkCorrupt(t, "scan after reopen", scanErr(f, m, m+2, Pred{}), path)
	checkCorrupt(t, "scan of the garbage file", scanErr(f, m+2, m+3, Pred{}), minuteName(m+2))
	err = f.Compact(m + 60)
	checkCorrupt(t, "compact after reopen", err, minuteName(m+1))
	if got := listDir(t, filepath.Dir(path)); len(got) != 3 {
		t.Fatalf("failed compaction changed the hour: %v", got)
	}
}
