// Command clicktui is the on-call engineer's terminal UI for a clickagg core:
// live top-N, per-ad drilldown, edges, filters and core health.
//
//	clicktui --core http://127.0.0.1:8090 --token $CLICKAGG_ADMIN_TOKEN
//
// It holds flag parsing and wiring only; the UI is package tui.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/clickagg/clickagg/pkg/cli"
	"github.com/clickagg/clickagg/tui"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

type config struct {
	core     string
	token    string
	timeout  time.Duration
	interval time.Duration
	n        int
	window   int
	country  string
	color    string
	charset  string
	logFile  string
	logLevel string
}

func parse(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("clicktui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clicktui [flags]\n\nThe on-call terminal UI for a clickagg core. Keys: tab panes, j/k move,\nenter drill down, / country, w window, ? help, q quit.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.core, "core", "http://127.0.0.1:8090", "core API URL")
	fs.StringVar(&c.token, "token", "", "admin API token (default $CLICKAGG_ADMIN_TOKEN)")
	fs.DurationVar(&c.timeout, "timeout", tui.DefaultTimeout, "per-request timeout")
	fs.DurationVar(&c.interval, "interval", time.Second, "poll period (at least 250ms)")
	fs.IntVar(&c.n, "n", 50, "top-N rows to fetch (1-1000)")
	fs.IntVar(&c.window, "window", 5, "initial window in minutes: 1, 5, 15 or 60")
	fs.StringVar(&c.country, "country", "", "initial country filter (two letters)")
	fs.StringVar(&c.color, "color", "auto", "auto (honours NO_COLOR and TERM), always or never")
	fs.StringVar(&c.charset, "charset", "auto", "auto (UTF-8 if the locale says so), utf8 or ascii")
	fs.StringVar(&c.logFile, "log-file", "", "write logs here (the terminal belongs to the UI; default: none)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return nil, err
	}
	if c.token == "" {
		c.token = getenv("CLICKAGG_ADMIN_TOKEN")
	}
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.token == "":
		return errors.New("--token (or CLICKAGG_TOKEN, or CLICKAGG_ADMIN_TOKEN) is required")
	case c.interval < 250*time.Millisecond:
		return fmt.Errorf("--interval %s: at least 250ms", c.interval)
	case c.timeout <= 0:
		return fmt.Errorf("--timeout %s: must be positive", c.timeout)
	case c.color != "auto" && c.color != "always" && c.color != "never":
		return fmt.Errorf("--color %q: auto, always or never", c.color)
	case c.charset != "auto" && c.charset != "utf8" && c.charset != "ascii":
		return fmt.Errorf("--charset %q: auto, utf8 or ascii", c.charset)
	}
	return nil
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runIO(args, os.Stdin, stdout, stderr, getenv)
}

// runIO is run with the terminal's input given, so tests can type at it.
func runIO(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c, err := parse(args, stderr, getenv)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "clicktui:", err)
		return 2
	}
	log, closeLog, err := logger(c)
	if err != nil {
		fmt.Fprintln(stderr, "clicktui:", err)
		return 2
	}
	defer closeLog()
	client, err := tui.NewClient(c.core, c.token, c.timeout)
	if err != nil {
		fmt.Fprintln(stderr, "clicktui:", err)
		return 2
	}
	defer client.Close()
	sig, stop := cli.SignalContext()
	defer stop()
	ctx, cancel := context.WithCancel(sig)
	defer cancel() // ends requests still in flight when the UI quits
	styles := tui.NewStyles(renderer(stdout, c.color), glyphs(c.charset, getenv))
	m, err := tui.New(tui.Options{Client: client, Interval: c.interval, N: c.n, Window: c.window,
		Country: c.country, Styles: &styles, Context: ctx})
	if err != nil {
		fmt.Fprintln(stderr, "clicktui:", err)
		return 2
	}
	log.Info("starting", "core", client.Base(), "interval", c.interval, "timeout", c.timeout)
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(sig), tea.WithInput(stdin), tea.WithOutput(stdout))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		log.Error("ui", "err", err)
		fmt.Fprintln(stderr, "clicktui:", err)
		return 1
	}
	log.Info("bye")
	return 0
}

func logger(c *config) (*slog.Logger, func(), error) {
	var w io.Writer = io.Discard
	closeFn := func() {}
	if c.logFile != "" {
		f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	l, err := cli.Logger(w, c.logLevel)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return l, closeFn, nil
}

// renderer detects the terminal's colours on out (NO_COLOR and TERM=dumb mean
// none) unless --color says otherwise.
func renderer(out io.Writer, color string) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(out)
	switch color {
	case "never":
		r.SetColorProfile(termenv.Ascii)
	case "always":
		if r.ColorProfile() == termenv.Ascii {
			r.SetColorProfile(termenv.ANSI)
		}
	}
	return r
}

// glyphs picks Unicode block characters only when the locale is UTF-8: a C
// locale over SSH shows them as garbage.
func glyphs(charset string, getenv func(string) string) tui.Glyphs {
	switch charset {
	case "utf8":
		return tui.UnicodeGlyphs
	case "ascii":
		return tui.ASCIIGlyphs
	}
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if s := strings.ToUpper(getenv(v)); s != "" {
			if strings.Contains(s, "UTF-8") || strings.Contains(s, "UTF8") {
				return tui.UnicodeGlyphs
			}
			return tui.ASCIIGlyphs
		}
	}
	return tui.ASCIIGlyphs
}
