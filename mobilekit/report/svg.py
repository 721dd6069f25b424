"""Small inline SVG charts for the build report (no plotting library, no external assets).

Each function returns one ``<svg>`` element as a string, with a ``<title>`` for screen readers
and ``data-*`` attributes the tests read back from the rendered page.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 560, 300
MARGIN = {"left": 70, "right": 20, "top": 30, "bottom": 50}
PALETTE = ("#2f6fde", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#5c940d", "#a61e4d", "#495057", "#1864ab")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def _padded(values: list[float], fraction: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = (hi - lo) or (abs(hi) or 1.0)
    return lo - span * fraction, hi + span * fraction


def scatter(points: list[dict], *, title: str, x_label: str, y_label: str, chart_id: str) -> str:
    """points: [{"label", "x", "y"}]; labels are written next to the dots."""
    points = [p for p in points if p.get("x") is not None and p.get("y") is not None]
    if not points:
        return ""
    x0, x1 = _padded([p["x"] for p in points])
    y0, y1 = _padded([p["y"] for p in points])
    left, top = MARGIN["left"], MARGIN["top"]
    w, h = WIDTH - left - MARGIN["right"], HEIGHT - top - MARGIN["bottom"]

    def sx(x):
        return left + (x - x0) / (x1 - x0) * w

    def sy(y):
        return top + h - (y - y0) / (y1 - y0) * h

    parts = [_open(chart_id, title, "scatter", len(points)), _axes(left, top, w, h, x_label, y_label)]
    for t in _ticks(x0, x1):
        parts.append(f'<line x1="{sx(t):.1f}" y1="{top + h}" x2="{sx(t):.1f}" y2="{top + h + 4}" stroke="#667085"/>'
                     f'<text x="{sx(t):.1f}" y="{top + h + 16}" text-anchor="middle" class="tick">{_fmt(t)}</text>')
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{left - 4}" y1="{sy(t):.1f}" x2="{left + w}" y2="{sy(t):.1f}" stroke="#eef0f4"/>'
                     f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    for i, p in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        right_half = sx(p["x"]) > left + w / 2  # labels grow towards the middle, never off the chart
        tx, anchor = (sx(p["x"]) - 8, "end") if right_half else (sx(p["x"]) + 8, "start")
        parts.append(f'<g class="point" data-label="{escape(p["label"])}" data-x="{p["x"]}" data-y="{p["y"]}">'
                     f'<circle cx="{sx(p["x"]):.1f}" cy="{sy(p["y"]):.1f}" r="5" fill="{color}"/>'
                     f'<text x="{tx:.1f}" y="{sy(p["y"]) - 8 - (i % 2) * 11:.1f}" text-anchor="{anchor}" class="label">{escape(p["label"])}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def bars(items: list[dict], *, title: str, value_label: str, chart_id: str) -> str:
    """Horizontal bars: items [{"label", "value", "whisker"?: upper value}] (e.g. p50 with p90)."""
    items = [i for i in items if i.get("value") is not None]
    if not items:
        return ""
    row = 24
    height = MARGIN["top"] + row * len(items) + MARGIN["bottom"]
    left, top = 210, MARGIN["top"]
    w = WIDTH - left - MARGIN["right"]
    hi = max(max(i["value"], i.get("whisker") or 0) for i in items) * 1.05 or 1.0
    parts = [_open(chart_id, title, "bars", len(items), height)]
    for t in _ticks(0, hi):
        x = left + t / hi * w
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row * len(items)}" stroke="#eef0f4"/>'
                     f'<text x="{x:.1f}" y="{top + row * len(items) + 16}" text-anchor="middle" class="tick">{_fmt(t)}</text>')
    for n, item in enumerate(items):
        y = top + n * row
        color = PALETTE[n % len(PALETTE)]
        width = item["value"] / hi * w
        parts.append(f'<g class="bar" data-label="{escape(item["label"])}" data-value="{item["value"]}">'
                     f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="label">{escape(item["label"])}</text>'
                     f'<rect x="{left}" y="{y + 4}" width="{max(width, 1):.1f}" height="{row - 8}" fill="{color}" opacity="0.85"/>')
        if item.get("whisker"):
            wx = left + item["whisker"] / hi * w
            parts.append(f'<line x1="{left + width:.1f}" y1="{y + row / 2:.1f}" x2="{wx:.1f}" y2="{y + row / 2:.1f}" stroke="#1d2330"/>'
                         f'<line x1="{wx:.1f}" y1="{y + 7}" x2="{wx:.1f}" y2="{y + row - 7}" stroke="#1d2330"/>')
        parts.append("</g>")
    parts.append(f'<text x="{left + w / 2:.1f}" y="{height - 12}" text-anchor="middle" class="axis">{escape(value_label)}</text></svg>')
    return "".join(parts)


def stacked(rows: list[dict], *, title: str, chart_id: str, max_groups: int = 6) -> str:
    """One 100% bar per row: rows [{"label", "parts": [{"name", "share"}]}]; small parts merged."""
    rows = [r for r in rows if r.get("parts")]
    if not rows:
        return ""
    names: list[str] = []
    for r in rows:
        for p in sorted(r["parts"], key=lambda p: -p["share"])[:max_groups]:
            if p["name"] not in names:
                names.append(p["name"])
    names = names[: len(PALETTE) - 1]
    colors = {name: PALETTE[i] for i, name in enumerate(names)}
    row = 28
    legend_rows = math.ceil((len(names) + 1) / 2)
    height = MARGIN["top"] + row * len(rows) + 20 + 18 * legend_rows
    left, top = 170, MARGIN["top"]
    w = WIDTH - left - MARGIN["right"]
    parts = [_open(chart_id, title, "stacked", len(rows), height)]
    for n, r in enumerate(rows):
        y = top + n * row
        x = float(left)
        parts.append(f'<g class="bar" data-label="{escape(r["label"])}"><text x="{left - 8}" y="{y + 18}" text-anchor="end" class="label">{escape(r["label"])}</text>')
        other = 1.0 - sum(p["share"] for p in r["parts"] if p["name"] in colors)
        for p in [p for p in r["parts"] if p["name"] in colors] + [{"name": "other", "share": max(other, 0.0)}]:
            width = p["share"] * w
            if width <= 0:
                continue
            color = colors.get(p["name"], "#ced4da")
            parts.append(f'<rect x="{x:.1f}" y="{y + 5}" width="{width:.1f}" height="{row - 10}" fill="{color}">'
                         f'<title>{escape(p["name"])}: {p["share"]:.1%}</title></rect>')
            x += width
        parts.append("</g>")
    ly = top + row * len(rows) + 16
    for i, name in enumerate(names + ["other"]):
        lx = 20 + (i % 2) * (WIDTH // 2)
        yy = ly + (i // 2) * 18
        parts.append(f'<rect x="{lx}" y="{yy - 9}" width="10" height="10" fill="{colors.get(name, "#ced4da")}"/>'
                     f'<text x="{lx + 14}" y="{yy}" class="tick">{escape(name[:60])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(chart_id: str, title: str, kind: str, count: int, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" data-kind="{kind}" data-count="{count}" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">'
            f'<title>{escape(title)}</title><text x="{WIDTH / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>')


def _axes(left, top, w, h, x_label, y_label) -> str:
    return (f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#667085"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#667085"/>'
            f'<text x="{left + w / 2}" y="{top + h + 36}" text-anchor="middle" class="axis">{escape(x_label)}</text>'
            f'<text transform="translate(16 {top + h / 2}) rotate(-90)" text-anchor="middle" class="axis">{escape(y_label)}</text>')
