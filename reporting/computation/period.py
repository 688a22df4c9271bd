"""One period's result content from its meters' figures and entered values: Annex II inputs,
Annex III indicators, the monthly series, coverage and findings."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import prefetch_related_objects

from hardware import grid_intensity
from reporting import enefg
from reporting import indicators as ind
from reporting.computation import checks
from reporting.computation.figures import MeterFigures, meter_figures_many, month_labels, time_frame
from reporting.computation.sql import iso
from reporting.computation.values import as_number, as_text, to_places
from reporting.models import (
    EnefgExemption,
    FieldValue,
    InstrumentKind,
    ManagementSystem,
    MeasurementPoint,
    PeriodResult,
    PowerDemandSegment,
    Quality,
    Quantity,
    RenewableInstrument,
    ReportingPeriod,
    SiteProfile,
)

ENGINE_VERSION = "reporting-engine/1"

# Annex II symbol → the meter quantities that add up to it (the measurement-point register).
METERED: dict[str, tuple[str, ...]] = {
    # II.1(d): every supply before the transfer switchgear, back-up generation and fuels
    "EDC": (Quantity.EDC_SUPPLY, Quantity.EDC_BACKUP_GENERATOR, Quantity.EDC_FUEL),
    "EDC-BG": (Quantity.EDC_BACKUP_GENERATOR,),  # II.1(d): measured separately
    "EIT": (Quantity.EIT_UPS_OUTPUT,),  # II.1(e): category 1, UPS output
    "WIN": (Quantity.WATER_TOTAL,),  # II.1(h)
    "WIN-POT": (Quantity.WATER_POTABLE,),  # II.1(i)
    "WIN-FRE": (Quantity.WATER_FRESH,),  # 2026 act: freshwater input, WUE's numerator
    # EnEfG Anlage 3 2(a) and 2(c): electricity balance and waste heat released, by medium
    "EGRID": (Quantity.GRID_PURCHASE,),
    "EFEED": (Quantity.GRID_FEED_IN,),
    "EOWN": (Quantity.OWN_GENERATION,),
    "EUPGRADE": (Quantity.HEAT_UPGRADE,),  # §11(2) S. 3: left out of the §11 PUE only
    "WH-AIR": (Quantity.HEAT_RELEASE_AIR,),
    "WH-WATER": (Quantity.HEAT_RELEASE_WATER,),
    "WH-GROUND": (Quantity.HEAT_RELEASE_GROUND,),
}
MONTHLY_SYMBOLS = ("EDC", "EIT", "WIN", "WIN-FRE", "EREUSE")


def compute(period: ReportingPeriod, *, source: str = "rollups") -> dict:
    """The period's result content (inputs, indicators, monthly series, coverage, findings).
    `source`: where the meters' figures come from (see `meter_figures`)."""
    return compute_many([period], source=source)[0]


