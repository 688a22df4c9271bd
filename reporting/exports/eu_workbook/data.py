"""Data gathering: the only code of the workbook that reads the reporting models. Everything
else renders the plain dict `report_data` returns."""

from datetime import UTC
from decimal import Decimal

from django.utils import timezone

from reporting import indicators as ind
from reporting import label, selectors
from reporting.exports import ewaste
from reporting.exports.eu_workbook.rzreg import check_rzreg
from reporting.exports.eu_workbook.terms import (
    INDICATOR_INPUTS,
    RZREG,
    SCHEMA_VERSION,
    VALIDATED,
    VARIANTS,
    NotValidated,
)


def _dec(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


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
        check_rzreg(out, missing)
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
    needs_of = {
        **INDICATOR_INPUTS,
        "WUE": (water, "EIT"),
        "CER": ("CER-HEAT", "CER-COOL"),
        "PUE-11": ("EDC", "EIT", "EUPGRADE"),  # EnEfG §11(2) S. 3, sites in Germany
    }
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
        else {f: getattr(profile, f) for f in (*type(profile).ANNEX_I, "postcode")},
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
        "enefg": _enefg_records(site, period) if site.country == "DE" else None,
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


def _enefg_records(site, period) -> dict:
    """EnEfG §12 and the recorded exemptions, as sentences (Anlage 3 asks for neither)."""
    state, systems = selectors.management_state(site, period.end_date)
    return {
        "state": state,
        "systems": "; ".join(
            f"{m.get_kind_display()}, {m.get_state_display().lower()} from {m.since:%d %b %Y}"
            + (f" until {m.valid_until:%d %b %Y}" if m.valid_until else "")
            + f", {m.document}"
            + (f", {m.body}" if m.body else "")
            for m in systems
        )
        or None,
        "exemptions": "; ".join(e.as_rule().describe() for e in period.enefg_exemptions.all())
        or None,
    }


def _fields(schema: str, country: str) -> dict[str, tuple[str, str]]:
    fields = ind.field_dictionary(schema)
    if country == "DE":
        fields.update(ind.SYMBOLS_DE)
    return fields
