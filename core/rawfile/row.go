package rawfile

import (
	"cmp"
	"slices"
)

// Row is one raw click record, accepted or rejected, as stored in a file: one
// Parquet row. The parquet tags fix the column names, types and encodings that
// FORMAT.md documents; renaming a tag changes the file format.
type Row struct {
	// TimeMs is the edge's receive time, unix milliseconds (column type
	// TIMESTAMP(MILLIS, UTC)).
	TimeMs int64 `parquet:"time_ms,timestamp(millisecond:utc),delta"`
	// Edge is the edge id.
	Edge string `parquet:"edge,dict"`
	// Seq is the hub stream sequence of the batch the click came in (for audit).
	Seq uint64 `parquet:"seq"`
	// Outcome is the edge's verdict: "counted", "expired", "duplicate",
	// "filtered" or "unknown_ad".
	Outcome string `parquet:"outcome,dict"`
	// Reason is the filter reason code when Outcome is "filtered", else 0.
	Reason uint32 `parquet:"reason,dict"`
	// Score is the fraud score 0..1000 set by filters that flag, else 0.
	Score uint32 `parquet:"score,dict"`
	// ImpressionID is the impression the click's token was issued for.
	ImpressionID [16]byte `parquet:"impression_id"`
	// ExpiresAt is the impression's expiry, unix seconds.
	ExpiresAt int64 `parquet:"expires_at,delta"`
	// AdID is the clicked ad.
	AdID string `parquet:"ad_id,dict"`
	// UserID is the user the impression was issued for; may be empty.
	UserID string `parquet:"user_id"`
	// Country is the two-letter country code ("ZZ" when unknown).
	Country string `parquet:"country,dict"`
	// IP is the client address in text form: IPv4 as a.b.c.d, IPv6 as
	// netip.Addr.String() gives it.
	IP string `parquet:"ip"`
	// Labels are the click's labels in canonical "k=v&k2=v2" form, or "".
	Labels string `parquet:"labels,dict"`
	// Counted tells whether the core finally counted the click (once across
	// edges).
	Counted bool `parquet:"counted"`
	// Fraud is the name of the fraud rule that subtracted the click, "" if none.
	Fraud string `parquet:"fraud,dict"`
}

// Pred selects rows by exact match of string columns. An empty field matches any
// value; all set fields must match. AdID, UserID and IP are served by bloom
// filters and, for AdID, by the files' sort order; Country by statistics only.
type Pred struct {
	AdID, UserID, IP, Country string
}

// match reports whether r satisfies p.
func (p *Pred) match(r *Row) bool {
	return (p.AdID == "" || r.AdID == p.AdID) &&
		(p.UserID == "" || r.UserID == p.UserID) &&
		(p.IP == "" || r.IP == p.IP) &&
		(p.Country == "" || r.Country == p.Country)
}

// compareRows is the files' sort order: AdID, then TimeMs.
func compareRows(a, b *Row) int {
	if c := cmp.Compare(a.AdID, b.AdID); c != 0 {
		return c
	}
	return cmp.Compare(a.TimeMs, b.TimeMs)
}

// sortKey is what sortedOrder sorts: 32 bytes per row instead of the Row's ~190,
// so swaps are cheap; the ad id's bytes are still reached through the string.
type sortKey struct {
	ad   string
	time int64
	i    int
}

// sortedOrder returns the indexes sel of rows (all of them when sel is nil) in the
// files' sort order, stable, without touching rows. Cost: 40 bytes per row and, at
// 600k rows of Zipf-distributed ads, ~0.3 s of CPU (2-core VM).
func sortedOrder(rows []Row, sel []int) []int {
	var keys []sortKey
	if sel == nil {
		keys = make([]sortKey, len(rows))
		for i := range rows {
			keys[i] = sortKey{rows[i].AdID, rows[i].TimeMs, i}
		}
	} else {
		keys = make([]sortKey, len(sel))
		for j, i := range sel {
			keys[j] = sortKey{rows[i].AdID, rows[i].TimeMs, i}
		}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(a.ad, b.ad); c != 0 {
			return c
		}
		if c := cmp.Compare(a.time, b.time); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	idx := make([]int, len(keys))
	for i := range keys {
		idx[i] = keys[i].i
	}
	return idx
}
