package report

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.md")

func sample() *Report {
	r := &Report{Title: "clickbench", Env: Env{Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8", OS: "linux/amd64",
		CPU: "AMD EPYC", Cores: 2, GOMAXPROCS: 2, Nginx: "nginx/1.22.1"}}
	r.Param("rate", "3000/s")
	r.Param("duration", "60s")
	r.Add(Figure{Name: "edge p99", Value: 1.5, Unit: "ms", Text: "1.50 ms", Goal: "", Status: Info})
	r.Add(Figure{Name: "count query p99", Value: 0.8, Unit: "ms", Text: "0.80 ms", Goal: "< 5 ms", Status: Check(0.8 < 5)})
	r.Add(Figure{Name: "ip|user filter p99", Text: "n/a (501)", Goal: "< 100 ms", Status: NA})
	r.Note("ads registered: %d of %d", 10, 100)
	return r
}

func TestPassedTracksFigures(t *testing.T) {
	r := sample()
	if !r.Passed {
		t.Fatal("no figure failed")
	}
	r.Add(Figure{Name: "lost", Value: 1, Text: "1", Goal: "0", Status: Check(false)})
	if r.Passed {
		t.Fatal("a failed figure must fail the report")
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b strings.Builder
	if err := sample().Markdown(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.md")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("markdown differs from %s (go test -update to accept):\n%s", golden, b.String())
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := sample()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil || !strings.Contains(string(md), "| count query p99 | 0.80 ms | < 5 ms | ✅ pass |") {
		t.Fatalf("latest.md: %v\n%s", err, md)
	}
	if !strings.Contains(string(md), `ip\|user filter`) {
		t.Fatal("a | in a cell must be escaped")
	}
	js, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Env.GoVersion != "go1.26.8" || len(back.Figures) != 3 || back.Figures[2].Status != NA || !back.Passed {
		t.Fatalf("round trip: %+v", back)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}
