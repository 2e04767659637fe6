package store

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
)

// This file is the only place that touches VictoriaMetrics' process-global state:
// its flags on flag.CommandLine, its logger, and the set of directories open here.

var (
	vmOnce sync.Once
	vmErr  error
)

// vmFlags are forced on flag.CommandLine before the first storage opens.
//
//   - loggerFormat=default: with "json" VM's logger calls os.Exit on a panic instead
//     of panicking, which no recover can stop; the bridge also parses the default format.
//   - loggerDisableTimestamps=true: slog adds its own time; the bridge parses
//     "level\tcaller\tmessage" lines.
//
// loggerLevel stays INFO: INFO lines reach slog at Debug level, so the injected
// logger's handler decides what is shown.
var vmFlags = [...][2]string{
	{"loggerFormat", "default"},
	{"loggerDisableTimestamps", "true"},
}

// initVM prepares VictoriaMetrics' global state once per process.
//
// MustOpenStorage panics (through lib/memory) unless flag.CommandLine was parsed.
// A host that parses flag.CommandLine itself keeps its parse; otherwise an empty parse
// is done here, and a later flag.Parse by the host still works.
// DefaultCacheBytes is the default cap on VictoriaMetrics' caches: enough for the
// hot part of a few million series' index.
const DefaultCacheBytes = 512 << 20

func initVM(cacheBytes int64) error {
	vmOnce.Do(func() {
		if cacheBytes <= 0 {
			cacheBytes = DefaultCacheBytes
		}
		if f := flag.CommandLine.Lookup("memory.allowedBytes"); f != nil && f.Value.String() == "0" {
			if err := flag.CommandLine.Set("memory.allowedBytes", fmt.Sprint(cacheBytes)); err != nil {
				vmErr = fmt.Errorf("set VictoriaMetrics -memory.allowedBytes: %w", err)
				return
			}
		}
		for _, kv := range vmFlags {
			if err := flag.CommandLine.Set(kv[0], kv[1]); err != nil {
				vmErr = fmt.Errorf("set VictoriaMetrics flag -%s=%s: %w", kv[0], kv[1], err)
				return
			}
		}
		if !flag.CommandLine.Parsed() {
			// With no arguments Parse cannot fail, whatever the ErrorHandling.
			_ = flag.CommandLine.Parse(nil)
		}
		// The only hook VM offers to redirect its logger; its name says "tests" but it
		// is a plain variable assignment, done here before any VM goroutine can log.
		logger.SetOutputForTests(bridge)
	})
	return vmErr
}

// registry tracks the stores open in this process: their directories (to refuse a
// second Open of the same one without touching VM) and their loggers (VM has one
// global log output; it goes to the most recently opened store still open).
type registry struct {
	mu   sync.Mutex
	open []*Store
}

var reg registry

func (r *registry) add(s *Store) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.open {
		if o.dir == s.dir {
			return fmt.Errorf("open %s: %w (already open in this process)", s.dir, ErrDirInUse)
		}
	}
	r.open = append(r.open, s)
	return nil
}

func (r *registry) remove(s *Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, o := range r.open {
		if o == s {
			r.open = append(r.open[:i], r.open[i+1:]...)
			return
		}
	}
}

func (r *registry) logger() *slog.Logger {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.open); n > 0 {
		return r.open[n-1].log
	}
	return slog.Default()
}

// logBridge turns VM log lines ("level\tcaller\tmessage\n") into slog records.
type logBridge struct{}

var bridge logBridge

// Write is called by VM's logger under its own global mutex, one line per call.
func (logBridge) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	lvl, rest, ok := strings.Cut(line, "\t")
	caller, msg, ok2 := strings.Cut(rest, "\t")
	if !ok || !ok2 {
		lvl, caller, msg = "error", "", line
	}
	// VM shortens the caller only for its own checkout; cut the module cache path
	// ".../victoriametrics@v1.130.0/" down to "lib/...".
	if i := strings.LastIndex(caller, "@v"); i >= 0 {
		if j := strings.IndexByte(caller[i:], '/'); j >= 0 {
			caller = caller[i+j+1:]
		}
	}
	reg.logger().Log(context.Background(), slogLevel(lvl), msg,
		slog.String("component", "victoriametrics"), slog.String("caller", caller))
	return len(p), nil
}

func slogLevel(vm string) slog.Level {
	switch vm {
	case "info":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	default: // error, fatal, panic
		return slog.LevelError
	}
}
