package host

import "errors"

// Errors from Compile and Validate: the module was refused. They are wrapped with
// details; test with errors.Is.
var (
	ErrNotWasm       = errors.New("not a WebAssembly binary module")
	ErrInvalid       = errors.New("invalid WebAssembly module")
	ErrImport        = errors.New("forbidden import")
	ErrExport        = errors.New("missing or mistyped export")
	ErrABIVersion    = errors.New("unsupported ABI version")
	ErrLimits        = errors.New("module exceeds limits")
	ErrInstantiate   = errors.New("instantiate module")
	ErrDryRun        = errors.New("dry run failed")
	ErrRuntimeClosed = errors.New("runtime is closed")
)

// Errors from Filter.Run: the call failed and the filter's policy verdict was
// returned. Each is counted in FilterStats.
var (
	ErrTrap       = errors.New("filter trapped") // unreachable, bad memory access, exit, guest out of memory
	ErrTimeout    = errors.New("filter exceeded its time limit")
	ErrViolation  = errors.New("filter broke the ABI") // bad pointer, bad label, bad verdict, too many host calls
	ErrClosed     = errors.New("filter is closed")
	ErrNoInstance = errors.New("no filter instance available")
)
