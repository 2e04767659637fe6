package api

import (
	"context"
	"net/http"
	"time"

	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/raw"
	"github.com/clickagg/clickagg/core/window"
)

// rawQuery is q as the raw store takes it.
func rawQuery(ad string, q query) raw.Query {
	rq := raw.Query{From: q.from, To: q.to, AdID: ad, UserID: q.userID, Label: q.label}
	if q.ip.IsValid() {
		rq.IP = q.ip.String()
	}
	if q.country != (window.Country{}) {
		rq.Country = string(q.country[:])
	}
	return rq
}

// rawSeries answers one ad's counts for a query filtered by ip or user_id.
func (s *Server) rawSeries(ctx context.Context, ad string, q query) (clicks, billable []window.MinuteCount, err error) {
	rs, err := s.o.Raw.Series(ctx, rawQuery(ad, q))
	if err != nil {
		return nil, nil, err
	}
	clicks, billable = make([]window.MinuteCount, len(rs)), make([]window.MinuteCount, len(rs))
	for i, m := range rs {
		clicks[i] = window.MinuteCount{Minute: m.Minute, Clicks: m.Clicks}
		billable[i] = window.MinuteCount{Minute: m.Minute, Clicks: m.Billable}
	}
	return clicks, billable, nil
}

// rawTop answers top-N for a query filtered by ip or user_id.
func (s *Server) rawTop(ctx context.Context, n int, q query, p auth.Principal) ([]map[string]any, error) {
	var allow func(string) bool
	if p.Role != auth.RoleAdmin {
		allow = func(ad string) bool { return s.visible(p, ad) }
	}
	ads, err := s.o.Raw.Top(ctx, n, rawQuery("", q), allow)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, len(ads))
	for i, a := range ads {
		list[i] = map[string]any{"ad_id": a.AdID, "clicks": a.Clicks, "billable": a.Billable}
	}
	return list, nil
}

// billable is series less what fraud rules subtracted: per minute from the raw
// store's reconciliation log within the hot window, per ad from the store before.
func (s *Server) billable(ad string, q query, hotStart int64, series []window.MinuteCount) ([]window.MinuteCount, error) {
	out := make([]window.MinuteCount, len(series))
	copy(out, series)
	if s.o.Raw == nil {
		return out, nil
	}
	sub := map[int64]uint64{}
	if q.from < hotStart {
		pts, err := s.o.Store.Series("fraud", ad, q.from, min(q.to, hotStart))
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			sub[p.Minute] = p.Value
		}
	}
	if q.to > hotStart {
		for _, m := range s.o.Raw.SubtractedSeries(ad, max(q.from, hotStart), q.to, q.filter()) {
			sub[m.Minute] = m.Clicks
		}
	}
	for i := range out {
		out[i].Clicks -= min(out[i].Clicks, sub[out[i].Minute])
	}
	return out, nil
}

// subtracted is what fraud rules took from ad over a hot-window query.
func (s *Server) subtracted(ad string, q query) uint64 {
	if s.o.Raw == nil {
		return 0
	}
	return s.o.Raw.Subtracted(ad, q.from, q.to, q.filter())
}

type adjustmentJSON struct {
	Minute string `json:"minute"`
	raw.Adjustment
}

type subtractionJSON struct {
	Minute string `json:"minute"`
	raw.Subtraction
}

// reconciliation is GET /v1/reconciliation: what the continuous reconciliation
// checked, found and changed over a window, and what fraud rules subtracted.
func (s *Server) reconciliation(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	if s.o.Raw == nil {
		writeError(w, http.StatusNotImplemented, "reconciliation needs the raw click store, which this core does not run")
		return
	}
	q, err := parseQuery(r.URL.Query(), s.o.Now(), int64(s.o.RawRetention/time.Minute))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if q.country != (window.Country{}) || q.label != "" || q.filtered() {
		writeError(w, http.StatusBadRequest, "the reconciliation report takes a window only (last, or from and to)")
		return
	}
	rep := s.o.Raw.Reconciliation(q.from, q.to)
	adj := make([]adjustmentJSON, len(rep.Adjustments))
	for i, a := range rep.Adjustments {
		adj[i] = adjustmentJSON{minuteTime(a.Minute), a.Adjustment}
	}
	subs := make([]subtractionJSON, len(rep.Subtractions))
	for i, sub := range rep.Subtractions {
		subs[i] = subtractionJSON{minuteTime(sub.Minute), sub.Subtraction}
	}
	unchecked := make([]map[string]string, len(rep.Unchecked))
	for i, u := range rep.Unchecked {
		unchecked[i] = map[string]string{"minute": minuteTime(u.Minute), "reason": u.Note}
	}
	out := map[string]any{"from": minuteTime(q.from), "to": minuteTime(q.to), "unchecked": unchecked,
		"minutes_sealed": rep.MinutesSealed, "minutes_checked": rep.MinutesChecked, "mismatches": rep.Mismatches,
		"records": rep.Records, "counted": rep.Counted, "subtracted": rep.Subtracted,
		"adjustments": adj, "subtractions": subs, "complete_through": s.completeThrough(r.Context())}
	if rep.Sealed >= 0 {
		out["reconciled_through"] = minuteTime(rep.Sealed + 1)
	}
	writeJSON(w, http.StatusOK, out)
}
