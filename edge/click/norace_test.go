//go:build !race

package click

const raceEnabled = false
