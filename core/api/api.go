// Package api is the core's HTTP API (CONTRACT.md): ads and impressions for ad
// servers, click counts and top-N for advertisers, and health and metrics for
// operators. Every answer is JSON; every error is a 4xx/5xx with {"error": "..."}
// saying what is wrong.
package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/filters"
	"github.com/clickagg/clickagg/core/raw"
	"github.com/clickagg/clickagg/core/registry"
	"github.com/clickagg/clickagg/core/rollup"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options wire the API to the core's parts.
type Options struct {
	Registry *registry.Registry
	Auth     *auth.Auth
	Window   *window.Window
	Store    *store.Store
	Filters  *filters.Registry // nil: no filter endpoints
	// Raw answers the ip and user_id filters, billable counts and the
	// reconciliation report; nil: those filters answer 501 and billable equals clicks.
	Raw *raw.Store
	// RawRetention is how far back the raw store reaches (the ip and user_id filters).
	RawRetention time.Duration
	// Rollup answers unfiltered top-N over windows that start before the hot
	// window, from hourly rankings; nil: such windows answer 400.
	Rollup *rollup.Rollup
	// Watermarks returns each registered edge's merged low watermark (unix ms;
	// 0 for an edge not heard from).
	Watermarks func(ctx context.Context) (map[string]int64, error)
	// EdgeStatus returns each edge's last report (buffered messages, filter stats).
	EdgeStatus func() map[string]wire.EdgeStatus
	// Status returns operational details for GET /v1/status (merge progress etc.).
	Status func(ctx context.Context) any
	// Ready reports whether the core can serve (for /readyz).
	Ready func() error
	// Hot is how far back the window holds minutes (top-N and filters reach that
	// far); Retention how far the store does.
	Hot, Retention time.Duration
	// ImpressionTTL is how long a minted token may be clicked; default 1 h.
	ImpressionTTL time.Duration
	// RateLimit is each API key's requests per second (0: unlimited), with bursts
	// up to RateBurst. The admin token is not limited.
	RateLimit float64
	RateBurst int
	// Decommission stops taking data from an edge (DELETE /v1/edges/{id});
	// Readmit lets it register again (PUT /v1/edges/{id}).
	Decommission, Readmit func(ctx context.Context, edge string) error
	Now                   func() time.Time
	Logger                *slog.Logger
	Metrics               *metrics.Set
}

// Server serves the API.
type Server struct {
	o       Options
	mux     *http.ServeMux
	routes  []string // "METHOD /path" of every endpoint, checked against openapi.json
	limiter *limiter

	ctMu     sync.Mutex
	ctAt     time.Time
	ctCached int64
}

// New returns a server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ImpressionTTL == 0 {
		o.ImpressionTTL = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	s := &Server{o: o, mux: http.NewServeMux(), limiter: newLimiter(o.RateLimit, max(o.RateBurst, 1))}
	s.route("PUT /v1/ads/{ad_id}", auth.RoleAdmin, s.putAd)
	s.route("POST /v1/impressions", auth.RoleAdmin, s.impressions)
	s.route("POST /v1/advertisers/{advertiser_id}/keys", auth.RoleAdmin, s.newKey(auth.RoleAdvertiser, "advertiser_id"))
	s.route("POST /v1/partners/{partner_id}/keys", auth.RoleAdmin, s.newKey(auth.RolePartner, "partner_id"))
	s.route("DELETE /v1/keys/{key_id}", auth.RoleAdmin, s.revokeKey)
	s.route("DELETE /v1/edges/{edge_id}", auth.RoleAdmin, s.decommission)
	s.route("PUT /v1/edges/{edge_id}", auth.RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		if err := wire.CheckEdgeID(r.PathValue("edge_id")); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if err := s.o.Readmit(r.Context(), r.PathValue("edge_id")); err != nil {
			writeError(w, http.StatusServiceUnavailable, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"edge_id": r.PathValue("edge_id"), "state": "admitted; it joins when it next registers"})
	})
	s.route("GET /v1/ads/{ad_id}/clicks", "", s.clicks)
	s.route("GET /v1/top", "", s.top)
	s.route("GET /v1/edges", auth.RoleAdmin, s.edges)
	s.route("GET /v1/reconciliation", auth.RoleAdmin, s.reconciliation)
	s.routeFilters()
	s.route("GET /v1/status", auth.RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		out := map[string]any{"complete_through": s.completeThrough(r.Context()), "now": s.o.Now().UTC().Format(time.RFC3339Nano)}
		if s.o.Status != nil {
			out["core"] = s.o.Status(r.Context())
		}
		writeJSON(w, http.StatusOK, out)
	})
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapiDoc)
	})
	s.handle("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.o.Metrics.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return s
}

// openapiDoc describes every endpoint; TestOpenAPICoversRoutes keeps it honest.
//
//go:embed openapi.json
var openapiDoc []byte

// handle registers an unauthenticated endpoint.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal)

