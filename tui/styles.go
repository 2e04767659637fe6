package tui

import "github.com/charmbracelet/lipgloss"

// Styles are the TUI's colours and glyphs. Colours are the 16 basic ANSI ones,
// which every terminal and SSH client maps to something legible on its own
// background; lipgloss drops them under the Ascii profile (NO_COLOR, TERM=dumb,
// or tests), so nothing on screen relies on colour alone: the selected row has a
// ">" marker, the active tab brackets, a cut-off edge the word "CUT OFF".
type Styles struct {
	Title     lipgloss.Style // the top bar
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Head      lipgloss.Style // column headers
	Dim       lipgloss.Style // secondary text
	Selected  lipgloss.Style // the row under the cursor
	Good      lipgloss.Style
	Warn      lipgloss.Style
	Bad       lipgloss.Style
	Bar       lipgloss.Style // bars and sparklines
	Keys      lipgloss.Style // the key hint line
	Glyphs    Glyphs
}

// Glyphs are the characters drawn for bars, sparklines and separators.
type Glyphs struct {
	Spark []string // eight levels, lowest first, for one-line sparklines
	Tops  []string // seven partial cells, lowest first, for the tops of taller charts
	Bar   string   // one cell of a horizontal bar
	Sep   string   // between items on a line
	Arrow string   // from → to
	Ellip string   // truncation
}

// UnicodeGlyphs need a UTF-8 terminal; ASCIIGlyphs work anywhere.
var (
	UnicodeGlyphs = Glyphs{Spark: []string{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}, Tops: []string{"▁", "▂", "▃", "▄", "▅", "▆", "▇"},
		Bar: "█", Sep: " · ", Arrow: "→", Ellip: "…"}
	ASCIIGlyphs = Glyphs{Spark: []string{"_", ".", ",", ":", "-", "=", "+", "#"}, Tops: []string{".", ".", ".", ":", ":", ":", ":"},
		Bar: "#", Sep: " | ", Arrow: "->", Ellip: "~"}
)

// NewStyles returns the styles rendered by r (whose colour profile decides what
// survives) with glyphs g.
func NewStyles(r *lipgloss.Renderer, g Glyphs) Styles {
	c := func(n string) lipgloss.Style { return r.NewStyle().Foreground(lipgloss.Color(n)) }
	return Styles{
		Title:     r.NewStyle().Bold(true),
		Tab:       r.NewStyle(),
		TabActive: r.NewStyle().Reverse(true).Bold(true),
		Head:      r.NewStyle().Bold(true).Underline(true),
		Dim:       r.NewStyle().Faint(true),
		Selected:  r.NewStyle().Reverse(true),
		Good:      c("2"),
		Warn:      c("3").Bold(true),
		Bad:       c("1").Bold(true),
		Bar:       c("6"),
		Keys:      r.NewStyle().Faint(true),
		Glyphs:    g,
	}
}
