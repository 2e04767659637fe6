// Package durable writes files that survive a crash whole or not at all: the
// core's checkpoints, snapshots, rankings and raw files all need the same few
// steps (temp file, fsync, rename, fsync of the directory), and a step forgotten
// in one of them is a file that can come back empty after a power loss.
package durable

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TempMark is in the name of every temporary file WriteFile makes
// ("<name>.tmp-<random>"), so that an owner can remove what a crash left behind.
const TempMark = ".tmp-"

// WriteFile replaces path with what write writes, atomically and durably: write
// goes to a temporary file next to path through a 1 MiB buffer, which is then
// synced and renamed over path, and the directory is synced. On any error path is
// untouched and the temporary file is removed.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+TempMark+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = write(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a directory's entries (creations, renames, removals) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