// route registers h behind authentication; role "" admits every authenticated
// caller (handlers then scope what an advertiser sees).
func (s *Server) route(pattern, role string, h handler) {
	s.routes = append(s.routes, pattern)
	method, path, _ := strings.Cut(pattern, " ")
	lat := s.o.Metrics.NewSummary(fmt.Sprintf(`clickagg_core_request_duration_seconds{method=%q,route=%q}`, method, path))
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer lat.UpdateDuration(start)
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clickagg"`)
			writeError(w, http.StatusUnauthorized, "missing Authorization: Bearer <token>")
			return
		}
		p, ok := s.o.Auth.Authenticate(tok)
		if !ok {
			writeError(w, http.StatusUnauthorized, "token is not valid")
			return
		}
		if p.Role != auth.RoleAdmin {
			if ok, wait := s.limiter.allow(p.KeyID, time.Now()); !ok {
				w.Header().Set("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
				writeError(w, http.StatusTooManyRequests, "rate limit of %g requests/s for this key exceeded; retry in %s", s.o.RateLimit, wait.Round(time.Millisecond))
				return
			}
		}
		if role != "" && p.Role != role {
			writeError(w, http.StatusForbidden, "this endpoint needs the %s token", role)
			return
		}
		h(w, r, p)
	})
}

func (s *Server) putAd(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	id := r.PathValue("ad_id")
	if !token.ValidAdID(id) {
		writeError(w, http.StatusBadRequest, "ad_id must match [A-Za-z0-9_.-]{1,64}")
		return
	}
	var ad wire.Ad
	if !readJSON(w, r, &ad) {
		return
	}
	if !token.ValidAdID(ad.AdvertiserID) {
		writeError(w, http.StatusBadRequest, "advertiser_id must match [A-Za-z0-9_.-]{1,64}")
		return
	}
	if err := wire.CheckRedirectURL(ad.RedirectURL); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if old, ok := s.o.Registry.Ad(id); ok && old.AdvertiserID != ad.AdvertiserID {
		writeError(w, http.StatusConflict, "ad %s belongs to advertiser %s; an ad cannot change advertiser", id, old.AdvertiserID)
		return
	}
	created, err := s.o.Registry.PutAd(r.Context(), id, ad)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, map[string]string{"ad_id": id, "advertiser_id": ad.AdvertiserID, "redirect_url": ad.RedirectURL})
}

type impressionReq struct {
	AdID   string `json:"ad_id"`
	UserID string `json:"user_id"`
	Count  *int   `json:"count"`
}

type impression struct {
	ImpressionID string `json:"impression_id"`
	Token        string `json:"token"`
	ClickPath    string `json:"click_path"`
	ExpiresAt    string `json:"expires_at"`
}

func (s *Server) impressions(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	var req impressionReq
	if !readJSON(w, r, &req) {
		return
	}
	n := 1
	if req.Count != nil {
		n = *req.Count
	}
	switch {
	case n < 1 || n > 10000:
		writeError(w, http.StatusBadRequest, "count must be from 1 to 10000, got %d", n)
		return
	case !token.ValidUserID(req.UserID):
		writeError(w, http.StatusBadRequest, "user_id must be printable ASCII without spaces, at most 128 bytes")
		return
	}
	if _, ok := s.o.Registry.Ad(req.AdID); !ok {
		writeError(w, http.StatusNotFound, "ad %q is not registered", req.AdID)
		return
	}
	kid, key := s.o.Registry.SigningKey()
	exp := s.o.Now().Add(s.o.ImpressionTTL).Truncate(time.Second)
	out := make([]impression, n)
	for i := range out {
		c := token.Claims{KeyID: kid, ExpiresAt: exp.Unix(), AdID: req.AdID, UserID: req.UserID}
		rand.Read(c.ImpressionID[:])
		t, err := token.Sign(&c, key)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		out[i] = impression{hex.EncodeToString(c.ImpressionID[:]), t, "/c/" + t, exp.UTC().Format(time.RFC3339)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"impressions": out})
}

func (s *Server) newKey(role, param string) handler {
	return func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		owner := r.PathValue(param)
		if !token.ValidAdID(owner) {
			writeError(w, http.StatusBadRequest, "%s must match [A-Za-z0-9_.-]{1,64}", param)
			return
		}
		tok, id, err := s.o.Auth.NewKey(r.Context(), role, owner)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "%v", err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{param: owner, "token": tok, "key_id": id, "role": role})
	}
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	ok, err := s.o.Auth.Revoke(r.Context(), r.PathValue("key_id"))
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
	case !ok:
		writeError(w, http.StatusNotFound, "no key with id %q", r.PathValue("key_id"))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) decommission(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	id := r.PathValue("edge_id")
	wms, err := s.o.Watermarks(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if _, ok := wms[id]; !ok {
		writeError(w, http.StatusNotFound, "no edge %q is registered", id)
		return
	}
	if err := s.o.Decommission(r.Context(), id); err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.o.Ready != nil {
		if err := s.o.Ready(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "not ready: %v", err)
			return
		}
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body is not valid JSON for this endpoint: %v", err)
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body has more than one JSON value")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // errors quote "<token>"; this is an API, not HTML
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func minuteTime(m int64) string { return minute.Minute(m).String() }
