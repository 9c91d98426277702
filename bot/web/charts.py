"""Server-rendered SVG charts for the reports pages: bars, grouped bars and lines.

A chart is one `<svg role="img">` with a `<title>` and an `aria-label`, a labelled x and y axis,
one `<rect class="bar">` per value (each with its own `<title>`, the tooltip and what a screen
reader reads) and a legend when there are several series. Every text is escaped here, so a
chart's markup goes into a page as it is (`|safe` in the templates, and only for charts). The page shows the same numbers in a table beside it:
the chart is for the eye, the table for reading and copying.

A small renderer of our own rather than a charting library: the reports need three shapes, and
this keeps the markup (classes the tests count, accessible names) in our hands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colours that keep a 3:1 contrast to white and stay apart for the common colour blindnesses
# (Okabe–Ito, darkened); a series is also named in the legend and each bar's title.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#9E6A00", "#CC79A7", "#56B4E9", "#666666")

_WIDTH_MIN, _HEIGHT = 480, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 36, 64  # room for the y labels, title, x labels
_SLOT = 36  # the least width one label's bars get


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label; None: no value there (nothing to measure)."""

    name: str
    values: Sequence[float | None]


def bar_chart(
    *, title: str, labels: Sequence[str], values: Sequence[float | None], x_label: str,
    y_label: str, unit: str = "",
) -> str:
    """One bar per label."""
    return grouped_bars(title=title, labels=labels, series=[Series(y_label, values)],
                        x_label=x_label, y_label=y_label, unit=unit)


def grouped_bars(
    *, title: str, labels: Sequence[str], series: Sequence[Series], x_label: str, y_label: str,
    unit: str = "",
) -> str:
    """For each label, one bar per series side by side, in the series' colours."""
    frame = _Frame(title, labels, series, x_label, y_label, unit)
    slot = frame.plot_width / max(len(labels), 1)
    gap = slot * 0.15
    width = (slot - 2 * gap) / max(len(series), 1)
    parts: list[str] = []
    for i, label in enumerate(labels):
        for k, one in enumerate(series):
            value = _at(one.values, i)
            x = _LEFT + i * slot + gap + k * width
            height = 0.0 if value is None else frame.plot_height * value / frame.top
            said = _said(label, one.name if len(series) > 1 else "", value, unit)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{frame.y(value or 0):.1f}" width="{width:.1f}" '
                f'height="{height:.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(said)}</title></rect>"
            )
    return frame.draw(parts)


def line_chart(
    *, title: str, labels: Sequence[str], series: Sequence[Series], x_label: str, y_label: str,
    unit: str = "",
) -> str:
    """One line per series through its values; a missing value breaks the line."""
    frame = _Frame(title, labels, series, x_label, y_label, unit)
    slot = frame.plot_width / max(len(labels), 1)
    parts: list[str] = []
    for k, one in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, label in enumerate(labels):
            value = _at(one.values, i)
            if value is None:
                runs.append([])
                continue
            x, y = _LEFT + (i + 0.5) * slot, frame.y(value)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            said = _said(label, one.name if len(series) > 1 else "", value, unit)
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                         f"<title>{escape(said)}</title></circle>")
        for run in runs:
            if len(run) > 1:
                parts.insert(0, f'<polyline class="line" fill="none" stroke="{colour}" '
                                f'stroke-width="2" points="{" ".join(run)}"/>')
    return frame.draw(parts)


