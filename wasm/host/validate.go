package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clickagg/clickagg/pkg/token"
)

// MaxModuleSize bounds uploaded modules; a Go guest is ~2.4 MB.
const MaxModuleSize = 16 << 20

// dryRunRounds is how many times Validate runs each sample: enough to exercise a
// filter's per-instance state (ipflood flags from the 31st click of an IP) and to
// time it, cheap even for a Go guest (~5 µs a call).
const dryRunRounds = 40

// Info describes a module that passed validation.
type Info struct {
	Size           int      // bytes
	ABIVersion     uint32   // always abi.Version today
	Imports        []string // "module.name", sorted
	MemoryMinPages uint32   // declared minimum, 64 KiB pages
	MemoryMaxPages uint32   // declared maximum, 0 if none
	// InstanceMemory is the instance's memory after initialisation, in bytes: what
	// each pooled instance costs at least.
	InstanceMemory uint32
	DryRun         []DryRun
}

// DryRun is the outcome of the sample clicks of Validate.
type DryRun struct {
	Sample  string
	Verdict Verdict       // of the last round
	MeanRun time.Duration // mean time of Filter.Run over the rounds
}

// Validate checks an uploaded module and reports what it is, or the first reason to
// refuse it: not Wasm (ErrNotWasm), over MaxModuleSize or the memory limit
// (ErrLimits), malformed (ErrInvalid), imports outside module clickagg and
// AllowedWASI (ErrImport), missing or mistyped exports or a _start (ErrExport), an
// ABI version other than 1 (ErrABIVersion), a failing initialisation
// (ErrInstantiate), or a trap, timeout or ABI violation on any built-in sample click
// (ErrDryRun). It compiles with PartnerOptions and a pool of one instance, so it
// costs one compilation (up to ~1.3 s for a Go guest; less with a cache hit).
func (r *Runtime) Validate(ctx context.Context, wasm []byte) (Info, error) {
	if !isWasm(wasm) {
		return Info{}, fmt.Errorf("validate: %w (no \\0asm version 1 header)", ErrNotWasm)
	}
	if len(wasm) > MaxModuleSize {
		return Info{}, fmt.Errorf("validate: %w: %d bytes, limit %d", ErrLimits, len(wasm), MaxModuleSize)
	}
	opts := PartnerOptions()
	opts.PoolSize = 1
	f, err := r.Compile(ctx, "validate", wasm, opts)
	if err != nil {
		return Info{}, fmt.Errorf("validate: %w", err)
	}
	defer f.Close(context.Background())
	info := Info{Size: len(wasm), ABIVersion: 1, Imports: importNames(f.cm)}
	for _, m := range f.cm.ExportedMemories() {
		info.MemoryMinPages = m.Min()
		info.MemoryMaxPages, _ = m.Max()
	}
	info.InstanceMemory = f.slots[0].in.mem.Size()
	samples := SampleClicks()
	sums := make([]time.Duration, len(samples))
	info.DryRun = make([]DryRun, len(samples))
	for round := 0; round < dryRunRounds; round++ {
		for i, s := range samples {
			start := time.Now()
			v, err := f.Run(ctx, &s.Click)
			// The limit is wall-clock time, which a loaded machine can exceed by
			// stalling the call: a module is refused for timing out 3 times in a row.
			for retry := 0; retry < 2 && errors.Is(err, ErrTimeout); retry++ {
				v, err = f.Run(ctx, &s.Click)
			}
			sums[i] += time.Since(start)
			if err != nil {
				return Info{}, fmt.Errorf("validate: %w: sample %q, round %d: %w", ErrDryRun, s.Name, round, err)
			}
			info.DryRun[i] = DryRun{Sample: s.Name, Verdict: v}
		}
	}
	for i := range info.DryRun {
		info.DryRun[i].MeanRun = sums[i] / dryRunRounds
	}
	return info, nil
}

// Sample is a named click for dry runs and tests.
type Sample struct {
	Name  string
	Click Click
}

// SampleClicks returns the clicks Validate runs: a browser click with a well-formed
// token (signed with a key no runtime has), a crawler, an empty click and one with
// every field at its maximum length and unusual bytes.
func SampleClicks() []Sample {
	claims := token.Claims{KeyID: 0x5a, ExpiresAt: 1 << 31, AdID: "ad-42", UserID: "user-7"}
	claims.ImpressionID[0] = 1
	enc, err := token.Sign(&claims, []byte("validation-sample-key"))
	if err != nil {
		panic("BUG: sample token: " + err.Error())
	}
	var p token.Parsed
	if err := token.Parse(&p, []byte(enc)); err != nil {
		panic("BUG: sample token: " + err.Error())
	}
	ms := time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC).UnixMilli()
	v4 := [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}
	browser := Click{TimeMs: ms, Token: p.Raw, KeyID: p.KeyID, ImpressionID: p.ImpID,
		AdID: p.AdID, UserID: p.UserID, IP: v4, Country: [2]byte{'F', 'R'},
		UserAgent: []byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"),
		Referer:   []byte("https://news.example/article")}
	bot := browser
	bot.UserAgent = []byte("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
	bot.IP = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	bot.Country = [2]byte{'Z', 'Z'}
	odd := strings.Repeat("\xff\x00é", 400)
	max := Click{TimeMs: -1, Token: []byte(strings.Repeat("\xfe", 256)), KeyID: ^uint32(0),
		AdID: []byte(strings.Repeat("a", 64)), UserID: []byte(strings.Repeat("~", 128)),
		IP: [16]byte{0: 0xff, 15: 0xff}, Country: [2]byte{0, 0xff},
		UserAgent: []byte(odd), Referer: []byte(odd)}
	return []Sample{{"browser", browser}, {"bot", bot}, {"empty", Click{}}, {"max", max}}
}
