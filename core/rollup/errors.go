package rollup

import (
	"errors"
	"fmt"

	"github.com/clickagg/clickagg/pkg/minute"
)

var (
	// ErrCorrupt is returned for an hour file that does not decode or breaks the
	// list's invariants; the query treats the hour as not ranked.
	ErrCorrupt = errors.New("rollup: corrupt hour file")

	// ErrTooFlat is returned by Top when the hourly lists are not deep enough to
	// prove the answer (clicks spread too evenly over more ads than a list holds)
	// and there are too many ads to sum each of them. Nothing wrong is answered.
	ErrTooFlat = errors.New("window too flat to rank exactly")
)

// NoRankingError is returned by Top when an hour of the window before the hot
// window has no usable ranking: it left the hot window before it was ranked
// (before the core ranked hours, or while the core was down longer than the hot
// window) or its file is unreadable.
type NoRankingError struct {
	Hour int64 // unix minute of the hour's start
	// Since is the start of the ranked hours that reach up to the hot window
	// without a gap (0: none): top-N windows starting there or later are answered.
	Since int64
}

func (e *NoRankingError) Error() string {
	s := fmt.Sprintf("no hourly ranking for the hour from %s", minute.Minute(e.Hour))
	if e.Since > 0 {
		s += fmt.Sprintf("; top-N reaches back to %s", minute.Minute(e.Since))
	}
	return s
}
