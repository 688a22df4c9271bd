"""A preview of the 2026 rating label (draft act C(2026) 3472) from a period's figures; no Django.

The European database issues the official label (from 15 August 2027, valid 15 August to
15 August); this module only shows what it would say. Classes are taken on the values rounded
to two decimals as reported, since the act prints its boundaries to two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape

from reporting import indicators as ind

DRAFT = "draft act, class bounds unverified"
PREVIEW = f"preview ({DRAFT}) — the official label is issued by the European database"
# Where the class bounds come from: the draft is the confirmed text, the adoption is reported by
# one secondary source only (docs/sources.md, C(2026) 3472).
BOUND_SOURCES = (
    "Class bounds: A, B, D and G as quoted from the act C(2026) 3472 by one secondary source "
    "(fact-check reports checked 23 Sep 2026; the adoption was not found again on 6 Dec 2026); "
    "C implied by the B and D bounds; the E/F split is unpublished. The confirmed text is the "
    "draft Ares(2026)3247482 of 27 Mar 2026."
)
FIRST_LABEL_YEAR = 2027  # "By 15 August 2027 and every year thereafter", for the year before
TRADE_OFF = (
    "PUE and WUE trade off: evaporative cooling lowers PUE and raises WUE; compare both "
    "together, with the site's climate (CDD), size and age."
)
CLASSES = ("A", "B", "C", "D", "E", "F", "G")


@dataclass(frozen=True)
class Label:
    """What the 2026 label shows for one period (None: unknown)."""

    year: int
    pue: Decimal | None
    pue_class: str | None
    wue: Decimal | None
    wue_class: str | None
    wue_basis: str
    region_nuts3: str | None
    size_category: str | None
    grid_flexibility: str
    heat_reuse_readiness: str
    notes: tuple[str, ...]
    valid: str
    status: str = PREVIEW


def build(
    *,
    year: int,
    schema: str,
    pue: Decimal | None,
    wue: Decimal | None,
    nuts3: str | None,
    pdit_kw: Decimal | None,
    grid_functions: str,
    cbtg_kw: Decimal | None,
    heat_reuse_readiness: str,
    ereuse_kwh: Decimal | None,
    cdd: Decimal | None,
    operation_start_year: int | None,
) -> Label:
    """The label contents; ``wue`` must be the period's WUE under its own ``schema``."""
    pue2 = ind.round_reported(pue)
    notes = []
    if schema == ind.SCHEMA_2026:
        wue2, basis = ind.round_reported(wue), "WIN-FRE / EIT"
    else:  # the label's WUE is on freshwater input, which a 2024/1364 period does not report
        wue2, basis = None, "needs WIN-FRE (field dictionary 2024/1364+2026)"
    pue_class = ind.label_class(pue2, ind.PUE_LABEL)
    wue_class = ind.label_class(wue2, ind.WUE_LABEL)
    for kpi, code in (("PUE", pue_class), ("WUE", wue_class)):
        if code == "E/F":
            notes.append(f"{kpi}: the act's E/F split is not published yet; class E or F.")
        elif code == "C":
            notes.append(f"{kpi}: class C bounds implied by the B and D bounds.")
    if grid_functions.strip() or (cbtg_kw or 0) > 0:
        offered = grid_functions.strip() or "battery capacity offered"
        grid = f"yes: {offered}" + (f" ({cbtg_kw} kW battery)" if cbtg_kw else "")
    else:
        grid = "none reported"
    readiness = heat_reuse_readiness or (
        "reusing (EREUSE > 0)" if ereuse_kwh and ereuse_kwh > 0 else "not stated"
    )
    if cdd is not None:
        notes.append(f"Climate: {cdd.normalize():f} cooling degree days (base 21 °C).")
    if operation_start_year:
        notes.append(f"In operation since {operation_start_year}.")
    notes.append(TRADE_OFF)
    notes.append(BOUND_SOURCES)
    return Label(
        year=year,
        pue=pue2,
        pue_class=pue_class,
        wue=wue2,
        wue_class=wue_class,
        wue_basis=basis,
        region_nuts3=nuts3 or None,
        size_category=ind.size_class(pdit_kw),
        grid_flexibility=grid,
        heat_reuse_readiness=readiness,
        notes=tuple(notes),
        valid=_validity(year),
    )


