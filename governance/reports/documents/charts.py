"""Charts as inline SVG: horizontal bars with interval whiskers and a bound line, for documents that print.

Pure functions of numbers and labels, returning one ``<svg>`` element as text: no script, no font or
stylesheet loaded from anywhere, presentation attributes only, so a chart renders the same offline,
under the documents' Content-Security-Policy, in a mail client and on paper. Every recorded string is
XML-escaped (each chart also parses as XML). Parts carry classes for readers and tests: ``panel``, ``bar``, ``whisker``, ``bound``.

Examples
--------
>>> wilson_interval(8, 10)
(0.4902, 0.9433)
>>> svg = bar_chart("Selection rate", [Panel("Selection rate", (Bar("White", 0.6, (0.55, 0.65)),
...                                                          Bar("Black", 0.5)), bound=0.48)])
>>> svg.count('class="bar"'), svg.count('class="bound"'), svg.count('class="whisker"')
(2, 1, 1)
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

Z_95 = 1.959964  # the standard normal quantile of a two-sided 95 % interval
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
COLOURS = {"normal": "#3b6ea8", "muted": "#b8c2cc", "alert": "#b42318"}
INK, GRID, BOUND = "#1d2329", "#e3e8ee", "#b42318"
CHAR_WIDTH = 6.4  # average advance of a 12 px sans-serif character: enough to size the label column
LABEL_CHARS = 44  # a label longer than this wraps at a word boundary onto a second line
PANEL_WIDTH, PANEL_GAP, ROW, BAR = 210, 28, 22, 12
TOP, AXIS = 46, 30  # room for the panel titles and bound texts; for the axis ticks


@dataclass(frozen=True)
class Bar:
    """One row of a panel."""

    label: str  #: the group or column, as people read it
    value: float | None  #: None: nothing measured (the row stays, with its note)
    interval: tuple[float, float] | None = None  #: drawn as a whisker
    tone: Literal["normal", "muted", "alert"] = "normal"  #: muted: too small to judge; alert: beyond its bound
    note: str = ""  #: shown after the label in grey, e.g. "n=52"
    bound: float | None = None  #: a bound of this row alone (a tick), where rows differ


@dataclass(frozen=True)
class Panel:
    """One measure over the rows, on its own axis."""

    title: str
    bars: tuple[Bar, ...]
    bound: float | None = None  #: drawn as a dashed line across the panel
    bound_text: str = ""  #: what the line means, shown above it
    scale: Literal["linear", "log"] = "linear"
    domain: tuple[float, float] = (0.0, 1.0)


def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (successes of n), rounded to 4 decimals.

    Unlike the normal approximation it stays within [0, 1] and is not empty at 0 or n successes,
    which matters for the small groups fairness is most often about.
    """
    if n <= 0:
        raise ValueError("a proportion of no observations has no interval: n must be positive")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tick(value: float) -> str:
    return f"{value:g}"


class _Axis:
    def __init__(self, panel: Panel, left: float) -> None:
        self.left, self.panel = left, panel
        low, high = panel.domain
        self.low, self.high = (math.log10(low), math.log10(high)) if panel.scale == "log" else (low, high)

    def x(self, value: float) -> float:
        v = math.log10(max(value, self.panel.domain[0])) if self.panel.scale == "log" else value
        share = (min(max(v, self.low), self.high) - self.low) / (self.high - self.low)
        return self.left + share * PANEL_WIDTH

    def ticks(self) -> list[float]:
        low, high = self.panel.domain
        if self.panel.scale == "log":
            return [10.0 ** e for e in range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1)]
        step = (high - low) / 4
        return [low + i * step for i in range(5)]


def _wrapped(bar: Bar) -> list[str]:
    return textwrap.wrap(bar.label, LABEL_CHARS, break_long_words=False) or [""]


