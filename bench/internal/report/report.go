// Package report is clickbench's result: every figure with its goal and verdict,
// the machine it ran on and the scenario, written as Markdown for people (and the
// README) and as JSON for programs and comparisons between runs. Both are small
// enough to commit.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Verdicts of a figure against its goal.
const (
	Pass = "pass"
	Fail = "fail"
	Info = "info" // no goal: context for the other figures
	NA   = "n/a"  // the goal cannot be measured here (the reason is in Value)
)

// Figure is one measured number.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"` // in Unit; 0 when Text says why there is none
	Unit  string  `json:"unit,omitempty"`
	// Text is how Value reads in the table ("1.23 ms", "n/a (501)").
	Text   string `json:"text"`
	Goal   string `json:"goal,omitempty"`
	Status string `json:"status"` // Pass, Fail, Info or NA
	// Correctness marks a figure about what was counted, not how fast: its failure
	// is a bug, not a slow machine.
	Correctness bool `json:"correctness,omitempty"`
}

// Env is the machine and toolchain.
type Env struct {
	Date       string `json:"date"` // RFC 3339, UTC
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Nginx      string `json:"nginx,omitempty"` // version used for the baseline, "" if none
	// LoadAvg is /proc/loadavg's 1-minute figure when the run began: how much else
	// the machine was doing.
	LoadAvg string `json:"load_avg,omitempty"`
}

// Param is one scenario setting, kept in order.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Report is a whole run.
type Report struct {
	Title    string   `json:"title"`
	Env      Env      `json:"env"`
	Scenario []Param  `json:"scenario"`
	Figures  []Figure `json:"figures"`
	Notes    []string `json:"notes,omitempty"`
	// Passed is true when no figure failed.
	Passed bool `json:"passed"`
}

// Add appends a figure and keeps Passed up to date.
func (r *Report) Add(f Figure) {
	r.Figures = append(r.Figures, f)
	r.Passed = r.passed()
}

func (r *Report) passed() bool {
	for _, f := range r.Figures {
		if f.Status == Fail {
			return false
		}
	}
	return true
}

// CorrectnessFailed reports whether a correctness figure failed.
func (r *Report) CorrectnessFailed() bool {
	for _, f := range r.Figures {
		if f.Correctness && f.Status == Fail {
			return true
		}
	}
	return false
}

// Param appends a scenario setting.
func (r *Report) Param(name string, value any) {
	r.Scenario = append(r.Scenario, Param{name, fmt.Sprint(value)})
}

// Note appends a free-text remark.
func (r *Report) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Check returns Pass when ok, else Fail.
func Check(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

// Table writes the figures as a Markdown table (what the README shows).
func (r *Report) Table(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| figure | value | goal | result |\n| --- | ---: | --- | --- |\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(f.Name), cell(f.Text), cell(f.Goal), verdict(f.Status))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdict(s string) string {
	switch s {
	case Pass:
		return "✅ pass"
	case Fail:
		return "❌ fail"
	case Info:
		return ""
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Markdown writes the whole report.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	e := r.Env
	fmt.Fprintf(&b, "%s · %s · %s · %s, %d cores (GOMAXPROCS %d)", e.Date, e.GoVersion, e.OS, e.CPU, e.Cores, e.GOMAXPROCS)
	if e.Nginx != "" {
		fmt.Fprintf(&b, " · %s", e.Nginx)
	}
	if e.LoadAvg != "" {
		fmt.Fprintf(&b, " · load average %s at start", e.LoadAvg)
	}
	overall := "every goal met"
	if !r.Passed {
		overall = "some goals missed"
	}
	fmt.Fprintf(&b, "\n\nResult: **%s**.\n\n", overall)
	if err := r.Table(&b); err != nil {
		return err
	}
	b.WriteString("\nScenario: ")
	for i, p := range r.Scenario {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", p.Name, p.Value)
	}
	b.WriteString(".\n")
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFiles writes latest.md and latest.json into dir (created if needed),
// replacing each atomically.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	var md strings.Builder
	if err := r.Markdown(&md); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report json: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "latest.md"), []byte(md.String())); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "latest.json"), append(js, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
