"""EU data-centre indicators (Delegated Regulation (EU) 2024/1364), as pure Decimal arithmetic.

No Django here: every function takes plain numbers so it can be checked against the regulation
line by line (Delegated Regulation (EU) 2024/1364, Annexes II-IV; the validation rules are
docs/eu-reporting.md §6).

Conventions
- Inputs are ``Decimal | None`` in canonical units: kW, m², kWh, m³, °C, degree-days.
- ``None`` means "not reported" (Art. 3(2) omission, confidential, missing). An indicator with any
  missing input is ``None``, never 0; a reported 0 is a real 0 (e.g. ERF = 0 with no heat reuse).
- A ratio whose denominator is 0 (or negative) is undefined and returns ``None`` (Annex III
  divides by it); bad data is reported by ``validate``.
- Nothing is rounded until ``round_reported``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, TypeGuard

# The fields, units and conversions live in `reporting.symbols`; read here as ind.X too.
from reporting.symbols import (  # noqa: F401
    ALL_SYMBOLS,
    DICTIONARY_FROM,
    SCHEMA_2024,
    SCHEMA_2026,
    SCHEMAS,
    SYMBOLS,
    SYMBOLS_2026,
    SYMBOLS_DE,
    TRAFFIC,
    UNITS,
    convert,
    field_dictionary,
    governing_dictionary,
    report_due,
    wue_water_symbol,
)

Number = Decimal | int


def round_reported(value: Decimal | None, places: int = 2) -> Decimal | None:
    """Round a reported value; the law has no rule, Circulus uses ROUND_HALF_UP."""
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# --- Annex III indicators ----------------------------------------------------------------------


def _ratio(numerator: Number | None, denominator: Number | None) -> Decimal | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return Decimal(numerator) / Decimal(denominator)


def pue(edc_kwh: Number | None, eit_kwh: Number | None) -> Decimal | None:
    """Power usage effectiveness, dimensionless. Below 1 when EIT > EDC; ``validate`` flags it."""
    return _ratio(edc_kwh, eit_kwh)  # Annex III(a): PUE = EDC / EIT


def wue(win_m3: Number | None, eit_kwh: Number | None) -> Decimal | None:
    """Water usage effectiveness in m³/MWh (= L/kWh), from WIN in m³ and EIT in kWh."""
    eit_mwh = None if eit_kwh is None else Decimal(eit_kwh) / 1000
    return _ratio(win_m3, eit_mwh)  # Annex III(b): WUE = WIN / EIT, EIT in MWh


def erf(ereuse_kwh: Number | None, edc_kwh: Number | None) -> Decimal | None:
    """Energy reuse factor, 0-1; EREUSE = 0 gives 0."""
    return _ratio(ereuse_kwh, edc_kwh)  # Annex III(c): ERF = EREUSE / EDC


def ref(eres_tot_kwh: Number | None, edc_kwh: Number | None) -> Decimal | None:
    """Renewable energy factor, 0-1 (EN 50600-4-3 caps it at 1.00; ``validate`` warns above)."""
    return _ratio(eres_tot_kwh, edc_kwh)  # Annex III(d): REF = ERES-TOT / EDC


def ere(
    edc_kwh: Number | None, eit_kwh: Number | None, ereuse_kwh: Number | None
) -> Decimal | None:
    """Energy reuse effectiveness (Green Grid, not in the regulation), dimensionless."""
    if edc_kwh is None or ereuse_kwh is None:
        return None
    return _ratio(Decimal(edc_kwh) - Decimal(ereuse_kwh), eit_kwh)  # ERE = (EDC - EREUSE) / EIT


def cue(pue_value: Decimal | None, cef_kg_per_kwh: Number | None) -> Decimal | None:
    """Carbon usage effectiveness in kgCO₂e/kWh_IT, for a single energy carrier."""
    if pue_value is None or cef_kg_per_kwh is None:
        return None
    return Decimal(cef_kg_per_kwh) * pue_value  # EN 50600-4-8: CUE = CEF × PUE (one carrier)


def cer(heat_removed_kwh: Number | None, cooling_energy_kwh: Number | None) -> Decimal | None:
    """Cooling efficiency ratio, dimensionless (EN 50600-4-7; DE EnEfG Anlage 3, no EU field)."""
    return _ratio(heat_removed_kwh, cooling_energy_kwh)  # CER = heat removed / cooling energy


# --- Annex II inputs derived from raw records --------------------------------------------------


def weighted_pdit(segments: Iterable[tuple[date, date, Number]]) -> Decimal | None:
    """Time-weighted PDIT in kW from ``(first_day, last_day, kw)`` segments, both days inclusive.

    Divides by the days covered, so a partial-year period needs no padding.
    """
    # Annex II 1(a): PDIT that changed during the period is reported as a weighted average
    total_kw_days, total_days, previous_end = Decimal(0), 0, None
    for first, last, kw in sorted(segments):
        if last < first:
            raise ValueError(f"segment ends before it starts: {first} > {last}")
        if previous_end is not None and first <= previous_end:
            raise ValueError(f"segments overlap on {first}")
        days = (last - first).days + 1
        total_kw_days += Decimal(kw) * days
        total_days += days
        previous_end = last
    return total_kw_days / total_days if total_days else None


@dataclass(frozen=True)
class Instrument:
    """A renewable-energy instrument for one period; volumes in kWh.

    kind: ``go`` (guarantee of origin bought), ``ppa`` (energy delivered into the boundary under
    a PPA) or ``onsite`` (generated within the boundary).
    """

    kind: Literal["go", "ppa", "onsite"]
    volume_kwh: Decimal | None  # None: unknown (on-site generation with no meter to read)
    retired_by_this_dc: bool = True  # GO only: counts if purchased and retired by this DC
    gos_not_owned_kwh: Decimal = Decimal(0)  # PPA/on-site: GOs sold or not retired by this DC


def renewables(instruments: Iterable[Instrument]) -> dict[str, Decimal | None]:
    """ERES-GOO, ERES-PPA, ERES-OS and ERES-TOT in kWh from the period's instruments; an
    instrument of unknown volume makes its kind's figure and the total unknown, never 0."""
    totals: dict[str, Decimal | None] = {"go": Decimal(0), "ppa": Decimal(0), "onsite": Decimal(0)}
    for item in instruments:
        if item.volume_kwh is None or totals[item.kind] is None:
            totals[item.kind] = None
        elif item.kind == "go":
            # Annex II 1(p): only GOs purchased and retired by the reporting DC
            totals["go"] += item.volume_kwh if item.retired_by_this_dc else 0
        else:
            # Annex II 1(q)/(r): energy whose GOs are not owned and retired is subtracted
            net = item.volume_kwh - item.gos_not_owned_kwh
            if net < 0:
                raise ValueError(f"{item.kind}: GOs not owned exceed the volume")
            totals[item.kind] += net
    goo, ppa, onsite = totals["go"], totals["ppa"], totals["onsite"]
    known = None not in (goo, ppa, onsite)
    return {
        "ERES-GOO": goo,
        "ERES-PPA": ppa,
        "ERES-OS": onsite,
        # Annex II 1(o): ERES-TOT = GOO + PPA + OS
        "ERES-TOT": goo + ppa + onsite if known else None,
    }


