package rawfile

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/clickagg/clickagg/core/internal/durable"
)

// Names of things in Dir; FORMAT.md draws the layout.
const (
	hourLayout  = "2006-01-02T15" // hour directory name, UTC
	ext         = ".parquet"
	minutePfx   = "m-"    // m-<unix minute>.parquet
	latePfx     = "late-" // late-<id>.parquet
	compactPfx  = "h-"    // h-<generation>.parquet
	tmpPfx      = ".tmp-" // .tmp-<final name>-<random>: a write in flight
	deletingPfx = ".del-" // .del-<hour>: an hour directory being expired
	lockName    = "LOCK"
)

// kind is what a file holds.
type kind uint8

const (
	kindMinute    kind = iota + 1 // all rows of one sealed minute
	kindLate                      // rows that arrived after their minute was sealed
	kindCompacted                 // the merge of an hour's other files
)

func (k kind) String() string {
	switch k {
	case kindMinute:
		return "minute"
	case kindLate:
		return "late"
	case kindCompacted:
		return "compacted"
	}
	return "unknown"
}

var lateIDRe = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// hourOf returns the unix hour of a unix minute, rounding down.
func hourOf(minute int64) int64 { return floorDiv(minute, 60) }

// minuteOf returns the unix minute of a unix millisecond time, rounding down.
func minuteOf(ms int64) int64 { return floorDiv(ms, 60_000) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// hourName is the directory name of a unix hour.
func hourName(hour int64) string {
	return time.Unix(hour*3600, 0).UTC().Format(hourLayout)
}

// parseHourName inverts hourName.
func parseHourName(name string) (int64, bool) {
	t, err := time.Parse(hourLayout, name)
	if err != nil || t.Format(hourLayout) != name {
		return 0, false
	}
	return t.Unix() / 3600, true
}

func minuteName(minute int64) string { return minutePfx + strconv.FormatInt(minute, 10) + ext }
func lateName(id string) string      { return latePfx + id + ext }
func compactName(gen int64) string   { return compactPfx + strconv.FormatInt(gen, 10) + ext }

// parsedName is what a file name inside an hour directory says about the file.
type parsedName struct {
	kind   kind
	minute int64 // kindMinute
	gen    int64 // kindCompacted
}

// parseName recognises the names minuteName, lateName and compactName produce.
func parseName(name string) (parsedName, bool) {
	base, ok := strings.CutSuffix(name, ext)
	if !ok {
		return parsedName{}, false
	}
	switch {
	case strings.HasPrefix(base, minutePfx):
		m, err := strconv.ParseInt(base[len(minutePfx):], 10, 64)
		if err != nil || minuteName(m) != name {
			return parsedName{}, false
		}
		return parsedName{kind: kindMinute, minute: m}, true
	case strings.HasPrefix(base, latePfx):
		if !lateIDRe.MatchString(base[len(latePfx):]) {
			return parsedName{}, false
		}
		return parsedName{kind: kindLate}, true
	case strings.HasPrefix(base, compactPfx):
		g, err := strconv.ParseInt(base[len(compactPfx):], 10, 64)
		if err != nil || g < 1 || compactName(g) != name {
			return parsedName{}, false
		}
		return parsedName{kind: kindCompacted, gen: g}, true
	}
	return parsedName{}, false
}

// syncDir makes the directory's entries (creations, renames, removals) durable.
var syncDir = durable.SyncDir
