package raw

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/clickagg/clickagg/core/internal/durable"
)

// checkpoint is where a restart resumes, written after every tick (temp file,
// fsync, rename). Everything before it is in the raw files:
//   - Consumed: RAW sequences ≤ it are fully handled: sealed, written late, or
//     (minutes not sealed yet) re-read on restart from Consumed+1;
//   - LateThrough: a record of a sealed minute with a sequence ≤ it is in the
//     files already (sealed with its minute, or written late); a re-read one with
//     a higher sequence is late and written again (idempotent by file name);
//   - ReadThrough: the last RAW sequence read when it was saved. Seen and RawWm
//     are as of that sequence, so after a restart nothing is sealed until the
//     replay has read that far again (else a minute would be sealed with only the
//     records replayed so far);
//   - Sealed: the last sealed minute; Seen and RawWm the per-edge positions.
type checkpoint struct {
	Consumed    uint64               `json:"consumed"`
	LateThrough uint64               `json:"late_through"`
	ReadThrough uint64               `json:"read_through"`
	Sealed      int64                `json:"sealed"`
	Seen        map[string][2]uint64 `json:"seen"` // edge → [epoch, journal sequence]
	RawWm       map[string]int64     `json:"raw_wm"`
	path        string
}

func readCheckpoint(path string) (checkpoint, error) {
	cp := checkpoint{Sealed: -1, path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	cp.path = path
	return cp, nil
}

// saveCheckpoint records the current positions durably.
func (s *Store) saveCheckpoint() error {
	s.mu.RLock()
	cp := checkpoint{Consumed: s.hubSeq, LateThrough: max(s.cp.LateThrough, s.hubSeq), ReadThrough: s.hubSeq,
		Sealed: s.sealed, Seen: map[string][2]uint64{},
		RawWm: map[string]int64{}, path: s.cp.path}
	first := uint64(math.MaxUint64)
	for _, p := range s.buf {
		first = min(first, p.minSeq)
	}
	if first != math.MaxUint64 {
		cp.Consumed = min(cp.Consumed, first-1)
	}
	for e, p := range s.seen {
		cp.Seen[e] = [2]uint64{p.epoch, p.seq}
	}
	for e, wm := range s.rawWm {
		cp.RawWm[e] = wm
	}
	s.mu.RUnlock()
	if cp.Consumed == s.cp.Consumed && cp.LateThrough == s.cp.LateThrough && cp.ReadThrough == s.cp.ReadThrough && cp.Sealed == s.cp.Sealed {
		return nil
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(cp.path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	s.cp = cp
	return nil
}
