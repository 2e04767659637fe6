#!/usr/bin/env python3
"""Render a terminal capture with ANSI colours (tmux capture-pane -p -e) to PNG.

    tmux capture-pane -p -e -t clicktui > top.ansi
    python3 tui/docs/ansi2png.py top.ansi tui/docs/top.png

Needs only ImageMagick's `convert` and the DejaVu Sans Mono font. Each cell is
drawn on a fixed grid; block elements (bars, sparklines) are drawn as rectangles
so they join without gaps, as they do in a terminal.
"""
import re
import subprocess
import sys

FONT, BOLD = "DejaVu-Sans-Mono", "DejaVu-Sans-Mono-Bold"
SIZE = 15  # px
CW, CH = 9, 19  # cell width and height in px (DejaVu Sans Mono advance at 15 px is 9.03)
PAD = 12
BG, FG = (0x1D, 0x1F, 0x21), (0xD5, 0xD8, 0xD6)
ANSI = [  # 0-15, a Tomorrow Night-like palette that reads well on BG
    (0x1D, 0x1F, 0x21), (0xCC, 0x66, 0x66), (0xB5, 0xBD, 0x68), (0xF0, 0xC6, 0x74),
    (0x81, 0xA2, 0xBE), (0xB2, 0x94, 0xBB), (0x8A, 0xBE, 0xB7), (0xC5, 0xC8, 0xC6),
    (0x96, 0x98, 0x96), (0xDE, 0x93, 0x5F), (0xCE, 0xD7, 0x7A), (0xF7, 0xD6, 0x8A),
    (0x9D, 0xB8, 0xD2), (0xC8, 0xAE, 0xD0), (0xA6, 0xD5, 0xCF), (0xFF, 0xFF, 0xFF),
]
BLOCKS = {chr(0x2581 + i): (i + 1) / 8 for i in range(8)}  # ▁..█ as fractions of the cell


def xterm256(n):
    if n < 16:
        return ANSI[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = self.bg = None
        self.bold = self.faint = self.reverse = self.underline = False

    def apply(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.faint = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = self.faint = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37:
                self.fg = ANSI[p - 30]
            elif 90 <= p <= 97:
                self.fg = ANSI[p - 90 + 8]
            elif 40 <= p <= 47:
                self.bg = ANSI[p - 40]
            elif 100 <= p <= 107:
                self.bg = ANSI[p - 100 + 8]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    c, i = xterm256(ps[i + 2]), i + 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    c, i = tuple(ps[i + 2:i + 5]), i + 4
                else:
                    c = None
                if p == 38:
                    self.fg = c
                else:
                    self.bg = c
            i += 1

    def cell(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        if self.faint:
            fg = tuple((a * 3 + b * 2) // 5 for a, b in zip(fg, bg))
        return fg, bg, self.bold, self.underline


SGR = re.compile(r"\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|(.)", re.S)


def parse(text):
    rows, pen = [], Pen()
    for line in text.rstrip("\n").split("\n"):
        row = []
        for m in SGR.finditer(line):
            if m.group(1) is not None:
                pen.apply(m.group(1))
            elif m.group(2) is not None and m.group(2) >= " ":
                row.append((m.group(2),) + pen.cell())
        rows.append(row)
    return rows


def hexc(c):
    return "#%02x%02x%02x" % c


def mvg(rows):
    cols = max((len(r) for r in rows), default=0)
    w, h = cols * CW + 2 * PAD, len(rows) * CH + 2 * PAD
    out = [f"viewbox 0 0 {w} {h}", f"fill '{hexc(BG)}'", f"rectangle 0,0 {w},{h}", "font-size %d" % SIZE]
    for y, row in enumerate(rows):
        top = PAD + y * CH
        for x, (ch, fg, bg, bold, ul) in enumerate(row):
            left = PAD + x * CW
            if bg != BG:
                out.append(f"fill '{hexc(bg)}' rectangle {left},{top} {left + CW - 1},{top + CH - 1}")
            if ch in BLOCKS:  # a 2 px gap above full blocks, as line spacing leaves
                hh = round((CH - 2) * BLOCKS[ch])
                out.append(f"fill '{hexc(fg)}' rectangle {left},{top + CH - hh} {left + CW - 1},{top + CH - 1}")
            elif ch != " ":
                esc = ch.replace("\\", "\\\\").replace('"', '\\"')
                font = BOLD if bold else FONT
                out.append(f"fill '{hexc(fg)}' font '{font}' text {left},{top + CH - 5} \"{esc}\"")
            if ul:
                out.append(f"fill '{hexc(fg)}' rectangle {left},{top + CH - 2} {left + CW - 1},{top + CH - 2}")
    return w, h, "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = parse(f.read())
    w, h, draw = mvg(rows)
    subprocess.run(["convert", "-size", f"{w}x{h}", "mvg:-", sys.argv[2]], input=draw.encode(), check=True)


if __name__ == "__main__":
    main()