def _validity(year: int) -> str:
    if year + 1 < FIRST_LABEL_YEAR:
        return f"no official label for {year}: the first are issued by 15 Aug {FIRST_LABEL_YEAR}"
    return f"issued by 15 Aug {year + 1}, valid to 15 Aug {year + 2}"


# --- SVG ---------------------------------------------------------------------------------------

COLOURS = ("#00a651", "#50b848", "#bed630", "#fff200", "#fdb913", "#f37021", "#ed1c24")


def _scale(x: int, y: int, title: str, value, code: str | None) -> list[str]:
    out = [f'<text x="{x}" y="{y}" font-size="13" font-weight="bold">{escape(title)}</text>']
    marked = {"E/F": ("E", "F")}.get(code or "", (code,))
    for i, letter in enumerate(CLASSES):
        top = y + 8 + i * 19
        width = 60 + i * 14
        out.append(
            f'<rect x="{x}" y="{top}" width="{width}" height="16" fill="{COLOURS[i]}"/>'
            f'<text x="{x + 4}" y="{top + 12}" font-size="11">{letter}</text>'
        )
        if letter in marked:
            out.append(
                f'<text x="{x + width + 6}" y="{top + 12}" font-size="12" '
                f'font-weight="bold">◀ {escape(str(value))}</text>'
            )
    if code is None:
        out.append(f'<text x="{x}" y="{y + 152}" font-size="11">no class: value unknown</text>')
    return out


def svg(label: Label) -> str:
    """A self-contained SVG of the label preview (numbers and escaped text only).

    The notes are not drawn: the page prints them in full beside the image, and a shortened
    second copy in the SVG read as a repeat."""
    banner = PREVIEW.replace(f" ({DRAFT})", "")
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="420" height="372" '
        'viewBox="0 0 420 372" role="img" aria-label="2026 rating label preview, draft act" '
        'font-family="sans-serif">',
        '<rect x="1" y="1" width="418" height="370" fill="#fff" stroke="#333"/>',
        '<rect x="1" y="1" width="418" height="38" fill="#b00020"/>',
        f'<text x="10" y="17" font-size="12" fill="#fff">{escape(banner)}</text>',
        f'<text x="10" y="33" font-size="12" fill="#fff" font-weight="bold">{escape(DRAFT)}</text>',
        f'<text x="10" y="60" font-size="15" font-weight="bold">EU data centre rating '
        f"{label.year}</text>",
        *_scale(10, 82, "PUE", label.pue, label.pue_class),
        *_scale(220, 82, "WUE [L/kWh]", label.wue, label.wue_class),
    ]
    lines = [
        f"Region (NUTS 3): {label.region_nuts3 or '—'}",
        f"Size category: {label.size_category or '—'}",
        f"Grid flexibility: {label.grid_flexibility}",
        f"Waste-heat reuse: {label.heat_reuse_readiness}",
        f"WUE basis: {label.wue_basis}",
        label.valid,
    ]
    for i, line in enumerate(lines):
        parts.append(f'<text x="10" y="{262 + i * 18}" font-size="11">{escape(line[:70])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def for_period(period, profile, values: dict, indicators: dict) -> Label:
    """The label of a reporting period (any object with the period's attributes), its site
    profile (or None), its input values by symbol and its indicators (Decimal or None)."""
    return build(
        year=period.year,
        schema=period.schema,
        pue=indicators.get("PUE"),
        wue=indicators.get("WUE"),
        nuts3=getattr(profile, "nuts3_code", None),
        pdit_kw=values.get("PDIT"),
        grid_functions=period.grid_functions or "",
        cbtg_kw=values.get("CBTG"),
        heat_reuse_readiness=period.get_heat_reuse_readiness_display()
        if period.heat_reuse_readiness
        else "",
        ereuse_kwh=values.get("EREUSE"),
        cdd=values.get("CDD"),
        operation_start_year=getattr(profile, "operation_start_year", None),
    )
