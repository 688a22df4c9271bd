"""The EU annual workbook (eu-reporting.md §8): one workbook per reporting year, one row per data
centre, Annex I → II → III → IV order, plus omissions, measurement points, e-waste and a monthly
sheet with a native line chart. Also its CSV twins (zipped) and JSON.

Two layers: `report_data()` is the only function that reads the reporting models; everything
else renders that plain dict, so the sheets do not depend on how the models store things.

Variants: "submit" carries every value; "publish" (EED Art. 12(1) public disclosure) leaves out
every Annex II value an operator marked confidential and every indicator computed from one;
"de-rzreg" is Germany's register (EnEfG Anlage 3) for sites in DE, refused with the list of
missing inputs when any is missing. Each period states its field dictionary (2024/1364, or as
amended by the 2026 rating act); headers and the README name it.
A site whose period is not validated is refused unless `allow_unvalidated` is given, and the
README sheet then says so for each such site.
"""

import csv
import io
import zipfile
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal

from django.utils import timezone

from reporting import enefg, label
from reporting import indicators as ind
from reporting.exports import cells, ewaste
from reporting.exports.cells import DATE, DATETIME, INTEGER, NUMBER, TEXT, Column, Table

SCHEMA_VERSION = "circulus-eu-annual/2 (Delegated Regulation (EU) 2024/1364, 2026 amendment)"
RZREG = "de-rzreg"
VARIANTS = ("publish", "submit", RZREG)
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
    "WIN-FRE": "Total freshwater input",
}
# Printed symbols where ours differ (the regulation prints TIN twice: II.1(l) and II.3(c)).
PRINTED = {"CBTG": "CBtG", "TIN-TRAFFIC": "TIN"}
UNITS = {"degree-days": "degree-days, base 21 °C", "SERT score": "SERT active-state performance"}


class NotValidated(Exception):
    """Some selected site's period is not validated and `allow_unvalidated` was not given."""

    public = True  # its message is for the requester (reporting.jobs.public_error)


class MissingInputs(Exception):
    """A variant cannot be written: {site code: [missing field, …]} for that variant."""

    def __init__(self, variant: str, missing: dict[str, list[str]]):
        self.variant, self.missing = variant, missing
        listed = "; ".join(f"{code}: {', '.join(fields)}" for code, fields in missing.items())
        super().__init__(f"{variant} needs inputs that are missing — {listed}")


