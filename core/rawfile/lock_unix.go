//go:build unix

package rawfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on path, creating it. The lock is held until
// the returned file is closed (or the process dies).
func lockDir(path string) (*os.File, error) {
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fd.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked", ErrDirInUse, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return fd, nil
}
