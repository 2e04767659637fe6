// Package store keeps the clickagg core's durable click history: one cumulative
// value per (metric, ad, minute), e.g. clicks and fraud counts, read back as
// per-minute series, sums and hourly or daily rollups.
//
// It exists to be the only package that imports VictoriaMetrics' lib/* (pinned in
// go.mod at v1.130.0), whose storage engine gives compressed, merged, retention-
// managed time series on local disk. VictoriaMetrics is written for its own binaries
// and carries process-global state; this package hides all of it:
//
//   - Flags. VM registers ~21 flags on flag.CommandLine at init (they show up in the
//     -help of a host that uses flag.CommandLine; a host flag of the same name panics
//     at init). VM panics unless flag.CommandLine was parsed, so the first Open
//     parses it with no arguments if the host has not, and forces -loggerFormat=default
//     and -loggerDisableTimestamps.
//   - Logging. VM writes to stderr; its output is redirected once into slog: INFO as
//     Debug, WARN and ERROR as such, on Options.Logger of the most recently opened
//     store that is still open (VM has a single output), else slog.Default().
//   - Panics. VM panics on I/O errors and corruption. Open, Put, Flush, Series, Sum,
//     Rollup, Stats and Close recover such panics raised in the calling goroutine and
//     return ErrBackend (Flush and Stats log it). What still crashes the process: a
//     panic in VM's background goroutines (flushing to disk, merging parts, retention
//     watcher; e.g. disk full or EIO during a merge) and VM's logger.Fatalf, which calls
//     os.Exit. After an ErrBackend the store should be closed and the process
//     restarted. A failed Open may leak a goroutine and an open file.
//   - Silent drops. VM drops rows outside [now-retention, now+2 days] with only a log
//     line; Put rejects them with ErrTooOld or ErrTooFarFuture instead.
//   - Goroutines. An open store runs ~43 VM goroutines (flushers, mergers, watchers);
//     Close stops them all. Merely linking this package starts ~11 process-global VM
//     goroutines at init (clock tickers, block and LRU cache cleaners, log throttlers)
//     that never stop; nothing here can prevent that.
//   - Init output. Without cgroup v2 PSI files (/sys/fs/cgroup/cpu.pressure), VM's
//     metrics package prints one "INFO: metrics: disable exposing PSI metrics" line
//     through the standard log package during package init, before any code here runs.
//
// Several stores may be open at once in different directories (each has its own
// caches sized from the same process-wide memory budget, 60% of RAM by default). One
// directory is open at most once: a second Open fails with ErrDirInUse.
//
// # Data model
//
// A Point (metric, ad, minute, value) becomes one VM sample of series
// {__name__="<metric>", ad="<ad>"} at timestamp minute*60000 ms, value as float64
// (up to MaxValue = 2^26-1) with the write's version in the bits above it, stored
// losslessly (precision bits 64). VM never sums or deduplicates: every Put of a
// minute is kept. Reads take, per minute, the largest sample, which is the latest
// write: Puts are idempotent and the latest cumulative value wins, also when it is
// lower than an earlier one.
// Merges do not shrink repeated samples; writers should Put a minute again only when
// its value changed.
//
// On disk the directory is VM's layout (data/ partitions per month, indexdb/, cache/,
// metadata/, flock.lock); see RATIONALE.md for the choices made here.
package store
