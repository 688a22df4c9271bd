"""Germany's data-centre register (RZReg, EnEfG Anlage 3): how each data point is read from a
site's gathered data, what the register needs, and its three sheets."""

from collections.abc import Callable
from decimal import Decimal

from reporting import enefg
from reporting import indicators as ind
from reporting.exports.cells import NUMBER, Column, Shown, Table
from reporting.exports.eu_workbook.annex_sheets import dictionary_rule, schemas_text
from reporting.exports.eu_workbook.record_sheets import findings_table
from reporting.exports.eu_workbook.terms import RZREG, MissingInputs
from reporting.exports.eu_workbook.terms import input_value as _v


def _electricity(s):
    return enefg.total_electricity(_v(s, "EGRID"), _v(s, "EOWN"), _v(s, "EFEED"))


def _renewable_share(s):
    """Anlage 3 2(b), EnEfG §11(5): on electricity only; blank while an input is unknown."""
    share = enefg.renewable_electricity_share(
        _v(s, "ERES-TOT"), _v(s, "EGRID"), _v(s, "EOWN"), _v(s, "EFEED")
    )
    return None if share is None else share * 100


def _enefg(s, key):
    return (s.get("enefg") or {}).get(key)


def _erf_pct(s):
    erf = s["indicators"]["ERF"]
    return None if erf is None else erf * 100


# Anlage 3 data points: (item, German name, English name, unit, how to read it from a site).
# German wording follows Anlage 3 as summarised in secondary sources (the Act at gesetze.legal, the
# register's data-point list; docs/sources.md); the register's own form labels may differ.
ANLAGE_3: list[tuple[str, str, str, str, Callable[[dict], object]]] = [
    ("1(a)", "Name des Rechenzentrums", "Data centre name", "", lambda s: s["name"]),
    ("1(b)", "Eigentümer", "Owner", "", lambda s: (s["profile"] or {}).get("owner_name")),
    ("1(b)", "Betreiber", "Operator", "", lambda s: (s["profile"] or {}).get("operator_name")),
    ("1(c)", "Größenklasse (IT-Nennanschlussleistung)", "Size class (rated IT connected load)",
     "", lambda s: enefg.size_class(_v(s, "PDIT"))),
    ("1(d)", "Postleitzahl", "Postcode", "", lambda s: (s["profile"] or {}).get("postcode")),
    ("1(e)", "Gesamtgebäudefläche", "Total building floor area", "m²", lambda s: _v(s, "SDC")),
    ("1(f)", "Nennanschlussleistung IT", "Rated IT connected load", "kW",
     lambda s: _v(s, "PDIT")),
    ("1(f)", "Nicht redundante Nennanschlussleistung", "Non-redundant rated connected load",
     "kW", lambda s: _v(s, "PNR")),
    ("2(a)", "Gesamtstromverbrauch inkl. Eigenerzeugung",
     "Total electricity consumption incl. own generation", "kWh", _electricity),
    ("2(a)", "Strombezug aus dem Netz", "Electricity purchased from the grid", "kWh",
     lambda s: _v(s, "EGRID")),
    ("2(a)", "Eigenerzeugung", "Own electricity generation", "kWh", lambda s: _v(s, "EOWN")),
    ("2(a)", "Rückspeisung ins Netz", "Electricity fed back into the grid", "kWh",
     lambda s: _v(s, "EFEED")),
    ("2(b)", "Anteil erneuerbarer Energien am Stromverbrauch (DIN EN 50600-4-3)",
     "Renewable share of electricity (EN 50600-4-3)", "%", _renewable_share),
    ("2(c)", "Abwärme an Luft abgegeben", "Waste heat released to air", "kWh",
     lambda s: _v(s, "WH-AIR")),
    ("2(c)", "Durchschnittstemperatur Abwärme an Luft", "Mean temperature, heat to air", "°C",
     lambda s: _v(s, "TWH-AIR")),
    ("2(c)", "Abwärme an Wasser abgegeben", "Waste heat released to water", "kWh",
     lambda s: _v(s, "WH-WATER")),
    ("2(c)", "Durchschnittstemperatur Abwärme an Wasser", "Mean temperature, heat to water",
     "°C", lambda s: _v(s, "TWH-WATER")),
    ("2(c)", "Abwärme an Boden abgegeben", "Waste heat released to ground", "kWh",
     lambda s: _v(s, "WH-GROUND")),
    ("2(c)", "Durchschnittstemperatur Abwärme an Boden", "Mean temperature, heat to ground",
     "°C", lambda s: _v(s, "TWH-GROUND")),
    ("2(d)", "An Abnehmer abgegebene Abwärme", "Waste heat delivered to off-takers", "kWh/a",
     lambda s: _v(s, "EREUSE")),
    ("2(d)", "Durchschnittstemperatur der abgegebenen Abwärme",
     "Mean temperature of heat delivered", "°C", lambda s: _v(s, "TWH-DELIV")),
    ("2(e)", "Gespeicherte Datenmenge (Speicherkapazität)", "Data stored (storage capacity)",
     "PB", lambda s: _v(s, "CSTOR")),
    ("2(f)", "Energieverbrauchseffektivität (PUE, DIN EN 50600-4-2)",
     "Power usage effectiveness (PUE, EN 50600-4-2)", "", lambda s: s["indicators"]["PUE"]),
    ("2(g)", "Energiewiederverwendungsfaktor (ERF, DIN EN 50600-4-6)",
     "Energy reuse factor (ERF, EN 50600-4-6)", "%", _erf_pct),
    ("2(h)", "Kühleffizienzverhältnis (CER, DIN EN 50600-4-7)",
     "Cooling efficiency ratio (CER, EN 50600-4-7)", "", lambda s: s["indicators"]["CER"]),
    ("2(i)", "Wassernutzungseffektivität (WUE, DIN EN 50600-4-9)",
     "Water usage effectiveness (WUE, EN 50600-4-9)", "L/kWh",
     lambda s: s["indicators"]["WUE"]),
]  # fmt: skip