def compute_many(periods: list[ReportingPeriod], *, source: str = "rollups") -> list[dict]:
    """`compute` of many periods (e.g. a fleet's year) in a number of queries that does not grow
    with the number of sites: meters, settings, rollups, entered values, instruments, PDIT
    segments, the previous year's figures and the sites' profiles are each read once for all
    periods; the per-period math is then the same as `compute`'s, period by period."""
    periods = list(periods)
    if not periods:
        return []
    prefetch_related_objects(periods, "site")  # no-op when the caller selected it
    site_ids = {p.site_id for p in periods}
    period_ids = [p.pk for p in periods]
    # Read into local maps, not cached on the caller's objects: a later compute sees new rows.
    instruments_of: dict[int, list] = defaultdict(list)
    for inst in RenewableInstrument.objects.filter(period__in=period_ids):
        instruments_of[inst.period_id].append(inst)
    segments_of: dict[int, list] = defaultdict(list)
    for segment in PowerDemandSegment.objects.filter(period__in=period_ids):
        segments_of[segment.period_id].append(segment)
    profiles = {p.site_id: p for p in SiteProfile.objects.filter(site_id__in=site_ids)}
    # EnEfG (German sites): exemptions per period, management systems per site
    exemptions_of: dict[int, list] = defaultdict(list)
    systems_of: dict[int, list] = defaultdict(list)
    if any(p.site.country == "DE" for p in periods):
        for exemption in EnefgExemption.objects.filter(period__in=period_ids):
            exemptions_of[exemption.period_id].append(exemption.as_rule())
        for system in ManagementSystem.objects.filter(site_id__in=site_ids):
            systems_of[system.site_id].append(system.as_rule())
    meters_of: dict[int, list[MeasurementPoint]] = defaultdict(list)
    for meter in MeasurementPoint.objects.filter(site_id__in=site_ids).order_by("code"):
        meters_of[meter.site_id].append(meter)
    entered_of: dict[int, dict[str, FieldValue]] = defaultdict(dict)
    for fv in FieldValue.objects.filter(period__in=period_ids).order_by("period", "symbol"):
        entered_of[fv.period_id][fv.symbol] = fv
    previous_of: dict[tuple[int, int], dict] = {}
    for site_id, year, inputs in PeriodResult.objects.filter(
        period__site_id__in=site_ids, period__year__in={p.year - 1 for p in periods}
    ).values_list("period__site_id", "period__year", "inputs"):
        previous_of.setdefault((site_id, year), inputs)
    intensities = {c: row.kg_per_kwh for c, row in grid_intensity.table().items()}
    all_figures = meter_figures_many([(p, meters_of[p.site_id]) for p in periods], source=source)
    labels: dict[tuple, list[str]] = {}  # per time frame: a fleet's periods share one
    for period in periods:
        if time_frame(period) not in labels:
            labels[time_frame(period)] = month_labels(period)
    return [
        _compute_one(
            period,
            labels[time_frame(period)],
            figures,
            entered_of[period.pk],
            instruments_of[period.pk],
            segments_of[period.pk],
            previous_of.get((period.site_id, period.year - 1)),
            profiles.get(period.site_id),
            intensities,
            (exemptions_of[period.pk], systems_of[period.site_id]),
        )
        for period, figures in zip(periods, all_figures, strict=True)
    ]


