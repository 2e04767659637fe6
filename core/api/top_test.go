package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/rollup"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

// GET /v1/top over a window that starts before the hot window: answered from the
// hourly rankings when the core has them, 400 when it has none or the window
// reaches hours never ranked, 400 with a country filter.
func TestTopBeyondHotWindow(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cur := int64(minute.Of(time.Now()))
	h0 := cur - cur%60 - 4*60
	w := window.New()
	wnow := time.Unix(1e9, 0)
	w.SetClock(func() time.Time { return wnow })
	// Three hours: ad aN gets N clicks a minute, and "late" 500 in one minute of
	// the first hour, which leaves the hot window before the query.
	var pts []store.Point
	for m := h0; m < h0+180; m++ {
		var cells []wire.Cell
		for a := 1; a <= 30; a++ {
			cells = append(cells, wire.Cell{Minute: m, AdID: fmt.Sprint("a", a), Country: [2]byte{'U', 'S'}, Clicks: uint64(a)})
			pts = append(pts, store.Point{Metric: "clicks", AdID: fmt.Sprint("a", a), Minute: m, Value: uint64(a)})
		}
		if m == h0+10 {
			cells = append(cells, wire.Cell{Minute: m, AdID: "late", Country: [2]byte{'U', 'S'}, Clicks: 5000})
			pts = append(pts, store.Point{Metric: "clicks", AdID: "late", Minute: m, Value: 5000})
		}
		w.AddCells(cells)
	}
	wnow = wnow.Add(time.Minute)
	if err := st.Put(pts); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	const hot = 4 * time.Hour
	now := minute.Minute(h0 + 180 + 3).Time()
	clock := func() time.Time { return now }
	ro, err := rollup.Open(rollup.Options{Dir: t.TempDir(), Window: w, Store: st, Hot: hot, Now: clock, Logger: quiet,
		CompleteThrough: func(context.Context) (int64, error) { return now.UnixMilli(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	ro.Tick(context.Background())
	hotStart := h0 + 100 // the first hour and part of the second leave the window
	now = minute.Minute(hotStart - 1).Time().Add(hot)
	w.Evict(hotStart - 1)

	o := Options{Window: w, Store: st, Hot: hot, Retention: 30 * 24 * time.Hour, Now: clock, Logger: quiet,
		Watermarks: func(context.Context) (map[string]int64, error) { return nil, nil }}
	get := func(s *Server, query string) (int, string) {
		rec := httptest.NewRecorder()
		s.top(rec, httptest.NewRequest("GET", "/v1/top?"+query, nil), auth.Principal{Role: auth.RoleAdmin})
		return rec.Code, rec.Body.String()
	}
	from, to := minute.Minute(h0+5).Unix(), minute.Minute(h0+170).Unix()
	window := fmt.Sprintf("from=%d&to=%d", from, to)
	if code, body := get(New(o), "n=3&"+window); code != 400 || !strings.Contains(body, "top-N reaches back") {
		t.Fatalf("without rankings: %d %s", code, body)
	}
	o.Rollup = ro
	s := New(o)
	code, body := get(s, "n=3&"+window)
	var top struct {
		Ads []struct {
			AdID   string `json:"ad_id"`
			Clicks uint64 `json:"clicks"`
		}
	}
	json.Unmarshal([]byte(body), &top)
	if code != 200 || fmt.Sprint(top.Ads) != "[{late 5000} {a30 4950} {a29 4785}]" {
		t.Fatalf("top: %d %s", code, body)
	}
	if code, body := get(s, "n=3&country=US&"+window); code != 400 || !strings.Contains(body, "country and label filters reach back") {
		t.Fatalf("country beyond the hot window: %d %s", code, body)
	}
	early := fmt.Sprintf("from=%d&to=%d", minute.Minute(h0-60).Unix(), minute.Minute(h0+60).Unix())
	if code, body := get(s, "n=3&"+early); code != 400 || !strings.Contains(body, "no hourly ranking") ||
		!strings.Contains(body, minute.Minute(h0).String()) {
		t.Fatalf("before the first ranked hour: %d %s", code, body)
	}
}