# Beside Anlage 3, marked as not being its items: what the act asks elsewhere and the register
# form does not (§11(2) S. 3's PUE and its input; §12; the recorded exemptions).
BESIDE_ANLAGE_3: list[tuple[str, str, str, str, Callable[[dict], object]]] = [
    ("§11(2) S. 3, no Anlage 3 item", "Strom von Anlagen nur zur Aufwertung der Abwärme",
     "Electricity only for upgrading waste heat", "kWh", lambda s: _v(s, "EUPGRADE")),
    ("§11(2) S. 3, no Anlage 3 item",
     "Energieverbrauchseffektivität nach §11 (ohne Aufwertung der Abwärme; nicht 2(f))",
     "§11 PUE, waste-heat upgrading left out (not the 2(f) PUE)", "",
     lambda s: s["indicators"].get("PUE-11")),
    ("§12, no Anlage 3 item", "Energie- oder Umweltmanagementsystem am Periodenende",
     "Management system, state on the period's last day", "", lambda s: _enefg(s, "state")),
    ("§12, no Anlage 3 item", "Managementsysteme (Art, Stand, Daten, Nachweis)",
     "Management systems (kind, state, dates, document)", "", lambda s: _enefg(s, "systems")),
    ("§11(3), §12(4), (6), no Anlage 3 item", "Erfasste Ausnahmen (Grund, Daten, Nachweis)",
     "Recorded exemptions (ground, dates, proof)", "", lambda s: _enefg(s, "exemptions")),
]  # fmt: skip
DATA_POINTS = ANLAGE_3 + BESIDE_ANLAGE_3

# The entered or metered input behind an Anlage 3 row (its quality flag is shown beside it).
ANLAGE_3_INPUT = {
    "Total building floor area": "SDC",
    "Rated IT connected load": "PDIT",
    "Non-redundant rated connected load": "PNR",
    "Electricity purchased from the grid": "EGRID",
    "Own electricity generation": "EOWN",
    "Electricity fed back into the grid": "EFEED",
    "Waste heat released to air": "WH-AIR",
    "Mean temperature, heat to air": "TWH-AIR",
    "Waste heat released to water": "WH-WATER",
    "Mean temperature, heat to water": "TWH-WATER",
    "Waste heat released to ground": "WH-GROUND",
    "Mean temperature, heat to ground": "TWH-GROUND",
    "Waste heat delivered to off-takers": "EREUSE",
    "Mean temperature of heat delivered": "TWH-DELIV",
    "Data stored (storage capacity)": "CSTOR",
    "Electricity only for upgrading waste heat": "EUPGRADE",
}

# What the register needs, by symbol (a site's profile postcode is checked separately).
RZREG_REQUIRED = (
    "PDIT", "PNR", "SDC", "EDC", "EIT", "EGRID", "EOWN", "EFEED", "ERES-TOT", "WH-AIR",
    "WH-WATER", "WH-GROUND", "EREUSE", "CSTOR", "CER-HEAT", "CER-COOL",
)  # fmt: skip
# A temperature is needed only where heat was released or delivered.
RZREG_TEMPERATURES = {
    "WH-AIR": "TWH-AIR",
    "WH-WATER": "TWH-WATER",
    "WH-GROUND": "TWH-GROUND",
    "EREUSE": "TWH-DELIV",
}


def missing_for_rzreg(s: dict) -> list[str]:
    """The inputs the RZReg variant lacks for one site, named with their reference."""
    if s["country"] != "DE":
        return [f"site is in {s['country']}, the RZReg register is for sites in Germany (DE)"]
    missing = []
    if s["computed_at"] is None:
        missing.append("a computed result (compute the period: metered inputs come from it)")
    postcode = (s["profile"] or {}).get("postcode")
    if not postcode:
        missing.append("postcode (site reporting profile; EnEfG Anl. 3 1(d))")
    elif enefg.postcode_problem(postcode):
        # A profile stored before the rule reached the model is held here, at the export.
        missing.append(f"postcode '{postcode}': {enefg.postcode_problem(postcode)}")
    water = ind.wue_water_symbol(s["period"]["schema"])
    for symbol in (*RZREG_REQUIRED, water):
        if _v(s, symbol) is None:
            missing.append(f"{symbol} ({ind.ALL_SYMBOLS[symbol][0]})")
    for heat, temperature in RZREG_TEMPERATURES.items():
        if (_v(s, heat) or 0) > 0 and _v(s, temperature) is None:
            missing.append(f"{temperature} ({ind.ALL_SYMBOLS[temperature][0]})")
    return missing


