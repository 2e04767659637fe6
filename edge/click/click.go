// Package click is the edge's HTTP front: GET|POST /c/{token} answers a click with a
// 302 to the ad's registered URL after the click is decided and, when it counts,
// durable in the journal. It also serves /healthz and /metrics.
//
// The hot path (parse, verify, look up, dedup, journal append) allocates nothing per
// click beyond what the journal batch keeps; see click_test.go's guard.
package click

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/clickagg/clickagg/edge/catalog"
	"github.com/clickagg/clickagg/edge/dedup"
	"github.com/clickagg/clickagg/edge/journal"
	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
	"github.com/clickagg/clickagg/wasm/host"
)

// Filters decide clicks: Verify is the signature check (first in the chain, before
// any redirect); Partners, when not nil, is the chain of partner filters.
type Filters interface {
	Verify(ctx context.Context, c *host.Click) (host.Verdict, error)
	Partners() *host.Chain
}

// Options configure a Handler.
type Options struct {
	Catalog *catalog.Catalog
	Filters Filters // required
	Dedup   *dedup.Set
	Journal *journal.Journal
	// Trusted are the proxies whose X-Forwarded-For and X-Geo-Country are believed.
	Trusted []netip.Prefix
	// Geo, when set, gives the client's country; it wins over X-Geo-Country.
	Geo interface {
		Country(netip.Addr) ([2]byte, bool)
	}
	Now     func() time.Time // default time.Now
	Metrics *metrics.Set     // where click metrics register; default a new set
	Logger  *slog.Logger
	// Healthy reports readiness for /healthz; nil means always healthy.
	Healthy func() error
	// ExtraMetrics, when set, appends Prometheus text to /metrics (per-filter
	// counters, whose names come and go with the filters).
	ExtraMetrics func(w io.Writer)
}

// Handler serves an edge's HTTP. It is safe for concurrent use.
type Handler struct {
	o       Options
	scratch sync.Pool // *scratch
	outcome [6]*metrics.Counter
	invalid [3]*metrics.Counter // malformed, unknown key, bad signature
	failed  *metrics.Counter
	latency *metrics.Histogram
}

const (
	invMalformed = iota
	invUnknownKey
	invBadSig
)

// New returns a handler.
func New(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &Handler{o: o}
	h.scratch.New = func() any { return new(scratch) }
	for o := wire.OutcomeCounted; o <= wire.OutcomeUnknownAd; o++ {
		h.outcome[o] = h.o.Metrics.NewCounter(`clickagg_edge_clicks_total{outcome="` + o.String() + `"}`)
	}
	for i, r := range []string{"malformed", "unknown_key", "bad_signature"} {
		h.invalid[i] = h.o.Metrics.NewCounter(`clickagg_edge_invalid_total{reason="` + r + `"}`)
	}
	h.failed = h.o.Metrics.NewCounter(`clickagg_edge_journal_failures_total`)
	h.latency = h.o.Metrics.NewHistogram(`clickagg_edge_click_duration_seconds`)
	return h
}

// Serve is the fasthttp handler.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, []byte("/c/")):
		if !ctx.IsGet() && !ctx.IsPost() {
			ctx.Response.Header.Set("Allow", "GET, POST")
			fail(ctx, fasthttp.StatusMethodNotAllowed, "use GET or POST")
			return
		}
		start := time.Now()
		h.click(ctx, path[3:])
		h.latency.UpdateDuration(start)
	case string(path) == "/healthz":
		if h.o.Healthy != nil {
			if err := h.o.Healthy(); err != nil {
				fail(ctx, fasthttp.StatusServiceUnavailable, err.Error())
				return
			}
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	case string(path) == "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4")
		h.o.Metrics.WritePrometheus(ctx)
		if h.o.ExtraMetrics != nil {
			h.o.ExtraMetrics(ctx)
		}
		metrics.WriteProcessMetrics(ctx)
	default:
		fail(ctx, fasthttp.StatusNotFound, "not found: clicks go to /c/{token}")
	}
}

// scratch is a click's working memory, pooled so the hot path does not allocate.
type scratch struct {
	p  token.Parsed
	fc host.Click
}

