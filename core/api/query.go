package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/rollup"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

type bucketJSON map[string]any

func (s *Server) windowLimits() (hotStart, maxMinutes int64) {
	now := s.o.Now()
	return int64(minute.Of(now.Add(-s.o.Hot))) + 1, int64(s.o.Retention / time.Minute)
}

// visible reports whether p may see ad; advertisers see only their own ads, and
// another advertiser's ad answers as an unknown one would.
func (s *Server) visible(p auth.Principal, ad string) bool {
	a, ok := s.o.Registry.Ad(ad)
	if !ok {
		return false
	}
	return p.Role == auth.RoleAdmin || p.Role == auth.RoleAdvertiser && a.AdvertiserID == p.Owner
}

func (s *Server) clicks(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	ad := r.PathValue("ad_id")
	if !s.visible(p, ad) {
		writeError(w, http.StatusNotFound, "ad %q is not registered", ad)
		return
	}
	hotStart, maxMin := s.windowLimits()
	q, err := parseQuery(r.URL.Query(), s.o.Now(), maxMin)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	gran := r.URL.Query().Get("granularity")
	step, ok := granularities[gran]
	if gran != "" && !ok {
		writeError(w, http.StatusBadRequest, "granularity must be minute, hour or day, got %q", gran)
		return
	}
	if !s.filtersAvailable(w, q, hotStart) {
		return
	}
	var series, billable []window.MinuteCount // parallel, minute by minute
	if q.filtered() {
		series, billable, err = s.rawSeries(r.Context(), ad, q)
	} else if series, err = s.series(ad, q, hotStart); err == nil {
		billable, err = s.billable(ad, q, hotStart, series)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: %v", err)
		return
	}
	var total, billed uint64
	for i := range series {
		total += series[i].Clicks
		billed += billable[i].Clicks
	}
	ct := s.completeThrough(r.Context())
	out := map[string]any{"ad_id": ad, "from": minuteTime(q.from), "to": minuteTime(q.to), "clicks": total, "billable": billed, "complete_through": ct}
	if gran != "" {
		out["granularity"] = gran
		out["series"] = bucketize(series, billable, step, gran)
	}
	writeJSON(w, http.StatusOK, out)
}

// filtersAvailable answers 400/501 when the query asks for what this core cannot
// answer exactly, and reports whether to go on.
func (s *Server) filtersAvailable(w http.ResponseWriter, q query, hotStart int64) bool {
	if q.filtered() {
		if s.o.Raw == nil {
			writeError(w, http.StatusNotImplemented, "filtering by ip or user_id needs the raw click store, which this core does not run")
			return false
		}
		if rawStart := int64(minute.Of(s.o.Now().Add(-s.o.RawRetention))) + 1; q.from < rawStart {
			writeError(w, http.StatusBadRequest, "the ip and user_id filters reach back %s (to %s), as long as raw clicks are kept; this window starts earlier",
				s.o.RawRetention, minuteTime(rawStart))
			return false
		}
		return true
	}
	if (q.country != (window.Country{}) || q.label != "") && q.from < hotStart {
		writeError(w, http.StatusBadRequest, "the country and label filters reach back %s (to %s); this window starts earlier",
			s.o.Hot, minuteTime(hotStart))
		return false
	}
	return true
}

// series returns one ad's per-minute clicks over q: the hot window for recent
// minutes, the store for older ones.
func (s *Server) series(ad string, q query, hotStart int64) ([]window.MinuteCount, error) {
	var out []window.MinuteCount
	if q.from < hotStart {
		coldTo := min(q.to, hotStart)
		pts, err := s.o.Store.Series("clicks", ad, q.from, coldTo)
		if err != nil {
			return nil, err
		}
		i := 0
		for m := q.from; m < coldTo; m++ {
			var n uint64
			if i < len(pts) && pts[i].Minute == m {
				n = pts[i].Value
				i++
			}
			out = append(out, window.MinuteCount{Minute: m, Clicks: n})
		}
	}
	if q.to > hotStart {
		hot, _ := s.o.Window.Series(ad, max(q.from, hotStart), q.to, q.filter())
		out = append(out, hot...)
	}
	return out, nil
}

