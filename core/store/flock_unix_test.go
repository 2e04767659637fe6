//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A directory locked by another process (simulated by a second open file
// description) makes VM panic inside MustOpenStorage; Open must return ErrDirInUse.
func TestOpenLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "flock.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, Logger: testLogger()})
	if !errors.Is(err, ErrDirInUse) || !errors.Is(err, ErrBackend) {
		t.Fatalf("Open of a locked dir: %v, want ErrDirInUse and ErrBackend", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dir) // usable once the lock is gone, and not left in the registry
	_ = s.Close()
}