def ereuse(boundary_heat_kwh: Number | None, own_cooling_kwh: Number = 0) -> Decimal | None:
    """Waste heat reused, kWh: heat metered at the hand-over point less heat that cools the DC."""
    if boundary_heat_kwh is None:
        return None
    # Annex II 1(j): subtract the share used for cooling the data centre itself
    reused = Decimal(boundary_heat_kwh) - Decimal(own_cooling_kwh)
    if reused < 0:
        raise ValueError("heat used for own cooling exceeds the boundary heat meter")
    return reused


# --- Annex IV aggregates -----------------------------------------------------------------------

MIN_SITES = 3  # Annex IV: per-type / per-size averages only with data from ≥ 3 data centres

# Annex IV size classes by installed IT power; half-open boundaries are our
# choice (Annex IV does not say on which side a boundary falls).
SIZE_CLASSES: tuple[tuple[str, Decimal], ...] = (
    ("VL", Decimal(10_000)),
    ("L", Decimal(2_000)),
    ("M", Decimal(1_000)),
    ("S", Decimal(500)),
    ("VS", Decimal(100)),
)


def size_class(pdit_kw: Number | None) -> str | None:
    """Annex IV size category (VS/S/M/L/VL) for PDIT in kW; ``None`` below 100 kW or missing."""
    if pdit_kw is None:
        return None
    return next((code for code, lower in SIZE_CLASSES if pdit_kw >= lower), None)