def _compute_one(
    period, months, figures, entered, instruments, segments, previous, profile, intensities, de
) -> dict:
    """One period's content from its loaded inputs (no queries); `months`: its month labels;
    `de`: the period's EnEfG exemptions and its site's management systems."""
    site = period.site
    by_quantity: dict[str, list[MeterFigures]] = defaultdict(list)
    for fig in figures:
        by_quantity[fig.meter.quantity].append(fig)
    inputs: dict[str, dict] = {}
    monthly: dict[str, list[Decimal] | None] = {}

    def metered(quantities) -> tuple[Decimal | None, list[Decimal], list[MeterFigures]] | None:
        """None without a meter; a total of None when a meter expected to read in the period
        has no reading in it: its share is unknown, and the figure with it (never 0)."""
        figs = [f for q in quantities for f in by_quantity.get(q, [])]
        if not figs:
            return None
        if any(f.expected and not f.present for f in figs):
            return None, [], figs
        series = [sum((f.monthly[i] for f in figs), Decimal(0)) for i in range(len(months))]
        return sum(series, Decimal(0)), series, figs

    def from_meters(symbol, total, series, figs, unit, **extra):
        quality = Quality.ESTIMATED if any(f.filled for f in figs) else Quality.MEASURED
        inputs[symbol] = {
            "value": as_text(total),
            "unit": unit,
            "quality": quality,
            "source": "meters",
            "meters": [f.meter.code for f in figs],
            "coverage_pct": as_text(min(f.coverage_pct for f in figs)),
            **extra,
        }
        monthly[symbol] = series

    eit_quantities = (Quantity.EIT_UPS_OUTPUT,)
    eit_method = "ups-output (category 1)"
    if not by_quantity.get(Quantity.EIT_UPS_OUTPUT) and by_quantity.get(Quantity.EIT_PDU):
        eit_quantities, eit_method = (Quantity.EIT_PDU,), "pdu"  # II.1(e): no UPS
    for symbol, quantities in METERED.items():
        quantities = eit_quantities if symbol == "EIT" else quantities
        found = metered(quantities)
        if found and found[0] is not None:
            unit = "m3" if symbol.startswith("WIN") else "kWh"
            extra = {"method": eit_method} if symbol == "EIT" else {}
            from_meters(symbol, *found, unit, **extra)

    findings: list[dict] = []
    heat = metered((Quantity.HEAT_EXPORT,))
    own = metered((Quantity.HEAT_INTERNAL_REUSE,))
    if heat and heat[0] is not None and not (own and own[0] is None):
        zero = (Decimal(0), [Decimal(0)] * len(months))
        own_total, own_series = (own[0], own[1]) if own else zero
        try:
            total = ind.ereuse(heat[0], own_total)  # II.1(j): boundary heat minus own cooling
            series = [h - o for h, o in zip(heat[1], own_series, strict=True)]
            from_meters("EREUSE", total, series, heat[2] + (own[2] if own else []), "kWh")
        except ValueError as exc:
            findings.append(checks.finding("ereuse-negative", "error", ("EREUSE",), str(exc)))

    _renewables(instruments, metered((Quantity.RENEWABLE_ONSITE,)), inputs)
    _pdit(period, segments, inputs)

    # Entered values and flags: an explicit omission or "missing" wins over anything else;
    # an entered value is used where nothing was metered or derived.
    for symbol, fv in entered.items():
        flags = {"note": fv.note, "confidential": fv.confidential}
        if fv.measured_by:
            flags["measured_by"] = fv.measured_by
        if fv.quality in (Quality.OMITTED, Quality.MISSING):
            inputs[symbol] = {
                "value": None,
                "unit": ind.ALL_SYMBOLS[symbol][1],
                "quality": fv.quality,
                "source": "entered",
                "omission_reason": fv.omission_reason,
                **flags,
            }
            monthly.pop(symbol, None)
        elif symbol in inputs:
            inputs[symbol].update(flags)
        elif fv.value is not None:
            inputs[symbol] = {
                "value": as_text(fv.value),
                "unit": ind.ALL_SYMBOLS[symbol][1],
                "quality": fv.quality,
                "source": "entered",
                **flags,
            }
    for symbol, (_ref, unit) in reported_fields(period).items():
        inputs.setdefault(
            symbol,
            {"value": None, "unit": unit, "quality": Quality.MISSING, "source": None},
        )
        inputs[symbol].setdefault("note", "")
        inputs[symbol].setdefault("confidential", False)

    values = {s: as_number(i["value"]) for s, i in inputs.items()}
    values = {s: values.get(s) for s in ind.ALL_SYMBOLS}
    indicators = _indicators(values, site.country, period.schema, intensities)
    findings += checks.validate(period, values, entered, figures, previous)
    if site.country == "DE":
        # EnEfG §11(2) S. 3, beside the EU PUE (which keeps the upgrading electricity)
        pue_11 = enefg.pue_11(values["EDC"], values["EIT"], values["EUPGRADE"])
        upgrade, edc = values["EUPGRADE"], values["EDC"]
        if upgrade is not None and edc is not None and upgrade > edc:
            pue_11 = None  # part of EDC cannot exceed it: the §11 PUE is unknown, not negative
            findings.append(
                checks.finding(
                    "eupgrade-above-edc",
                    "warning",
                    ("EUPGRADE", "EDC"),
                    "Electricity for upgrading waste heat exceeds EDC, of which it is a part: "
                    "the §11 PUE is left blank.",
                )
            )
        indicators["PUE-11"] = as_text(to_places(pue_11))
        findings += checks.enefg_findings(period, values, indicators, profile, *de)
    coverage = {
        fig.meter.code: {
            "quantity": fig.meter.quantity,
            "register": fig.meter.register,
            "settings": [
                {"valid_from": iso(start) if start else None, "unit": unit, "multiplier": str(m)}
                for start, unit, m in fig.timeline
            ],
            "expected": fig.expected,
            "present": fig.present,
            "pct": str(fig.coverage_pct),
            "gaps": fig.gaps,
            "resets": fig.resets,
            "filled": fig.filled,
        }
        for fig in figures
    }
    series = []
    water = ind.wue_water_symbol(period.schema)
    for i, label in enumerate(months):
        row = {s: (monthly[s][i] if monthly.get(s) else None) for s in MONTHLY_SYMBOLS}
        series.append(
            {
                "month": label,
                **{s: as_text(v) for s, v in row.items()},
                "PUE": as_text(to_places(ind.pue(row["EDC"], row["EIT"]))),
                "WUE": as_text(to_places(ind.wue(row[water], row["EIT"]))),
                "ERF": as_text(to_places(ind.erf(row["EREUSE"], row["EDC"]))),
            }
        )
    return {
        "inputs": inputs,
        "indicators": indicators,
        "monthly": series,
        "coverage": coverage,
        "findings": findings,
        "code_version": ENGINE_VERSION,
    }


