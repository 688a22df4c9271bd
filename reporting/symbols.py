"""The regulation's fields in one place: each symbol's reference, canonical unit and exact name,
the field dictionaries of the two schemas, the German register's extra fields, and the unit
conversions. Pure Python, no Django.

Sources: Commission Delegated Regulation (EU) 2024/1364, Annex II (symbols, names, units); the
2026 rating-scheme act C(2026) 3472 (WIN-FRE, data traffic dropped); EnEfG Anlage 3 (German
register data points). docs/sources.md maps each citation to its text.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

Number = Decimal | int

# Annex II symbols → (reference, canonical unit). TIN is printed twice in the regulation
# (II.1(l) setpoint and II.3(c) traffic); here TIN is the setpoint and traffic is TIN-TRAFFIC.
SYMBOLS: dict[str, tuple[str, str]] = {
    "PDIT": ("II.1(a)", "kW"),
    "SDC": ("II.1(b)", "m2"),
    "SCR": ("II.1(c)", "m2"),
    "EDC": ("II.1(d)", "kWh"),
    "EDC-BG": ("II.1(d)", "kWh"),
    "EIT": ("II.1(e)", "kWh"),
    "CBTG": ("II.1(g)", "kW"),
    "WIN": ("II.1(h)", "m3"),
    "WIN-POT": ("II.1(i)", "m3"),
    "EREUSE": ("II.1(j)", "kWh"),
    "TWH": ("II.1(k)", "°C"),
    "TIN": ("II.1(l)", "°C"),
    "CDD": ("II.1(n)", "degree-days"),
    "ERES-TOT": ("II.1(o)", "kWh"),
    "ERES-GOO": ("II.1(p)", "kWh"),
    "ERES-PPA": ("II.1(q)", "kWh"),
    "ERES-OS": ("II.1(r)", "kWh"),
    "CSERV": ("II.2(a)", "SERT score"),
    "CSTOR": ("II.2(b)", "PB"),
    "BIN": ("II.3(a)", "GB/s"),
    "BOUT": ("II.3(b)", "GB/s"),
    "TIN-TRAFFIC": ("II.3(c)", "EB"),
    "TOUT": ("II.3(d)", "EB"),
}


# --- field dictionaries ------------------------------------------------------------------------

# A period states which dictionary its fields follow. The 2026 rating-scheme act C(2026) 3472
# amends 2024/1364: WUE is computed on freshwater input (WIN-FRE), kept apart from WIN-POT, and
# the data-traffic indicators are dropped.
SCHEMA_2024 = "2024/1364"
SCHEMA_2026 = "2024/1364+2026"
SCHEMAS = (SCHEMA_2024, SCHEMA_2026)
TRAFFIC = ("BIN", "BOUT", "TIN-TRAFFIC", "TOUT")
SYMBOLS_2026: dict[str, tuple[str, str]] = {"WIN-FRE": ("C(2026) 3472 II.1(h)", "m3")}

# Germany, EnEfG Anlage 3 (RZReg data points) that have no EU field.
SYMBOLS_DE: dict[str, tuple[str, str]] = {
    "PNR": ("EnEfG Anl. 3 1(f)", "kW"),  # non-redundant rated connected load
    "EGRID": ("EnEfG Anl. 3 2(a)", "kWh"),  # electricity purchased from the grid
    "EFEED": ("EnEfG Anl. 3 2(a)", "kWh"),  # electricity fed back into the grid
    "EOWN": ("EnEfG Anl. 3 2(a)", "kWh"),  # own electricity generation
    "EUPGRADE": ("EnEfG §11(2) S. 3", "kWh"),  # electricity only for upgrading waste heat
    "WH-AIR": ("EnEfG Anl. 3 2(c)", "kWh"),
    "WH-WATER": ("EnEfG Anl. 3 2(c)", "kWh"),
    "WH-GROUND": ("EnEfG Anl. 3 2(c)", "kWh"),
    "TWH-AIR": ("EnEfG Anl. 3 2(c)", "°C"),
    "TWH-WATER": ("EnEfG Anl. 3 2(c)", "°C"),
    "TWH-GROUND": ("EnEfG Anl. 3 2(c)", "°C"),
    "TWH-DELIV": ("EnEfG Anl. 3 2(d)", "°C"),  # mean temperature of heat delivered
    "CER-HEAT": ("EnEfG Anl. 3 2(h)", "kWh"),  # heat removed by the cooling system
    "CER-COOL": ("EnEfG Anl. 3 2(h)", "kWh"),  # energy used by the cooling system
}
ALL_SYMBOLS: dict[str, tuple[str, str]] = {**SYMBOLS, **SYMBOLS_2026, **SYMBOLS_DE}


def field_dictionary(schema: str) -> dict[str, tuple[str, str]]:
    """The Annex II fields a period of ``schema`` reports (symbol → reference, unit)."""
    if schema == SCHEMA_2024:
        return dict(SYMBOLS)
    if schema == SCHEMA_2026:
        kept = {s: v for s, v in SYMBOLS.items() if s not in TRAFFIC}
        return {**kept, **SYMBOLS_2026}
    raise ValueError(f"unknown schema {schema!r}; one of {SCHEMAS}")


# Which dictionary governs a reporting year: the newest one applying on the day the year's
# report falls due (Art. 3(1)); a report cannot be governed by an act adopted after it was due.
# (dictionary, applies from, source)
DICTIONARY_FROM: tuple[tuple[str, date, str], ...] = (
    (SCHEMA_2024, date(2024, 6, 6), "Delegated Regulation (EU) 2024/1364, in force 6 June 2024"),
    (
        SCHEMA_2026,
        date(2026, 9, 21),
        "the rating-scheme act: its draft Ares(2026)3247482 of 27 March 2026 is confirmed; its "
        "adoption as C(2026) 3472 on 21 September 2026 is reported by one secondary source only "
        "and its date of application is not confirmed, so that date is taken as the earliest",
    ),
)


def report_due(year: int) -> date:
    """The day a year's report is due: 15 September 2024 for 2023, then 15 May of the next year
    (2024/1364 Art. 3(1))."""
    return date(2024, 9, 15) if year <= 2023 else date(year + 1, 5, 15)


def governing_dictionary(year: int) -> tuple[str, str]:
    """(dictionary, why, as a sentence) for a reporting year: the newest dictionary applying
    on the day its report is due."""
    due = report_due(year)
    applying = [d for d in DICTIONARY_FROM if d[1] <= due] or [DICTIONARY_FROM[0]]
    schema, since, source = applying[-1]
    why = f"The {year} report is due {due:%d %b %Y}: {schema} applies from {since:%d %b %Y} "
    why += f"({source})."
    for later, start, _ in (d for d in DICTIONARY_FROM if d[1] > due):
        why += f" {later} applies from {start:%d %b %Y}, after that report was due."
    return schema, why


def wue_water_symbol(schema: str) -> str:
    """The water input WUE divides by EIT: WIN under 2024/1364, WIN-FRE under the 2026 act."""
    return "WIN-FRE" if schema == SCHEMA_2026 else "WIN"


# --- units -------------------------------------------------------------------------------------

# unit → (canonical unit, factor). GJ uses 1 kWh = 3.6 MJ exactly.
UNITS: dict[str, tuple[str, Decimal]] = {
    "Wh": ("kWh", Decimal("0.001")),
    "kWh": ("kWh", Decimal(1)),
    "MWh": ("kWh", Decimal(1000)),
    "GWh": ("kWh", Decimal(1_000_000)),
    "GJ": ("kWh", Decimal(1000) / Decimal("3.6")),
    "L": ("m3", Decimal("0.001")),
    "m3": ("m3", Decimal(1)),
    "W": ("kW", Decimal("0.001")),
    "kW": ("kW", Decimal(1)),
    "MW": ("kW", Decimal(1000)),
}


def convert(value: Number, unit: str, to: str) -> Decimal:
    """Convert ``value`` in ``unit`` to ``to`` (energy → kWh, water → m³, power → kW)."""
    (base_from, f_from), (base_to, f_to) = UNITS[unit], UNITS[to]
    if base_from != base_to:
        raise ValueError(f"cannot convert {unit} to {to}")
    return Decimal(value) * f_from / f_to


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
    "WIN-FRE": "Total freshwater input",
}
# Printed symbols where ours differ (the regulation prints TIN twice: II.1(l) and II.3(c)).
PRINTED = {"CBTG": "CBtG", "TIN-TRAFFIC": "TIN"}
UNIT_LABELS = {
    "degree-days": "degree-days, base 21 °C",
    "SERT score": "SERT active-state performance",
}


def header(symbol: str) -> str:
    """A column header naming the field as the regulation prints it, with its unit."""
    ref, unit = ALL_SYMBOLS[symbol]
    return f"{ref} {PRINTED.get(symbol, symbol)} — {NAMES[symbol]} [{UNIT_LABELS.get(unit, unit)}]"
