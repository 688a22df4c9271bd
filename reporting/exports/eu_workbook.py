"""The EU annual workbook (eu-reporting.md §8): one workbook per reporting year, one row per data
centre, Annex I → II → III → IV order, plus omissions, measurement points, e-waste and a monthly
sheet with a native line chart. Also its CSV twins (zipped) and JSON.

Two layers: `report_data()` is the only function that reads the reporting models; everything
else renders that plain dict, so the sheets do not depend on how the models store things.

Variants: "submit" carries every value; "publish" (EED Art. 12(1) public disclosure) leaves out
every Annex II value an operator marked confidential and every indicator computed from one.
A site whose period is not validated is refused unless `allow_unvalidated` is given, and the
README sheet then says so for each such site.
"""

import csv
import io
import zipfile
from collections.abc import Callable
from decimal import Decimal

from django.utils import timezone

from reporting import indicators as ind
from reporting.exports import cells, ewaste
from reporting.exports.cells import DATE, DATETIME, INTEGER, NUMBER, TEXT, Column, Table

SCHEMA_VERSION = "circulus-eu-annual/1 (Delegated Regulation (EU) 2024/1364)"
VARIANTS = ("publish", "submit")
VALIDATED = ("validated", "submitted")
ROUNDED = "0.00"
AUDIT = "0.0000000000"
# Annex III indicator → the Annex II inputs it is computed from (publish: withheld together).
INDICATOR_INPUTS = {
    "PUE": ("EDC", "EIT"),
    "WUE": ("WIN", "EIT"),
    "ERF": ("EREUSE", "EDC"),
    "REF": ("ERES-TOT", "EDC"),
}
MONTHLY_INPUTS = {"EDC", "EIT", "WIN", "EREUSE"}

# Annex II fields: symbol → exact name (regulation) for the column headers.
NAMES = {
    "PDIT": "Installed information technology power demand",
    "SDC": "Data centre total floor area",
    "SCR": "Data centre computer room floor area",
    "EDC": "Total energy consumption",
    "EDC-BG": "Total energy consumption from back-up generators",
    "EIT": "Total energy consumption of information technology equipment",
    "CBTG": "Average battery capacity",
    "WIN": "Total water input",
    "WIN-POT": "Total potable water input",
    "EREUSE": "Waste heat reused",
    "TWH": "Average waste heat temperature",
    "TIN": "Average setpoint information technology equipment intake air temperature",
    "CDD": "Cooling degree days",
    "ERES-TOT": "Total renewable energy consumption",
    "ERES-GOO": "Total renewable energy consumption from Guarantees of Origin",
    "ERES-PPA": "Total renewable energy consumption from Power Purchasing Agreements",
    "ERES-OS": "Total renewable energy consumption from on-site renewables",
    "CSERV": "ICT capacity for servers",
    "CSTOR": "ICT capacity for storage equipment",
    "BIN": "Incoming traffic bandwidth",
    "BOUT": "Outgoing traffic bandwidth",
    "TIN-TRAFFIC": "Incoming data traffic",
    "TOUT": "Outgoing data traffic",
}
# Printed symbols where ours differ (the regulation prints TIN twice: II.1(l) and II.3(c)).
PRINTED = {"CBTG": "CBtG", "TIN-TRAFFIC": "TIN"}
UNITS = {"degree-days": "degree-days, base 21 °C", "SERT score": "SERT active-state performance"}


class NotValidated(Exception):
    """Some selected site's period is not validated and `allow_unvalidated` was not given."""


def header(symbol: str) -> str:
    ref, unit = ind.SYMBOLS[symbol]
    return f"{ref} {PRINTED.get(symbol, symbol)} — {NAMES[symbol]} [{UNITS.get(unit, unit)}]"


