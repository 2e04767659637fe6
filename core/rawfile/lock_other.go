//go:build !unix

package rawfile

import "os"

// lockDir opens path without locking it: outside unix the directory is not
// protected against a second Files.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
