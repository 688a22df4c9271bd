"""A small server-side SVG line chart for the admin (no JavaScript, no CDN)."""

from decimal import Decimal
from html import escape

WIDTH, HEIGHT, PAD = 640, 220, 40
COLOURS = {"PUE": "#1f77b4", "WUE": "#d62728", "ERF": "#2ca02c"}


def monthly_svg(monthly: list[dict], keys=("PUE", "WUE")) -> str:
    """Monthly series as an inline SVG; each key on its own scale (min-max of its values)."""
    months = [row["month"] for row in monthly]
    if not months:
        return ""
    step = (WIDTH - 2 * PAD) / max(len(months) - 1, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="monthly {escape(" and ".join(keys))}" '
        'style="font:11px sans-serif;background:#fff">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#999"/>',
    ]
    for i, month in enumerate(months):
        x = PAD + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">'
            f"{escape(month[5:])}</text>"
        )
    for n, key in enumerate(keys):
        points = [
            (PAD + i * step, Decimal(row[key]))
            for i, row in enumerate(monthly)
            if row.get(key) is not None
        ]
        if not points:
            continue
        low, high = min(v for _, v in points), max(v for _, v in points)
        span = (high - low) or Decimal(1)

        def y(value, low=low, span=span):
            return HEIGHT - PAD - float((value - low) / span) * (HEIGHT - 2 * PAD - 20) - 10

        colour = COLOURS.get(key, "#555")
        coords = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in points)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        for x, v in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(key)} {v:.3f}</title></circle>"
            )
        parts.append(
            f'<text x="{PAD + n * 200}" y="14" fill="{colour}">{escape(key)}: '
            f"{low:.2f}–{high:.2f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
