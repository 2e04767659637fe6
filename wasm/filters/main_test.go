package filters_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/wasm/filters"
	"github.com/clickagg/clickagg/wasm/host"
)

var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clickagg-wasm-filters-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	if shared.rt != nil {
		shared.rt.Close(context.Background())
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// keys has key 1; tokens signed with other keys or ids exercise the rejections.
var keys = func() *token.Keyring {
	var k token.Keyring
	k.Set(1, []byte("0123456789abcdef0123456789abcdef"))
	return &k
}()

// shared holds the Go guest compiled once per test binary (~1.3 s per variant).
var shared struct {
	once sync.Once
	rt   *host.Runtime
	sig  *host.Filter // no CPU limit, as in production
	sigT *host.Filter // with a CPU limit
	err  error
}

func sigcheck(t testing.TB) (*host.Runtime, *host.Filter, *host.Filter) {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		shared.rt, shared.err = host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: cacheDir, Keys: keys})
		if shared.err != nil {
			return
		}
		if shared.sig, shared.err = filters.NewSigCheck(ctx, shared.rt, 2); shared.err != nil {
			return
		}
		opts := filters.SigCheckOptions(2)
		opts.Timeout = time.Second // wall clock: long enough for any stall of a loaded machine
		shared.sigT, shared.err = shared.rt.Compile(ctx, "sigcheck-timeout", filters.SigCheck(), opts)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.rt, shared.sig, shared.sigT
}

// tokenRaw returns the raw bytes of a token signed with key under id.
func tokenRaw(t testing.TB, id uint32, key []byte, ad, user string) []byte {
	t.Helper()
	c := token.Claims{KeyID: id, ExpiresAt: 1 << 31, AdID: ad, UserID: user}
	c.ImpressionID[3] = 7
	enc, err := token.Sign(&c, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// native is the verdict the edge would reach without Wasm: token.Parse of the
// encoded token, then token.Verify with the key of its key id.
func native(raw []byte) host.Verdict {
	var p token.Parsed
	if token.Parse(&p, []byte(base64.RawURLEncoding.EncodeToString(raw))) != nil {
		return host.Verdict{Action: host.Reject, Reason: host.ReasonMalformed}
	}
	key := keys.Get(p.KeyID)
	if key == nil {
		return host.Verdict{Action: host.Reject, Reason: host.ReasonUnknownKey}
	}
	if !token.Verify(&p, key) {
		return host.Verdict{Action: host.Reject, Reason: host.ReasonBadMAC}
	}
	return host.Verdict{Action: host.Accept}
}

func click(raw []byte) *host.Click {
	return &host.Click{TimeMs: 1_763_800_000_000, Token: raw, Country: [2]byte{'D', 'E'},
		IP: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 51, 14: 100, 15: 7}, UserAgent: []byte("Mozilla/5.0")}
}

// TestSigCheckUpToDate rebuilds sigcheck.wasm from source and compares it with the
// committed module that SigCheck embeds. Go builds are reproducible for a given Go
// version with -trimpath, -buildvcs=false (else every commit changes the bytes) and
// an empty build id (else any edit of a source file does, comments included); under
// another Go version the bytes differ, so the test then checks behaviour: both
// modules give the same verdicts.
func TestSigCheckUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sigcheck.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-buildid=", "-o", out, "./sigcheck")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWASM=", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(built, filters.SigCheck()) {
		return
	}
	if bytes.Contains(filters.SigCheck(), []byte(runtime.Version())) {
		t.Fatalf("wasm/filters/sigcheck/sigcheck.wasm is stale (same Go version %s, different bytes): run go generate ./wasm/filters", runtime.Version())
	}
	t.Logf("committed sigcheck.wasm was built by another Go version than %s; checking behaviour instead", runtime.Version())
	rt, committed, _ := sigcheck(t)
	fresh, err := rt.Compile(context.Background(), "sigcheck-fresh", built, filters.SigCheckOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close(context.Background())
	for _, raw := range sampleTokens(t) {
		a, errA := committed.Run(context.Background(), click(raw))
		b, errB := fresh.Run(context.Background(), click(raw))
		if errA != nil || errB != nil || a.Action != b.Action || a.Reason != b.Reason {
			t.Errorf("token %x: committed %+v %v, fresh %+v %v", raw, a, errA, b, errB)
		}
	}
}

func TestWatUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (apt-get install -y wabt); botua.wasm and ipflood.wasm not checked against their .wat")
	}
	for name, committed := range map[string][]byte{"botua": filters.BotUA(), "ipflood": filters.IPFlood()} {
		out := filepath.Join(t.TempDir(), name+".wasm")
		wat := filepath.Join(name, name+".wat")
		if b, err := exec.Command("wat2wasm", wat, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", wat, err, b)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, committed) {
			t.Errorf("%s/%s.wasm is stale: run go generate ./wasm/filters", name, name)
		}
	}
}

