package filters_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/wasm/filters"
	"github.com/clickagg/clickagg/wasm/host"
)

// BenchmarkSigCheck compares the per-click cost of the signature check done natively
// (token.Parse of the encoded token + token.Verify, or Keyring.Verify which reuses
// HMAC state) with the Wasm sigcheck filter.
// The edge parses the token natively in both cases (it needs the fields for the
// Click), so what Wasm adds is the "wasm" line; "parse+wasm" is the edge's total.
func BenchmarkSigCheck(b *testing.B) {
	_, sig, sigT := sigcheck(b)
	raw := tokenRaw(b, 1, keys.Get(1), "ad-1234567", "user-12345")
	enc := []byte(base64.RawURLEncoding.EncodeToString(raw))
	ctx := context.Background()
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		var p token.Parsed
		for b.Loop() {
			if token.Parse(&p, enc) != nil || !token.Verify(&p, keys.Get(p.KeyID)) {
				b.Fatal("verify failed")
			}
		}
	})
	b.Run("native-keyring", func(b *testing.B) { // pooled HMAC state per key
		b.ReportAllocs()
		var p token.Parsed
		for b.Loop() {
			if token.Parse(&p, enc) != nil {
				b.Fatal("parse failed")
			}
			if known, ok := keys.Verify(&p); !known || !ok {
				b.Fatal("verify failed")
			}
		}
	})
	run := func(f *host.Filter, parse bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var p token.Parsed
			c := click(raw)
			for b.Loop() {
				if parse {
					token.Parse(&p, enc)
					c.Token = p.Raw
				}
				if v, err := f.Run(ctx, c); err != nil || v.Action != host.Accept {
					b.Fatalf("%+v, %v", v, err)
				}
			}
		}
	}
	b.Run("wasm", run(sig, false))
	b.Run("parse+wasm", run(sig, true))
	b.Run("wasm-timeout", run(sigT, false))
	b.Run("wasm-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := click(raw)
			for pb.Next() {
				if v, err := sig.Run(ctx, c); err != nil || v.Action != host.Accept {
					b.Fatalf("%+v, %v", v, err)
				}
			}
		})
	})
}

// BenchmarkExamples measures the WAT examples under the CPU limit partner filters
// would run with, and a chain of sigcheck plus both.
func BenchmarkExamples(b *testing.B) {
	rt, sig, _ := sigcheck(b)
	// A wall-clock limit no stall of a loaded machine reaches; the cost of a limit
	// does not depend on its length.
	opts := host.Options{PoolSize: 2, Timeout: time.Second, FailOpen: true}
	bot := compileOrFatal(b, rt, "botua", filters.BotUA(), opts)
	flood := compileOrFatal(b, rt, "ipflood", filters.IPFlood(), opts)
	c := click(tokenRaw(b, 1, keys.Get(1), "ad-1", "user-1"))
	c.UserAgent = []byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func() (host.Verdict, error)
	}{
		{"botua", func() (host.Verdict, error) { return bot.Run(ctx, c) }},
		{"ipflood", func() (host.Verdict, error) { c.TimeMs += 60_000; return flood.Run(ctx, c) }},
		{"chain", func() (host.Verdict, error) {
			c.TimeMs += 60_000
			return host.NewChain(sig, bot, flood).Run(ctx, c)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, err := bc.run(); err != nil || v.Action != host.Accept {
					b.Fatalf("%+v, %v", v, err)
				}
			}
		})
	}
}