# 2026 rating act C(2026) 3472 label classes as printed in the
# secondary sources on the act (docs/sources.md): (class, inclusive upper bound),
# anything above the last bound is G. A, B, D and G are read in the act's quotes; C is implied by
# the B and D bounds; the E/F split inside the last band is unpublished, so that band is "E/F".
PUE_LABEL: tuple[tuple[str, Decimal], ...] = (
    ("A", Decimal("1.15")),
    ("B", Decimal("1.25")),
    ("C", Decimal("1.35")),
    ("D", Decimal("1.5")),
    ("E/F", Decimal("1.9")),
)
WUE_LABEL: tuple[tuple[str, Decimal], ...] = (  # m³/MWh = L/kWh
    ("A", Decimal("0.1")),
    ("B", Decimal("0.2")),
    ("C", Decimal("0.4")),
    ("D", Decimal("0.6")),
    ("E/F", Decimal("1.0")),
)
INFERRED_CLASSES = frozenset({"C", "E/F"})  # not printed in the sources read


def label_class(value: Decimal | None, table: tuple[tuple[str, Decimal], ...]) -> str | None:
    """A-G class of ``value`` in ``table`` (upper bounds inclusive); ``None`` when missing."""
    if value is None:
        return None
    return next((code for code, upper in table if value <= upper), "G")


def pue_class_2026(pue_value: Decimal | None) -> str | None:
    """PUE label class; ``None`` if unknown (missing, or in the unpublished E/F band)."""
    code = label_class(pue_value, PUE_LABEL)
    return None if code == "E/F" else code


def wue_class_2026(wue_value: Decimal | None) -> str | None:
    """WUE label class (WUE in m³/MWh); "E/F" inside the unpublished band."""
    return label_class(wue_value, WUE_LABEL)


@dataclass(frozen=True)
class Site:
    """One data centre's annual figures as Annex IV aggregates them (kW, kWh, m³)."""

    dc_type: str  # enterprise | colocation | co-hosting (Annex I 1(d))
    pdit_kw: Decimal | None
    edc_kwh: Decimal | None
    eit_kwh: Decimal | None = None
    win_m3: Decimal | None = None
    ereuse_kwh: Decimal | None = None
    eres_tot_kwh: Decimal | None = None

    def kpis(self) -> dict[str, Decimal | None]:
        return {
            "PUE": pue(self.edc_kwh, self.eit_kwh),
            "WUE": wue(self.win_m3, self.eit_kwh),
            "ERF": erf(self.ereuse_kwh, self.edc_kwh),
            "REF": ref(self.eres_tot_kwh, self.edc_kwh),
        }


def edc_weighted_average(pairs: Iterable[tuple[Decimal | None, Decimal | None]]) -> Decimal | None:
    """Σ(EDC·KPI)/ΣEDC over ``(edc_kwh, kpi)`` pairs where both are present."""
    # Annex IV: "weighted metric aggregation, using the total energy consumption as the weighting"
    usable = [(w, v) for w, v in pairs if w is not None and v is not None]
    return _ratio(sum((w * v for w, v in usable), Decimal(0)), sum((w for w, _ in usable), 0))


@dataclass(frozen=True)
class Average:
    """An Annex IV average; ``suppressed`` (value None) when fewer than MIN_SITES contribute."""

    value: Decimal | None
    n_sites: int
    suppressed: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Aggregate:
    """Annex IV figures for one group of sites: totals (kW, kWh, m³) and KPI averages."""

    group: str  # "all", "type:<dc_type>" or "size:<code>"
    n_sites: int
    total_pdit_kw: Decimal | None  # None: withheld (< MIN_SITES) or not reported by every site
    total_edc_kwh: Decimal | None
    total_win_m3: Decimal | None
    averages: dict[str, Average] = field(default_factory=dict)
    totals_suppressed: bool = False


