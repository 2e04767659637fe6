package host

import (
	"strings"
	"testing"
)

func TestOutput(t *testing.T) {
	f := func(writes []string, want string) {
		t.Helper()
		var o output
		for _, w := range writes {
			o.Write([]byte(w))
		}
		if got := o.suffix(); got != want {
			t.Errorf("%q: got %s, want %s", writes, got, want)
		}
	}
	q := func(s string) string { return ` (guest output: "` + s + `")` }
	a256, b256 := strings.Repeat("a", 256), strings.Repeat("b", 256)
	f(nil, "")
	f([]string{"panic: x\n"}, q(`panic: x\n`))
	f([]string{a256, "tail"}, q(a256+"tail"))
	f([]string{a256, b256}, q(a256+b256))
	f([]string{a256, b256, "c"}, q(a256+"..."+strings.Repeat("b", 255)+"c"))
	f([]string{a256 + "x" + b256}, q(a256+"..."+b256))
	f([]string{a256, "x", b256}, q(a256+"..."+b256))
	var o output
	o.Write([]byte("x"))
	o.reset()
	if o.suffix() != "" {
		t.Fatal("reset")
	}
}
