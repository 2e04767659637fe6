package host_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clickagg/clickagg/wasm/host"
)

func TestTokenCheck(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	for _, timeout := range []time.Duration{0, time.Second} {
		f := compile(t, rt, "tokencheck", host.Options{PoolSize: 2, Timeout: timeout})
		good := signedClick(t, 1, keys.Get(1))
		unknown := signedClick(t, 9, keys.Get(1))
		forged := signedClick(t, 1, []byte("not the key"))
		short := *good
		short.Token = short.Token[:10]
		cases := []struct {
			name string
			c    *host.Click
			want host.Verdict
		}{
			{"good", good, host.Verdict{Action: host.Accept}},
			{"unknown key", unknown, host.Verdict{Action: host.Reject, Reason: host.ReasonUnknownKey}},
			{"forged", forged, host.Verdict{Action: host.Reject, Reason: host.ReasonBadMAC}},
			{"short", &short, host.Verdict{Action: host.Reject, Reason: host.ReasonMalformed}},
		}
		for _, tc := range cases {
			v, err := f.Run(context.Background(), tc.c)
			if err != nil || !equalVerdict(v, tc.want) {
				t.Errorf("timeout %v, %s: got %+v, %v; want %+v", timeout, tc.name, v, err, tc.want)
			}
		}
		st := f.Stats()
		if st.Calls != 4 || st.Accepts != 1 || st.Rejects != 3 || st.TotalNs == 0 {
			t.Errorf("stats %+v", st)
		}
	}
}

func equalVerdict(a, b host.Verdict) bool {
	return a.Action == b.Action && a.Reason == b.Reason && a.Score == b.Score && slices.Equal(a.Labels, b.Labels)
}

// TestKeyRotation checks that hmac_verify sees a replaced key (the host caches HMAC
// state per key slice) and a removed one.
func TestKeyRotation(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	f := compile(t, rt, "tokencheck", host.Options{PoolSize: 1})
	old := keys.Get(1)
	c := signedClick(t, 1, old)
	if v, _ := f.Run(context.Background(), c); v.Action != host.Accept {
		t.Fatalf("before rotation: %+v", v)
	}
	keys.Set(1, []byte("a brand new key, 32 bytes long.."))
	if v, _ := f.Run(context.Background(), c); v.Reason != host.ReasonBadMAC {
		t.Fatalf("after rotation: %+v", v)
	}
	keys.Set(1, old)
	if v, _ := f.Run(context.Background(), c); v.Action != host.Accept {
		t.Fatalf("after rotation back: %+v", v)
	}
	keys.Set(1, nil)
	if v, _ := f.Run(context.Background(), c); v.Reason != host.ReasonUnknownKey {
		t.Fatalf("after removal: %+v", v)
	}
}

func TestLabels(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "hostile", host.Options{PoolSize: 1})
	c := signedClick(t, 1, []byte("k"))
	c.UserAgent = []byte("A")
	want := []host.Label{{Key: "kind", Value: "good"}, {Key: "n", Value: "1"}}
	for range 3 {
		v, err := f.Run(context.Background(), c)
		if err != nil || v.Action != host.Accept || !slices.Equal(v.Labels, want) {
			t.Fatalf("got %+v, %v", v, err)
		}
	}
}

func TestChain(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	check := compile(t, rt, "tokencheck", host.Options{PoolSize: 1})
	labels := compile(t, rt, "hostile", host.Options{PoolSize: 1, MemoryLimitPages: 4})
	bomb := compile(t, rt, "hostile", host.Options{PoolSize: 1, MemoryLimitPages: 20})
	trapOpen := compile(t, rt, "hostile", host.Options{PoolSize: 1, MemoryLimitPages: 4, FailOpen: true})
	ch := host.NewChain(check, labels, bomb, trapOpen)
	good := signedClick(t, 1, keys.Get(1))

	good.UserAgent = []byte("A") // labels from hostile, accept everywhere
	v, err := ch.Run(context.Background(), good)
	if err != nil || v.Action != host.Accept || len(v.Labels) != 2 {
		t.Fatalf("labels: %+v, %v", v, err)
	}
	good.UserAgent = []byte("G") // memory bomb: flags with score = pages held, 1 and 17
	v, err = ch.Run(context.Background(), good)
	if err != nil || v.Action != host.Flag || v.Score != 17 {
		t.Fatalf("flag: %+v, %v", v, err)
	}
	good.UserAgent = []byte("T") // traps everywhere but the signature check
	v, err = ch.Run(context.Background(), good)
	if !errors.Is(err, host.ErrTrap) || v.Action != host.Reject || v.Reason != host.ReasonFailClosed {
		t.Fatalf("fail-closed trap: %+v, %v", v, err)
	}
	bad := signedClick(t, 1, []byte("forged"))
	v, err = ch.Run(context.Background(), bad)
	if err != nil || v.Action != host.Reject || v.Reason != host.ReasonBadMAC {
		t.Fatalf("forged: %+v, %v", v, err)
	}
	if st := labels.Stats(); st.Calls != 3 || st.Traps != 1 {
		t.Fatalf("second filter ran after a reject: %+v", st)
	}
}

