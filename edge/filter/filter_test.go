package filter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
	"github.com/clickagg/clickagg/wasm/host"
)

// versionWAT is a filter that accepts every click with the label v=<version>.
const versionWAT = `(module
  (import "clickagg" "label" (func $label (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "v")
  (data (i32.const 8) "%d")
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64)
    (drop (call $label (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1)))
    (i64.const 0)))`

func buildVersion(t *testing.T, dir string, v int) []byte {
	t.Helper()
	wat := filepath.Join(dir, fmt.Sprintf("v%d.wat", v))
	out := filepath.Join(dir, fmt.Sprintf("v%d.wasm", v))
	os.WriteFile(wat, []byte(fmt.Sprintf(versionWAT, v)), 0o644)
	if b, err := exec.Command("wat2wasm", wat, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	return b
}

// place puts a module where the manager's disk cache finds it, as a fetch from the
// hub would have left it, and returns its catalogue version record.
func place(t *testing.T, dir, name string, v int, b []byte) wire.FilterVersion {
	fv := wire.FilterVersion{Version: v, SHA256: sum(b), Size: len(b)}
	path := filepath.Join(dir, "modules", fmt.Sprintf("%s-v%d-%s.wasm", name, v, fv.SHA256[:16]))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return fv
}

func waitVersion(t *testing.T, m *Manager, name string, v int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, f := range m.Filters() {
			if f.Name == name && f.Version == v {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("version %d never became active", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A filter swapped while clicks are decided: every click is decided by exactly
// one version (one label, never two, never none once active), and no click is
// decided by version 1 after one was decided by version 2.
func TestSwapUnderLoad(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (Debian package wabt) is not installed")
	}
	dir := t.TempDir()
	var keys token.Keyring
	m, err := New(context.Background(), Options{Keys: &keys, Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	v1, v2 := place(t, dir, "ver", 1, buildVersion(t, dir, 1)), place(t, dir, "ver", 2, buildVersion(t, dir, 2))
	m.Apply("ver", &wire.Filter{Active: 1, Versions: []wire.FilterVersion{v1}})
	waitVersion(t, m, "ver", 1)

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var decided atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen2 := false
			c := &host.Click{AdID: []byte("a"), Country: [2]byte{'Z', 'Z'}}
			for !stop.Load() {
				v, err := m.Partners().Run(context.Background(), c)
				if err != nil || len(v.Labels) != 1 || v.Labels[0].Key != "v" {
					errs <- fmt.Errorf("verdict %+v, %v: want exactly one version label", v, err)
					return
				}
				switch v.Labels[0].Value {
				case "2":
					seen2 = true
				case "1":
					if seen2 {
						errs <- fmt.Errorf("version 1 decided a click after version 2 had")
						return
					}
				}
				decided.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	m.Apply("ver", &wire.Filter{Active: 2, Versions: []wire.FilterVersion{v1, v2}})
	waitVersion(t, m, "ver", 2)
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if decided.Load() < 100 {
		t.Fatalf("only %d clicks decided during the swap", decided.Load())
	}
	m.Apply("ver", &wire.Filter{Active: 0, Versions: []wire.FilterVersion{v1, v2}})
	if m.Partners() != nil {
		t.Fatal("deactivated filter still runs")
	}
}

// A module whose bytes do not match the catalogue's SHA-256 is not run.
func TestShaMismatch(t *testing.T) {
	dir := t.TempDir()
	var keys token.Keyring
	m, err := New(context.Background(), Options{Keys: &keys, Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.module("x", wire.FilterVersion{Version: 1, SHA256: "00112233445566778899aabbccddeeff"}); err == nil {
		t.Fatal("a module that is not cached and has no hub was returned")
	}
	path := filepath.Join(dir, "modules", "x-v1-0011223344556677.wasm") // where version 1 with that hash is cached
	os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	if _, err := m.module("x", wire.FilterVersion{Version: 1, SHA256: "0011223344556677"}); err == nil {
		t.Fatal("cached bytes with the wrong hash were accepted")
	}
}
