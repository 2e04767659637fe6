package store

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them, so callers
// can branch with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")

	// ErrInvalidOptions is returned by Open for a missing Dir or an unusable Retention.
	ErrInvalidOptions = errors.New("store: invalid options")

	// ErrDirInUse is returned by Open when the directory is already open, in this process
	// or (through VictoriaMetrics' flock) in another one.
	ErrDirInUse = errors.New("store: directory in use")

	// ErrInvalidMetric is returned for a metric name outside [a-z_]{1,32}.
	ErrInvalidMetric = errors.New("store: invalid metric name")

	// ErrInvalidAdID is returned for an ad id outside [A-Za-z0-9_.-]{1,64}.
	ErrInvalidAdID = errors.New("store: invalid ad id")

	// ErrInvalidRange is returned for a read with from >= to or a Rollup with step <= 0.
	ErrInvalidRange = errors.New("store: invalid minute range")

	// ErrTooFarFuture is returned by Put for a minute further ahead than MaxFuture.
	// VictoriaMetrics would drop such a row silently.
	ErrTooFarFuture = errors.New("store: minute too far in the future")

	// ErrTooOld is returned by Put for a minute older than the retention (or negative).
	// VictoriaMetrics would drop such a row silently.
	ErrTooOld = errors.New("store: minute outside retention")

	// ErrValueTooLarge is returned by Put for a value above MaxValue, which would lose
	// precision in VictoriaMetrics' float64 samples.
	ErrValueTooLarge = errors.New("store: value too large")

	// ErrBackend wraps a panic raised by VictoriaMetrics (usually an I/O error) and
	// recovered at this package's boundary.
	ErrBackend = errors.New("store: storage backend failure")
)