def check_rzreg(sites: list[dict], without_period: list[str]) -> None:
    missing = {code: ["no reporting period for the year"] for code in without_period}
    for s in sites:
        lacking = missing_for_rzreg(s)
        if lacking:
            missing[s["code"]] = lacking
    if not sites and not missing:
        missing["(selection)"] = ["no site in Germany selected"]
    if missing:
        raise MissingInputs(RZREG, missing)


def rzreg_readme(data: dict) -> list[Table]:
    rows = [
        ["Register", "Rechenzentrumsregister (RZReg), EnEfG §13/§14 and Anlage 3"],
        ["Reporting year", data["year"]],
        ["Deadline", f"31 March {data['year'] + 1} (previous calendar year)"],
        ["Generated at (UTC)", data["generated_at"]],
        ["Sites", ", ".join(s["code"] for s in data["sites"]) or "(none)"],
        ["Field dictionary (schema)", schemas_text(data)],
        ["Field dictionary rule", dictionary_rule(data)],
        [
            "Units",
            "kWh per year, kW, m², °C (annual mean), shares in %; PUE and CER dimensionless; "
            "WUE in L/kWh (= m3/MWh).",
        ],
        [
            "Names",
            "German data-point names follow EnEfG Anlage 3 as summarised in the sources; the "
            "register's own form labels may differ in wording. English names beside them.",
        ],
        [
            "Not covered",
            "Anlage 3 2(e) 'data processed' has no Circulus field; 'data stored' is CSTOR "
            "(raw storage capacity), whose definition differs.",
        ],
        [
            "Beside Anlage 3",
            "Anlage 3 (BGBl. 2023 I Nr. 309) asks nothing about §11(2) S. 3 or §12. Below its "
            "items, marked 'no Anlage 3 item': the electricity only for upgrading waste heat "
            "(EUPGRADE), the §11 PUE without it — the 2(f) PUE keeps it, as EN 50600-4-2 and "
            "the EU PUE do — the §12 management-system state on the period's last day with "
            "the systems, and the exemptions recorded (§11(3), §12(4), §12(6)).",
        ],
        [
            "Renewable share",
            "2(b) and EnEfG §11(5): ERES-TOT over the electricity used (grid purchase + own "
            "generation − feed-in); blank while any of them is unknown, never REF.",
        ],
        [
            "Compliance",
            "EnEfG checks (sheet Compliance: scope §3 Nr. 24, §11, §12, §13 with §20(2)) "
            "inform; they never block this export. Register dates: the first reports were due "
            "15 Aug 2024 (from 500 kW) and 1 Jul 2025 (300-500 kW) as the register took them; "
            "EnEfG §20(2) says 15 May 2024 and 1 Jul 2025.",
        ],
    ]
    for u in data["unvalidated"]:
        rows.append([f"NOT VALIDATED: {u['site']}", f"period status '{u['status']}'"])
    return [
        Table([Column("Item", width=28, wrap=True), Column("Value", width=100, wrap=True)], rows)
    ]


# How a value of each unit is shown (the cell keeps the full value, as the register may take it):
# energy, power and area in whole units, temperatures and shares to 0.1, ratios to 2 decimals.
SHOWN_AS = {"kWh": "#,##0", "kWh/a": "#,##0", "kW": "#,##0", "m²": "#,##0", "°C": "0.0",
            "%": "0.0", "PB": "#,##0.0##", "L/kWh": "0.00", "": "0.00"}  # fmt: skip


def rzreg_sheet(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Anlage 3", width=16),
        Column("Datenpunkt", width=34),
        Column("Data point", width=34),
        Column("Wert / Value", NUMBER),
        Column("Text", width=26),
        Column("Einheit / Unit"),
        Column("Quality"),
    ]
    rows = []
    for s in data["sites"]:
        for item, german, english, unit, read in DATA_POINTS:
            value = read(s)
            number = Shown(value, SHOWN_AS[unit]) if isinstance(value, Decimal) else None
            text = None if number is not None or value is None else str(value)
            source = s["inputs"].get(ANLAGE_3_INPUT.get(english, "")) or {}
            rows.append(
                [
                    s["code"],
                    item,
                    german,
                    english,
                    number,
                    text,
                    unit or None,
                    source.get("quality"),
                ]
            )
    return [Table(columns, rows)]


def rzreg_compliance(data: dict) -> list[Table]:
    title = "EnEfG compliance checks (§3 Nr. 24, §§11-13, §20(2))"
    return [findings_table(data, title, only_compliance=True)]


RZREG_SHEETS: list[tuple[str, Callable[[dict], list[Table]]]] = [
    ("00_README", rzreg_readme),
    ("J_DE_EnEfG_Anlage3", rzreg_sheet),
    ("Compliance", rzreg_compliance),
]
