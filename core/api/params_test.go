package api

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)

func TestParseQuery(t *testing.T) {
	ok := func(q string, from, to string) {
		t.Helper()
		v, _ := url.ParseQuery(q)
		got, err := parseQuery(v, now, 1440)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if minuteTime(got.from) != from || minuteTime(got.to) != to {
			t.Fatalf("%q: [%s, %s), want [%s, %s)", q, minuteTime(got.from), minuteTime(got.to), from, to)
		}
	}
	ok("last=1", "2026-11-22T10:30:00Z", "2026-11-22T10:31:00Z")
	ok("last=60", "2026-11-22T09:31:00Z", "2026-11-22T10:31:00Z")
	ok("", "2026-11-22T09:31:00Z", "2026-11-22T10:31:00Z")
	ok("from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z")
	ok("from=1795341600&to=1795341660", "2026-11-22T10:00:00Z", "2026-11-22T10:01:00Z")
	ok("from=2026-11-22T11:00:00%2B01:00&to=2026-11-22T10:05:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z")

	bad := func(q, want string) {
		t.Helper()
		v, _ := url.ParseQuery(q)
		if _, err := parseQuery(v, now, 1440); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: err %v, want %q", q, err, want)
		}
	}
	bad("last=0", "last")
	bad("last=1441", "1440")
	bad("last=x", "last")
	bad("from=0", "together")
	bad("from=0&to=30", "whole minute")
	bad("from=60&to=60", "before")
	bad("from=0&to=86460", "more than")
	bad("from=yesterday&to=0", "RFC 3339")
	bad("country=usa", "country")
	bad("country=U1", "country")
	bad("ip=300.1.1.1", "ip")
	bad("user_id=a%20b", "user_id")
	bad("label=nolabel", "label")
	bad("label=%3Dv", "label")
	bad("label=k%3Dv%3Dw", "label")
	bad("label=k%3Dv%26x%3Dy", "label")
	v, _ := url.ParseQuery("label=device%3Dmobile&country=de")
	if q, err := parseQuery(v, now, 1440); err != nil || q.filter().Label != "device=mobile" || q.filter().Country != [2]byte{'D', 'E'} {
		t.Fatalf("label and country: %+v %v", q, err)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"last=5", "from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z&country=de",
		"from=0&to=60&ip=::1&user_id=u", "last=-1", "n=5&granularity=hour"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseQuery(v, now, 1440)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if q.from >= q.to || q.to-q.from > 1440 {
			t.Fatalf("%q gave window [%d, %d)", s, q.from, q.to)
		}
		parseN(v.Get("n"))
	})
}
