//go:build race

package click

// raceEnabled: sync.Pool drops items at random under the race detector, so
// allocation guards do not hold there.
const raceEnabled = true
