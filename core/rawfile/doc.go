// Package rawfile is the file layer of the core's raw click store: every raw click
// record, accepted or rejected, kept for Retention in hour-partitioned Parquet
// files that Scan reads back with predicate pushdown.
//
// It exists because the counts the core serves are aggregates, and an aggregate
// cannot answer an audit ("show me every click of ad X from IP Y last Tuesday"),
// be recomputed after a fraud rule changes, or be checked against the fast path.
// Parquet makes those files compressed (~45 bytes per click with random IPs and
// impression ids), columnar (a scan for one IP reads one column of the few row
// groups its bloom filter admits) and readable without this code by DuckDB,
// Spark, pandas/pyarrow or hyparquet; the tests check the files with hyparquet,
// an independent implementation.
//
// core/raw decides which clicks count and when a minute is sealed; this package
// only writes, scans, compacts and expires files:
//
//   - WriteMinute persists a sealed minute as one file (m-<minute>.parquet),
//     replacing it when the minute is sealed again after a crash.
//   - WriteLate persists records that arrived after their minute was sealed
//     (late-<id>.parquet per hour).
//   - Compact merges an hour's files into one (h-<gen>.parquet); Expire drops hours
//     past Retention.
//   - Scan yields the rows of a minute range that match a Pred, skipping hours,
//     files and row groups by name, footer statistics and bloom filters.
//
// Every write is atomic (temporary file, fsync, rename, directory fsync) and a
// crash at any point leaves every row visible exactly once after Open. FORMAT.md
// draws the directory layout, the Parquet schema and the crash rules; RATIONALE.md
// gives the choices and the rejected alternatives. Only this package imports
// github.com/parquet-go/parquet-go.
package rawfile
