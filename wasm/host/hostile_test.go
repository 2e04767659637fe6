package host_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickagg/clickagg/wasm/host"
)

// TestHostileContained runs every misbehaviour of testdata/hostile.wat through one
// fail-closed filter with a single instance, and checks after each that the filter
// (now on a fresh instance) still answers a good click.
func TestHostileContained(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "hostile", host.Options{PoolSize: 1, Timeout: time.Second, MemoryLimitPages: 33})
	good := signedClick(t, 1, []byte("k"))
	bad := signedClick(t, 1, []byte("k"))
	failClosed := host.Verdict{Action: host.Reject, Reason: host.ReasonFailClosed}
	cases := []struct {
		ua   string
		want error
		msg  string // in the error
	}{
		{"L", host.ErrTimeout, "after 1s"},
		{"T", host.ErrTrap, "unreachable"},
		{"Z", host.ErrTrap, "divide by zero"},
		// (The limit is generous: under -race on a loaded 2-core machine the memory
		// bomb below alone has taken over 100 ms.)
		// Unbounded recursion is not stopped by the Timeout (wazero checks it at
		// loop headers only) but by wazero's stack limit, after 50 ms to 1.2 s (6 s
		// under -race) and ~160 MB of transient Go memory: see wasm/ABI.md.
		{"S", host.ErrTrap, "stack overflow"},
		{"X", host.ErrTrap, "exited with code 3"},
		{"O", host.ErrViolation, "log: message [65500,+100) outside memory"},
		{"H", host.ErrViolation, "hmac_verify: msg [0,+16) or mac [65530,+16) outside memory"},
		{"W", host.ErrViolation, "mac_len 8"},
		{"E", host.ErrViolation, "more than 8 calls"},
		{"P", host.ErrViolation, "label: key [4294967295,+2)"},
		{"K", host.ErrViolation, "invalid key"},
		{"M", host.ErrViolation, `invalid value "a b"`},
		{"N", host.ErrViolation, "more than 4 labels"},
		{"D", host.ErrViolation, "duplicate key kind"},
		{"V", host.ErrViolation, "invalid verdict 0x7"},
		{"R", host.ErrViolation, "invalid verdict 0x1"},
	}
	for _, tc := range cases {
		bad.UserAgent = []byte(tc.ua)
		start := time.Now()
		v, err := f.Run(context.Background(), bad)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.ua, err, tc.want, tc.msg)
		}
		if !equalVerdict(v, failClosed) {
			t.Errorf("%s: verdict %+v, want the fail-closed verdict", tc.ua, v)
		}
		if d := time.Since(start); d > 2*time.Second && tc.ua != "S" {
			t.Errorf("%s: took %v", tc.ua, d)
		}
		if v, err := f.Run(context.Background(), good); err != nil || v.Action != host.Accept {
			t.Fatalf("good click after %s: %+v, %v", tc.ua, v, err)
		}
	}
	bad.UserAgent = []byte("G") // memory bomb: growth stops at the limit
	if v, err := f.Run(context.Background(), bad); err != nil || v.Action != host.Flag || v.Score != 33 {
		t.Errorf("memory bomb: %+v, %v; want a flag with score 33 (pages: 1, 17, 33)", v, err)
	}
	st := f.Stats()
	want := host.FilterStats{Calls: 2*uint64(len(cases)) + 1, Accepts: uint64(len(cases)), Flags: 1,
		Traps: 4, Timeouts: 1, Violations: 11, Replaced: uint64(len(cases))}
	st.TotalNs = 0
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
}

func TestFailOpen(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "hostile", host.Options{PoolSize: 1, FailOpen: true})
	c := signedClick(t, 1, []byte("k"))
	c.UserAgent = []byte("T")
	v, err := f.Run(context.Background(), c)
	if !errors.Is(err, host.ErrTrap) || !equalVerdict(v, host.Verdict{Action: host.Accept}) {
		t.Fatalf("got %+v, %v", v, err)
	}
}

