"""Small server-side SVG charts for the admin (no JavaScript, no CDN).

Each quantity gets its own panel with its own y-axis and tick labels: PUE (a ratio near 1) and
WUE (m3/MWh) on one scale would either flatten one line or, scaled each to its own range without
an axis, look identical.
"""

import math
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 26, 30
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COLOURS = {"PUE": "#1f77b4", "WUE": "#d62728", "EDC": "#7f7f7f", "EIT": "#2ca02c"}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        low, high = (low - 1, high + 1) if low == 0 else (low * 0.9, high * 1.1)
        low, high = min(low, high), max(low, high)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    places = max(0, min(4, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:.{places}f}".rstrip("0").rstrip(".") if places else f"{value:.0f}"


def _month(label: str) -> str:
    try:
        return MONTHS[int(label[5:7]) - 1]
    except (ValueError, IndexError):
        return label


class _Frame:
    """The plot area of one panel, its x positions per month and its y scale."""

    def __init__(self, months: list[str], ticks: list[float], *, bars: bool = False):
        self.months, self.ticks = months, ticks
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        self.slot = self.width / max(len(months), 1)
        self.bars = bars

    def x(self, i: int) -> float:
        return LEFT + self.slot * (i + 0.5)

    def y(self, value: float) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        return TOP + self.height - (value - low) / ((high - low) or 1) * self.height

    def axes(self, title: str, unit: str) -> list[str]:
        parts = [
            f'<text x="{LEFT}" y="14" font-weight="bold">{escape(title)}</text>',
            f'<text x="{WIDTH - RIGHT}" y="14" text-anchor="end" fill="#555">{escape(unit)}</text>',
        ]
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                'stroke="#e5e5e5"/>'
                f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{_label(tick)}</text>"
            )
        parts.append(
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + self.height}" stroke="#999"/>'
            f'<line x1="{LEFT}" y1="{TOP + self.height}" x2="{WIDTH - RIGHT}" '
            f'y2="{TOP + self.height}" stroke="#999"/>'
        )
        for i, month in enumerate(self.months):
            parts.append(
                f'<text x="{self.x(i):.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                f"{escape(_month(month))}</text>"
            )
        return parts


def _svg(label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="period-chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" font-family="sans-serif" font-size="11">'
        + "".join(body)
        + "</svg>"
    )


def _number(value) -> float | None:
    return None if value in (None, "") else float(Decimal(str(value)))


def line_panel(monthly: list[dict], key: str, title: str, unit: str, places: int = 2) -> str:
    """One monthly series on its own y-axis; a month without a value leaves a gap."""
    months = [row["month"] for row in monthly]
    values = [_number(row.get(key)) for row in monthly]
    known = [v for v in values if v is not None]
    if not known:
        return ""
    frame = _Frame(months, nice_ticks(min(known), max(known)))
    colour = COLOURS.get(key, "#555")
    body = frame.axes(title, unit)
    run: list[str] = []
    runs = [run]
    for i, value in enumerate(values):
        if value is None:
            run = []
            runs.append(run)
            continue
        run.append(f"{frame.x(i):.1f},{frame.y(value):.1f}")
    for points in runs:
        if len(points) > 1:
            body.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
    for i, value in enumerate(values):
        if value is not None:
            body.append(
                f'<circle cx="{frame.x(i):.1f}" cy="{frame.y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(_month(months[i]))}: {escape(key)} {value:.{places}f}"
                f"{' ' + escape(unit) if unit else ''}</title></circle>"
            )
    return _svg(f"monthly {key}", body)


def bars_panel(
    monthly: list[dict], keys=("EDC", "EIT"), title="Energy", unit="MWh", scale=1000
) -> str:
    """Monthly bars side by side per month (kWh shown in MWh), with a legend."""
    months = [row["month"] for row in monthly]
    series = {k: [_number(row.get(k)) for row in monthly] for k in keys}
    known = [v / scale for vs in series.values() for v in vs if v is not None]
    if not known:
        return ""
    frame = _Frame(months, nice_ticks(0, max(known)), bars=True)
    body = frame.axes(title, unit)
    width = frame.slot * 0.8 / len(keys)
    for n, key in enumerate(keys):
        colour = COLOURS.get(key, "#555")
        body.append(
            f'<rect x="{LEFT + 120 + n * 60}" y="5" width="10" height="10" fill="{colour}"/>'
            f'<text x="{LEFT + 134 + n * 60}" y="14">{escape(key)}</text>'
        )
        for i, value in enumerate(series[key]):
            if value is None:
                continue
            x = frame.x(i) - frame.slot * 0.4 + n * width
            top = frame.y(value / scale)
            body.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{TOP + frame.height - top:.1f}" fill="{colour}">'
                f"<title>{escape(_month(months[i]))}: {escape(key)} {value / scale:,.1f} "
                f"{escape(unit)}</title></rect>"
            )
    return _svg(f"monthly {' and '.join(keys)}", body)


def monthly_svg(monthly: list[dict], keys=("PUE", "WUE")) -> str:
    """The monthly panels of the period page: each key on its own axis, then EDC/EIT bars."""
    titles = {
        "PUE": ("Power usage effectiveness (PUE)", ""),
        "WUE": ("Water usage effectiveness (WUE)", "m3/MWh"),
        "ERF": ("Energy reuse factor (ERF)", ""),
    }
    panels = [line_panel(monthly, key, *titles.get(key, (key, ""))) for key in keys]
    panels.append(bars_panel(monthly))
    return "".join(f'<div class="period-panel">{p}</div>' for p in panels if p)
