package raw

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// maxSealGap bounds how many empty minutes one tick walks through (a store that
// was off for days seals what it holds, not every minute in between).
const maxSealGap = 24 * 60

// tick seals every minute that all edges have delivered, writes late records, and
// saves the checkpoint.
func (s *Store) tick(ctx context.Context) error {
	if s.hubSeq < s.replayTo {
		return nil // still replaying what the last run had read
	}
	through, err := s.deliveredThrough(ctx)
	if err != nil {
		return err
	}
	// Minutes that end at or before the delivered watermark are complete. Minutes
	// older than MaxHold are sealed anyway (an edge cut off for hours must not make
	// this store hold hours of traffic in memory); their edges' clicks arrive late.
	last := int64(minute.OfMillis(through)) - 1
	forced := int64(minute.Of(s.o.Now().Add(-s.o.MaxHold))) - 1
	for _, mi := range s.sealable(max(last, forced)) {
		early := ""
		if mi > last {
			early = fmt.Sprintf("sealed after %s before edges %v delivered it; their clicks are stored late", s.o.MaxHold, s.lagging(mi))
		}
		if err := s.seal(ctx, mi, early); err != nil {
			return fmt.Errorf("seal minute %d: %w", mi, err)
		}
	}
	if len(s.late) > 0 {
		// ErrCompacted: a replay after a crash wrote these before, and their hour
		// has been compacted since; they are in the files once.
		if err := s.files.WriteLate(fmt.Sprintf("seq-%d", s.lateSeq), s.late); err != nil && !errors.Is(err, rawfile.ErrCompacted) {
			return fmt.Errorf("write late records: %w", err)
		}
		s.late = s.late[:0]
	}
	return s.saveCheckpoint()
}

// deliveredThrough returns the raw watermark: every click received before it
// (unix ms) at any registered edge is held here. An edge counts as delivered up to
// the merge's watermark for it once this store has read its journal as far as the
// merge has applied it. It also notes the edges that are no longer registered
// (decommissioned) but whose merged clicks this store has not all read: while
// there are any, sealed minutes are not reconciled, since a recount short of their
// clicks would take correct counts away.
func (s *Store) deliveredThrough(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	edges, err := s.o.Edges(ctx)
	if err != nil {
		return 0, err
	}
	prog := s.o.Progress()
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered := func(e string) bool {
		p, seen := prog[e], s.seen[e]
		return seen.epoch > p.Epoch || seen.epoch == p.Epoch && seen.seq >= p.Through
	}
	s.registered = edges
	low := s.o.Now().UnixMilli()
	for _, e := range edges {
		if delivered(e) {
			s.rawWm[e] = max(s.rawWm[e], prog[e].WatermarkMs)
		}
		low = min(low, s.rawWm[e])
	}
	s.behind = s.behind[:0]
	for e := range prog {
		if !slices.Contains(edges, e) && !delivered(e) {
			s.behind = append(s.behind, e)
		}
	}
	return low, nil
}