def header(symbol: str) -> str:
    ref, unit = ind.ALL_SYMBOLS[symbol]
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
    elif variant == RZREG:
        sites = sites.filter(country="DE")  # the register is Germany's: its sites by default
    periods = {
        p.site_id: p
        for p in ReportingPeriod.objects.filter(year=year, site__in=sites).select_related("result")
    }
    entered: dict[int, dict] = {}
    for fv in FieldValue.objects.filter(period__in=periods.values()):
        entered.setdefault(fv.period_id, {})[fv.symbol] = fv
    meters: dict[int, list] = {}
    for m in (
        MeasurementPoint.objects.filter(site__in=sites)
        .prefetch_related("setting_intervals")
        .order_by("code")
    ):
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
    if variant == RZREG:  # missing inputs first: they need work, validation only a decision
        _check_rzreg(out, missing)
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
        "ewaste": ewaste.report_data(codes, year) if codes and variant != RZREG else None,
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
            {"value": fv.value, "unit": ind.ALL_SYMBOLS[symbol][1], "quality": fv.quality},
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
    water = ind.wue_water_symbol(period.schema)
    needs_of = {**INDICATOR_INPUTS, "WUE": (water, "EIT"), "CER": ("CER-HEAT", "CER-COOL")}
    for name, needs in needs_of.items():
        hidden = bool(withheld & set(needs))
        indicators[name] = None if hidden else _dec(stored.get(name))
    monthly = []
    for row in result.monthly if result is not None else []:
        entry = {"month": row["month"]}
        for key in ("EDC", "EIT", "WIN", "WIN-FRE", "EREUSE"):
            entry[key] = None if key in withheld else _dec(row.get(key))
        for name in ("PUE", "WUE", "ERF"):
            hidden = bool(withheld & set(needs_of[name]))
            entry[name] = None if hidden else _dec(row.get(name))
        monthly.append(entry)
    profile = getattr(site, "reporting_profile", None)
    coverage = result.coverage if result is not None else {}
    values = {s: item.get("value") for s, item in inputs.items()}
    preview = label.for_period(period, profile, values, indicators)
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
                "postcode",
            )
        },
        "period": {
            "schema": period.schema,
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
        "label": preview,
        "fields": list(_fields(period.schema, site.country)),
        "findings": result.findings if result is not None else [],
        "meters": [
            {
                "code": m.code,
                "quantity": m.quantity,
                "unit": m.unit,
                "register": m.register,
                "multiplier": m.multiplier,
                "setting_intervals": "; ".join(
                    f"from {s.valid_from.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {s.unit} × "
                    f"{s.multiplier.normalize()} ({s.reason})"
                    for s in sorted(m.setting_intervals.all(), key=lambda s: s.valid_from)
                )
                or None,
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


def _fields(schema: str, country: str) -> dict[str, tuple[str, str]]:
    fields = ind.field_dictionary(schema)
    if country == "DE":
        fields.update(ind.SYMBOLS_DE)
    return fields


# --- Germany: EnEfG Anlage 3 (RZReg) ------------------------------------------------------------


# Anlage 3 data points: (item, German name, English name, unit, how to read it from a site).
# German wording follows Anlage 3 as summarised in the sources (spec §11, R18); the register's
# own form labels may differ in detail.
def _share(numerator, denominator):
    ratio = ind.ref(numerator, denominator)
    return None if ratio is None else ratio * 100


def _electricity(s):
    return enefg.total_electricity(_v(s, "EGRID"), _v(s, "EOWN"), _v(s, "EFEED"))


def _renewable_share(s):
    return _share(_v(s, "ERES-TOT"), _electricity(s))


def _erf_pct(s):
    erf = s["indicators"]["ERF"]
    return None if erf is None else erf * 100


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
    if not (s["profile"] or {}).get("postcode"):
        missing.append("postcode (site reporting profile; EnEfG Anl. 3 1(d))")
    water = ind.wue_water_symbol(s["period"]["schema"])
    for symbol in (*RZREG_REQUIRED, water):
        if _v(s, symbol) is None:
            missing.append(f"{symbol} ({ind.ALL_SYMBOLS[symbol][0]})")
    for heat, temperature in RZREG_TEMPERATURES.items():
        if (_v(s, heat) or 0) > 0 and _v(s, temperature) is None:
            missing.append(f"{temperature} ({ind.ALL_SYMBOLS[temperature][0]})")
    return missing


def _check_rzreg(sites: list[dict], without_period: list[str]) -> None:
    missing = {code: ["no reporting period for the year"] for code in without_period}
    for s in sites:
        lacking = missing_for_rzreg(s)
        if lacking:
            missing[s["code"]] = lacking
    if not sites and not missing:
        missing["(selection)"] = ["no site in Germany selected"]
    if missing:
        raise MissingInputs(RZREG, missing)


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
        ["Field dictionary (schema)", _schemas_text(data)],
        [
            "Schemas",
            "2024/1364: WUE = WIN / EIT. 2024/1364+2026 (rating act C(2026) 3472): WUE = WIN-FRE "
            "/ EIT (freshwater input, kept apart from WIN-POT); the data-traffic indicators "
            "(D_Data_Traffic) are not part of it and stay blank.",
        ],
        [
            "K_Label_2026",
            f"Label {label.PREVIEW}. Classes on the values rounded to 2 decimals; C is implied "
            "by the B and D bounds; E/F: the act's split of that band is not published.",
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


def _schemas(data: dict) -> list[str]:
    return sorted({s["period"]["schema"] for s in data["sites"]})


def _schemas_text(data: dict) -> str:
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
    findings = findings_table(data, "Validation findings (§10.1) and compliance checks")
    return [Table(columns, rows, title="Omissions and estimates"), findings]


def findings_table(data: dict, title: str, only_compliance: bool = False) -> Table:
    """Validation findings; compliance checks carry their legal reference and start date."""
    return Table(
        [
            Column("DC_ID"),
            Column("Rule"),
            Column("Severity"),
            Column("Fields"),
            Column("Message", width=80),
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
        tables.append(Table([Column("Note", width=100)], [[n] for n in notes]))
    return tables


def _has_readings(site: dict) -> bool:
    return any(m[k] is not None for m in site["monthly"] for k in ("EDC", "EIT", "WIN"))


def _listed(codes: list[str]) -> str:
    more = f" and {len(codes) - 10} more" if len(codes) > 10 else ""
    return ", ".join(codes[:10]) + more


def _no_monthly_notes(data: dict) -> list[str]:
    """Why a site has no monthly figures, so an empty sheet is never left unexplained."""
    notes = []
    unmetered = [s["code"] for s in data["sites"] if not _has_readings(s)]
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


def rzreg_readme(data: dict) -> list[Table]:
    rows = [
        ["Register", "Rechenzentrumsregister (RZReg), EnEfG §13/§14 and Anlage 3"],
        ["Reporting year", data["year"]],
        ["Deadline", f"31 March {data['year'] + 1} (previous calendar year)"],
        ["Generated at (UTC)", data["generated_at"]],
        ["Sites", ", ".join(s["code"] for s in data["sites"]) or "(none)"],
        ["Field dictionary (schema)", _schemas_text(data)],
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
            "Compliance",
            "EnEfG §11 and §13 checks (sheet Compliance) inform; they never block this export.",
        ],
    ]
    for u in data["unvalidated"]:
        rows.append([f"NOT VALIDATED: {u['site']}", f"period status '{u['status']}'"])
    return [
        Table([Column("Item", width=28, wrap=True), Column("Value", width=100, wrap=True)], rows)
    ]


def rzreg_sheet(data: dict) -> list[Table]:
    columns = [
        Column("DC_ID"),
        Column("Anlage 3"),
        Column("Datenpunkt", width=50),
        Column("Data point", width=50),
        Column("Wert / Value", NUMBER),
        Column("Text"),
        Column("Einheit / Unit"),
        Column("Quality"),
    ]
    rows = []
    for s in data["sites"]:
        for item, german, english, unit, read in ANLAGE_3:
            value = read(s)
            number = value if isinstance(value, Decimal) else None
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
    return [findings_table(data, "EnEfG §11 and §13 compliance checks", only_compliance=True)]


RZREG_SHEETS: list[tuple[str, Callable[[dict], list[Table]]]] = [
    ("00_README", rzreg_readme),
    ("J_DE_EnEfG_Anlage3", rzreg_sheet),
    ("Compliance", rzreg_compliance),
]

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
    ("K_Label_2026", sheet_k),
    ("Monthly", sheet_monthly),
]


def sheets(data: dict) -> list[tuple[str, list[Table]]]:
    layout = RZREG_SHEETS if data["variant"] == RZREG else SHEETS
    return [(name, build(data)) for name, build in layout]


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
        if name == "Monthly" and any(_has_readings(s) for s in data["sites"]):
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
