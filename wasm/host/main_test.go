package host_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/wasm/host"
)

// cacheDir is shared by every runtime of the test binary, so each module compiles
// once per run.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clickagg-wasm-host-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testKeys is a keyring with key 1.
func testKeys() *token.Keyring {
	var k token.Keyring
	k.Set(1, []byte("0123456789abcdef0123456789abcdef"))
	return &k
}

func newRuntime(t testing.TB, keys host.Keys) *host.Runtime {
	t.Helper()
	rt, err := host.NewRuntime(context.Background(), host.RuntimeConfig{CacheDir: cacheDir, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func module(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compile(t testing.TB, rt *host.Runtime, name string, opts host.Options) *host.Filter {
	t.Helper()
	f, err := rt.Compile(context.Background(), name, module(t, name), opts)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

// signedClick returns a click with a token signed by key id 1 of testKeys.
func signedClick(t testing.TB, keyID uint32, key []byte) *host.Click {
	t.Helper()
	c := token.Claims{KeyID: keyID, ExpiresAt: 1 << 31, AdID: "ad-1", UserID: "user-1"}
	enc, err := token.Sign(&c, key)
	if err != nil {
		t.Fatal(err)
	}
	var p token.Parsed
	if err := token.Parse(&p, []byte(enc)); err != nil {
		t.Fatal(err)
	}
	return &host.Click{TimeMs: 1_763_800_000_000, Token: p.Raw, KeyID: p.KeyID, ImpressionID: p.ImpID,
		AdID: p.AdID, UserID: p.UserID, Country: [2]byte{'F', 'R'},
		IP: [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}, UserAgent: []byte("ok")}
}

// TestTestdataMatchesWat checks that every committed testdata/*.wasm is what
// wat2wasm makes of its .wat (regenerate with go generate ./wasm/host).
func TestTestdataMatchesWat(t *testing.T) {
	checkWat(t, "testdata")
}

func checkWat(t *testing.T, dir string) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (apt-get install -y wabt); committed .wasm files not checked against their .wat")
	}
	wats, _ := filepath.Glob(filepath.Join(dir, "*.wat"))
	if len(wats) == 0 {
		t.Fatal("no .wat files")
	}
	for _, wat := range wats {
		want := strings.TrimSuffix(wat, ".wat") + ".wasm"
		out := filepath.Join(t.TempDir(), "out.wasm")
		if b, err := exec.Command("wat2wasm", wat, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", wat, err, b)
		}
		got, _ := os.ReadFile(out)
		committed, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("%s is stale: run wat2wasm %s -o %s", want, wat, want)
		}
	}
}