// lagging lists the registered edges that have not delivered minute mi.
func (s *Store) lagging(mi int64) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, e := range s.registered {
		if s.rawWm[e] < minute.Minute(mi+1).Millis() {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// sealable lists the minutes to seal now, ascending: every buffered minute ≤ last,
// and the empty minutes between the last sealed one and last (an empty raw minute
// must still be reconciled: the merge may hold clicks for it).
func (s *Store) sealable(last int64) []int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := s.sealed + 1
	if s.sealed < 0 { // first run: begin at the oldest record
		if len(s.buf) == 0 {
			return nil
		}
		start = math.MaxInt64
		for mi := range s.buf {
			start = min(start, mi)
		}
	}
	var out []int64
	for mi := range s.buf { // held minutes the gap bound skips over
		if mi < max(start, last-maxSealGap) && mi <= last {
			out = append(out, mi)
		}
	}
	for mi := max(start, last-maxSealGap); mi <= last; mi++ {
		out = append(out, mi)
	}
	slices.Sort(out)
	return out
}

// seal decides which of a minute's clicks count, writes the minute, subtracts
// fraud and reconciles the merge with the recount.
// A minute sealed early (why says why) is stored but not reconciled: the merge may
// hold clicks of it that this store has not read yet.
func (s *Store) seal(ctx context.Context, mi int64, early string) error {
	start := time.Now()
	s.mu.RLock()
	var rows []rawfile.Row
	if p := s.buf[mi]; p != nil {
		rows = slices.Clone(p.rows) // queries keep reading the original meanwhile
	}
	s.mu.RUnlock()
	// The cross-edge rule: the first click of an impression, by receive time then
	// edge id, counts (merge/imps.go decides the same).
	slices.SortStableFunc(rows, func(a, b rawfile.Row) int {
		return cmp.Or(merge.CompareClicks(a.TimeMs, a.Edge, b.TimeMs, b.Edge), cmp.Compare(a.Seq, b.Seq))
	})
	// Decisions are made in a set of their own and join s.imps only when the
	// minute leaves memory for its file (below, under one lock), so that a query
	// meanwhile reads the minute from memory with the impressions of earlier
	// minutes only. Only this goroutine writes s.imps: reading it here needs no lock.
	added := map[[16]byte]uint32{}
	for i := range rows {
		r := &rows[i]
		if r.Outcome != outcomeCounted {
			continue
		}
		if _, dup := s.imps[r.ImpressionID]; dup {
			continue // clicked earlier at another edge
		}
		if _, dup := added[r.ImpressionID]; dup {
			continue
		}
		r.Counted = true
		added[r.ImpressionID] = uint32(r.ExpiresAt)
	}
	subs := s.o.Rules.apply(rows)
	if err := s.files.WriteMinute(mi, rows); err != nil && !errors.Is(err, rawfile.ErrCompacted) {
		return err
	}
	want := recount(mi, rows)
	entry := minuteEntry{Minute: mi, Records: len(rows), Subtractions: subs}
	for _, c := range want {
		entry.Counted += c.Clicks
	}
	hotStart := int64(minute.Of(s.o.Now().Add(-s.o.Hot))) + 1
	s.mu.RLock()
	behind := slices.Clone(s.behind)
	s.mu.RUnlock()
	switch {
	case early != "":
		entry.Unchecked = early
	case len(behind) > 0:
		entry.Unchecked = fmt.Sprintf("raw clicks of decommissioned edges %v are not all here", behind)
	case mi >= hotStart:
		entry.Checked = true
		if s.o.Reconcile != nil {
			adj, err := s.o.Reconcile(ctx, mi, want)
			if err != nil {
				return err
			}
			entry.Adjustments = toAdjustments(adj)
		}
	}
	prev := s.rep.subtractions(mi) // a minute sealed again after a crash
	if err := s.rep.add(&entry, s.fraud); err != nil {
		return err
	}
	s.storeFraud(mi, subs, prev)
	if len(entry.Adjustments) > 0 {
		s.mismatches.Inc()
		s.adjusted.Add(len(entry.Adjustments))
		s.o.Logger.Warn("reconciliation: merged counts differed from the raw recount; adjusted",
			"minute", time.Unix(mi*60, 0).UTC().Format(time.RFC3339), "cells", len(entry.Adjustments),
			"first_ad", entry.Adjustments[0].AdID, "merged", entry.Adjustments[0].Merged, "recounted", entry.Adjustments[0].Recounted)
	}
	for _, sub := range subs {
		s.subtracted.Add(int(sub.Clicks))
	}
	s.mu.Lock()
	for id, exp := range added {
		s.imps[id] = exp
	}
	delete(s.buf, mi)
	s.sealed = max(s.sealed, mi)
	s.mu.Unlock()
	s.sealedMin.Inc()
	s.sealDur.UpdateDuration(start)
	return nil
}

var outcomeCounted = wire.OutcomeCounted.String()

// recount sums a sealed minute's counted clicks per ad, country and labels: the
// cells the merge should hold.
func recount(mi int64, rows []rawfile.Row) []wire.Cell {
	type key struct{ ad, country, dims string }
	c := map[key]uint64{}
	for i := range rows {
		if r := &rows[i]; r.Counted {
			c[key{r.AdID, r.Country, r.Labels}]++
		}
	}
	out := make([]wire.Cell, 0, len(c))
	for k, n := range c {
		out = append(out, wire.Cell{Minute: mi, AdID: k.ad, Country: country(k.country), Dims: k.dims, Clicks: n})
	}
	wire.SortCells(out)
	return out
}

// country is a stored country code as a cell's; anything malformed is "ZZ".
func country(s string) [2]byte {
	if len(s) != 2 {
		return [2]byte{'Z', 'Z'}
	}
	return [2]byte{s[0], s[1]}
}

// storeFraud writes per-ad subtracted totals to the time-series store, for
// billable counts beyond the hot window. A failure is logged: the report log
// still holds them.
func (s *Store) storeFraud(mi int64, subs, prev []Subtraction) {
	if s.o.Store == nil || len(subs)+len(prev) == 0 {
		return
	}
	per := map[string]uint64{}
	for _, sub := range prev {
		per[sub.AdID] = 0 // what an earlier sealing stored, if nothing now
	}
	for _, sub := range subs {
		per[sub.AdID] += sub.Clicks
	}
	pts := make([]store.Point, 0, len(per))
	for ad, n := range per {
		pts = append(pts, store.Point{Metric: "fraud", AdID: ad, Minute: mi, Value: n})
	}
	if err := s.o.Store.Put(pts); err != nil {
		s.o.Logger.Error("store fraud totals", "minute", mi, "err", err)
	}
}

func toAdjustments(adj []merge.Adjustment) []Adjustment {
	out := make([]Adjustment, len(adj))
	for i, a := range adj {
		out[i] = Adjustment{AdID: a.AdID, Country: string(a.Country[:]), Labels: a.Dims, Merged: a.Before, Recounted: a.After}
	}
	return out
}

// apply marks the clicks the fraud rules subtract, in time order (rows are
// sorted), and returns what it subtracted, grouped.
func (r Rules) apply(rows []rawfile.Row) []Subtraction {
	type key struct{ ad, ip string }
	perIP := map[key]int{}
	type group struct{ rule, ad, country, dims, ip string }
	subs := map[group]uint64{}
	for i := range rows {
		row := &rows[i]
		if !row.Counted {
			continue
		}
		switch {
		case r.ScoreAtLeast > 0 && row.Score >= r.ScoreAtLeast:
			row.Fraud = RuleFilterScore
		case r.IPClicksPerMinute > 0 && row.IP != "":
			k := key{row.AdID, row.IP}
			perIP[k]++
			if perIP[k] > r.IPClicksPerMinute {
				row.Fraud = RuleIPBurst
			}
		}
		if row.Fraud != "" {
			subs[group{row.Fraud, row.AdID, row.Country, row.Labels, row.IP}]++
		}
	}
	out := make([]Subtraction, 0, len(subs))
	for g, n := range subs {
		out = append(out, Subtraction{Rule: g.rule, AdID: g.ad, Country: g.country, Labels: g.dims, IP: g.ip, Clicks: n})
	}
	slices.SortFunc(out, func(a, b Subtraction) int {
		return cmp.Or(cmp.Compare(a.AdID, b.AdID), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.IP, b.IP),
			cmp.Compare(a.Country, b.Country), cmp.Compare(a.Labels, b.Labels))
	})
	return out
}

