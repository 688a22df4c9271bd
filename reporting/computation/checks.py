"""The checks of one period: the validation rules, meter coverage and resets, and the EnEfG
compliance findings of a site in Germany."""

from __future__ import annotations

from datetime import date

from reporting import enefg
from reporting import indicators as ind
from reporting.computation.values import as_number
from reporting.models import Quality


def finding(rule, severity, fields, message) -> dict:
    return {"rule_id": rule, "severity": severity, "fields": list(fields), "message": message}


def validate(period, values, entered, figures, previous) -> list[dict]:
    """The validation rules; `previous`: the inputs of the site's result of the year before."""
    context = ind.Context(
        pdit_basis=period.pdit_basis or None,
        wue_category=period.wue_category,
        partial_year=period.partial_year,
        period_start=period.start_date,
        period_end=period.end_date,
        cserv_coverage_pct=period.cserv_scr_coverage_pct,
        cstor_coverage_pct=period.cstor_scr_coverage_pct,
        previous={s: as_number(previous[s]["value"]) for s in ("EDC", "EIT") if previous},
        notes={s: fv.note for s, fv in entered.items() if fv.note.strip()},
    )
    found = [
        finding(f.rule_id, f.severity, f.fields, f.message) for f in ind.validate(values, context)
    ]
    for fig in figures:
        code = fig.meter.code
        if fig.present < fig.expected:
            message = (
                f"meter {code}: {fig.present} of {fig.expected} intervals "
                f"({fig.coverage_pct}%), {len(fig.gaps)} gap(s)"
                + ("; gaps filled by scaling (estimated)" if fig.filled else "")
            )
            found.append(finding("meter-coverage-below-100", "warning", (code,), message))
        if fig.resets:
            message = f"meter {code}: {len(fig.resets)} counter reset(s) or replacement(s)"
            found.append(finding("meter-counter-reset", "warning", (code,), message))
    for symbol, fv in entered.items():
        # FieldValue.clean asks this of every new entry; a row stored before (an upgraded
        # database) is named here, so it cannot be reported as measured without its basis.
        if fv.quality == Quality.MEASURED and not fv.measured_by.strip():
            message = (
                f"{symbol} is entered as measured but names no instrument or document: name "
                "it, or state the value estimated or allocated"
            )
            found.append(finding("measured-without-instrument", "error", (symbol,), message))
    return found


def enefg_findings(period, values, indicators, profile, exemptions, systems) -> list[dict]:
    """EnEfG §3 Nr. 24, §§11-13 compliance findings (never errors: they do not block
    validation)."""
    start = (
        date(profile.operation_start_year, profile.operation_start_month, 1) if profile else None
    )
    checks = enefg.check(
        on=period.end_date,
        first=period.start_date,
        operation_start=start,
        pue=as_number(indicators["PUE"]),
        pue_without_upgrade=as_number(indicators["PUE-11"]),
        erf=as_number(indicators["ERF"]),
        renewable_share=enefg.renewable_electricity_share(
            values["ERES-TOT"], values["EGRID"], values["EOWN"], values["EFEED"]
        ),
        non_redundant_kw=values["PNR"],
        public_owner=profile.public_owner if profile else None,
        exemptions=exemptions,
        systems=systems,
    )
    return [
        {
            **finding(c.rule_id, c.severity, c.fields, c.message),
            "legal_ref": c.legal_ref,
            "applies_from": c.applies_from.isoformat(),
        }
        for c in checks
    ]
