package rawfile

import "errors"

// Sentinel errors. Every error returned by this package that is not a plain I/O
// error wraps one of them, so callers can branch with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("rawfile: closed")

	// ErrInvalidOptions is returned by Open for a missing Dir or a negative
	// Retention or RowGroupRows.
	ErrInvalidOptions = errors.New("rawfile: invalid options")

	// ErrDirInUse is returned by Open when another Files (in this process or
	// another one) holds the directory's lock.
	ErrDirInUse = errors.New("rawfile: directory in use")

	// ErrInvalidRow is returned by WriteMinute for a row whose TimeMs lies outside
	// the minute being written. Nothing is written.
	ErrInvalidRow = errors.New("rawfile: row outside its minute")

	// ErrInvalidID is returned by WriteLate for an id outside [a-z0-9-]{1,64}.
	ErrInvalidID = errors.New("rawfile: invalid late id")

	// ErrInvalidRange is returned by Scan for from > to.
	ErrInvalidRange = errors.New("rawfile: invalid minute range")

	// ErrCompacted is returned by WriteMinute and WriteLate when the file they
	// would replace was already merged into its hour's compacted file: its rows
	// stay visible through that file and can no longer be replaced. A caller that
	// re-writes the same rows after a crash (same minute, same late id) may treat
	// it as success.
	ErrCompacted = errors.New("rawfile: already compacted")

	// ErrCorrupt is returned by Scan and Compact for a file that cannot be decoded
	// (truncated, bad checksum, foreign schema). The error names the file.
	ErrCorrupt = errors.New("rawfile: corrupt file")
)
