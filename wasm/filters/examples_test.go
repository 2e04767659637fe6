package filters_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clickagg/clickagg/wasm/filters"
	"github.com/clickagg/clickagg/wasm/host"
)

func compileOrFatal(t testing.TB, rt *host.Runtime, name string, wasm []byte, opts host.Options) *host.Filter {
	t.Helper()
	f, err := rt.Compile(context.Background(), name, wasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

func TestBotUA(t *testing.T) {
	rt, _, _ := sigcheck(t)
	f := compileOrFatal(t, rt, "botua", filters.BotUA(), host.Options{PoolSize: 1, Timeout: time.Second})
	bot := host.Verdict{Action: host.Reject, Reason: host.ReasonBot}
	cases := []struct {
		ua   string
		want host.Verdict
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", bot},
		{"BOT", bot},
		{"bot", bot},
		{"Mozilla/5.0 (compatible; YandexSpider/3.0)", bot},
		{"Screaming Frog SEO CRAWLER", bot},
		{"something-crawlerish", bot},
		{"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36", host.Verdict{}},
		{"", host.Verdict{}},
		{"bo", host.Verdict{}},
		{"robo t", host.Verdict{}},
		{"crawle", host.Verdict{}},
		{"spide", host.Verdict{}},
		{"abbot", bot},
		{"b\x00ot", host.Verdict{}},
		{"1234567bot", bot},    // across an 8-byte block
		{"123456crawler", bot}, // across an 8-byte block
		{"1234567Spider", bot},
		{"12345678", host.Verdict{}},
		{"bo", host.Verdict{}}, // followed by the referer "t...": not part of the user agent
	}
	for _, tc := range cases {
		c := click(nil)
		c.UserAgent = []byte(tc.ua)
		c.Referer = []byte("t-spider-bot")
		v, err := f.Run(context.Background(), c)
		if err != nil || v.Action != tc.want.Action || v.Reason != tc.want.Reason {
			t.Errorf("%q: got %+v, %v; want %+v", tc.ua, v, err, tc.want)
		}
	}
	// A user agent is cut at 512 bytes: a bot marker past that is not seen.
	c := click(nil)
	c.UserAgent = append(make([]byte, 512), "bot"...)
	if v, _ := f.Run(context.Background(), c); v.Action != host.Accept {
		t.Errorf("bot past 512 bytes: %+v", v)
	}
	c.UserAgent = append(make([]byte, 509), "bot"...)
	if v, _ := f.Run(context.Background(), c); v.Action != host.Reject {
		t.Errorf("bot at the end of 512 bytes: %+v", v)
	}
}

func TestIPFlood(t *testing.T) {
	rt, _, _ := sigcheck(t)
	f := compileOrFatal(t, rt, "ipflood", filters.IPFlood(), host.Options{PoolSize: 1, Timeout: time.Second})
	c := click(nil)
	minute := int64(29_396_666) * 60_000
	run := func() host.Verdict {
		t.Helper()
		v, err := f.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c.TimeMs = minute + 1
	for i := 1; i <= 30; i++ {
		if v := run(); v.Action != host.Accept {
			t.Fatalf("click %d: %+v", i, v)
		}
	}
	label := []host.Label{{Key: "fraud", Value: "ip_burst"}}
	for i, score := range []uint32{500, 525, 550} {
		if v := run(); v.Action != host.Flag || v.Reason != host.ReasonIPBurst || v.Score != score || !slices.Equal(v.Labels, label) {
			t.Fatalf("click %d: %+v", 31+i, v)
		}
	}
	for range 30 {
		run()
	}
	if v := run(); v.Score != 1000 {
		t.Fatalf("score is not capped: %+v", v)
	}
	other := *c // another IP is counted apart
	other.IP[15]++
	if v, _ := f.Run(context.Background(), &other); v.Action != host.Accept {
		t.Fatalf("other IP: %+v", v)
	}
	c.TimeMs = minute + 60_000 // next minute: counts restart
	if v := run(); v.Action != host.Accept {
		t.Fatalf("next minute: %+v", v)
	}
	c.IP = [16]byte{} // unknown IP: never counted
	for range 40 {
		if v := run(); v.Action != host.Accept {
			t.Fatalf("unknown IP: %+v", v)
		}
	}
}

// TestValidateBuiltins runs upload validation on the built-in modules, which must
// pass it like any partner module, and pins the imports a Go guest needs.
func TestValidateBuiltins(t *testing.T) {
	rt, _, _ := sigcheck(t)
	for name, wasm := range map[string][]byte{"sigcheck": filters.SigCheck(), "botua": filters.BotUA(), "ipflood": filters.IPFlood()} {
		info, err := rt.Validate(context.Background(), wasm)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %d bytes, memory %d KiB after init, imports %v", name, info.Size, info.InstanceMemory>>10, info.Imports)
		for _, d := range info.DryRun {
			t.Logf("  %-8s %-6s reason %-3d %v", d.Sample, d.Verdict.Action, d.Verdict.Reason, d.MeanRun)
		}
	}
}

// TestSigCheckAllocs guards the hot path: running the signature check must not
// allocate on the host side. With a Timeout, wazero allocates a channel and starts a
// goroutine per call, so only the production setting (no Timeout) is guarded.
func TestSigCheckAllocs(t *testing.T) {
	_, sig, _ := sigcheck(t)
	c := click(tokenRaw(t, 1, keys.Get(1), "ad-1", "user-1"))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if v, err := sig.Run(ctx, c); err != nil || v.Action != host.Accept {
			t.Fatalf("%+v, %v", v, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Filter.Run allocates %v times per call", allocs)
	}
	ch := host.NewChain(sig)
	if allocs := testing.AllocsPerRun(200, func() { ch.Run(ctx, c) }); allocs != 0 {
		t.Fatalf("Chain.Run allocates %v times per call", allocs)
	}
}

// FuzzBotUA checks botua against a plain Go reference on any user agent.
func FuzzBotUA(f *testing.F) {
	for _, s := range []string{"Googlebot/2.1", "1234567Spider", "Mozilla/5.0", "", "b\x00ot", "xxcrawle"} {
		f.Add([]byte(s))
	}
	var once sync.Once
	var bot *host.Filter
	f.Fuzz(func(t *testing.T, ua []byte) {
		once.Do(func() {
			rt, _, _ := sigcheck(t)
			var err error
			bot, err = rt.Compile(context.Background(), "botua-fuzz", filters.BotUA(), host.Options{PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
		})
		c := click(nil)
		c.UserAgent = ua
		v, err := bot.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := v.Action == host.Reject, isBot(ua); got != want {
			t.Fatalf("%q: rejected %v, want %v", ua, got, want)
		}
	})
}

func isBot(ua []byte) bool {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	low := make([]byte, len(ua))
	for i, c := range ua {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return bytes.Contains(low, []byte("bot")) || bytes.Contains(low, []byte("crawler")) || bytes.Contains(low, []byte("spider"))
}
