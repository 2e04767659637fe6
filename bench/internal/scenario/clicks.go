package scenario

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clickagg/clickagg/bench/internal/hist"
)

// sender sends clicks to a set of HTTP targets (the edges, or nginx) over pooled
// keep-alive connections, without following redirects. fasthttp's client, because
// the generator shares the CPU with what it measures: it costs about half of what
// net/http's does per request. Safe for concurrent use.
type sender struct {
	targets []*fasthttp.HostClient
}

// clickTimeout bounds one request; a click with no answer by then is "unsure".
const clickTimeout = 10 * time.Second

func newSender(addrs []string, conns int) *sender {
	s := &sender{}
	for _, a := range addrs {
		s.targets = append(s.targets, &fasthttp.HostClient{
			Addr: a, MaxConns: conns, NoDefaultUserAgentHeader: true, DisablePathNormalizing: true,
			// Wait for a connection rather than fail: the wait is part of the latency.
			MaxConnWaitTimeout: clickTimeout,
			// No hidden retries: a retried click would be measured as one.
			MaxIdemponentCallAttempts: 1,
			// Close idle connections before a server would, so none is found dead.
			MaxIdleConnDuration: 5 * time.Second,
			ReadTimeout:         clickTimeout, WriteTimeout: clickTimeout,
		})
	}
	return s
}

// reply is what a click got back.
type reply struct {
	status   int // 0 on a transport error
	location bool
	err      error
}

// send requests path at target t with the headers of a browser behind a trusted
// proxy: X-Forwarded-For, X-Geo-Country and a uid cookie.
func (s *sender) send(t int, path, ip, country, uid string) reply {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	hc := s.targets[t]
	req.SetRequestURI("http://" + hc.Addr + path)
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	if country != "" {
		req.Header.Set("X-Geo-Country", country)
	}
	if uid != "" {
		req.Header.SetCookie("uid", uid)
	}
	if err := hc.DoTimeout(req, resp, clickTimeout); err != nil {
		return reply{err: err}
	}
	return reply{status: resp.StatusCode(), location: len(resp.Header.Peek("Location")) > 0}
}

// ipString is a client address in 10.0.0.0/8 from a small integer.
func ipString(n uint32) string {
	return "10." + strconv.Itoa(int(n>>16&255)) + "." + strconv.Itoa(int(n>>8&255)) + "." + strconv.Itoa(int(n&255))
}

// tally counts outcomes per kind of click. Safe for concurrent use.
type tally struct {
	sent       [kinds]atomic.Uint64
	redirected [kinds]atomic.Uint64 // 302 with a Location
	rejected   [kinds]atomic.Uint64 // 400 or 403 without one
	other      [kinds]atomic.Uint64 // any other answer
	failed     [kinds]atomic.Uint64 // no answer
	lastErr    atomic.Pointer[error]
	// latency is from the scheduled time (open loop) or the send (closed loop).
	latency [kinds]*hist.Histogram
}

func newTally() *tally {
	t := &tally{}
	for k := range t.latency {
		t.latency[k] = hist.New()
	}
	return t
}

// record files the reply to a click of kind k to impression imp (nil for none) at
// edge e, and whether the reply is what the contract says.
func (t *tally) record(k kind, imp *impression, e int, r reply, took time.Duration) {
	t.sent[k].Add(1)
	t.latency[k].RecordDuration(took)
	switch {
	case r.err != nil:
		t.failed[k].Add(1)
		t.lastErr.Store(&r.err)
		if imp != nil && k <= kindCrossDup {
			imp.unsure.Or(1 << e)
		}
	case r.status == fasthttp.StatusFound && r.location:
		t.redirected[k].Add(1)
		if imp != nil && k <= kindCrossDup {
			imp.answered.Or(1 << e)
		}
	case (r.status == 400 || r.status == 403) && !r.location:
		t.rejected[k].Add(1)
	default:
		t.other[k].Add(1)
	}
}

// wrong is the number of answers the contract forbids: a valid token not
// redirected, an invalid one redirected, anything else than 302/400/403.
func (t *tally) wrong() uint64 {
	var n uint64
	for k := range kinds {
		n += t.other[k].Load()
		if k <= kindCrossDup {
			n += t.rejected[k].Load()
		} else {
			n += t.redirected[k].Load()
		}
	}
	return n
}

func (t *tally) total(field *[kinds]atomic.Uint64) uint64 {
	var n uint64
	for k := range kinds {
		n += field[k].Load()
	}
	return n
}

// all merges the latency of every kind.
func (t *tally) all() *hist.Histogram {
	h := hist.New()
	for _, l := range t.latency {
		h.Merge(l)
	}
	return h
}

func (t *tally) err() error {
	if e := t.lastErr.Load(); e != nil {
		return *e
	}
	return errors.New("none")
}