class _Frame:
    """What every chart has: the size, the y scale, the axes, their labels, the legend."""

    def __init__(self, title: str, labels: Sequence[str], series: Sequence[Series],
                 x_label: str, y_label: str, unit: str) -> None:
        self.title, self.labels, self.series = title, labels, series
        self.x_label, self.y_label, self.unit = x_label, y_label, unit
        self.rotate = len(labels) > 8 or any(len(label) > 8 for label in labels)
        self.width = max(_WIDTH_MIN, _LEFT + _RIGHT + len(labels) * max(_SLOT, 14 * len(series)))
        self.height = _HEIGHT + (40 if self.rotate else 0) + (20 if len(series) > 1 else 0)
        self.plot_width = self.width - _LEFT - _RIGHT
        self.bottom = self.height - _BOTTOM - (40 if self.rotate else 0) - (20 if len(series) > 1 else 0)
        self.plot_height = self.bottom - _TOP
        values = [v for s in series for v in s.values if v is not None]
        self.ticks = nice_ticks(max(values, default=0.0))
        self.top = self.ticks[-1]

    def y(self, value: float) -> float:
        return self.bottom - self.plot_height * value / self.top

    def draw(self, marks: list[str]) -> str:
        title = escape(self.title)
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {self.width} {self.height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet" aria-label="{title}">',
            f"<title>{title}</title>",
        ]
        out += self._y_axis() + marks + self._x_axis() + self._legend()
        out.append("</svg>")
        return "".join(out)

    def _y_axis(self) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(f'<line class="grid" x1="{_LEFT}" x2="{self.width - _RIGHT}" '
                         f'y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
                         f'text-anchor="end" font-size="12">{escape(_number(tick))}</text>')
        middle = (_TOP + self.bottom) / 2
        unit = f" ({self.unit})" if self.unit else ""
        parts.append(f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" '
                     f'y2="{self.bottom}" stroke="#333"/>')
        parts.append(f'<text class="axis-label" x="14" y="{middle:.1f}" text-anchor="middle" '
                     f'font-size="12" transform="rotate(-90 14 {middle:.1f})">'
                     f"{escape(self.y_label + unit)}</text>")
        return parts

    def _x_axis(self) -> list[str]:
        parts = [f'<line class="axis" x1="{_LEFT}" x2="{self.width - _RIGHT}" '
                 f'y1="{self.bottom}" y2="{self.bottom}" stroke="#333"/>']
        slot = self.plot_width / max(len(self.labels), 1)
        for i, label in enumerate(self.labels):
            x, y = _LEFT + (i + 0.5) * slot, self.bottom + 16
            shown = escape(label if len(label) <= 16 else label[:15] + "…")
            if self.rotate:
                parts.append(f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="end" '
                             f'font-size="11" transform="rotate(-40 {x:.1f} {y:.1f})">'
                             f"{shown}</text>")
            else:
                parts.append(f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
                             f'font-size="12">{shown}</text>')
        below = self.bottom + (80 if self.rotate else 40)
        parts.append(f'<text class="axis-label" x="{_LEFT + self.plot_width / 2:.1f}" '
                     f'y="{below}" text-anchor="middle" font-size="12">'
                     f"{escape(self.x_label)}</text>")
        return parts

    def _legend(self) -> list[str]:
        if len(self.series) < 2:
            return []
        parts, x, y = [], float(_LEFT), self.height - 12
        for k, one in enumerate(self.series):
            colour = PALETTE[k % len(PALETTE)]
            parts.append(f'<rect class="key" x="{x:.1f}" y="{y - 10}" width="10" height="10" '
                         f'fill="{colour}"/>')
            parts.append(f'<text class="legend" x="{x + 14:.1f}" y="{y}" font-size="12">'
                         f"{escape(one.name)}</text>")
            x += 24 + 7 * len(one.name)
        return parts


def nice_ticks(highest: float) -> list[float]:
    """0 up to a round number at or above `highest`, in 1, 2 or 5 steps (4 to 6 ticks)."""
    if highest <= 0 or not math.isfinite(highest):
        return [0.0, 1.0]
    raw = highest / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = math.ceil(highest / step - 1e-9)
    return [round(step * i, 10) for i in range(count + 1)]


def _at(values: Sequence[float | None], index: int) -> float | None:
    return values[index] if index < len(values) else None


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) or abs(value) >= 10 else f"{value:.2g}"


def _said(label: str, series: str, value: float | None, unit: str) -> str:
    where = f"{label}, {series}" if series else label
    if value is None:
        return f"{where}: no data"
    return f"{where}: {value:.4g}" + (f" {unit}" if unit else "")