func (h *Handler) click(ctx *fasthttp.RequestCtx, tok []byte) {
	sc := h.scratch.Get().(*scratch)
	defer h.scratch.Put(sc)
	p := &sc.p
	if err := token.Parse(p, tok); err != nil {
		h.invalid[invMalformed].Inc()
		fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	c := wire.Click{ImpressionID: p.ImpID, ExpiresAt: p.Expiry}
	user := h.client(ctx, &c, p.UserID)
	now := h.o.Now() // the journal stamps the recorded time itself, monotonically
	fc := &sc.fc
	*fc = host.Click{TimeMs: now.UnixMilli(), Token: p.Raw, KeyID: p.KeyID, ImpressionID: p.ImpID, AdID: p.AdID,
		UserID: user, IP: c.IP.As16(), Country: c.Country, UserAgent: ctx.UserAgent(), Referer: ctx.Referer()}
	if !h.verify(ctx, fc) {
		return
	}
	id, ad, ok := h.o.Catalog.Ad(p.AdID)
	if !ok && h.o.Catalog.Resolve(context.Background(), wire.AdKey(string(p.AdID))) {
		id, ad, ok = h.o.Catalog.Ad(p.AdID)
	}
	c.AdID = id
	if !ok {
		c.AdID = string(p.AdID)
	}
	switch {
	case !ok:
		c.Outcome = wire.OutcomeUnknownAd
	case now.Unix() >= p.Expiry:
		c.Outcome = wire.OutcomeExpired
	case !h.partners(fc, &c):
		c.Outcome = wire.OutcomeFiltered
	case !h.o.Dedup.Add(p.ImpID, p.Expiry):
		c.Outcome = wire.OutcomeDuplicate
	default:
		c.Outcome = wire.OutcomeCounted
	}
	if !h.record(ctx, &c) {
		return
	}
	if !ok {
		fail(ctx, fasthttp.StatusNotFound, "ad is unknown at this edge")
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Location", ad.RedirectURL)
	ctx.SetStatusCode(fasthttp.StatusFound)
}

// verify runs the signature check and answers the request itself when the token
// is refused. An unknown key is looked up at the hub once before it is refused.
func (h *Handler) verify(ctx *fasthttp.RequestCtx, fc *host.Click) bool {
	v, _ := h.o.Filters.Verify(ctx, fc)
	if v.Action == host.Reject && v.Reason == host.ReasonUnknownKey &&
		h.o.Catalog.Resolve(context.Background(), wire.SigningKeyKey(fc.KeyID)) {
		v, _ = h.o.Filters.Verify(ctx, fc)
	}
	if v.Action != host.Reject {
		return true
	}
	switch v.Reason {
	case host.ReasonMalformed:
		h.invalid[invMalformed].Inc()
		fail(ctx, fasthttp.StatusBadRequest, "token is malformed")
	case host.ReasonUnknownKey:
		h.invalid[invUnknownKey].Inc()
		fail(ctx, fasthttp.StatusForbidden, "token signing key is unknown")
	case host.ReasonBadMAC:
		h.invalid[invBadSig].Inc()
		fail(ctx, fasthttp.StatusForbidden, "token signature is invalid")
	default:
		h.failed.Inc()
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "signature check unavailable; try again")
	}
	return false
}

// partners runs the partner filters and reports whether the click may count. A
// flag's score and the filters' labels go into the click record.
func (h *Handler) partners(fc *host.Click, c *wire.Click) bool {
	chain := h.o.Filters.Partners()
	if chain == nil {
		return true
	}
	v, _ := chain.Run(context.Background(), fc) // on failure, the filter's policy verdict
	c.Score = v.Score
	for _, l := range v.Labels {
		c.Labels = append(c.Labels, wire.Label{Key: l.Key, Value: l.Value})
	}
	if v.Action == host.Reject {
		c.Reason = v.Reason
		return false
	}
	return true
}

// record journals the click, waiting for durability when it counts; on failure it
// answers 503 itself.
func (h *Handler) record(ctx *fasthttp.RequestCtx, c *wire.Click) bool {
	b, err := h.o.Journal.Append(c)
	if err == nil && c.Outcome == wire.OutcomeCounted {
		err = b.Wait()
	}
	if err != nil {
		if c.Outcome == wire.OutcomeCounted {
			h.o.Dedup.Remove(c.ImpressionID)
		}
		h.failed.Inc()
		h.o.Logger.Error("click not recorded", "ad", c.AdID, "err", err)
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "click could not be recorded; try again")
		return false
	}
	h.outcome[c.Outcome].Inc()
	return true
}

// client fills the click's IP, country and user id from the request, and returns
// the user id's bytes.
func (h *Handler) client(ctx *fasthttp.RequestCtx, c *wire.Click, tokenUser []byte) []byte {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	c.IP = peer
	c.Country = [2]byte{'Z', 'Z'}
	if h.trusted(peer) {
		if xff := ctx.Request.Header.Peek("X-Forwarded-For"); len(xff) > 0 {
			first := xff
			if i := bytes.IndexByte(xff, ','); i >= 0 {
				first = xff[:i]
			}
			if a, err := netip.ParseAddr(string(bytes.TrimSpace(first))); err == nil {
				c.IP = a.Unmap()
			}
		}
		if g := ctx.Request.Header.Peek("X-Geo-Country"); len(g) == 2 && upper(g[0]) && upper(g[1]) && h.o.Geo == nil {
			c.Country = [2]byte{g[0], g[1]}
		}
	}
	if h.o.Geo != nil {
		if cc, ok := h.o.Geo.Country(c.IP); ok {
			c.Country = cc
		}
	}
	if len(tokenUser) > 0 {
		c.UserID = string(tokenUser)
		return tokenUser
	}
	if uid := ctx.Request.Header.Cookie("uid"); len(uid) > 0 && len(uid) <= token.MaxUserIDLen && token.ValidUserID(string(uid)) {
		c.UserID = string(uid)
		return uid
	}
	return nil
}

func upper(b byte) bool { return b >= 'A' && b <= 'Z' }

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.o.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func fail(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]string{"error": msg}) // error path only
	ctx.SetBody(b)
}