// sampleTokens returns valid, foreign and malformed raw tokens.
func sampleTokens(t testing.TB) [][]byte {
	good := tokenRaw(t, 1, keys.Get(1), "ad-1", "user-1")
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	return [][]byte{
		good,
		tokenRaw(t, 1, keys.Get(1), strings.Repeat("a", 64), strings.Repeat("~", 128)),
		tokenRaw(t, 1, keys.Get(1), "x", ""),
		tokenRaw(t, 2, keys.Get(1), "ad-1", "user-1"),         // unknown key id
		tokenRaw(t, 1, []byte("other key"), "ad-1", "user-1"), // bad MAC
		mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		mut(func(b []byte) []byte { b[30] ^= 1; return b }),  // signed byte changed
		mut(func(b []byte) []byte { b[0] = 2; return b }),    // version
		mut(func(b []byte) []byte { return b[:len(b)-1] }),   // truncated
		mut(func(b []byte) []byte { return append(b, 0) }),   // trailing byte
		mut(func(b []byte) []byte { b[25] = 0; return b }),   // ad id length 0
		mut(func(b []byte) []byte { b[26] = ' '; return b }), // ad id byte
		nil,
		{1},
		make([]byte, 300), // longer than any token: the host sends it empty
	}
}

func TestSigCheckVerdicts(t *testing.T) {
	_, sig, sigT := sigcheck(t)
	for i, raw := range sampleTokens(t) {
		want := native(raw)
		for _, f := range []*host.Filter{sig, sigT} {
			v, err := f.Run(context.Background(), click(raw))
			if err != nil || v.Action != want.Action || v.Reason != want.Reason || len(v.Labels) != 0 {
				t.Errorf("%s, token %d (%x): got %+v, %v; want %+v", f.Name(), i, raw, v, err, want)
			}
		}
	}
}

// FuzzSigCheck is a differential test: for any raw token, the Wasm signature check
// and the native token.Parse+token.Verify must agree.
func FuzzSigCheck(f *testing.F) {
	for _, raw := range sampleTokens(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, sig, _ := sigcheck(t)
		want := native(raw)
		if len(raw) > 256 {
			want = host.Verdict{Action: host.Reject, Reason: host.ReasonMalformed}
		}
		v, err := sig.Run(context.Background(), click(raw))
		if err != nil || v.Action != want.Action || v.Reason != want.Reason {
			t.Fatalf("token %x: wasm %+v, %v; native %+v", raw, v, err, want)
		}
	})
}

func TestSigCheckConcurrent(t *testing.T) {
	_, sig, sigT := sigcheck(t)
	toks := sampleTokens(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				raw := toks[(g+i)%len(toks)]
				f := sig
				if i%2 == 1 {
					f = sigT
				}
				v, err := f.Run(context.Background(), click(raw))
				if want := native(raw); err != nil || v.Action != want.Action || v.Reason != want.Reason {
					t.Errorf("token %x: got %+v, %v; want %+v", raw, v, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
