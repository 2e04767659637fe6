package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/clickagg/clickagg/wasm/host"
)

// FuzzValidate feeds mutated modules to upload validation: whatever the bytes, it
// must return an error or a module that then runs the sample clicks without
// failing, and never panic or hang. Seeded with the small real modules (the Go
// guest is left out: ~1 s to compile per input).
func FuzzValidate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.wasm")
	more, _ := filepath.Glob("../filters/*/*.wasm")
	for _, p := range append(seeds, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	rt := newRuntime(f, testKeys())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		info, err := rt.Validate(context.Background(), wasm)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		fl, err := rt.Compile(context.Background(), "fuzz", wasm, host.PartnerOptions())
		if err != nil {
			t.Fatalf("validated (%+v) but Compile failed: %v", info, err)
		}
		defer fl.Close(context.Background())
		s := host.SampleClicks()[0]
		if _, err := fl.Run(context.Background(), &s.Click); err != nil && !errors.Is(err, host.ErrTimeout) {
			// A timeout can hit on a loaded machine even if the dry run passed.
			t.Fatalf("validated but Run failed: %v", err)
		}
	})
}

func isRefusal(err error) bool {
	for _, e := range []error{host.ErrNotWasm, host.ErrInvalid, host.ErrImport, host.ErrExport,
		host.ErrABIVersion, host.ErrLimits, host.ErrInstantiate, host.ErrDryRun} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
