"""Accessible charts drawn on the server as inline SVG: no JavaScript, no external files.

Each chart is an image with a title and a description that reads out every value, and
every bar carries its label and value as text, so nothing is told by colour or length
alone. Bars (#1a5fb4, 6.3:1 on white) and text (#1f1f1f, 16.5:1) keep their contrast;
text is 16 units of a viewBox scaled to the page width. Every label is escaped.
"""
from __future__ import annotations

import itertools
import re

from markupsafe import Markup, escape

BAR, TEXT = "#1a5fb4", "#1f1f1f"
FONT = 16
EMPTY = Markup('<p class="chart-empty">这段时间没有数据。</p>')
_ids = itertools.count(1)
_DAY = re.compile(r"(?:\d{4}-)?(\d{1,2})-(\d{1,2})")
MIN_WIDTH = 560   # narrow charts keep the scale of the others instead of being blown up to the page width


def _number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _svg(title: str, summary: str, width: int, height: int, body: list[str]) -> Markup:
    """The <svg> around `body`, named by its <title> and <desc> (ids unique on the page)."""
    chart_id = f"chart-{next(_ids)}"
    return Markup(
        f'<svg role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" width="100%" '
        f'viewBox="0 0 {max(width, MIN_WIDTH)} {height}" preserveAspectRatio="xMinYMin meet" '
        f'font-family="sans-serif" font-size="{FONT}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>' + "".join(body) + "</svg>")


def _summary(rows: list[tuple[str, int | float]], unit: str) -> str:
    return "；".join(f"{label}：{_number(value)}{unit}" for label, value in rows) + "。"


def bar_chart(title: str, rows: list[tuple[str, int | float]], unit: str = "") -> Markup:
    """Horizontal bars, one per row: the label above its bar, the value right after it."""
    if not rows:
        return EMPTY
    width, row_height, bar_height, value_room = 560, 56, 22, 110
    largest = max((value for _, value in rows), default=0) or 1
    body = []
    for index, (label, value) in enumerate(rows):
        top = index * row_height
        length = max(0.0, value / largest * (width - value_room))
        body.append(
            f'<text x="0" y="{top + 18}" fill="{TEXT}">{escape(label)}</text>'
            f'<rect x="0" y="{top + 26}" width="{length:.1f}" height="{bar_height}" fill="{BAR}"/>'
            f'<text x="{length + 8:.1f}" y="{top + 43}" fill="{TEXT}">{escape(_number(value) + unit)}</text>')
    return _svg(title, _summary(rows, unit), width, len(rows) * row_height, body)


def daily_columns(title: str, rows: list[tuple[str, int]], unit: str = "") -> Markup:
    """Vertical columns, one per day, the value above and the day (11-21) below each; the
    description says the days as words (11月21日). Days come as ISO dates (2026-11-21) or 11-21."""
    if not rows:
        return EMPTY
    days = [(_DAY.fullmatch(day), day, value) for day, value in rows]
    shown = [(f"{match[1]}-{match[2]}" if match else day, value) for match, day, value in days]
    spoken = [(f"{int(match[1])}月{int(match[2])}日" if match else day, value) for match, day, value in days]
    pitch, column, plot, top = 56, 36, 180, 28
    largest = max((value for _, value in shown), default=0) or 1
    body = []
    for index, (day, value) in enumerate(shown):
        left = index * pitch
        centre = left + pitch / 2
        length = max(0.0, value / largest * plot)
        bottom = top + plot
        body.append(
            f'<text x="{centre:.1f}" y="{bottom - length - 6:.1f}" text-anchor="middle" fill="{TEXT}">'
            f'{escape(_number(value))}</text>'
            f'<rect x="{centre - column / 2:.1f}" y="{bottom - length:.1f}" width="{column}" height="{length:.1f}" '
            f'fill="{BAR}"/>'
            f'<text x="{centre:.1f}" y="{bottom + 22}" text-anchor="middle" fill="{TEXT}">{escape(day)}</text>')
    return _svg(title, _summary(spoken, unit), len(shown) * pitch, top + plot + 30, body)