def _dec(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


# --- the adapter: models → plain data ----------------------------------------------------------


def report_data(
    year: int,
    site_codes: list[str] | None = None,
    *,
    variant: str = "submit",
    allow_unvalidated: bool = False,
) -> dict:
    """Everything the workbook shows, read from the reporting models into plain data."""
    from registry.models import Site
    from reporting.models import AggregateResult, FieldValue, MeasurementPoint, ReportingPeriod

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    sites = Site.objects.order_by("code").select_related("reporting_profile")
    if site_codes:
        sites = sites.filter(code__in=site_codes)
    periods = {
        p.site_id: p
        for p in ReportingPeriod.objects.filter(year=year, site__in=sites).select_related("result")
    }
    entered: dict[int, dict] = {}
    for fv in FieldValue.objects.filter(period__in=periods.values()):
        entered.setdefault(fv.period_id, {})[fv.symbol] = fv
    meters: dict[int, list] = {}
    for m in MeasurementPoint.objects.filter(site__in=sites).order_by("code"):
        meters.setdefault(m.site_id, []).append(m)

    out, missing, unvalidated = [], [], []
    for site in sites:
        period = periods.get(site.pk)
        if period is None:
            missing.append(site.code)
            continue
        if period.status not in VALIDATED:
            unvalidated.append({"site": site.code, "status": period.status})
        out.append(
            _site_data(site, period, entered.get(period.pk, {}), meters.get(site.pk, []), variant)
        )
    if unvalidated and not allow_unvalidated:
        listed = ", ".join(f"{u['site']} ({u['status']})" for u in unvalidated[:10])
        if len(unvalidated) > 10:
            listed += f" and {len(unvalidated) - 10} more"
        raise NotValidated(
            f"periods not validated for {year}: {listed}; export them only with the explicit "
            "allow-unvalidated flag"
        )
    codes = [s["code"] for s in out]
    return {
        "schema_version": SCHEMA_VERSION,
        "year": year,
        "variant": variant,
        "generated_at": timezone.now(),
        "selection": site_codes or "all",
        "sites": out,
        "without_period": missing,
        "unvalidated": unvalidated,
        "aggregates": [
            {
                "scope": a.scope,
                "group": a.group,
                "n_sites": a.n_sites,
                "total_pdit_kw": a.total_pdit_kw,
                "total_edc_kwh": a.total_edc_kwh,
                "total_win_m3": a.total_win_m3,
                "averages": {
                    k: {**v, "value": _dec(v.get("value"))} for k, v in a.averages.items()
                },
            }
            for a in AggregateResult.objects.filter(year=year).order_by("scope", "group")
        ],
        "ewaste": ewaste.report_data(codes, year) if codes else None,
    }


def _site_data(site, period, entered: dict, meters: list, variant: str) -> dict:
    result = getattr(period, "result", None)
    inputs: dict[str, dict] = {}
    if result is not None:
        for symbol, item in result.inputs.items():
            inputs[symbol] = {**item, "value": _dec(item.get("value"))}
    for symbol, fv in entered.items():  # flags entered after the last computation still apply
        item = inputs.setdefault(
            symbol,
            {"value": fv.value, "unit": ind.SYMBOLS[symbol][1], "quality": fv.quality},
        )
        item.update(
            confidential=fv.confidential,
            note=fv.note,
            omission_reason=fv.omission_reason or item.get("omission_reason", ""),
        )
        if result is None and fv.quality in ("omitted", "missing"):
            item["value"] = None
    withheld = set()
    if variant == "publish":
        withheld = {s for s, item in inputs.items() if item.get("confidential")}
        for symbol in withheld:
            inputs[symbol] = {**inputs[symbol], "value": None}
    indicators = {}
    stored = result.indicators if result is not None else {}
    for name, needs in INDICATOR_INPUTS.items():
        hidden = bool(withheld & set(needs))
        indicators[name] = None if hidden else _dec(stored.get(name))
    monthly = []
    for row in result.monthly if result is not None else []:
        entry = {"month": row["month"]}
        for key in ("EDC", "EIT", "WIN", "EREUSE"):
            entry[key] = None if key in withheld else _dec(row.get(key))
        for name in ("PUE", "WUE", "ERF"):
            hidden = bool(withheld & set(INDICATOR_INPUTS[name]))
            entry[name] = None if hidden else _dec(row.get(name))
        monthly.append(entry)
    profile = getattr(site, "reporting_profile", None)
    coverage = result.coverage if result is not None else {}
    return {
        "code": site.code,
        "name": site.name,
        "country": site.country,
        "status": period.status,
        "computed_at": result.computed_at if result is not None else None,
        "profile": None
        if profile is None
        else {
            f: getattr(profile, f)
            for f in (
                "owner_name",
                "owner_contact",
                "operator_name",
                "operator_contact",
                "lau_code",
                "nuts3_code",
                "dc_type",
                "structure_type",
                "also_cohosting",
                "also_colocation",
                "operation_start_year",
                "operation_start_month",
                "red_el_hv",
                "red_el_lv",
                "red_el_rack",
                "red_cool_room",
                "red_cool_rack",
            )
        },
        "period": {
            "start": period.start_date,
            "end": period.end_date,
            "partial_year": period.partial_year,
            "pdit_basis": period.pdit_basis,
            "wue_category": period.wue_category,
            "eit_method": (inputs.get("EIT") or {}).get("method") or period.eit_method_note,
            "grid_functions": period.grid_functions,
            "refrigerants": period.refrigerants,
            "cdd_source": period.cdd_source,
            "cserv_scr_coverage_pct": period.cserv_scr_coverage_pct,
            "cstor_scr_coverage_pct": period.cstor_scr_coverage_pct,
        },
        "inputs": inputs,
        "withheld": sorted(withheld),
        "indicators": indicators,
        "size_class": stored.get("size_class") if "PDIT" not in withheld else None,
        "monthly": monthly,
        "findings": result.findings if result is not None else [],
        "meters": [
            {
                "code": m.code,
                "quantity": m.quantity,
                "unit": m.unit,
                "register": m.register,
                "multiplier": m.multiplier,
                "interval_minutes": m.interval_minutes,
                "device_id": m.device_id,
                "location": m.location,
                "valid_from": m.valid_from,
                "valid_to": m.valid_to,
                "coverage_pct": _dec((coverage.get(m.code) or {}).get("pct")),
                "gaps": len((coverage.get(m.code) or {}).get("gaps", [])),
            }
            for m in meters
        ],
    }


# --- the sheets ------------------------------------------------------------------------------


def _v(site: dict, symbol: str) -> Decimal | None:
    return (site["inputs"].get(symbol) or {}).get("value")


def _yn(value) -> str | None:
    return None if value is None else ("Y" if value else "N")


def readme(data: dict) -> list[Table]:
    rows = [
        ["Schema version", data["schema_version"]],
        ["Reporting year", data["year"]],
        ["Variant", data["variant"]],
        [
            "Variant meaning",
            "publish: every Annex II value marked confidential, and every indicator computed "
            "from one, is left blank (EED Art. 12(1) public disclosure); submit: everything.",
        ],
        ["Generated at (UTC)", data["generated_at"]],
        ["Sites", ", ".join(s["code"] for s in data["sites"]) or "(none)"],
        [
            "Regulation",
            "Directive (EU) 2023/1791 Art. 12 and Annex VII; Commission Delegated Regulation "
            "(EU) 2024/1364, Annexes I–IV",
        ],
        [
            "Units",
            "Canonical Annex II units as in each header: kW, m2, kWh, m3, °C, degree-days "
            "(base 21 °C), PB, GB/s, EB. WUE in m3/MWh (= L/kWh). E-waste masses in tonnes.",
        ],
        [
            "Rounding",
            "E_Indicators: PUE, WUE, ERF, REF rounded to 2 decimals (ROUND_HALF_UP, project rule: "
            "the regulation has none); the unrounded values are in the audit columns.",
        ],
        [
            "Blanks",
            "An empty cell means not reported (omitted, missing, or withheld as confidential in "
            "the publish variant); it is never 0. A 0 is a reported zero.",
        ],
        ["Dates", "Date cells; times in UTC."],
        [
            "H_Aggregates",
            "Annex IV aggregates as last computed for all sites of the year (EDC-weighted "
            "averages; groups with fewer than 3 data centres suppressed).",
        ],
    ]
    for u in data["unvalidated"]:
        rows.append(
            [
                f"NOT VALIDATED: {u['site']}",
                f"The {data['year']} period of {u['site']} is '{u['status']}', not validated; "
                "it was exported only because the allow-unvalidated flag was given. Its figures "
                "may still change.",
            ]
        )
    for code in data["without_period"]:
        rows.append([f"No period: {code}", f"{code} has no reporting period for {data['year']}."])
    for site in data["sites"]:
        if site["computed_at"] is None:
            rows.append(
                [f"Not computed: {site['code']}", "Entered values only (no computed result)."]
            )
    return [Table([Column("Item"), Column("Value", width=100)], rows)]


def sheet_a(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("I.1(a) Data centre name"),
        Column("I.1(b) Owner name"),
        Column("I.1(b) Owner contact"),
        Column("I.1(b) Operator name"),
        Column("I.1(b) Operator contact"),
        Column("I.1(c) Location (LAU code)"),
        Column("Country (ISO 3166-1)"),
        Column("NUTS3 code"),
        Column("I.1(d) Type of data centre"),
        Column("I.1(d) Structure / group of structures"),
        Column("I.1(d) Also offers co-hosting (Y/N)"),
        Column("I.1(d) Also offers colocation (Y/N)"),
        Column("I.1(e) Year of entry into operation", INTEGER),
        Column("I.1(e) Month of entry into operation", INTEGER),
        Column("I.2(a) Electrical redundancy – high voltage"),
        Column("I.2(a) Electrical redundancy – low voltage (line-up)"),
        Column("I.2(a) Electrical redundancy – rack"),
        Column("I.2(b) Cooling redundancy – room"),
        Column("I.2(b) Cooling redundancy – rack"),
    ]
    rows = []
    for s in data["sites"]:
        p = s["profile"] or {}
        rows.append(
            [
                s["code"],
                s["name"],
                p.get("owner_name"),
                p.get("owner_contact"),
                p.get("operator_name"),
                p.get("operator_contact"),
                p.get("lau_code"),
                s["country"],
                p.get("nuts3_code"),
                p.get("dc_type"),
                p.get("structure_type"),
                _yn(p.get("also_cohosting")),
                _yn(p.get("also_colocation")),
                p.get("operation_start_year"),
                p.get("operation_start_month"),
                p.get("red_el_hv"),
                p.get("red_el_lv"),
                p.get("red_el_rack"),
                p.get("red_cool_room"),
                p.get("red_cool_rack"),
            ]
        )
    return [Table(columns, rows)]


B_LAYOUT = [
    ("PDIT", None),
    (None, ("II.1(a) PDIT basis (installed/rated)", "pdit_basis")),
    ("SDC", None),
    ("SCR", None),
    ("EDC", None),
    ("EDC-BG", None),
    ("EIT", None),
    (None, ("II.1(e) EIT measurement method", "eit_method")),
    (None, ("II.1(f) Electrical grid functions", "grid_functions")),
    ("CBTG", None),
    ("WIN", None),
    (None, ("II.1(h) WUE category used (1/2)", "wue_category")),
    ("WIN-POT", None),
    ("EREUSE", None),
    ("TWH", None),
    ("TIN", None),
    (None, ("II.1(m) Types of refrigerants", "refrigerants")),
    ("CDD", None),
    ("ERES-TOT", None),
    ("ERES-GOO", None),
    ("ERES-PPA", None),
    ("ERES-OS", None),
]


def sheet_b(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Reporting year", INTEGER),
        Column("Period start", DATE),
        Column("Period end", DATE),
        Column("Period status"),
    ]
    for symbol, extra in B_LAYOUT:
        if symbol:
            columns.append(Column(header(symbol), NUMBER))
        else:
            kind = INTEGER if extra[1] == "wue_category" else TEXT
            columns.append(Column(extra[0], kind))
    rows = []
    for s in data["sites"]:
        row = [s["code"], data["year"], s["period"]["start"], s["period"]["end"], s["status"]]
        for symbol, extra in B_LAYOUT:
            row.append(_v(s, symbol) if symbol else (s["period"][extra[1]] or None))
        rows.append(row)
    return [Table(columns, rows)]


def sheet_c(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Reporting year", INTEGER),
        Column(header("CSERV"), NUMBER),
        Column("II.2(a) % of SCR covered", NUMBER),
        Column("II.2(a) Method"),
        Column(header("CSTOR"), NUMBER),
        Column("II.2(b) % of SCR covered", NUMBER),
        Column("Colocation extrapolation used (Y/N)"),
    ]
    rows = []
    for s in data["sites"]:
        cserv = s["inputs"].get("CSERV") or {}
        rows.append(
            [
                s["code"],
                data["year"],
                _v(s, "CSERV"),
                s["period"]["cserv_scr_coverage_pct"],
                cserv.get("note") or None,
                _v(s, "CSTOR"),
                s["period"]["cstor_scr_coverage_pct"],
                None,  # not recorded by Circulus yet: blank, not "N"
            ]
        )
    return [Table(columns, rows)]


def sheet_d(data: dict) -> list[Table]:
    symbols = ("BIN", "BOUT", "TIN-TRAFFIC", "TOUT")
    columns = [
        Column("DC_ID"),
        Column("Reporting year", INTEGER),
        *[Column(header(s), NUMBER) for s in symbols],
        Column("Data source"),
    ]
    rows = []
    for s in data["sites"]:
        notes = [(s["inputs"].get(sym) or {}).get("note") for sym in symbols]
        source = "; ".join(sorted({n for n in notes if n})) or None
        rows.append([s["code"], data["year"], *[_v(s, sym) for sym in symbols], source])
    return [Table(columns, rows)]


def _round(value: Decimal | None) -> Decimal | None:
    return ind.round_reported(value, 2)


def sheet_e(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Reporting year", INTEGER),
        Column("Annex III(a) PUE = EDC/EIT", NUMBER, ROUNDED),
        Column("Annex III(b) WUE = WIN/EIT [m3/MWh]", NUMBER, ROUNDED),
        Column("Annex III(c) ERF = EREUSE/EDC", NUMBER, ROUNDED),
        Column("Annex III(d) REF = ERES-TOT/EDC", NUMBER, ROUNDED),
        Column("Size category (Annex IV)"),
        Column("PUE unrounded (audit)", NUMBER, AUDIT),
        Column("WUE unrounded (audit) [m3/MWh]", NUMBER, AUDIT),
        Column("ERF unrounded (audit)", NUMBER, AUDIT),
        Column("REF unrounded (audit)", NUMBER, AUDIT),
    ]
    rows = []
    for s in data["sites"]:
        values = [s["indicators"][k] for k in INDICATOR_INPUTS]
        rows.append(
            [
                s["code"],
                data["year"],
                *[_round(v) for v in values],
                s["size_class"],
                *values,
            ]
        )
    return [Table(columns, rows)]


def sheet_f(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Field ref"),
        Column("Symbol"),
        Column("Status (omitted/estimated/allocated/missing/withheld)"),
        Column("Legal basis"),
        Column("Reason / note"),
        Column("% SCR covered", NUMBER),
    ]
    rows = []
    coverage = {"CSERV": "cserv_scr_coverage_pct", "CSTOR": "cstor_scr_coverage_pct"}
    for s in data["sites"]:
        for symbol in ind.SYMBOLS:
            item = s["inputs"].get(symbol)
            if item is None:
                continue
            quality = item.get("quality") or "missing"
            withheld = symbol in s["withheld"]
            if quality == "measured" and not withheld:
                continue
            if withheld:
                status, basis = "withheld (confidential)", "Art. 5(5); EED Art. 12(1) exception"
            else:
                status = quality
                basis = {
                    "omitted": "Art. 3(2) (first reporting period, technical reasons)",
                    "estimated": "Art. 3(3)" if symbol in coverage else "",
                }.get(quality, "")
            reason = item.get("omission_reason") or item.get("note") or ""
            pct = s["period"].get(coverage[symbol]) if symbol in coverage else None
            rows.append(
                [s["code"], ind.SYMBOLS[symbol][0], symbol, status, basis or None, reason, pct]
            )
    findings = Table(
        [
            Column("DC_ID"),
            Column("Rule"),
            Column("Severity"),
            Column("Fields"),
            Column("Message", width=80),
        ],
        [
            [s["code"], f["rule_id"], f["severity"], ", ".join(f["fields"]), f["message"]]
            for s in data["sites"]
            for f in s["findings"]
        ],
        title="Validation findings (eu-reporting.md §10.1)",
    )
    return [Table(columns, rows, title="Omissions and estimates"), findings]


def sheet_g(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Meter code"),
        Column("Quantity"),
        Column("Unit"),
        Column("Register"),
        Column("Multiplier", NUMBER),
        Column("Interval [min]", INTEGER),
        Column("Device id"),
        Column("Location"),
        Column("Valid from (UTC)", DATETIME),
        Column("Valid to (UTC)", DATETIME),
        Column("Coverage in the period [%]", NUMBER, "0.00"),
        Column("Gaps", INTEGER),
    ]
    rows = [
        [
            s["code"],
            m["code"],
            m["quantity"],
            m["unit"],
            m["register"],
            m["multiplier"],
            m["interval_minutes"],
            m["device_id"],
            m["location"],
            m["valid_from"],
            m["valid_to"],
            m["coverage_pct"],
            m["gaps"],
        ]
        for s in data["sites"]
        for m in s["meters"]
    ]
    return [Table(columns, rows)]


def sheet_h(data: dict) -> list[Table]:
    kpis = ("PUE", "WUE", "ERF", "REF")
    columns = [
        Column("Reporting year", INTEGER),
        Column("Scope (EU / Member State)"),
        Column("Group (all / type / size)"),
        Column("Annex IV (i) Number of reporting data centres", INTEGER),
        Column("Annex IV (iii) Total PDIT [kW]", NUMBER),
        Column("Annex IV (iv) Total EDC [kWh]", NUMBER),
        Column("Annex IV (v) Total WIN [m3]", NUMBER),
        *[Column(f"EDC-weighted average {k}", NUMBER, AUDIT) for k in kpis],
        Column("Suppressed (< 3 DCs)"),
    ]
    rows = []
    for a in data["aggregates"]:
        averages = a["averages"]
        suppressed = [k for k in kpis if (averages.get(k) or {}).get("suppressed")]
        rows.append(
            [
                data["year"],
                a["scope"],
                a["group"],
                a["n_sites"],
                a["total_pdit_kw"],
                a["total_edc_kwh"],
                a["total_win_m3"],
                *[(averages.get(k) or {}).get("value") for k in kpis],
                ", ".join(suppressed) or None,
            ]
        )
    return [Table(columns, rows)]


MONTHLY_COLUMNS = [
    Column("DC_ID"),
    Column("Month"),
    Column("EDC [kWh]", NUMBER),
    Column("EIT [kWh]", NUMBER),
    Column("WIN [m3]", NUMBER),
    Column("EREUSE [kWh]", NUMBER),
    Column("PUE", NUMBER, "0.000"),
    Column("WUE [m3/MWh]", NUMBER, "0.000"),
    Column("ERF", NUMBER, "0.000"),
]


def sheet_monthly(data: dict) -> list[Table]:
    rows = [
        [
            s["code"],
            m["month"],
            m["EDC"],
            m["EIT"],
            m["WIN"],
            m["EREUSE"],
            m["PUE"],
            m["WUE"],
            m["ERF"],
        ]
        for s in data["sites"]
        for m in s["monthly"]
    ]
    return [Table(MONTHLY_COLUMNS, rows)]


def sheet_i(data: dict) -> list[Table]:
    if data["ewaste"] is None:
        return [Table([Column("Note")], [["No site selected."]])]
    return ewaste.tables(data["ewaste"])


SHEETS: list[tuple[str, Callable[[dict], list[Table]]]] = [
    ("00_README", readme),
    ("A_Information", sheet_a),
    ("B_Energy_Sustainability", sheet_b),
    ("C_ICT_Capacity", sheet_c),
    ("D_Data_Traffic", sheet_d),
    ("E_Indicators", sheet_e),
    ("F_Omissions_Estimates", sheet_f),
    ("G_Measurement_Points", sheet_g),
    ("H_Aggregates", sheet_h),
    ("I_EWaste", sheet_i),
    ("Monthly", sheet_monthly),
]


def sheets(data: dict) -> list[tuple[str, list[Table]]]:
    return [(name, build(data)) for name, build in SHEETS]


# --- renderings ------------------------------------------------------------------------------


def _noop(pct, force=False):
    return None


def write_xlsx(data: dict, target, progress=_noop) -> None:
    book = cells.new_workbook(target)
    formats = cells.Formats(book)
    built = sheets(data)
    for i, (name, tables) in enumerate(built):
        ws = book.add_worksheet(name)
        cells.set_widths(ws, tables)
        if len(tables) == 1 and not tables[0].title:
            ws.freeze_panes(1, 1 if name != "00_README" else 0)
        row = 0
        for table in tables:
            row = cells.write_table(ws, formats, table, row) + 1
        if name == "Monthly":
            _charts(book, ws, data, below_row=row, tables=tables)
        progress(30 + 60 * (i + 1) / len(built))
    cells.print_setup(book, dict(built), scope=_print_scope(data))
    book.close()


def _print_scope(data: dict) -> str:
    codes = [s["code"] for s in data["sites"]]
    sites = ", ".join(codes[:6]) + (f" and {len(codes) - 6} more" if len(codes) > 6 else "")
    return f"{sites or 'no site'} · {data['year']} · {data.get('variant', '')}".rstrip(" ·")


def _charts(book, ws, data: dict, *, below_row: int, tables: list) -> None:
    """Native line charts of the monthly PUE and WUE, one series per site.

    Printed, each chart starts its own page below the table and is no wider than the table, so a
    sheet fitted to one page wide keeps the chart whole (axis and plot on the same page).
    """
    first = 1  # data rows start under the header
    col_pue, col_wue = 6, 7
    charts = []
    for title, col, axis in (
        (f"Monthly PUE {data['year']}", col_pue, "PUE"),
        (f"Monthly WUE {data['year']}", col_wue, "WUE [m3/MWh]"),
    ):
        chart = book.add_chart({"type": "line"})
        chart.set_title({"name": title})
        chart.set_y_axis({"name": axis})
        chart.set_x_axis({"name": "Month"})
        charts.append((chart, col))
    row = first
    for s in data["sites"]:
        n = len(s["monthly"])
        if n:
            for chart, col in charts:
                chart.add_series(
                    {
                        "name": s["code"],
                        "categories": ["Monthly", row, 1, row + n - 1, 1],
                        "values": ["Monthly", row, col, row + n - 1, col],
                        "marker": {"type": "circle"},
                    }
                )
        row += n
    width = max(cells.table_width_px(tables), 640)
    height = int(width * cells.CHART_HEIGHT_RATIO)
    rows_per_chart = -(-height // cells.ROW_HEIGHT_PX) + 2
    anchor, breaks = below_row + 1, []
    for chart, _ in charts:
        chart.set_size({"width": width, "height": height})
        # One blank row under the break: a chart touching a page's edge is drawn on both pages.
        ws.insert_chart(anchor + 1, 0, chart, {"object_position": 3})
        breaks.append(anchor)
        anchor += rows_per_chart
    ws.set_h_pagebreaks(breaks)


def write_csv_zip(data: dict, target, progress=_noop) -> None:
    """The CSV twin of every sheet (UTF-8 with BOM, text neutralised), in one zip."""
    built = sheets(data)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, (name, tables) in enumerate(built):
            buffer = io.StringIO()
            cells.write_csv_tables(csv.writer(buffer), tables)
            archive.writestr(f"{name}.csv", "\ufeff" + buffer.getvalue())
            progress(30 + 60 * (i + 1) / len(built))


def as_json(data: dict) -> dict:
    """The workbook's content as JSON: {sheet: [{title, columns, rows}]}."""
    return {
        "schema_version": data["schema_version"],
        "year": data["year"],
        "variant": data["variant"],
        "generated_at": cells.json_value(data["generated_at"]),
        "sheets": {name: [cells.table_json(t) for t in tables] for name, tables in sheets(data)},
    }