func TestGuestLog(t *testing.T) {
	var buf syncBuffer
	rt := newRuntime(t, nil)
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := compile(t, rt, "hostile", host.Options{PoolSize: 1, Logger: log})
	c := signedClick(t, 1, []byte("k"))
	c.UserAgent = []byte("I")
	if v, err := f.Run(context.Background(), c); err != nil || v.Action != host.Accept {
		t.Fatalf("got %+v, %v", v, err)
	}
	if n := strings.Count(buf.String(), "msg=hello"); n != 4 {
		t.Errorf("%d messages logged, want 4:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "filter=hostile") {
		t.Errorf("log lacks the filter name:\n%s", buf.String())
	}
	if st := f.Stats(); st.LogsDropped != 2 {
		t.Errorf("LogsDropped = %d, want 2", st.LogsDropped)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefused checks that each broken or forbidden module is refused, with the
// sentinel error and a message that says why, and that the runtime keeps working.
func TestRefused(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	tokencheck := module(t, "tokencheck")
	cases := []struct {
		name string
		wasm []byte
		want error
		msg  string
	}{
		{"text", []byte("hello, I am not wasm"), host.ErrNotWasm, "not a WebAssembly"},
		{"empty", nil, host.ErrNotWasm, ""},
		{"elf", []byte("\x7fELF\x02\x01\x01\x00"), host.ErrNotWasm, ""},
		{"wasm v2", []byte("\x00asm\x02\x00\x00\x00"), host.ErrNotWasm, ""},
		{"truncated", tokencheck[:40], host.ErrInvalid, "compile"},
		{"huge", append(append([]byte{}, tokencheck...), make([]byte, host.MaxModuleSize)...), host.ErrLimits, "bytes"},
		{"import_path_open", nil, host.ErrImport, "wasi_snapshot_preview1.path_open"},
		{"import_env", nil, host.ErrImport, "env.abort"},
		{"import_sig", nil, host.ErrImport, "clickagg.log has signature [i32] -> []"},
		{"import_memory", nil, host.ErrImport, "memory imports"},
		{"no_version", nil, host.ErrExport, "clickagg_abi_version"},
		{"version2", nil, host.ErrABIVersion, "declares ABI version 2"},
		{"no_memory", nil, host.ErrExport, `no memory exported as "memory"`},
		{"filter_sig", nil, host.ErrExport, "clickagg_filter has signature [i32] -> [i32]"},
		{"start", nil, host.ErrExport, "_start"},
		{"bigmem", nil, host.ErrLimits, "over limit"},
		{"input_oob", nil, host.ErrExport, "input buffer [65000, +2048) is outside memory"},
		{"init_trap", nil, host.ErrInstantiate, "_initialize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wasm == nil && !strings.Contains("text empty elf", tc.name) {
				tc.wasm = module(t, tc.name)
			}
			_, err := rt.Validate(context.Background(), tc.wasm)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Validate: %v; want %v containing %q", err, tc.want, tc.msg)
			}
			if tc.name == "huge" {
				return // a Compile limit is the caller's business; Validate enforces it
			}
			if _, err := rt.Compile(context.Background(), tc.name, tc.wasm, host.Options{PoolSize: 1}); !errors.Is(err, tc.want) {
				t.Fatalf("Compile: %v; want %v", err, tc.want)
			}
		})
	}
	// Initialisation that never ends is cut by InitTimeout when a Timeout is set.
	for _, name := range []string{"init_loop", "start_loop"} {
		opts := host.Options{PoolSize: 1, Timeout: time.Millisecond, InitTimeout: 30 * time.Millisecond}
		if _, err := rt.Compile(context.Background(), name, module(t, name), opts); !errors.Is(err, host.ErrInstantiate) {
			t.Errorf("%s: %v; want ErrInstantiate", name, err)
		}
	}
	f := compile(t, rt, "tokencheck", host.Options{PoolSize: 1})
	if v, err := f.Run(context.Background(), signedClick(t, 1, keys.Get(1))); err != nil || v.Action != host.Accept {
		t.Fatalf("runtime broken after refusals: %+v, %v", v, err)
	}
}

func TestValidateInfo(t *testing.T) {
	rt := newRuntime(t, nil)
	info, err := rt.Validate(context.Background(), module(t, "tokencheck"))
	if err != nil {
		t.Fatal(err)
	}
	if info.ABIVersion != 1 || info.MemoryMinPages != 1 || info.InstanceMemory != 65536 || len(info.DryRun) != 4 ||
		strings.Join(info.Imports, " ") != "clickagg.hmac_verify" {
		t.Fatalf("info %+v", info)
	}
	for _, d := range info.DryRun {
		// No runtime key signed the samples: unknown key, or malformed for the
		// samples without a token.
		if d.Verdict.Action != host.Reject || d.MeanRun <= 0 {
			t.Errorf("dry run %+v", d)
		}
	}
}

// TestDryRunRefuses checks that a module that fails on a sample click is refused:
// hostile.wat adds an invalid label on a user agent starting with "M", as the
// browser sample's "Mozilla/5.0" does.
func TestDryRunRefuses(t *testing.T) {
	rt := newRuntime(t, nil)
	_, err := rt.Validate(context.Background(), module(t, "hostile"))
	if !errors.Is(err, host.ErrDryRun) || !errors.Is(err, host.ErrViolation) || !strings.Contains(err.Error(), `sample "browser"`) {
		t.Fatalf("got %v, want a dry run violation on the browser sample", err)
	}
}
