package window

import (
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

	s, sum := w.Series("a", 10, 13, Country{})
	if sum != 6 || !reflect.DeepEqual(s, []MinuteCount{{10, 4}, {11, 2}, {12, 0}}) {
		t.Fatalf("series %v sum %d", s, sum)
	}
	if _, sum := w.Series("a", 10, 13, us); sum != 5 {
		t.Fatalf("US sum %d", sum)
	}
	f := func(from, to int64, c Country, allow func(string) bool, want ...AdCount) {
		t.Helper()
		got := w.Top(10, from, to, c, allow)
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
	if got := w.Top(1, 10, 13, Country{}, nil); len(got) != 1 || got[0].AdID != "a" {
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
