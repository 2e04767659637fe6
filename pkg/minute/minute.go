// Package minute is the one place that turns wall-clock time into the one-minute
// buckets every count in clickagg is kept in. Edge and core must agree on it to the
// millisecond: a click counts in the minute of its edge receive time.
package minute

import "time"

// Minute is a bucket of one minute: the number of whole minutes since the Unix epoch.
// Minute m covers [m*60s, (m+1)*60s) UTC.
type Minute int64

// Of returns the minute t falls in.
func Of(t time.Time) Minute { return OfMillis(t.UnixMilli()) }

// OfMillis returns the minute that unix milliseconds ms fall in (floored, also for
// times before 1970).
func OfMillis(ms int64) Minute {
	if ms < 0 {
		return Minute((ms - 59999) / 60000)
	}
	return Minute(ms / 60000)
}

// OfUnix returns the minute unix seconds s fall in.
func OfUnix(s int64) Minute { return OfMillis(s * 1000) }

// Time returns the start of m.
func (m Minute) Time() time.Time { return time.UnixMilli(m.Millis()).UTC() }

// Millis returns the start of m in unix milliseconds.
func (m Minute) Millis() int64 { return int64(m) * 60000 }

// Unix returns the start of m in unix seconds.
func (m Minute) Unix() int64 { return int64(m) * 60 }

// String formats m as RFC 3339 (UTC).
func (m Minute) String() string { return m.Time().Format(time.RFC3339) }

// Aligned reports whether t is exactly at a minute boundary.
func Aligned(t time.Time) bool {
	return t.UnixMilli()%60000 == 0 && t.Nanosecond()%int(time.Millisecond) == 0
}
