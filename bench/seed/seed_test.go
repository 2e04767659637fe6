package seed

import (
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
)

// A small run: everything published is merged, the queries answer, the report renders.
func TestSmallRun(t *testing.T) {
	o := Options{Dir: t.TempDir(), Ads: 10_000, Rate: 200, Minutes: 3, Edges: 2, ZipfS: 1.1, Queries: 20}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clicks != 200*180 || r.Partials != 2*180 {
		t.Fatalf("clicks %d partials %d", r.Clicks, r.Partials)
	}
	if r.Top.P99 <= 0 || r.RSSBytes == 0 {
		t.Fatalf("nothing measured: %+v", r)
	}
	t.Log("\n" + r.Markdown(o))
}

// TestSeedScale is the seed's scale: CLICKAGG_SEED_MINUTES=60 runs the full hour
// (36M clicks; ~10 minutes and ~4 GB here). Skipped unless set.
func TestSeedScale(t *testing.T) {
	mins, _ := strconv.Atoi(os.Getenv("CLICKAGG_SEED_MINUTES"))
	if mins == 0 {
		t.Skip("set CLICKAGG_SEED_MINUTES (60 for the seed's hour) to run")
	}
	o := Options{Dir: t.TempDir(), Ads: 10_000_000, Rate: 10_000, Minutes: mins, Edges: 2, ZipfS: 1.1, Queries: 200}
	debug.SetMemoryLimit(3 << 30) // as clickcore's default --memory-limit
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	md := r.Markdown(o)
	t.Log("\n" + md)
	if out := os.Getenv("CLICKAGG_SEED_REPORT"); out != "" {
		os.WriteFile(out, []byte(md), 0o644)
	}
}
