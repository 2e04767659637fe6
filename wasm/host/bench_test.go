package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/clickagg/clickagg/wasm/host"
)

// BenchmarkRun measures the host's fixed cost per call: an empty filter (minimal)
// and a WAT signature check (tokencheck: one hmac_verify), without and with a CPU
// limit.
func BenchmarkRun(b *testing.B) {
	keys := testKeys()
	rt := newRuntime(b, keys)
	c := signedClick(b, 1, keys.Get(1))
	for _, name := range []string{"minimal", "tokencheck"} {
		// The limit is wall-clock time: on a loaded machine a call can stall for
		// milliseconds, so benchmarks use a limit no stall reaches; its cost does not
		// depend on its length.
		for _, timeout := range []time.Duration{0, time.Second} {
			f := compile(b, rt, name, host.Options{PoolSize: 2, Timeout: timeout})
			label := name
			if timeout > 0 {
				label += "-timeout"
			}
			b.Run(label, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if v, err := f.Run(context.Background(), c); err != nil || v.Action != host.Accept {
						b.Fatalf("%+v, %v", v, err)
					}
				}
			})
		}
	}
}

// TestRunAllocs guards the hot path of a filter without a CPU limit.
func TestRunAllocs(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	f := compile(t, rt, "tokencheck", host.Options{PoolSize: 1})
	c := signedClick(t, 1, keys.Get(1))
	if a := testing.AllocsPerRun(200, func() { f.Run(context.Background(), c) }); a != 0 {
		t.Fatalf("Run allocates %v times per call", a)
	}
	g := compile(t, rt, "hostile", host.Options{PoolSize: 1})
	c.UserAgent = []byte("A") // two labels: one slice per verdict, strings interned
	if a := testing.AllocsPerRun(200, func() { g.Run(context.Background(), c) }); a != 1 {
		t.Fatalf("Run with labels allocates %v times per call, want 1", a)
	}
}
