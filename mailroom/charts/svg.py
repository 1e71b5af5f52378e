"""Small, accessible SVG charts: bars (one or stacked series) and lines over a category axis.

The SVG carries no colours of its own: series get classes (``series-0`` …) that the page's CSS
colours for the light and the dark theme, and text uses ``currentColor``. Every chart has a
``<title>`` and ``<desc>`` and a hidden data table is left to the page (it shows the numbers in a
table next to the chart anyway). Values are plain numbers (``Decimal`` allowed); labels are text
and are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

Number = int | float | Decimal

WIDTH = 640
HEIGHT = 240
MARGIN_LEFT = 56
MARGIN_RIGHT = 12
MARGIN_TOP = 12
MARGIN_BOTTOM = 40
MAX_LABELS = 12  # category labels shown; the rest are thinned out


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number | None]  # None: no value for that category (a gap in a line)


def _nice_ceiling(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    exponent = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1.0
    while exponent > value:
        exponent /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * exponent >= value:
            return step * exponent
    return 10 * exponent


def _format(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(
    title: str, description: str, body: list[str], *, unit: str, top: float, labels: Sequence[str]
) -> Markup:
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    ident = "chart-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower())[:40]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(description)}</desc>',
    ]
    for step in range(5):  # horizontal grid lines and the value axis
        value = top * step / 4
        y = MARGIN_TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_format(value))}{escape(unit) if step == 4 else ''}</text>"
        )
    every = max(1, -(-len(labels) // MAX_LABELS))
    slot = plot_w / max(1, len(labels))
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = MARGIN_LEFT + slot * (index + 0.5)
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts += body
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every text above is escaped


def _tip(label: str, name: str, value: float, unit: str) -> str:
    return f"{escape(label)} · {escape(name)}: {escape(_format(value))}{escape(unit)}"


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = MARGIN_LEFT
    for index, one in enumerate(series):
        parts.append(f'<rect class="series-{index}" x="{x}" y="{HEIGHT - 14}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{escape(one.name)}</text>')
        x += 24 + 7 * len(one.name)
    return parts


def bar_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "", stacked: bool = True
) -> Markup:
    """Bars per category; several series are stacked (or side by side with ``stacked=False``)."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    totals = [
        sum(float(s.values[i] or 0) for s in series)
        if stacked
        else max((float(s.values[i] or 0) for s in series), default=0)
        for i in range(len(labels))
    ]
    top = _nice_ceiling(max(totals, default=0.0))
    slot = plot_w / max(1, len(labels))
    body: list[str] = []
    for i, label in enumerate(labels):
        base = 0.0
        for k, one in enumerate(series):
            value = float(one.values[i] or 0)
            if value <= 0:
                continue
            height = plot_h * value / top
            if stacked:
                x, width = MARGIN_LEFT + slot * i + slot * 0.15, slot * 0.7
                y = MARGIN_TOP + plot_h - plot_h * (base + value) / top
                base += value
            else:
                width = slot * 0.7 / len(series)
                x = MARGIN_LEFT + slot * i + slot * 0.15 + width * k
                y = MARGIN_TOP + plot_h - height
            tip = _tip(label, one.name, value, unit)
            body.append(
                f'<rect class="series-{k}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}">'
                f"<title>{tip}</title></rect>"
            )
    if len(series) > 1:
        body += _legend(series)
    description = f"{len(labels)} categories, {len(series)} series; the figures are in the table below."
    return _frame(title, description, body, unit=unit, top=top, labels=labels)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> Markup:
    """Lines over categories (days, weeks); ``None`` values break the line."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    values = [float(v) for s in series for v in s.values if v is not None]
    top = _nice_ceiling(max(values, default=0.0))
    slot = plot_w / max(1, len(labels))
    body: list[str] = []
    for k, one in enumerate(series):
        runs: list[list[str]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                runs.append([])
                continue
            x = MARGIN_LEFT + slot * (i + 0.5)
            y = MARGIN_TOP + plot_h - plot_h * float(value) / top
            runs[-1].append(f"{x:.1f},{y:.1f}")
            tip = _tip(labels[i], one.name, float(value), unit)
            body.append(
                f'<circle class="series-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{tip}</title></circle>'
            )
        body += [
            f'<polyline class="line series-{k}" points="{" ".join(run)}"/>' for run in runs if len(run) > 1
        ]
    if len(series) > 1:
        body += _legend(series)
    description = f"{len(labels)} points, {len(series)} series; the figures are in the table below."
    return _frame(title, description, body, unit=unit, top=top, labels=labels)
