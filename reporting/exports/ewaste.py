"""The e-waste and circularity report (`I_EWaste`, also a standalone workbook).

Every figure comes from the registry's ledger selectors (`registry.selectors`): the routes, the
EDE ratio, metals, sanitisation counts and certificates are `circular_figures`; the certified
share of recycling per WEEE category is the same `route_events` rows filtered by certification.
Nothing here recomputes a mass or a count from the ledger by other means.
"""

from decimal import Decimal

from django.db.models import Count, Sum

from registry import selectors
from registry.lifecycle import CERTIFIED_RECYCLERS, METALS, EventKind
from registry.models import Site
from reporting.exports import cells
from reporting.exports.cells import INTEGER, NUMBER, TEXT, Column, Table

ROUTE_LABELS = {
    "reused-internally": "Reused internally",
    "resold-or-donated": "Resold or donated",
    "refurbished": "Refurbished",
    "recycled": "Recycled (all recyclers)",
    "other": "Other (returned, lost)",
}
# WEEE Directive 2012/19/EU Annex III categories of IT equipment (4 large, 6 small IT).
WEEE_CATEGORIES = ("4", "6")
ALL_SITES = "ALL"
TONNES = "0.000"  # Reg. (EU) 2017/699 reports tonnes; cells keep the selector's 6 places


def site_codes(codes: list[str] | None) -> list[str]:
    qs = Site.objects.order_by("code")
    if codes:
        qs = qs.filter(code__in=codes)
    return list(qs.values_list("code", flat=True))


def certified_recycling(codes: list[str] | None, period: selectors.Period) -> dict:
    """{weee: {"units", "mass_kg"}} of recycling through a certified recycler (R2v3, e-Stewards,
    WEEELABEX): the selector's recycled rows whose consignment went to a certified recycler."""
    rows = (
        selectors.route_events(codes, period)
        .filter(kind=EventKind.RECYCLED, certification__in=list(CERTIFIED_RECYCLERS))
        .values("weee")
        .annotate(units=Count("id"), mass=Sum("mass_kg"))
    )
    return {r["weee"]: {"units": r["units"], "mass_kg": _kg(r["mass"])} for r in rows}


def report_data(codes: list[str] | None, year: int) -> dict:
    """Plain data of the report: one entry per site (and one for all selected sites together)."""
    period = selectors.Period.year(year)
    sites = site_codes(codes)
    scopes = [(code, [code]) for code in sites]
    if len(sites) > 1:
        scopes.append((ALL_SITES, sites))
    out = []
    for label, scope in scopes:
        figures = selectors.circular_figures(scope, period)
        figures["certified"] = certified_recycling(scope, period)
        out.append({"site": label, "figures": figures})
    return {"year": year, "sites": sites, "scopes": out}


