// Package filters ships clickagg's built-in filter modules, embedded so that the edge
// binary needs no build step or file at run time:
//
//   - sigcheck (Go guest, sigcheck/): the signature check, first in the default chain;
//   - botua (WAT, botua/): rejects bot user agents with reason 10;
//   - ipflood (WAT, ipflood/): flags IPs over 30 clicks a minute with reason 20.
//
// The .wasm files are committed next to their sources; tests rebuild them and fail
// when they are stale. Rebuild with `go generate ./wasm/filters` (needs wabt's
// wat2wasm for the WAT ones).
package filters

//go:generate env GOOS=wasip1 GOARCH=wasm GOFLAGS= GOWASM= CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-buildid= -o sigcheck/sigcheck.wasm ./sigcheck
//go:generate wat2wasm botua/botua.wat -o botua/botua.wasm
//go:generate wat2wasm ipflood/ipflood.wat -o ipflood/ipflood.wasm

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/clickagg/clickagg/wasm/host"
)

var (
	//go:embed sigcheck/sigcheck.wasm
	sigcheck []byte
	//go:embed botua/botua.wasm
	botua []byte
	//go:embed ipflood/ipflood.wasm
	ipflood []byte
)

// SigCheck returns the signature check module (~2.4 MB). The slice is shared: do not
// modify it.
func SigCheck() []byte { return sigcheck }

// BotUA returns the bot user-agent filter module (~0.4 KB).
func BotUA() []byte { return botua }

// IPFlood returns the clicks-per-IP flagger module (~0.5 KB).
func IPFlood() []byte { return ipflood }

// SigCheckOptions are the options for the built-in signature check: trusted code, so
// no CPU limit (a limit would add ~3-4 µs to every click, see RATIONALE.md);
// fail-closed, so a failing check never lets a forged click through; 8 MiB per
// instance, for the ~2.4 MiB a Go guest uses.
func SigCheckOptions(poolSize int) host.Options {
	return host.Options{PoolSize: poolSize, MemoryLimitPages: 128}
}

// NewSigCheck compiles the signature check with SigCheckOptions. With an empty
// RuntimeConfig.CacheDir it costs ~1.3 s of CPU per process; with one, a few ms
// after the first run.
func NewSigCheck(ctx context.Context, rt *host.Runtime, poolSize int) (*host.Filter, error) {
	f, err := rt.Compile(ctx, "sigcheck", sigcheck, SigCheckOptions(poolSize))
	if err != nil {
		return nil, fmt.Errorf("built-in sigcheck: %w", err)
	}
	return f, nil
}