// TestConcurrentRun runs a pool of 3 from 8 goroutines, with failures mixed in, and
// checks every verdict and the counters. Run it with -race.
func TestConcurrentRun(t *testing.T) {
	keys := testKeys()
	rt := newRuntime(t, keys)
	f := compile(t, rt, "hostile", host.Options{PoolSize: 3, Timeout: time.Second})
	check := compile(t, rt, "tokencheck", host.Options{PoolSize: 3})
	const goroutines, calls = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := signedClick(t, 1, keys.Get(1))
			for i := range calls {
				c.UserAgent = []byte("A")
				if i%10 == g%10 {
					c.UserAgent = []byte("T")
				}
				v, err := f.Run(context.Background(), c)
				if trap := c.UserAgent[0] == 'T'; trap != (err != nil) || !trap && len(v.Labels) != 2 {
					errs <- errors.Join(errors.New("unexpected result"), err)
					return
				}
				if v, err := check.Run(context.Background(), c); err != nil || v.Action != host.Accept {
					errs <- errors.Join(errors.New("token check failed"), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Calls != goroutines*calls || st.Traps != st.Replaced || st.Traps+st.Accepts != st.Calls {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseWhileRunning(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "minimal", host.Options{PoolSize: 2})
	c := signedClick(t, 1, []byte("k"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := f.Run(context.Background(), c); err != nil {
					if !errors.Is(err, host.ErrClosed) {
						t.Errorf("run: %v", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if v, err := f.Run(context.Background(), c); !errors.Is(err, host.ErrClosed) || v.Reason != host.ReasonFailClosed {
		t.Fatalf("after close: %+v, %v", v, err)
	}
}

func TestRunContextWhileBusy(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "hostile", host.Options{PoolSize: 1, Timeout: 200 * time.Millisecond, FailOpen: true})
	loop := signedClick(t, 1, []byte("k"))
	loop.UserAgent = []byte("L")
	done := make(chan error)
	go func() { _, err := f.Run(context.Background(), loop); done <- err }()
	for f.Stats().Calls == 0 { // wait until the loop holds the only instance
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	v, err := f.Run(ctx, signedClick(t, 1, []byte("k")))
	if !errors.Is(err, host.ErrNoInstance) || v.Action != host.Accept {
		t.Fatalf("busy: %+v, %v", v, err)
	}
	if err := <-done; !errors.Is(err, host.ErrTimeout) {
		t.Fatalf("loop: %v", err)
	}
	if st := f.Stats(); st.Unavailable != 1 || st.Timeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRuntimeClose(t *testing.T) {
	rt := newRuntime(t, nil)
	f := compile(t, rt, "minimal", host.Options{PoolSize: 1})
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Run(context.Background(), &host.Click{}); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("run after runtime close: %v", err)
	}
	if _, err := rt.Compile(context.Background(), "x", module(t, "minimal"), host.Options{}); !errors.Is(err, host.ErrRuntimeClosed) {
		t.Fatalf("compile after close: %v", err)
	}
}

// TestNoGoroutineLeak checks that a runtime leaves no goroutine behind once closed:
// wazero starts one per call of a filter with a Timeout, and the timer of each
// instance runs its function on a goroutine when it fires.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	rt, err := host.NewRuntime(context.Background(), host.RuntimeConfig{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := rt.Compile(context.Background(), "hostile", module(t, "hostile"),
		host.Options{PoolSize: 2, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := signedClick(t, 1, []byte("k"))
	for _, ua := range []string{"A", "L", "T", "A"} {
		c.UserAgent = []byte(ua)
		f.Run(context.Background(), c)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
