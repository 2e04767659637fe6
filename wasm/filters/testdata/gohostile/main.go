//go:build wasip1

// Command gohostile is a Go guest that misbehaves on demand, for tests of the Go
// SDK and of Go-specific failures. The user agent picks the behaviour:
//
//	panic   panics (the host sees a trap with the panic message)
//	oom     allocates until the memory limit (Go's runtime dies: a trap)
//	badlbl  adds an invalid label (a violation) and returns Accept
//	label   adds two labels, logs, and flags with score 250
//	other   Accept
package main

import (
	"fmt"

	"github.com/clickagg/clickagg/wasm/guest"
)

func init() { guest.Handle(filter) }

var hoard [][]byte

func filter(c *guest.Click) guest.Verdict {
	switch string(c.UserAgent) {
	case "panic":
		panic(fmt.Sprintf("boom at %d", c.TimeMs))
	case "oom":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case "badlbl":
		if guest.AddLabel("Bad Key", "x") == nil {
			guest.Log(guest.LevelError, "host accepted an invalid label")
		}
		return guest.Accept()
	case "label":
		if guest.AddLabel("lang", "go") != nil || guest.AddLabel("country", string(c.Country[:])) != nil {
			panic("labels refused")
		}
		guest.Log(guest.LevelInfo, "labelled "+string(c.Country[:]))
		return guest.Flag(guest.FirstPartnerCode, 250)
	}
	return guest.Accept()
}

func main() {}