def aggregate(group: str, sites: list[Site], min_sites: int = MIN_SITES) -> Aggregate:
    """Totals and EDC-weighted PUE/WUE/ERF/REF for ``sites``.

    One rule for every group: a figure built from fewer than ``min_sites`` data centres is
    withheld (a total or average of one or two sites discloses them, Art. 5(5)); the count of
    data centres is always given. A total is given only when every data centre reported it.
    """
    per_site = [(s.edc_kwh, s.kpis()) for s in sites]
    averages = {}
    for kpi in ("PUE", "WUE", "ERF", "REF"):
        pairs = [(edc, kpis[kpi]) for edc, kpis in per_site]
        n = sum(1 for w, v in pairs if w is not None and v is not None)
        if n == 0:
            averages[kpi] = Average(None, 0, reason=f"no data centre reported {kpi} and EDC")
        elif n < min_sites:
            reason = f"only {n} data centre(s) with {kpi}; Annex IV needs at least {min_sites}"
            averages[kpi] = Average(None, n, suppressed=True, reason=reason)
        else:
            averages[kpi] = Average(edc_weighted_average(pairs), n)

    withheld = len(sites) < min_sites

    def total(values: Iterable[Decimal | None]) -> Decimal | None:
        # A total leaving out a data centre that did not report would count it as 0, and one
        # of three would total two sites' figures: blank unless every data centre reported it.
        values = list(values)
        if withheld or any(v is None for v in values):
            return None
        return sum(values, Decimal(0))

    return Aggregate(
        group=group,
        n_sites=len(sites),
        total_pdit_kw=total(s.pdit_kw for s in sites),
        total_edc_kwh=total(s.edc_kwh for s in sites),
        total_win_m3=total(s.win_m3 for s in sites),
        averages=averages,
        totals_suppressed=withheld,
    )


def annex_iv(sites: Iterable[Site]) -> dict[str, Aggregate]:
    """Annex IV table for one Member State (or the Union): overall, per type, per size class.

    Annex IV prints the ≥3 rule for per-type and per-size averages at Member State level; it
    is applied here to every group, "all" included, and to the totals as well: a country "all"
    group of one data centre would otherwise publish that centre's own figures.
    ``n_sites`` of the ``size:*`` groups is the size distribution.
    """
    sites = list(sites)
    result = {"all": aggregate("all", sites)}
    for dc_type in sorted({s.dc_type for s in sites}):
        group = f"type:{dc_type}"
        result[group] = aggregate(group, [s for s in sites if s.dc_type == dc_type])
    for code, _ in reversed(SIZE_CLASSES):
        members = [s for s in sites if size_class(s.pdit_kw) == code]
        if members:
            result[f"size:{code}"] = aggregate(f"size:{code}", members)
    return result


# --- validation (docs/eu-reporting.md §6: hard = block submission, soft = warn) ---------------


@dataclass(frozen=True)
class Finding:
    """One validation result; ``fields`` are Annex II symbols."""

    rule_id: str
    severity: Literal["error", "warning"]
    fields: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class Context:
    """Non-numeric facts the validation rules need alongside the Annex II values."""

    pdit_basis: str | None = None  # "installed" | "rated" (Annex II 1(a))
    wue_category: int | None = None  # 1 | 2 (Annex II 1(h))
    partial_year: bool = False
    period_start: date | None = None
    period_end: date | None = None
    cserv_coverage_pct: Decimal | None = None  # % of SCR covered (Art. 3(3))
    cstor_coverage_pct: Decimal | None = None
    previous: Mapping[str, Decimal | None] = field(default_factory=dict)  # last year, by symbol
    notes: Mapping[str, str] = field(default_factory=dict)  # explanations, by symbol


def _is_single_number(value: object) -> TypeGuard[Number]:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, Decimal) and value.is_finite()
    )


