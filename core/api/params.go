package api

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/token"
)

// query is a parsed window and filter set, shared by both queries.
type query struct {
	from, to int64 // minutes, to exclusive
	country  window.Country
	label    string // "key=value": a filter label (a pre-aggregation dimension)
	ip       netip.Addr
	userID   string
}

func (q *query) filtered() bool { return q.ip.IsValid() || q.userID != "" }

// filter is the window filter for the query's country and label.
func (q *query) filter() window.Filter { return window.Filter{Country: q.country, Label: q.label} }

// defaultLast is the window when a query gives neither last nor from/to.
const defaultLast = 60

// parseQuery reads last | from&to, and the filters. now is the current time;
// maxMinutes bounds the window's length.
func parseQuery(v url.Values, now time.Time, maxMinutes int64) (query, error) {
	var q query
	last, from, to := v.Get("last"), v.Get("from"), v.Get("to")
	cur := int64(minute.Of(now))
	switch {
	case last != "" && (from != "" || to != ""):
		return q, fmt.Errorf("give either last or from and to, not both")
	case last != "":
		m, err := strconv.ParseInt(last, 10, 64)
		if err != nil || m < 1 || m > maxMinutes {
			return q, fmt.Errorf("last must be a whole number of minutes from 1 to %d, got %q", maxMinutes, last)
		}
		q.from, q.to = cur-m+1, cur+1
	case from != "" || to != "":
		if from == "" || to == "" {
			return q, fmt.Errorf("from and to go together")
		}
		var err error
		if q.from, err = parseMinute("from", from); err != nil {
			return q, err
		}
		if q.to, err = parseMinute("to", to); err != nil {
			return q, err
		}
		if q.from >= q.to {
			return q, fmt.Errorf("from must be before to (to is exclusive)")
		}
		if q.to-q.from > maxMinutes {
			return q, fmt.Errorf("window is %d minutes, more than the %d kept", q.to-q.from, maxMinutes)
		}
	default:
		q.from, q.to = cur-defaultLast+1, cur+1
	}
	if c := v.Get("country"); c != "" {
		c = strings.ToUpper(c)
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
			return q, fmt.Errorf("country must be an ISO 3166-1 alpha-2 code like US, got %q", v.Get("country"))
		}
		q.country = window.Country{c[0], c[1]}
	}
	if l := v.Get("label"); l != "" {
		k, val, ok := strings.Cut(l, "=")
		if !ok || k == "" || val == "" || len(l) > 65 || strings.ContainsAny(l[len(k)+1:], "=&") || strings.ContainsRune(k, '&') {
			return q, fmt.Errorf("label must be key=value as a filter sets it (each at most 32 bytes), got %q", l)
		}
		q.label = l
	}
	if s := v.Get("ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return q, fmt.Errorf("ip must be an IPv4 or IPv6 address, got %q", s)
		}
		q.ip = a.Unmap()
	}
	if u := v.Get("user_id"); u != "" {
		if !token.ValidUserID(u) {
			return q, fmt.Errorf("user_id must be printable ASCII without spaces, at most %d bytes", token.MaxUserIDLen)
		}
		q.userID = u
	}
	return q, nil
}

// parseMinute reads RFC 3339 or unix seconds at a whole minute.
func parseMinute(name, s string) (int64, error) {
	var t time.Time
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<33 {
			return 0, fmt.Errorf("%s: unix seconds %d out of range", name, n)
		}
		t = time.Unix(n, 0)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return 0, fmt.Errorf("%s must be RFC 3339 (2026-11-22T10:00:00Z) or unix seconds, got %q", name, s)
	}
	if !minute.Aligned(t) {
		return 0, fmt.Errorf("%s must be a whole minute, got %q", name, s)
	}
	return int64(minute.Of(t)), nil
}

// parseN reads top's n: 1..1000, default 10.
func parseN(s string) (int, error) {
	if s == "" {
		return 10, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("n must be a whole number from 1 to 1000, got %q", s)
	}
	return n, nil
}

// granularities maps a granularity to its bucket in minutes.
var granularities = map[string]int64{"minute": 1, "hour": 60, "day": 1440}