def _kg(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.001"))


def _t(kg: Decimal | None) -> Decimal | None:
    # kg → t exactly as the selector does for `mass_t` (6 places).
    return None if kg is None else (kg / Decimal(1000)).quantize(Decimal("0.000001"))


def route_table(data: dict) -> Table:
    route_cols = []
    for route, label in ROUTE_LABELS.items():
        route_cols += [
            Column(f"{label} [units]", INTEGER),
            Column(f"{label} [t]", NUMBER, TONNES),
        ]
        if route == "recycled":
            route_cols += [
                Column("of which via certified recycler [units]", INTEGER),
                Column("of which via certified recycler [t]", NUMBER, TONNES),
            ]
    columns = [
        Column("Site", TEXT),
        Column("Year", INTEGER),
        Column("WEEE cat", TEXT),
        Column("Units (all routes)", INTEGER),
        Column("Gross weight of units of known mass (all routes) [t]", NUMBER, TONNES),
        Column("Units of unknown mass (all routes)", INTEGER),
        Column("Share of units of unknown mass", NUMBER, "0.0%"),
        *route_cols,
        Column("EDE (site, all categories, known masses only)", NUMBER, "0.0000"),
        Column("Data-sanitisation standards", TEXT),
        Column("Certificates", TEXT),
    ]
    rows = []
    for scope in data["scopes"]:
        fig = scope["figures"]
        present = {w for by_weee in fig["routes"].values() for w in by_weee}
        categories = list(WEEE_CATEGORIES) + sorted(present - set(WEEE_CATEGORIES))
        standards = "; ".join(
            sorted({f"{s['standard']} ({s['method']})" for s in fig["sanitisation"]})
        )
        for weee in categories:
            units, unknown, mass_t, cells = 0, 0, None, []
            for route in ROUTE_LABELS:
                entry = fig["routes"][route].get(weee)
                r_units = entry["units"] if entry else 0
                # No unit on the route weighs 0 t; units all of unknown mass weigh "unknown".
                r_t = entry["mass_t"] if entry else Decimal("0.000000")
                units += r_units
                unknown += entry["unknown_mass_units"] if entry else 0
                if entry and r_t is not None:
                    mass_t = r_t if mass_t is None else mass_t + r_t
                cells += [r_units, r_t]
                if route == "recycled":
                    cert = fig["certified"].get(weee)
                    cells += [cert["units"] if cert else 0, _t(cert["mass_kg"]) if cert else _t(0)]
            if mass_t is None and not unknown:
                mass_t = Decimal("0.000000")  # no unit in the category at all: a real 0 t
            rows.append(
                [
                    scope["site"],
                    data["year"],
                    weee,
                    units,
                    mass_t,
                    unknown,
                    (Decimal(unknown) / units).quantize(Decimal("0.0001")) if units else None,
                    *cells,
                    fig["ede"]["value"],
                    standards,
                    ", ".join(fig["certificates"]),
                ]
            )
    return Table(columns, rows, title=f"Units and mass entering each route, {data['year']}")


def ede_table(data: dict) -> Table:
    columns = [
        Column("Site", TEXT),
        Column("Year", INTEGER),
        Column("EDE", NUMBER, "0.0000"),
        Column("Responsibly disposed [kg]", NUMBER, "0.000"),
        Column("Disposed [kg]", NUMBER, "0.000"),
        Column("Disposed units", INTEGER),
        Column("of which mass unknown (left out of EDE)", INTEGER),
        Column("Share of disposed units of unknown mass", NUMBER, "0.0%"),
        Column("Embodied GWP kept in use [kgCO2e]", NUMBER, "0.0"),
        Column("kept in use, low estimate [kgCO2e]", NUMBER, "0.0"),
        Column("kept in use, high estimate [kgCO2e]", NUMBER, "0.0"),
        Column("Units kept in use without an embodied figure", INTEGER),
        Column("Definition", TEXT, width=60),
    ]
    rows = []
    for s in data["scopes"]:
        ede, kept = s["figures"]["ede"], s["figures"]["embodied_kept"]
        rows.append(
            [
                s["site"],
                data["year"],
                ede["value"],
                ede["responsible_mass_kg"],
                ede["disposed_mass_kg"],
                ede["disposed_units"],
                ede["unknown_mass_units"],
                ede["unknown_mass_share"],
                kept["kgco2e"],
                s["figures"]["embodied_kgco2e_kept_in_use_low"],
                s["figures"]["embodied_kgco2e_kept_in_use_high"],
                kept["unknown_units"],
                ede["definition"],
            ]
        )
    return Table(columns, rows, title="Electronics disposal efficiency (The Green Grid EDE)")


def metals_table(data: dict) -> Table:
    columns = [
        Column("Site", TEXT),
        Column("Year", INTEGER),
        Column("Material", TEXT),
        Column("Recycled units (components that followed a parent are inside it)", INTEGER),
        Column("of which content unknown", INTEGER),
        Column("Content [g]", NUMBER, "0.0000"),
        Column("Content min [g]", NUMBER, "0.0000"),
        Column("Content max [g]", NUMBER, "0.0000"),
        Column("Content basis", TEXT),
        Column("Recovery yield", TEXT),
        Column("Recovery yield range", TEXT),
        Column("Expected recoverable [g]", NUMBER, "0.0000"),
        Column("Expected recoverable min [g]", NUMBER, "0.0000"),
        Column("Expected recoverable max [g]", NUMBER, "0.0000"),
        Column("Reported by certificates [g]", NUMBER, "0.0000"),
        Column("Units with a reported figure", INTEGER),
        Column("Expected on those units [g]", NUMBER, "0.0000"),
        Column("Gap: reported − expected [g]", NUMBER, "0.0000"),
        Column("Yield basis", TEXT, width=84),
    ]
    rows = []
    for s in data["scopes"]:
        metals = s["figures"]["recovered_metals_g"]
        for metal in METALS:
            m = metals[metal]
            rows.append(
                [
                    s["site"],
                    data["year"],
                    metal,
                    m["units"],
                    m["units_unknown"],
                    m["content_g"],
                    m["content_min_g"],
                    m["content_max_g"],
                    m["basis"],
                    m["yield"],
                    f"{m['yield_min']}–{m['yield_max']}" if m["yield"] is not None else None,
                    m["expected_recoverable_g"],
                    m["expected_recoverable_min_g"],
                    m["expected_recoverable_max_g"],
                    m["reported_g"],
                    m["reported_units"],
                    m["expected_on_reported_units_g"],
                    m["gap_g"],
                    m["yield_basis"],
                ]
            )
    return Table(columns, rows, title="Materials: expected recoverable vs reported by certificates")


def sanitisation_table(data: dict) -> Table:
    columns = [
        Column("Site", TEXT),
        Column("Year", INTEGER),
        Column("Method (NIST SP 800-88)", TEXT),
        Column("Standard", TEXT),
        Column("Verification", TEXT),
        Column("Count", INTEGER),
    ]
    rows = [
        [s["site"], data["year"], r["method"], r["standard"], r["verification"], r["count"]]
        for s in data["scopes"]
        for r in s["figures"]["sanitisation"]
    ]
    return Table(columns, rows, title="Data sanitisation: method and standard counts")


def certificates_table(data: dict) -> Table:
    columns = [Column("Site", TEXT), Column("Year", INTEGER), Column("Certificate reference", TEXT)]
    rows = [
        [s["site"], data["year"], ref]
        for s in data["scopes"]
        for ref in s["figures"]["certificates"]
    ]
    return Table(columns, rows, title="Recycling certificates")


def tables(data: dict) -> list[Table]:
    """The report's tables, in order; the `I_EWaste` sheet holds them one under another."""
    return [
        route_table(data),
        ede_table(data),
        metals_table(data),
        sanitisation_table(data),
        certificates_table(data),
    ]


SHEETS = ("Routes", "EDE", "Metals", "Sanitisation", "Certificates")


def write_workbook(codes: list[str] | None, year: int, target) -> dict:
    """The standalone e-waste workbook (one table per sheet); returns the data written."""
    data = report_data(codes, year)
    book = cells.new_workbook(target)
    formats = cells.Formats(book)
    layouts = {}
    for name, table in zip(SHEETS, tables(data), strict=True):
        ws = book.add_worksheet(name)
        table.title = None
        widths = cells.set_widths(ws, [table])
        ws.freeze_panes(1, 0)
        cells.write_table(ws, formats, table, 0, widths)
        layouts[name] = [table]
    sites = ", ".join(data["sites"]) or "no site"
    cells.print_setup(book, layouts, scope=f"{sites} · {year}")
    book.close()
    return data


def write_sheet(book, formats, data: dict, name: str = "I_EWaste") -> None:
    """The `I_EWaste` sheet of the EU workbook: the report's tables one under another."""
    ws = book.add_worksheet(name)
    blocks = tables(data)
    widths = cells.set_widths(ws, blocks)
    row, span = 0, cells.first_page_columns(blocks)
    for table in blocks:
        row = cells.write_table(ws, formats, table, row, widths, span) + 1
