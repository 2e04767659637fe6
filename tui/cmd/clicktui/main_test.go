package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb, env()); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"CLICKAGG_CORE", "CLICKAGG_TOKEN", "CLICKAGG_ADMIN_TOKEN", "--window", "-interval"} {
		if !strings.Contains(errb.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("--help lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"no token", nil, env(), "--token"},
		{"unknown flag", []string{"--nope"}, env("CLICKAGG_TOKEN", "t"), "not defined"},
		{"stray argument", []string{"x"}, env("CLICKAGG_TOKEN", "t"), "unexpected arguments"},
		{"interval", []string{"--token", "t", "--interval", "10ms"}, env(), "at least 250ms"},
		{"timeout", []string{"--token", "t", "--timeout", "0s"}, env(), "--timeout"},
		{"window", []string{"--token", "t", "--window", "7"}, env(), "window 7"},
		{"country", []string{"--token", "t", "--country", "DEU"}, env(), "country"},
		{"n", []string{"--token", "t", "--n", "5000"}, env(), "1000"},
		{"color", []string{"--token", "t", "--color", "pink"}, env(), "--color"},
		{"charset", []string{"--token", "t", "--charset", "ebcdic"}, env(), "--charset"},
		{"core URL", []string{"--token", "t", "--core", "ftp://x"}, env(), "want http"},
		{"log level", []string{"--token", "t"}, env("CLICKAGG_LOG_LEVEL", "loud"), "log level"},
		{"env wins", []string{"--token", "t", "--window", "5"}, env("CLICKAGG_WINDOW", "3"), "window 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb, tc.env); code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

// The whole program on a fake terminal: it polls the core, draws, and quits on q.
func TestRunQuitsOnQ(t *testing.T) {
	asked := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- r.URL.Path + " " + r.Header.Get("Authorization"):
		default:
		}
		w.Write([]byte(`{"ads":[{"ad_id":"from-core","clicks":1}],"from":"2026-03-14T10:01:00Z","to":"2026-03-14T10:06:00Z","complete_through":"2026-03-14T10:04:00Z"}`))
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- runIO([]string{"--core", srv.URL, "--interval", "250ms"}, pr, &out, &errb, env("CLICKAGG_ADMIN_TOKEN", "admintok", "LANG", "C.UTF-8"))
	}()
	select {
	case got := <-asked:
		if !strings.HasSuffix(got, " Bearer admintok") {
			t.Fatalf("asked %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the core")
	}
	time.Sleep(300 * time.Millisecond) // let a frame render
	pw.Write([]byte("q"))
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not quit")
	}
	pw.Close()
	if !strings.Contains(out.String(), "from-core") {
		t.Fatalf("screen never showed the core's ad:\n%q", out.String())
	}
}
