package raw

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Adjustment is a cell whose merged count the reconciliation changed.
type Adjustment struct {
	AdID      string `json:"ad_id"`
	Country   string `json:"country"`
	Labels    string `json:"labels,omitempty"`
	Merged    uint64 `json:"merged"`    // what the merge had counted
	Recounted uint64 `json:"recounted"` // what the raw clicks say; the merge now holds this
}

// Subtraction is a group of counted clicks a fraud rule took out of billable.
type Subtraction struct {
	Rule    string `json:"rule"`
	AdID    string `json:"ad_id"`
	Country string `json:"country"`
	Labels  string `json:"labels,omitempty"`
	IP      string `json:"ip,omitempty"`
	Clicks  uint64 `json:"clicks"`
}

// minuteEntry is one sealed minute in the reconciliation log (a JSON line).
type minuteEntry struct {
	Minute       int64         `json:"minute"` // unix minutes
	Records      int           `json:"records"`
	Counted      uint64        `json:"counted"`
	Checked      bool          `json:"checked"`             // reconciled with the merge (not when older than the hot window)
	Unchecked    string        `json:"unchecked,omitempty"` // why a minute in the hot window was not
	Adjustments  []Adjustment  `json:"adjustments,omitempty"`
	Subtractions []Subtraction `json:"subtractions,omitempty"`
}

// report is the reconciliation log, in memory and on disk (JSON lines, appended
// and fsynced per sealed minute; a minute sealed again after a crash appears
// twice and the later line wins).
type report struct {
	mu      sync.RWMutex
	f       *os.File
	minutes map[int64]*minuteEntry
}

func openReport(path string, fraud *window.Window) (*report, error) {
	r := &report{minutes: map[int64]*minuteEntry{}}
	if b, err := os.ReadFile(path); err == nil {
		// A torn last line (a crash mid-append) is cut off, so the next append
		// starts a line of its own; that minute is sealed again.
		if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
			b = b[:i+1]
			if err := os.Truncate(path, int64(len(b))); err != nil {
				return nil, err
			}
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<30)
		for sc.Scan() {
			var e minuteEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return nil, fmt.Errorf("reconciliation log %s: %w", path, err)
			}
			r.minutes[e.Minute] = &e
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reconciliation log %s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	for mi, e := range r.minutes {
		fraud.ReplaceMinute(mi, fraudCells(mi, e.Subtractions))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r.f = f
	return r, nil
}

// fraudCells sums subtractions per ad, country and labels.
func fraudCells(mi int64, subs []Subtraction) []wire.Cell {
	var out []wire.Cell
	for _, s := range subs {
		c := wire.Cell{Minute: mi, AdID: s.AdID, Country: country(s.Country), Dims: s.Labels, Clicks: s.Clicks}
		out = append(out, c)
	}
	return out
}

func (r *report) add(e *minuteEntry, fraud *window.Window) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("reconciliation log: %w", err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("reconciliation log: %w", err)
	}
	r.mu.Lock()
	r.minutes[e.Minute] = e
	r.mu.Unlock()
	fraud.ReplaceMinute(e.Minute, fraudCells(e.Minute, e.Subtractions))
	return nil
}

// subtractions returns what a minute's last sealing subtracted.
func (r *report) subtractions(mi int64) []Subtraction {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e := r.minutes[mi]; e != nil {
		return e.Subtractions
	}
	return nil
}

func (r *report) expire(before int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for mi := range r.minutes {
		if mi < before {
			delete(r.minutes, mi)
		}
	}
}

func (r *report) close() error { return r.f.Close() }

// Report is the reconciliation of a range of minutes.
type Report struct {
	From, To       int64 // unix minutes, To exclusive
	Sealed         int64 // the last sealed minute, -1 if none
	MinutesSealed  int   // minutes in range that are sealed
	MinutesChecked int   // of those, reconciled against the merge
	Mismatches     int   // minutes whose merged counts differed
	Records        int
	Counted        uint64
	Subtracted     uint64
	Adjustments    []MinuteAdjustment
	Subtractions   []MinuteSubtraction
	Unchecked      []MinuteNote // sealed minutes in the hot window not reconciled, and why
}

// MinuteNote says something about one minute.
type MinuteNote struct {
	Minute int64
	Note   string
}

// MinuteAdjustment is an Adjustment with its minute.
type MinuteAdjustment struct {
	Minute int64 `json:"-"`
	Adjustment
}

// MinuteSubtraction is a Subtraction with its minute.
type MinuteSubtraction struct {
	Minute int64 `json:"-"`
	Subtraction
}

// Reconciliation reports minutes [from, to).
func (s *Store) Reconciliation(from, to int64) Report {
	rep := Report{From: from, To: to, Sealed: s.Sealed()}
	r := s.rep
	r.mu.RLock()
	defer r.mu.RUnlock()
	var mins []int64
	for mi := range r.minutes {
		if mi >= from && mi < to {
			mins = append(mins, mi)
		}
	}
	slices.Sort(mins)
	for _, mi := range mins {
		e := r.minutes[mi]
		rep.MinutesSealed++
		rep.Records += e.Records
		rep.Counted += e.Counted
		if e.Checked {
			rep.MinutesChecked++
		}
		if e.Unchecked != "" {
			rep.Unchecked = append(rep.Unchecked, MinuteNote{mi, e.Unchecked})
		}
		if len(e.Adjustments) > 0 {
			rep.Mismatches++
		}
		for _, a := range e.Adjustments {
			rep.Adjustments = append(rep.Adjustments, MinuteAdjustment{mi, a})
		}
		for _, sub := range e.Subtractions {
			rep.Subtracted += sub.Clicks
			rep.Subtractions = append(rep.Subtractions, MinuteSubtraction{mi, sub})
		}
	}
	return rep
}
