package tui

import (
	"fmt"
	"testing"
	"time"
)

// Golden screens at fixed sizes, Ascii colour profile (no escape codes). Run
// with -update to rewrite testdata/*.golden after a deliberate change, and read
// the diff.
func TestViewGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		glyphs Glyphs
		setup  func(m *Model, clk *clockAt)
	}{
		{name: "loading", setup: func(m *Model, _ *clockAt) { m.Init() }},
		{name: "top", setup: func(m *Model, _ *clockAt) {}},
		{name: "top_120x40", w: 120, h: 40, setup: func(m *Model, _ *clockAt) { m.Update(key("j")) }},
		{name: "top_ascii", glyphs: ASCIIGlyphs, setup: func(m *Model, _ *clockAt) {}},
		{name: "top_scrolled", setup: func(m *Model, _ *clockAt) {
			m.Update(topMsg{result{key: m.paramKey(kindTop)}, manyAds(50)})
			for range 25 {
				m.Update(key("j"))
			}
		}},
		{name: "top_empty_country", setup: func(m *Model, _ *clockAt) {
			typeKeys(m, "/", "j", "p", "enter", "w")
			m.Update(topMsg{result{key: m.paramKey(kindTop)}, &TopResponse{From: minuteAt(9, 51), To: minuteAt(10, 6), CompleteThrough: minuteAt(10, 4)}})
		}},
		{name: "drill", setup: func(m *Model, _ *clockAt) {
			typeKeys(m, "enter")
			m.Update(drillMsg{result{key: m.paramKey(kindDrill)}, fixClicks("spring-sale-banner", false)})
		}},
		{name: "drill_billable_120x40", w: 120, h: 40, setup: func(m *Model, _ *clockAt) {
			typeKeys(m, "j", "enter", "j")
			m.Update(drillMsg{result{key: m.paramKey(kindDrill)}, fixClicks("demo-01", true)})
		}},
		{name: "drill_60min_ascii", glyphs: ASCIIGlyphs, setup: func(m *Model, _ *clockAt) {
			typeKeys(m, "W", "W")
			m.Update(topMsg{result{key: m.paramKey(kindTop)}, fixTop()})
			typeKeys(m, "enter")
			m.Update(drillMsg{result{key: m.paramKey(kindDrill)}, hourOfClicks("spring-sale-banner")})
		}},
		{name: "drill_none", setup: func(m *Model, _ *clockAt) { typeKeys(m, "2") }},
		{name: "edges", setup: func(m *Model, _ *clockAt) { typeKeys(m, "3") }},
		{name: "edges_cut", setup: func(m *Model, _ *clockAt) {
			m.Update(edgesMsg{result{}, fixEdgesCut()})
			typeKeys(m, "3", "j")
		}},
		{name: "filters_404", setup: func(m *Model, _ *clockAt) { typeKeys(m, "4") }},
		{name: "filters", setup: func(m *Model, _ *clockAt) {
			m.Update(filtersMsg{result{}, fixFilters()})
			typeKeys(m, "4")
		}},
		{name: "filters_no_stats", setup: func(m *Model, _ *clockAt) {
			m.Update(filtersMsg{result{}, fixFiltersToday()})
			typeKeys(m, "4")
		}},
		{name: "filters_empty", setup: func(m *Model, _ *clockAt) {
			m.Update(filtersMsg{result{}, &FiltersResponse{}})
			typeKeys(m, "4")
		}},
		{name: "health", setup: func(m *Model, clk *clockAt) {
			clk.add(time.Second)
			m.Update(statusMsg{result{took: 4 * time.Millisecond}, fixStatus(clk.t)})
			typeKeys(m, "5")
		}},
		{name: "help", setup: func(m *Model, _ *clockAt) { typeKeys(m, "?") }},
		{name: "prompt", setup: func(m *Model, _ *clockAt) { typeKeys(m, "/", "d") }},
		{name: "stale_error", setup: func(m *Model, clk *clockAt) {
			clk.add(12 * time.Second)
			m.Update(tickMsg{at: clk.t})
			m.Update(statusMsg{result{err: fmt.Errorf("GET /v1/status: timed out")}, nil})
			m.Update(edgesMsg{result{err: fmt.Errorf("GET /v1/edges: timed out")}, nil})
			m.Update(topMsg{result{key: m.paramKey(kindTop), err: errDown}, nil})
		}},
		{name: "too_small", w: 40, h: 10, setup: func(m *Model, _ *clockAt) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.glyphs
			if g.Bar == "" {
				g = UnicodeGlyphs
			}
			m, clk := testModel(t, g)
			w, h := tc.w, tc.h
			if w == 0 {
				w, h = 80, 24
			}
			sized(m, w, h)
			if tc.name != "loading" {
				feed(m)
			}
			tc.setup(m, clk)
			golden(t, tc.name, m.View())
		})
	}
}

func typeKeys(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(key(k))
	}
}

func manyAds(n int) *TopResponse {
	r := fixTop()
	r.Ads = nil
	for i := range n {
		r.Ads = append(r.Ads, AdCount{AdID: fmt.Sprintf("demo-%02d", i), Clicks: uint64(1000 / (i + 1))})
	}
	return r
}

func hourOfClicks(ad string) *ClicksResponse {
	r := &ClicksResponse{AdID: ad, From: minuteAt(9, 6), To: minuteAt(10, 6), CompleteThrough: minuteAt(10, 4)}
	for i := range 60 {
		n := uint64((i*37)%100 + 20*(i/10))
		if i >= 20 && i < 24 {
			n = 0 // a gap: an outage upstream of the edges
		}
		r.Series = append(r.Series, MinuteCount{Minute: minuteAt(9, 6).Add(time.Duration(i) * time.Minute), Clicks: n})
		r.Clicks += n
	}
	return r
}
