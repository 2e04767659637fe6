package filters_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickagg/clickagg/wasm/host"
)

// buildGuest builds a Go guest from testdata (cached by go build after the first
// run: ~0.3 s then, ~5 s cold).
func buildGuest(t *testing.T, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-o", out, "./"+dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWASM=", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoGuest exercises the Go SDK's labels and logs and the failures only a Go
// guest has: a panic and the Go runtime running out of memory at the limit. After
// each, the filter serves good clicks again.
func TestGoGuest(t *testing.T) {
	wasm := buildGuest(t, "testdata/gohostile")
	rt, _, _ := sigcheck(t)
	var logs bytes.Buffer
	opts := host.Options{PoolSize: 1, MemoryLimitPages: 64, Timeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	f := compileOrFatal(t, rt, "gohostile", wasm, opts)
	c := click(nil)
	c.Country = [2]byte{'P', 'T'}
	cases := []struct {
		ua   string
		want error
		msg  string
	}{
		{"panic", host.ErrTrap, "panic: boom at 1763800000000"},
		{"oom", host.ErrTrap, "out of memory"},
		{"badlbl", host.ErrViolation, `label: invalid key "Bad Key"`},
	}
	for _, tc := range cases {
		c.UserAgent = []byte(tc.ua)
		_, err := f.Run(context.Background(), c)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %v containing %q", tc.ua, err, tc.want, tc.msg)
		}
		c.UserAgent = []byte("label")
		v, err := f.Run(context.Background(), c)
		want := []host.Label{{Key: "lang", Value: "go"}, {Key: "country", Value: "PT"}}
		if err != nil || v.Action != host.Flag || v.Score != 250 || v.Reason != host.FirstPartnerCode || !slices.Equal(v.Labels, want) {
			t.Fatalf("after %s: %+v, %v", tc.ua, v, err)
		}
	}
	if !strings.Contains(logs.String(), "msg=\"labelled PT\" filter=gohostile source=guest") {
		t.Errorf("guest log missing:\n%s", logs.String())
	}
	if st := f.Stats(); st.Traps != 2 || st.Violations != 1 || st.Flags != 3 || st.Replaced != 3 {
		t.Errorf("stats %+v", st)
	}
}