def validate(values: Mapping[str, object], context: Context | None = None) -> list[Finding]:
    """Check Annex II ``values`` (keyed by symbol, canonical units) against the validation rules."""
    ctx = context or Context()
    found: list[Finding] = []

    def error(rule: str, fields: tuple[str, ...], message: str) -> None:
        found.append(Finding(rule, "error", fields, message))

    def warn(rule: str, fields: tuple[str, ...], message: str) -> None:
        found.append(Finding(rule, "warning", fields, message))

    # Hard: every value a single number (first round rejected ranges such as "1-2 GWh")
    v: dict[str, Decimal] = {}
    for symbol, value in values.items():
        if value is None:
            continue
        if _is_single_number(value):
            v[symbol] = Decimal(value)
        else:
            error("not-a-single-number", (symbol,), f"{symbol} must be one number, got {value!r}")

    def both(a: str, b: str) -> bool:
        return a in v and b in v

    # Hard rules
    if both("EIT", "EDC") and v["EIT"] > v["EDC"]:
        error("eit-above-edc", ("EIT", "EDC"), "EIT exceeds EDC (PUE below 1)")
    if both("EDC-BG", "EDC") and v["EDC-BG"] > v["EDC"]:
        error("edc-bg-above-edc", ("EDC-BG", "EDC"), "back-up generation exceeds EDC")
    if both("SCR", "SDC") and v["SCR"] > v["SDC"]:
        error("scr-above-sdc", ("SCR", "SDC"), "computer room area exceeds total floor area")
    parts = ("ERES-GOO", "ERES-PPA", "ERES-OS")
    known = all(p in v for p in ("ERES-TOT", *parts))
    # Annex II 1(o): ERES-TOT = ERES-GOO + ERES-PPA + ERES-OS, checked to ±1 kWh
    if known and abs(v["ERES-TOT"] - sum(v[p] for p in parts)) > 1:
        error("eres-tot-not-sum", ("ERES-TOT", *parts), "ERES-TOT is not GOO + PPA + OS")
    if "PDIT" in v and ctx.pdit_basis not in ("installed", "rated"):
        error("pdit-basis-missing", ("PDIT",), "say whether PDIT is installed or rated power")
    if "WIN" in v and ctx.wue_category not in (1, 2):
        error("wue-category-missing", ("WIN",), "say which WUE category (1 or 2) WIN follows")
    if ctx.partial_year and not (
        ctx.period_start and ctx.period_end and ctx.period_start <= ctx.period_end
    ):
        error("partial-year-dates-missing", (), "a partial year needs its start and end dates")

    # Soft rules
    pue_value = pue(v.get("EDC"), v.get("EIT"))
    if pue_value is not None and not Decimal("1.05") <= pue_value <= Decimal("3.0"):
        warn("pue-out-of-range", ("EDC", "EIT"), f"PUE {pue_value:.2f} is outside 1.05-3.0")
    if both("ERES-TOT", "EDC") and v["ERES-TOT"] > v["EDC"]:
        warn("ref-above-one", ("ERES-TOT", "EDC"), "ERES-TOT exceeds EDC (REF above 1.00)")
    if both("EREUSE", "EDC") and v["EREUSE"] > v["EDC"]:
        warn("ereuse-above-edc", ("EREUSE", "EDC"), "EREUSE exceeds EDC (ERF above 1)")
    if both("WIN-POT", "WIN") and v["WIN-POT"] > v["WIN"]:
        warn("win-pot-above-win", ("WIN-POT", "WIN"), "potable water exceeds total water input")
    if both("WIN-FRE", "WIN") and v["WIN-FRE"] > v["WIN"]:
        warn("win-fre-above-win", ("WIN-FRE", "WIN"), "freshwater exceeds total water input")
    if "TWH" in v and not 15 <= v["TWH"] <= 70:
        warn("twh-out-of-range", ("TWH",), "waste heat temperature outside 15-70 °C")
    if "TIN" in v and not 15 <= v["TIN"] <= 35:
        warn("tin-out-of-range", ("TIN",), "intake air setpoint outside 15-35 °C")
    if "CDD" in v and v["CDD"] > 1500:
        warn("cdd-above-1500", ("CDD",), "over 1 500 cooling degree days (base 21 °C)")
    if "PDIT" in v and v["PDIT"] < 500:
        warn("pdit-below-threshold", ("PDIT",), "PDIT below 500 kW: reporting is voluntary")
    for symbol, coverage in (("CSERV", ctx.cserv_coverage_pct), ("CSTOR", ctx.cstor_coverage_pct)):
        if symbol in v and coverage is not None and coverage < 100 and symbol not in ctx.notes:
            warn("coverage-below-100", (symbol,), f"{symbol} covers {coverage}% of SCR, no note")
    for symbol in ("EDC", "EIT"):
        before = ctx.previous.get(symbol)
        if symbol in v and before and before > 0 and symbol not in ctx.notes:
            change = abs(v[symbol] - before) / before
            if change > Decimal("0.3"):
                warn("yoy-change-above-30pct", (symbol,), f"{symbol} changed {change:.0%}, no note")
    return found