// rebuildImps reloads the impressions counted in the last DedupWindow of sealed
// minutes from the raw files.
func (s *Store) rebuildImps(ctx context.Context) error {
	s.mu.RLock()
	sealed := s.sealed
	s.mu.RUnlock()
	if sealed < 0 {
		return nil
	}
	from := sealed + 1 - int64(s.o.DedupWindow/time.Minute)
	cutoff := uint32(max(0, sealed*60-60)) // as housekeep forgets them
	imps := map[[16]byte]uint32{}
	err := s.files.Scan(ctx, from, sealed+1, rawfile.Pred{}, func(r *rawfile.Row) error {
		if r.Counted && uint32(r.ExpiresAt) >= cutoff {
			imps[r.ImpressionID] = uint32(r.ExpiresAt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.imps = imps
	s.mu.Unlock()
	return nil
}

// housekeep forgets expired impressions, compacts closed hours and drops files
// past retention.
func (s *Store) housekeep() {
	// An impression is forgotten once it expired before the last sealed minute
	// began: a click of it in a later minute is "expired" at its edge. (The wall
	// clock would be wrong: minutes are sealed well after their clicks.)
	s.mu.Lock()
	sealed := s.sealed
	cutoff := uint32(max(0, sealed*60-60))
	for id, exp := range s.imps {
		if exp < cutoff {
			delete(s.imps, id)
		}
	}
	s.mu.Unlock()
	// An hour is compacted once it has been sealed for 10 minutes: late records
	// after that get files of their own, merged by a later compaction.
	if sealed > 10 {
		if err := s.files.Compact(sealed - 10); err != nil {
			s.o.Logger.Error("raw compaction", "err", err)
		}
	}
	if err := s.files.Expire(); err != nil {
		s.o.Logger.Error("raw retention", "err", err)
	}
	oldest := int64(minute.Of(s.o.Now().Add(-s.o.Retention)))
	s.fraud.Evict(oldest)
	s.rep.expire(oldest)
}
