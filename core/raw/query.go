package raw

import (
	"cmp"
	"context"
	"slices"

	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Query selects clicks that count: a window of minutes and any of the filters
// (empty: any).
type Query struct {
	From, To int64 // unix minutes, To exclusive
	AdID     string
	IP       string // textual, as netip.Addr.String() writes it
	UserID   string
	Country  string // "US"
	Label    string // "key=value", a filter's label
}

// MinuteCount is one minute of a Series.
type MinuteCount struct {
	Minute           int64
	Clicks, Billable uint64
}

// AdCount is one ad of a Top.
type AdCount struct {
	AdID             string
	Clicks, Billable uint64
}

// Series returns q.AdID's clicks per minute over the window (every minute, zeros
// included) from the raw clicks. Sealed minutes come from the files (final
// counts); unsealed ones from memory, where a cross-edge duplicate may still
// count provisionally and only filter scores are subtracted yet, as the contract
// allows before complete_through. Cost: one file per sealed minute or hour;
// files and row groups without the IP, user or ad are skipped by their bloom
// filters and statistics.
func (s *Store) Series(ctx context.Context, q Query) ([]MinuteCount, error) {
	out := make([]MinuteCount, q.To-q.From)
	for i := range out {
		out[i].Minute = q.From + int64(i)
	}
	err := s.scan(ctx, q, func(r *rawfile.Row, billable bool) {
		c := &out[int64(minute.OfMillis(r.TimeMs))-q.From]
		c.Clicks++
		if billable {
			c.Billable++
		}
	})
	return out, err
}

// Top returns the n ads with the most clicks matching q (q.AdID is ignored),
// ties by ad id; allow, when not nil, limits the ads considered.
func (s *Store) Top(ctx context.Context, n int, q Query, allow func(ad string) bool) ([]AdCount, error) {
	q.AdID = ""
	per := map[string]*AdCount{}
	err := s.scan(ctx, q, func(r *rawfile.Row, billable bool) {
		if allow != nil && !allow(r.AdID) {
			return
		}
		a := per[r.AdID]
		if a == nil {
			a = &AdCount{AdID: r.AdID}
			per[r.AdID] = a
		}
		a.Clicks++
		if billable {
			a.Billable++
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]AdCount, 0, len(per))
	for _, a := range per {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b AdCount) int { return cmp.Or(cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.AdID, b.AdID)) })
	return out[:min(n, len(out))], nil
}

// scan calls fn for every counted click matching q, with whether it is billable.
func (s *Store) scan(ctx context.Context, q Query, fn func(r *rawfile.Row, billable bool)) error {
	match := func(r *rawfile.Row) bool {
		mi := int64(minute.OfMillis(r.TimeMs))
		return mi >= q.From && mi < q.To &&
			(q.AdID == "" || r.AdID == q.AdID) && (q.IP == "" || r.IP == q.IP) &&
			(q.UserID == "" || r.UserID == q.UserID) && (q.Country == "" || r.Country == q.Country) &&
			(q.Label == "" || wire.HasDim(r.Labels, q.Label))
	}
	sealed := s.scanUnsealed(q, match, fn)
	if q.From > sealed {
		return nil
	}
	return s.files.Scan(ctx, q.From, min(q.To, sealed+1), rawfile.Pred{AdID: q.AdID, UserID: q.UserID, IP: q.IP, Country: q.Country},
		func(r *rawfile.Row) error {
			if r.Counted && match(r) {
				fn(r, r.Fraud == "")
			}
			return nil
		})
}

// scanUnsealed visits the matching clicks of unsealed minutes and returns the
// last sealed minute it saw, all under one read lock so that a minute is read
// either from memory or from its file, never both.
func (s *Store) scanUnsealed(q Query, match func(*rawfile.Row) bool, fn func(*rawfile.Row, bool)) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var mins []int64
	for mi := range s.buf {
		if mi >= q.From && mi < q.To {
			mins = append(mins, mi)
		}
	}
	slices.Sort(mins)
	// Only the matching rows are copied and put in time order (a filtered query
	// matches few of a minute's ~600k at the seed's rate).
	var hits []*rawfile.Row
	for _, mi := range mins {
		rows := s.buf[mi].rows
		for i := range rows {
			if r := &rows[i]; r.Outcome == outcomeCounted && match(r) {
				hits = append(hits, r)
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b *rawfile.Row) int {
		return merge.CompareClicks(a.TimeMs, a.Edge, b.TimeMs, b.Edge)
	})
	first := map[[16]byte]struct{}{}
	for _, r := range hits {
		if _, dup := s.imps[r.ImpressionID]; dup {
			continue
		}
		if _, dup := first[r.ImpressionID]; dup {
			continue
		}
		first[r.ImpressionID] = struct{}{}
		fn(r, s.o.Rules.ScoreAtLeast == 0 || r.Score < s.o.Rules.ScoreAtLeast)
	}
	return s.sealed
}

// Subtracted returns the clicks fraud rules took from ad over [from, to) that
// the reconciliation log still holds (the raw retention), by country and label.
func (s *Store) Subtracted(ad string, from, to int64, f window.Filter) uint64 {
	_, n := s.fraud.Series(ad, from, to, f)
	return n
}

// SubtractedSeries is Subtracted per minute.
func (s *Store) SubtractedSeries(ad string, from, to int64, f window.Filter) []window.MinuteCount {
	series, _ := s.fraud.Series(ad, from, to, f)
	return series
}