def _label(bar: Bar, y: float, width: float) -> str:
    lines = _wrapped(bar)
    spans = "".join(f'<tspan x="{_num(width - 8)}" dy="{0 if i == 0 else 13}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    note = f'<tspan fill="#5b6570"> {escape(bar.note)}</tspan>' if bar.note else ""
    return f'<text y="{_num(y)}" text-anchor="end" fill="{INK}">{spans}{note}</text>'


def _bar(axis: _Axis, bar: Bar, middle: float) -> list[str]:
    parts: list[str] = []
    tip = (f"{bar.label}: " + ("not measured" if bar.value is None else f"{bar.value:.4g}")
           + (f" [{bar.interval[0]:.4g}, {bar.interval[1]:.4g}]" if bar.interval else "")
           + (f", {bar.note}" if bar.note else ""))
    if bar.value is not None:
        start = axis.x(axis.panel.domain[0])
        width = max(axis.x(bar.value) - start, 1.0)
        parts.append(f'<rect class="bar" x="{_num(start)}" y="{_num(middle - BAR / 2)}" width="{_num(width)}" '
                     f'height="{BAR}" fill="{COLOURS[bar.tone]}"><title>{escape(tip)}</title></rect>')
    if bar.interval is not None:
        lo, hi = axis.x(bar.interval[0]), axis.x(bar.interval[1])
        parts.append(f'<g class="whisker" stroke="{INK}" stroke-width="1.3">'
                     f'<line x1="{_num(lo)}" y1="{_num(middle)}" x2="{_num(hi)}" y2="{_num(middle)}"/>'
                     f'<line x1="{_num(lo)}" y1="{_num(middle - 4)}" x2="{_num(lo)}" y2="{_num(middle + 4)}"/>'
                     f'<line x1="{_num(hi)}" y1="{_num(middle - 4)}" x2="{_num(hi)}" y2="{_num(middle + 4)}"/></g>')
    if bar.bound is not None:
        x = axis.x(bar.bound)
        parts.append(f'<line class="bound" x1="{_num(x)}" y1="{_num(middle - 9)}" x2="{_num(x)}" '
                     f'y2="{_num(middle + 9)}" stroke="{BOUND}" stroke-width="2"/>')
    return parts


def _panel(panel: Panel, left: float, rows: list[float], bottom: float) -> list[str]:
    axis = _Axis(panel, left)
    out = [f'<g class="panel" data-title={quoteattr(panel.title)}>',
           f'<text x="{_num(left)}" y="16" font-weight="600" fill="{INK}">{escape(panel.title)}</text>']
    for value in axis.ticks():
        x = axis.x(value)
        out.append(f'<line x1="{_num(x)}" y1="{TOP - 6}" x2="{_num(x)}" y2="{_num(bottom)}" stroke="{GRID}"/>'
                   f'<text x="{_num(x)}" y="{_num(bottom + 14)}" text-anchor="middle" font-size="10" '
                   f'fill="#5b6570">{_tick(value)}</text>')
    for bar, middle in zip(panel.bars, rows):
        out += _bar(axis, bar, middle)
    if panel.bound is not None:
        x = axis.x(panel.bound)
        out.append(f'<line class="bound" x1="{_num(x)}" y1="{TOP - 10}" x2="{_num(x)}" y2="{_num(bottom)}" '
                   f'stroke="{BOUND}" stroke-width="1.6" stroke-dasharray="5 3"/>')
        text = panel.bound_text or f"bound {panel.bound:.3g}"
        anchor = "end" if x > left + PANEL_WIDTH * 0.5 else "start"
        out.append(f'<text x="{_num(x + (-3 if anchor == "end" else 3))}" y="{TOP - 12}" font-size="10" '
                   f'text-anchor="{anchor}" fill="{BOUND}">{escape(text)}</text>')
    out.append("</g>")
    return out


def bar_chart(title: str, panels: Sequence[Panel], caption: str = "") -> str:
    """Panels side by side over the same rows (the first panel's labels), as one ``<svg>`` element.

    The rows of every panel are those of the first, in the same order. The title is the SVG's
    accessible name (``<title>``); the caption, if any, is printed under the axes.
    """
    if not panels or not panels[0].bars:
        raise ValueError("a chart needs at least one panel with at least one bar")
    rows = panels[0].bars
    if any(len(p.bars) != len(rows) for p in panels):
        raise ValueError("every panel of a chart must have one bar per row of the first panel")
    longest = max(len(line) + (len(bar.note) + 1 if i == 0 and bar.note else 0)
                  for bar in rows for i, line in enumerate(_wrapped(bar)))
    label_width = 16 + CHAR_WIDTH * longest
    middles, y = [], float(TOP)
    for bar in rows:
        middles.append(y + ROW / 2)
        y += ROW + 13 * (len(_wrapped(bar)) - 1)
    bottom = y + 4
    width = label_width + len(panels) * (PANEL_WIDTH + PANEL_GAP)
    height = bottom + AXIS + (16 if caption else 0)
    # No xmlns: inside HTML the parser puts <svg> in the SVG namespace, and the documents hold no URL at all.
    out = [f'<svg class="chart" role="img" viewBox="0 0 {_num(width)} '
           f'{_num(height)}" width="{_num(width)}" height="{_num(height)}" font-size="12" {FONT}>',
           f"<title>{escape(title)}</title>"]
    out += [_label(bar, middle + 4, label_width) for bar, middle in zip(rows, middles)]
    for i, panel in enumerate(panels):
        out += _panel(panel, label_width + i * (PANEL_WIDTH + PANEL_GAP), middles, bottom)
    if caption:
        out.append(f'<text x="4" y="{_num(height - 4)}" font-size="11" fill="#5b6570">{escape(caption)}</text>')
    out.append("</svg>")
    return "".join(out)
