package rawfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The crash tests build the on-disk state a crash at a given point leaves (files
// saved before a step and put back after it, temporary files, half-expired
// hours), then Open and check that every row is visible exactly once.

// saveDir returns the contents of every regular file in dir.
func saveDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func restoreDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// writeHour writes minutes 0-4 of the test hour and a late file into it.
func writeHour(t *testing.T, f *Files, g *gen) []Row {
	t.Helper()
	m := m0()
	var all []Row
	for mn := range int64(5) {
		rows := g.minute(m+mn, 200)
		if err := f.WriteMinute(m+mn, rows); err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
	}
	late := g.minute(m+2, 50)
	if err := f.WriteLate("seq-1", late); err != nil {
		t.Fatal(err)
	}
	return append(all, late...)
}

func TestCrashAfterCompactionPublished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hourDir := filepath.Join(dir, hourName(hourOf(m0())))
	f := openT(t, dir)
	g := newGen(10)
	all := writeHour(t, f, g)
	inputs := saveDir(t, hourDir)
	if err := f.Compact(m0() + 60); err != nil {
		t.Fatal(err)
	}
	gen1 := saveDir(t, hourDir)
	// Second round: a late file merged with h-1 into h-2.
	late := g.minute(m0()+7, 30)
	if err := f.WriteLate("seq-2", late); err != nil {
		t.Fatal(err)
	}
	all = append(all, late...)
	late2 := saveDir(t, hourDir)
	if err := f.Compact(m0() + 60); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// The crash: h-2 published, none of its inputs (h-1, late-seq-2) deleted; also
	// the first compaction's inputs are back (as if that crash happened too), a
	// temporary file of a write in flight, and an expiry that had renamed its hour.
	restoreDir(t, hourDir, inputs)
	restoreDir(t, hourDir, gen1)
	restoreDir(t, hourDir, late2)
	if err := os.WriteFile(filepath.Join(hourDir, tmpPfx+"m-1.parquet-42"), []byte("PAR1 half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	expiring := filepath.Join(dir, deletingPfx+"2026-11-01T00")
	if err := os.MkdirAll(expiring, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(expiring, "m-1.parquet"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := len(listDir(t, hourDir)); n != 10 {
		t.Fatalf("crash state has %d files, want 10 (5 minutes, 2 late, h-1, h-2, temp)", n)
	}

	f = openT(t, dir)
	m := m0()
	checkRows(t, "after crash", scanAll(t, f, m, m+60, Pred{}), brute(all, m, m+60, Pred{}))
	if got := listDir(t, hourDir); !slices.Equal(got, []string{"h-2.parquet"}) {
		t.Fatalf("hour holds %v after Open, want only h-2.parquet", got)
	}
	if _, err := os.Stat(expiring); !os.IsNotExist(err) {
		t.Fatalf("interrupted expiry not finished: %v", err)
	}
	// The merged names stay merged.
	if err := f.WriteMinute(m+1, g.minute(m+1, 5)); !errors.Is(err, ErrCompacted) {
		t.Fatalf("rewrite of a minute merged before the crash: %v, want ErrCompacted", err)
	}
}

func TestCrashBeforeCompactionPublished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hourDir := filepath.Join(dir, hourName(hourOf(m0())))
	f := openT(t, dir)
	all := writeHour(t, f, newGen(11))
	inputs := saveDir(t, hourDir)
	if err := f.Compact(m0() + 60); err != nil {
		t.Fatal(err)
	}
	merged := saveDir(t, hourDir)["h-1.parquet"]
	f.Close()
	// The crash: the compacted file complete but still under its temporary name.
	if err := os.Remove(filepath.Join(hourDir, "h-1.parquet")); err != nil {
		t.Fatal(err)
	}
	restoreDir(t, hourDir, inputs)
	restoreDir(t, hourDir, map[string][]byte{tmpPfx + "h-1.parquet-7": merged})

	f = openT(t, dir)
	m := m0()
	checkRows(t, "after crash", scanAll(t, f, m, m+60, Pred{}), brute(all, m, m+60, Pred{}))
	if st := f.Stats(); st.Files != 6 {
		t.Fatalf("after crash: %+v, want the 6 inputs", st)
	}
	if err := f.Compact(m + 60); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "compacted again", scanAll(t, f, m, m+60, Pred{}), brute(all, m, m+60, Pred{}))
}

func TestCrashDuringMinuteRewrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hourDir := filepath.Join(dir, hourName(hourOf(m0())))
	f := openT(t, dir)
	g := newGen(12)
	m := m0()
	old := g.minute(m, 100)
	if err := f.WriteMinute(m, old); err != nil {
		t.Fatal(err)
	}
	saved := saveDir(t, hourDir)
	if err := f.WriteMinute(m, g.minute(m, 80)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The crash: the new version written under its temporary name, not renamed.
	newer, _ := os.ReadFile(filepath.Join(hourDir, minuteName(m)))
	restoreDir(t, hourDir, saved)
	restoreDir(t, hourDir, map[string][]byte{tmpPfx + minuteName(m) + "-99": newer})

	f = openT(t, dir)
	checkRows(t, "after crash", scanAll(t, f, m, m+1, Pred{}), brute(old, m, m+1, Pred{}))
	if got := listDir(t, hourDir); !slices.Equal(got, []string{minuteName(m)}) {
		t.Fatalf("hour holds %v, want only the minute file", got)
	}
}
