package scenario

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestPlanShares(t *testing.T) {
	cfg := Defaults()
	cfg.Rate, cfg.Duration, cfg.CrossEdgeDups = 20000, time.Second, 0.03
	p, err := newPlan(&cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	var n [kinds]int
	for i, c := range p.clicks {
		n[c.kind]++
		imp := &p.imps[c.imp]
		switch c.kind {
		case kindFirst, kindDup:
			if c.edge != imp.edge {
				t.Fatalf("click %d (%s) goes to edge %d, its impression's first click to %d", i, kindNames[c.kind], c.edge, imp.edge)
			}
		case kindCrossDup:
			if c.edge == imp.edge {
				t.Fatalf("cross-edge duplicate %d at the same edge", i)
			}
		}
		if c.kind != kindFirst && int(c.imp) >= len(p.imps) {
			t.Fatalf("click %d refers to impression %d", i, c.imp)
		}
	}
	f := func(k kind, want float64) {
		t.Helper()
		if got := float64(n[k]) / float64(len(p.clicks)); math.Abs(got-want) > 0.01 {
			t.Errorf("%s: share %.3f, want %.3f", kindNames[k], got, want)
		}
	}
	f(kindDup, cfg.DupFraction)
	f(kindCrossDup, cfg.CrossEdgeDups)
	f(kindMalformed, cfg.InvalidFraction/2)
	f(kindTampered, cfg.InvalidFraction/2)
	if len(p.probe) != 2 || len(p.probe[0]) != cfg.probes() || len(p.capacity) < cfg.CapacityTokens {
		t.Fatalf("probes %d, capacity %d", len(p.probe), len(p.capacity))
	}
	for _, a := range p.ads {
		if len(a.id) > 64 || strings.ContainsAny(a.id, " /") || len(a.imps) == 0 {
			t.Fatalf("ad %q with %d impressions", a.id, len(a.imps))
		}
	}
}

func TestTamper(t *testing.T) {
	good := "/c/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"
	bad := tamper(good)
	if bad == good || len(bad) != len(good) || !strings.HasPrefix(bad, "/c/") {
		t.Fatalf("tamper(%q) = %q", good, bad)
	}
	if tamper(bad) != good {
		t.Fatal("tampering twice must restore the token (one bit flipped)")
	}
}

func TestValidate(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.CoreURL = "http://x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--edges") {
		t.Fatalf("core without edges: %v", err)
	}
}
