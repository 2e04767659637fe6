package window

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/clickagg/clickagg/pkg/wire"
)

var us, de = Country{'U', 'S'}, Country{'D', 'E'}

func TestCountsAndTop(t *testing.T) {
	w := New()
	w.Add(10, "a", us, 3)
	w.Add(10, "a", de, 1)
	w.Add(11, "b", us, 4)
	w.Add(12, "c", de, 4)
	w.AddCells([]wire.Cell{{Minute: 11, AdID: "a", Country: [2]byte(us), Clicks: 2}})

	s, sum := w.Series("a", 10, 13, Filter{})
	if sum != 6 || !reflect.DeepEqual(s, []MinuteCount{{10, 4}, {11, 2}, {12, 0}}) {
		t.Fatalf("series %v sum %d", s, sum)
	}
	if _, sum := w.Series("a", 10, 13, Filter{Country: us}); sum != 5 {
		t.Fatalf("US sum %d", sum)
	}
	f := func(from, to int64, c Country, allow func(string) bool, want ...AdCount) {
		t.Helper()
		got := w.Top(10, from, to, Filter{Country: c}, allow)
		if len(want) == 0 {
			want = []AdCount{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Top(%d,%d,%v) = %v, want %v", from, to, c, got, want)
		}
	}
	f(10, 13, Country{}, nil, AdCount{"a", 6}, AdCount{"b", 4}, AdCount{"c", 4}) // tie by id
	f(10, 13, de, nil, AdCount{"c", 4}, AdCount{"a", 1})
	f(11, 12, Country{}, nil, AdCount{"b", 4}, AdCount{"a", 2})
	f(10, 13, Country{}, func(ad string) bool { return ad != "a" }, AdCount{"b", 4}, AdCount{"c", 4})
	f(20, 30, Country{}, nil)
	if got := w.Top(1, 10, 13, Filter{}, nil); len(got) != 1 || got[0].AdID != "a" {
		t.Fatalf("Top(1) = %v", got)
	}

	cells := w.MinuteCells(10)
	w.ReplaceMinute(10, nil)
	if w.AdTotal(10, "a") != 0 {
		t.Fatal("ReplaceMinute did not clear")
	}
	w.ReplaceMinute(10, cells)
	if w.AdTotal(10, "a") != 4 {
		t.Fatal("ReplaceMinute did not restore")
	}
	w.Evict(11)
	if !reflect.DeepEqual(w.Minutes(), []int64{11, 12}) {
		t.Fatalf("minutes after evict %v", w.Minutes())
	}
}

// Filter labels are dimensions: counts and top-N by one label, alone or with a
// country; a minute restored from its cells keeps them.
func TestLabels(t *testing.T) {
	w := New()
	w.AddCells([]wire.Cell{
		{Minute: 5, AdID: "a", Country: [2]byte(us), Dims: "device=mobile&src=x", Clicks: 3},
		{Minute: 5, AdID: "a", Country: [2]byte(de), Dims: "device=desktop", Clicks: 2},
		{Minute: 5, AdID: "a", Country: [2]byte(us), Clicks: 1},
		{Minute: 6, AdID: "b", Country: [2]byte(de), Dims: "device=mobile", Clicks: 4},
	})
	f := func(ad string, flt Filter, want uint64) {
		t.Helper()
		if _, got := w.Series(ad, 5, 7, flt); got != want {
			t.Fatalf("%s %+v: %d, want %d", ad, flt, got, want)
		}
	}
	f("a", Filter{}, 6)
	f("a", Filter{Label: "device=mobile"}, 3)
	f("a", Filter{Label: "src=x"}, 3)
	f("a", Filter{Country: us}, 4)
	f("a", Filter{Country: de, Label: "device=mobile"}, 0)
	f("a", Filter{Label: "device=tablet"}, 0)
	if got := fmt.Sprint(w.Top(10, 5, 7, Filter{Label: "device=mobile"}, nil)); got != "[{b 4} {a 3}]" {
		t.Fatalf("top by label: %s", got)
	}
	cells := w.MinuteCells(5)
	w.ReplaceMinute(5, nil)
	w.ReplaceMinute(5, cells)
	f("a", Filter{Label: "device=desktop"}, 2)
	w.Sub(5, "a", us, "device=mobile&src=x", 1)
	f("a", Filter{Label: "device=mobile"}, 2)
	f("a", Filter{}, 5)
}

// A minute's version changes with every change, is 0 once the minute is gone,
// and never repeats when the minute comes back (a late partial after eviction).
func TestMinuteVersion(t *testing.T) {
	w := New()
	if v := w.MinuteVersion(5); v != 0 {
		t.Fatalf("empty minute version %d", v)
	}
	seen := map[uint64]bool{0: true}
	step := func(what string, change func()) {
		t.Helper()
		change()
		v := w.MinuteVersion(5)
		if seen[v] {
			t.Fatalf("%s: version %d seen before", what, v)
		}
		seen[v] = true
	}
	step("add", func() { w.Add(5, "a", us, 2) })
	step("other ad", func() { w.AddCells([]wire.Cell{{Minute: 5, AdID: "b", Country: [2]byte(de), Clicks: 3}}) })
	step("sub", func() { w.Sub(5, "a", us, "", 1) })
	v := w.MinuteVersion(5)
	w.Add(6, "a", us, 1)
	if w.MinuteVersion(5) != v {
		t.Fatal("another minute's change moved this one's version")
	}
	sums := map[string]uint64{"a": 10}
	if got := w.AddMinuteTotals(5, sums); got != v || sums["a"] != 11 || sums["b"] != 3 || len(sums) != 2 {
		t.Fatalf("AddMinuteTotals = %d, %v", got, sums)
	}
	if got := w.Sum("a", 0, 10, Filter{}); got != 2 {
		t.Fatalf("Sum a = %d", got)
	}
	if got := w.Sum("a", 0, 10, Filter{Country: de}); got != 0 {
		t.Fatalf("Sum a DE = %d", got)
	}
	w.Evict(6)
	if w.MinuteVersion(5) != 0 || w.AddMinuteTotals(5, sums) != 0 {
		t.Fatal("evicted minute still has a version")
	}
	step("back after eviction", func() { w.Add(5, "a", Country{'Z', 'Z'}, 1) })
	step("replaced", func() { w.ReplaceMinute(5, []wire.Cell{{Minute: 5, AdID: "c", Clicks: 1}}) })
}
