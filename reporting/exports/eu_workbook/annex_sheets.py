"""The README and the sheets of Annexes I to III (A to E), one row per data centre."""

from decimal import Decimal

from reporting import indicators as ind
from reporting import label
from reporting.exports.cells import DATE, INTEGER, NUMBER, TEXT, Column, Table
from reporting.exports.eu_workbook.terms import AUDIT, INDICATOR_INPUTS, ROUNDED
from reporting.exports.eu_workbook.terms import input_value as _v
from reporting.symbols import header


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
        ["Field dictionary (schema)", schemas_text(data)],
        ["Field dictionary rule", dictionary_rule(data)],
        [
            "Schemas",
            "2024/1364: WUE = WIN / EIT. 2024/1364+2026 (rating act C(2026) 3472): WUE = WIN-FRE "
            "/ EIT (freshwater input, kept apart from WIN-POT); the data-traffic indicators "
            "(D_Data_Traffic) are not part of it and stay blank.",
        ],
        [
            "K_Label_2026",
            f"Label {label.PREVIEW}. Classes on the values rounded to 2 decimals; C is implied "
            "by the B and D bounds; E/F: the act's split of that band is not published. "
            f"{label.BOUND_SOURCES}",
        ],
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
            "averages). One rule for every group — EU and Member State, 'all', per type and "
            "per size: a total or average built from fewer than 3 data centres is withheld "
            "(blank), since it would disclose individual data (Art. 5(5)); the number of data "
            "centres is always given. Annex IV prints the rule for per-type and per-size "
            "averages; it is applied to the 'all' groups and the totals too. A total is "
            "also blank when a data centre of the group did not report the figure (it is "
            "never counted as 0).",
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
    return [
        Table([Column("Item", width=28, wrap=True), Column("Value", width=100, wrap=True)], rows)
    ]


def dictionary_rule(data: dict) -> str:
    """How the year chose the field dictionary, and any site whose period kept another one."""
    schema, why = ind.governing_dictionary(data["year"])
    text = f"The reporting year chooses the dictionary: {why}"
    kept = [s["code"] for s in data["sites"] if s["period"]["schema"] != schema]
    if kept:
        text += (
            f" Kept on another dictionary (entered values without a field in {schema}, or "
            f"submitted before the rule): {', '.join(kept)}."
        )
    return text


def _schemas(data: dict) -> list[str]:
    return sorted({s["period"]["schema"] for s in data["sites"]})


def schemas_text(data: dict) -> str:
    per_site = ", ".join(f"{s['code']}: {s['period']['schema']}" for s in data["sites"])
    return per_site or "(no site)"


def _wue_header(data: dict) -> str:
    schemas = _schemas(data)
    if schemas == [ind.SCHEMA_2026]:
        return "Annex III(b) WUE = WIN-FRE/EIT [m3/MWh] (2024/1364+2026)"
    if schemas == [ind.SCHEMA_2024] or not schemas:
        return "Annex III(b) WUE = WIN/EIT [m3/MWh] (2024/1364)"
    return "Annex III(b) WUE [m3/MWh]: WIN/EIT (2024/1364) or WIN-FRE/EIT (+2026), per row"


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
    ("WIN-FRE", None),
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


# How Annex II values of each unit are shown: rounded on the page, full value in the cell.
SHOWN_AS = {"kWh": "#,##0", "m2": "#,##0", "degree-days": "#,##0", "kW": "#,##0.0",
            "m3": "#,##0.0", "°C": "0.0"}  # fmt: skip


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
            unit = ind.ALL_SYMBOLS[symbol][1]
            columns.append(Column(header(symbol), NUMBER, SHOWN_AS.get(unit)))
        else:
            kind = INTEGER if extra[1] == "wue_category" else TEXT
            columns.append(Column(extra[0], kind))
    columns.append(Column("Field dictionary (schema)"))
    rows = []
    for s in data["sites"]:
        p = s["period"]
        row = [s["code"], data["year"], p["start"], p["end"], s["status"]]
        for symbol, extra in B_LAYOUT:
            row.append(_v(s, symbol) if symbol else (s["period"][extra[1]] or None))
        rows.append([*row, p["schema"]])
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
        Column(_wue_header(data), NUMBER, ROUNDED),
        Column("Annex III(c) ERF = EREUSE/EDC", NUMBER, ROUNDED),
        Column("Annex III(d) REF = ERES-TOT/EDC", NUMBER, ROUNDED),
        Column("Size category (Annex IV)"),
        Column("PUE unrounded (audit)", NUMBER, AUDIT),
        Column("WUE unrounded (audit) [m3/MWh]", NUMBER, AUDIT),
        Column("ERF unrounded (audit)", NUMBER, AUDIT),
        Column("REF unrounded (audit)", NUMBER, AUDIT),
        Column("Field dictionary (schema)"),
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
                s["period"]["schema"],
            ]
        )
    return [Table(columns, rows)]