// bucketize sums minutes into buckets of step minutes aligned to the epoch;
// billable runs parallel to series.
func bucketize(series, billable []window.MinuteCount, step int64, name string) []bucketJSON {
	out := []bucketJSON{}
	for i := 0; i < len(series); {
		start := series[i].Minute - mod(series[i].Minute, step)
		var n, b uint64
		for ; i < len(series) && series[i].Minute < start+step; i++ {
			n += series[i].Clicks
			b += billable[i].Clicks
		}
		out = append(out, bucketJSON{name: minuteTime(start), "clicks": n, "billable": b})
	}
	return out
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

func (s *Server) top(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	hotStart, maxMin := s.windowLimits()
	q, err := parseQuery(r.URL.Query(), s.o.Now(), maxMin)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	n, err := parseN(r.URL.Query().Get("n"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.filtersAvailable(w, q, hotStart) {
		return
	}
	var list []map[string]any
	switch {
	case q.from < hotStart && !q.filtered() && s.o.Rollup == nil:
		writeError(w, http.StatusBadRequest, "top-N reaches back %s (to %s); this window starts earlier", s.o.Hot, minuteTime(hotStart))
		return
	case q.from < hotStart && !q.filtered(): // country and label were refused above
		if list, err = s.rollupTop(r.Context(), n, q, hotStart, p); err != nil {
			s.rollupError(w, err)
			return
		}
	case q.filtered():
		if list, err = s.rawTop(r.Context(), n, q, p); err != nil {
			writeError(w, http.StatusServiceUnavailable, "raw store: %v", err)
			return
		}
	default:
		var ads []window.AdCount
		switch p.Role {
		case auth.RoleAdmin:
			ads = s.o.Window.Top(n, q.from, q.to, q.filter(), nil)
		case auth.RoleAdvertiser: // its own ads only, by direct lookups
			ads = s.o.Window.TopAmong(n, q.from, q.to, q.filter(), s.o.Registry.AdsOf(p.Owner))
		}
		list = make([]map[string]any, len(ads))
		for i, a := range ads {
			list[i] = map[string]any{"ad_id": a.AdID, "clicks": a.Clicks, "billable": a.Clicks - min(a.Clicks, s.subtracted(a.AdID, q))}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": minuteTime(q.from), "to": minuteTime(q.to), "ads": list,
		"complete_through": s.completeThrough(r.Context())})
}

// rollupTop answers an unfiltered top-N whose window starts before the hot
// window from the hourly rankings: exact, like the hot path. An advertiser sees
// its own ads; when the rankings cannot prove the answer, every ad (or every ad
// of the advertiser) is summed if there are few enough.
func (s *Server) rollupTop(ctx context.Context, n int, q query, hotStart int64, p auth.Principal) ([]map[string]any, error) {
	rq := rollup.Query{N: n, From: q.from, To: q.to, HotStart: hotStart}
	switch p.Role {
	case auth.RoleAdmin:
		rq.Universe = func(limit int) []string {
			if s.o.Registry.Len() > limit {
				return nil
			}
			return s.o.Registry.IDs()
		}
	case auth.RoleAdvertiser:
		rq.Ads = s.o.Registry.AdsOf(p.Owner)
	default:
		return []map[string]any{}, nil
	}
	ads, err := s.o.Rollup.Top(ctx, rq)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, len(ads))
	for i, a := range ads {
		billable, err := s.billableTotal(a.AdID, a.Clicks, q, hotStart)
		if err != nil {
			return nil, err
		}
		list[i] = map[string]any{"ad_id": a.AdID, "clicks": a.Clicks, "billable": billable}
	}
	return list, nil
}

// billableTotal is clicks less what fraud rules subtracted over q: from the
// store before hotStart, from the raw store's log after (as billable does per
// minute).
func (s *Server) billableTotal(ad string, clicks uint64, q query, hotStart int64) (uint64, error) {
	if s.o.Raw == nil {
		return clicks, nil
	}
	var sub uint64
	if q.from < hotStart {
		n, err := s.o.Store.Sum("fraud", ad, q.from, min(q.to, hotStart))
		if err != nil {
			return 0, err
		}
		sub += n
	}
	if q.to > hotStart {
		sub += s.o.Raw.Subtracted(ad, max(q.from, hotStart), q.to, q.filter())
	}
	return clicks - min(clicks, sub), nil
}

// rollupError answers a failed long-window top-N: 400 when hours of the window
// were never ranked (nothing can rank them now), 503 when the window is too flat
// to rank exactly or a read failed.
func (s *Server) rollupError(w http.ResponseWriter, err error) {
	var nr *rollup.NoRankingError
	switch {
	case errors.As(err, &nr):
		writeError(w, http.StatusBadRequest, "%v; this window starts earlier", err)
	case errors.Is(err, rollup.ErrTooFlat):
		writeError(w, http.StatusServiceUnavailable, "%v", err)
	default:
		writeError(w, http.StatusServiceUnavailable, "top-N: %v", err)
	}
}

// completeThrough is the minute boundary before which every click is merged: the
// lowest watermark of all registered edges, floored to a minute. Cached for 200 ms.
func (s *Server) completeThrough(ctx context.Context) string {
	s.ctMu.Lock()
	defer s.ctMu.Unlock()
	now := s.o.Now()
	if now.Sub(s.ctAt) > 200*time.Millisecond {
		wms, err := s.o.Watermarks(ctx)
		if err == nil {
			s.ctCached, s.ctAt = LowWatermark(wms, now.UnixMilli()), now
		}
	}
	return minute.OfMillis(s.ctCached).String()
}

// LowWatermark is the lowest of the edges' watermarks (unix ms), or nowMs when
// there are no edges: every click received before it has been merged.
func LowWatermark(wms map[string]int64, nowMs int64) int64 {
	low := nowMs
	for _, wm := range wms {
		low = min(low, wm)
	}
	return low
}

type edgeJSON struct {
	EdgeID     string  `json:"edge_id"`
	Watermark  string  `json:"watermark,omitempty"`
	LagSeconds float64 `json:"lag_seconds"`
	// From the edge's last status report, when there is one.
	Buffered         *uint64  `json:"buffered,omitempty"`
	JournalPending   *int     `json:"journal_pending,omitempty"`
	DedupImpressions *int     `json:"dedup_impressions,omitempty"`
	StatusAgeSeconds *float64 `json:"status_age_seconds,omitempty"`
}

func (s *Server) edges(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	wms, err := s.o.Watermarks(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	now := s.o.Now()
	var reports map[string]wire.EdgeStatus
	if s.o.EdgeStatus != nil {
		reports = s.o.EdgeStatus()
	}
	out := []edgeJSON{}
	for e, wm := range wms {
		j := edgeJSON{EdgeID: e, LagSeconds: -1}
		if wm > 0 {
			t := time.UnixMilli(wm).UTC()
			j.Watermark, j.LagSeconds = t.Format(time.RFC3339Nano), now.Sub(t).Seconds()
		}
		if st, ok := reports[e]; ok {
			age := now.Sub(time.UnixMilli(st.AtMs)).Seconds()
			j.Buffered, j.JournalPending, j.DedupImpressions, j.StatusAgeSeconds = &st.Buffered, &st.Pending, &st.Dedup, &age
		}
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].EdgeID < out[k].EdgeID })
	writeJSON(w, http.StatusOK, map[string]any{"edges": out, "complete_through": s.completeThrough(r.Context())})
}
