package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// fit cuts s (which may hold escape codes) to at most w cells, marking a cut
// with tail.
func fit(s string, w int, tail string) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, tail)
}

// pad fills s with spaces to w cells (cutting it first if it is wider).
func pad(s string, w int, tail string) string {
	s = fit(s, w, tail)
	if n := w - lipgloss.Width(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// spread puts right at the end of a line of w cells, after left; left is cut
// first when both do not fit, right when it alone is too wide.
func spread(left, right string, w int, tail string) string {
	rw := lipgloss.Width(right)
	if rw >= w {
		return fit(right, w, tail)
	}
	left = fit(left, w-rw-1, tail)
	return left + strings.Repeat(" ", w-rw-lipgloss.Width(left)) + right
}

// thousands formats n with comma separators: 1234567 → "1,234,567".
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// age formats a duration the way an on-call reader scans it: "0.4s", "12s",
// "3m05s", "2h03m", "3d04h". Negative durations (clock skew) read as "0s".
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// bytesIEC formats n bytes with binary units: 1536 → "1.5 KiB".
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// percent formats part/whole as "12.3%", or "-" when whole is zero.
func percent(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// clock formats t in UTC as "15:04:05"; the zero time as "-".
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}

// hhmm formats t in UTC as "15:04"; the zero time as "-".
func hhmm(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04")
}

// sparkline draws one glyph per value, scaled so the largest is the top level;
// zero is the bottom level and anything above zero at least the next one, so a
// single click stays visible next to thousands.
func sparkline(vals []uint64, g Glyphs) string {
	var peak uint64
	for _, v := range vals {
		peak = max(peak, v)
	}
	top := len(g.Spark) - 1
	var b strings.Builder
	for _, v := range vals {
		lvl := 0
		if v > 0 {
			lvl = 1 + int(uint64(top-1)*v/peak)
		}
		b.WriteString(g.Spark[lvl])
	}
	return b.String()
}

// barChart draws vals as vertical bars rows lines high, top line first, in
// eighths of a line; anything above zero gets at least one eighth, and zero
// draws nothing, so a gap in traffic shows as a gap. One line is a sparkline.
func barChart(vals []uint64, rows int, g Glyphs) []string {
	if rows <= 1 {
		return []string{sparkline(vals, g)}
	}
	var peak uint64
	for _, v := range vals {
		peak = max(peak, v)
	}
	levels := len(g.Tops) + 1 // eighths per line
	out := make([]string, rows)
	for r := range rows {
		var b strings.Builder
		below := (rows - 1 - r) * levels // eighths under this line
		for _, v := range vals {
			h := 0
			if v > 0 {
				h = max(1, int(uint64(rows*levels)*v/peak))
			}
			switch l := h - below; {
			case l <= 0:
				b.WriteByte(' ')
			case l >= levels:
				b.WriteString(g.Bar)
			default:
				b.WriteString(g.Tops[l-1])
			}
		}
		out[r] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// bar draws v out of peak as up to w cells; anything above zero gets one cell.
func bar(v, peak uint64, w int, g Glyphs) string {
	if v == 0 || peak == 0 || w <= 0 {
		return ""
	}
	n := max(1, int(uint64(w)*v/peak))
	return strings.Repeat(g.Bar, min(n, w))
}

// clampCursor keeps a list cursor within n rows and the first visible row off
// such that the cursor shows in a view of h rows.
func clampCursor(cursor, off, n, h int) (int, int) {
	cursor = max(0, min(cursor, n-1))
	h = max(1, h)
	if cursor < off {
		off = cursor
	}
	if cursor >= off+h {
		off = cursor - h + 1
	}
	off = max(0, min(off, n-h))
	return cursor, off
}
