"""The sheets beside the annexes' figures: omissions and findings (F), measurement points (G),
Annex IV aggregates (H), e-waste (I), the 2026 label (K) and the monthly series."""

from reporting import indicators as ind
from reporting import label
from reporting.exports import ewaste
from reporting.exports.cells import DATE, DATETIME, INTEGER, NUMBER, Column, Table
from reporting.exports.eu_workbook.terms import AUDIT, ROUNDED


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
        for symbol in s["fields"]:
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
                [s["code"], ind.ALL_SYMBOLS[symbol][0], symbol, status, basis or None, reason, pct]
            )
    findings = findings_table(data, "Validation findings and compliance checks")
    return [Table(columns, rows, title="Omissions and estimates"), findings]


def findings_table(data: dict, title: str, only_compliance: bool = False) -> Table:
    """Validation findings; compliance checks carry their legal reference and start date."""
    return Table(
        [
            Column("DC_ID"),
            Column("Rule"),
            Column("Severity"),
            Column("Fields"),
            Column("Message", width=50),
            Column("Legal reference"),
            Column("Applies from", DATE),
        ],
        [
            [
                s["code"],
                f["rule_id"],
                f["severity"],
                ", ".join(f["fields"]),
                f["message"],
                f.get("legal_ref"),
                _date(f.get("applies_from")),
            ]
            for s in data["sites"]
            for f in s["findings"]
            if f.get("legal_ref") or not only_compliance
        ],
        title=title,
    )


def _date(value):
    from datetime import date

    return date.fromisoformat(value) if value else None


def sheet_g(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Meter code"),
        Column("Quantity"),
        Column("Unit"),
        Column("Register"),
        Column("Multiplier (from the start)", NUMBER),
        Column("Setting intervals (later unit × multiplier)"),
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
            m["setting_intervals"],
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
        Column("Withheld (< 3 DCs)"),
    ]
    if data.get("aggregates_withheld"):
        return [Table(columns, [], title=data["aggregates_withheld"])]
    rows = []
    for a in data["aggregates"]:
        averages = a["averages"]
        suppressed = [k for k in kpis if (averages.get(k) or {}).get("suppressed")]
        blank = [t for t in ("total_pdit_kw", "total_edc_kwh", "total_win_m3") if a[t] is None]
        if a["n_sites"] < ind.MIN_SITES:
            suppressed.insert(0, "totals")
        else:  # a total some data centre of the group did not report
            suppressed[:0] = [f"{t.split('_')[1].upper()} total (not all DCs)" for t in blank]
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
    Column("WIN-FRE [m3] (2024/1364+2026: WUE = WIN-FRE/EIT)", NUMBER),
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
            m["WIN-FRE"],
        ]
        for s in data["sites"]
        for m in s["monthly"]
    ]
    tables = [Table(MONTHLY_COLUMNS, rows)]
    notes = _no_monthly_notes(data)
    if notes:
        tables.append(Table([Column("Note")], [[n] for n in notes], note=True))
    return tables


def has_readings(site: dict) -> bool:
    return any(m[k] is not None for m in site["monthly"] for k in ("EDC", "EIT", "WIN"))


def _listed(codes: list[str]) -> str:
    more = f" and {len(codes) - 10} more" if len(codes) > 10 else ""
    return ", ".join(codes[:10]) + more


def _no_monthly_notes(data: dict) -> list[str]:
    """Why a site has no monthly figures, so an empty sheet is never left unexplained."""
    notes = []
    unmetered = [s["code"] for s in data["sites"] if not has_readings(s)]
    if unmetered:
        notes.append(
            f"No readings in {data['year']} for {_listed(unmetered)}: their months are blank "
            "and have no chart. Their annual figures are the values entered on the reporting "
            "period (sheet B)."
        )
    if data["without_period"]:
        notes.append(
            f"No reporting period for {data['year']} at {_listed(data['without_period'])}: "
            "nothing is reported for them until a period is opened."
        )
    return notes


def sheet_i(data: dict) -> list[Table]:
    if data["ewaste"] is None:
        return [Table([Column("Note")], [["No site selected."]])]
    return ewaste.tables(data["ewaste"])


def sheet_k(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Reporting year", INTEGER),
        Column("Field dictionary (schema)"),
        Column("PUE (2 dp)", NUMBER, ROUNDED),
        Column("PUE class (A-G)"),
        Column("WUE (2 dp) [L/kWh]", NUMBER, ROUNDED),
        Column("WUE class (A-G)"),
        Column("WUE basis"),
        Column("Region (NUTS 3)"),
        Column("Size category (Annex IV)"),
        Column("Grid flexibility provision"),
        Column("Waste-heat reuse readiness"),
        Column("Explanatory notes", width=60),
        Column("Label validity"),
        Column("Status"),
    ]
    rows = []
    for s in data["sites"]:
        k = s["label"]
        rows.append(
            [
                s["code"],
                data["year"],
                s["period"]["schema"],
                k.pue,
                k.pue_class,
                k.wue,
                k.wue_class,
                k.wue_basis,
                k.region_nuts3,
                k.size_category,
                k.grid_flexibility,
                k.heat_reuse_readiness,
                " ".join(k.notes),
                k.valid,
                k.status,
            ]
        )
    return [Table(columns, rows, title=f"2026 rating label — {label.PREVIEW}")]