def reported_fields(period: ReportingPeriod) -> dict[str, tuple[str, str]]:
    """The period's field dictionary, plus the EnEfG fields for a site in Germany."""
    fields = ind.field_dictionary(period.schema)
    if period.site.country == "DE":
        fields.update(ind.SYMBOLS_DE)
    return fields


def _renewables(instruments, onsite_meters, inputs) -> None:
    if not instruments and not onsite_meters:
        return
    onsite_total = onsite_meters[0] if onsite_meters else None
    items = []
    for inst in instruments:
        volume = inst.volume_kwh
        if volume is None:  # on-site generation taken from the renewable-onsite meters
            volume = onsite_total  # None without such meters, or one unread: unknown, not 0
        items.append(
            ind.Instrument(inst.kind, volume, inst.retired_by_this_dc, inst.gos_not_owned_kwh)
        )
    if onsite_meters and not any(i.kind == InstrumentKind.ONSITE for i in instruments):
        items.append(ind.Instrument("onsite", onsite_total))  # GOs assumed owned and retired
    source = "instruments" + (" + meters" if onsite_meters else "")
    for symbol, value in ind.renewables(items).items():
        if value is None:
            continue  # unknown: missing, unless a value is entered for it
        inputs[symbol] = {
            "value": as_text(value),
            "unit": "kWh",
            "quality": Quality.MEASURED,
            "source": source,
        }


def _pdit(period, segments, inputs) -> None:
    segments = [(s.first_day, s.last_day, s.power_kw) for s in segments]
    if segments:
        value = ind.weighted_pdit(segments)  # II.1(a): time-weighted average
        inputs["PDIT"] = {
            "value": as_text(to_places(value)),
            "unit": "kW",
            "quality": Quality.MEASURED,
            "source": "segments",
            "basis": period.pdit_basis,
        }


def _indicators(values: dict, country: str, schema: str, intensities: dict) -> dict:
    pue = ind.pue(values["EDC"], values["EIT"])
    water = ind.wue_water_symbol(schema)
    cef_decimal = intensities.get(country)
    return {
        "PUE": as_text(to_places(pue)),
        "WUE": as_text(to_places(ind.wue(values[water], values["EIT"]))),
        "ERF": as_text(to_places(ind.erf(values["EREUSE"], values["EDC"]))),
        "REF": as_text(to_places(ind.ref(values["ERES-TOT"], values["EDC"]))),
        "CUE": as_text(to_places(ind.cue(pue, cef_decimal))),
        "CUE_CEF_KG_PER_KWH": as_text(cef_decimal),
        "ERE": as_text(to_places(ind.ere(values["EDC"], values["EIT"], values["EREUSE"]))),
        "CER": as_text(to_places(ind.cer(values["CER-HEAT"], values["CER-COOL"]))),
        "size_class": ind.size_class(values["PDIT"]),
    }
