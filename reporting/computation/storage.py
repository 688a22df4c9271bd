"""Storing results: a period's computed content (drafts only) and the year's Annex IV
aggregates."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from reporting import indicators as ind
from reporting.computation.period import compute, compute_many
from reporting.computation.sql import MICRO
from reporting.computation.values import as_number, as_text, to_places
from reporting.models import AggregateResult, PeriodResult, PeriodStatus, ReportingPeriod


def _fingerprint(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def compute_and_store(period: ReportingPeriod) -> PeriodResult:
    """Compute a draft period and store its result (validated and submitted ones are frozen)."""
    period = ReportingPeriod.objects.select_related("site").get(pk=period.pk)
    if period.status != PeriodStatus.DRAFT:
        raise PeriodFrozen(f"{period} is {period.status}: its result is frozen")
    content = compute(period)
    with transaction.atomic():
        result, _ = PeriodResult.objects.update_or_create(
            period=period,
            defaults={
                **content,
                "fingerprint": _fingerprint(content),
                "computed_at": timezone.now(),
            },
        )
    return result


def compute_and_store_many(period_ids: list[int]) -> dict[int, PeriodResult | PeriodFrozen]:
    """`compute_and_store` of many periods, computed together (`compute_many`): each id maps to
    its stored result, or to the PeriodFrozen it was skipped with (only drafts are computed)."""
    periods = list(ReportingPeriod.objects.select_related("site").filter(pk__in=period_ids))
    found = {p.pk: p for p in periods}
    outcome: dict[int, PeriodResult | PeriodFrozen] = {}
    drafts = []
    for pk in period_ids:
        period = found.get(pk)
        if period is None:
            raise ReportingPeriod.DoesNotExist(f"reporting period {pk} does not exist")
        if period.status != PeriodStatus.DRAFT:
            outcome[pk] = PeriodFrozen(f"{period} is {period.status}: its result is frozen")
        else:
            drafts.append(period)
    contents = compute_many(drafts)
    for period, content in zip(drafts, contents, strict=True):
        with transaction.atomic():
            # Re-checked under a row lock: a period validated meanwhile keeps its frozen result.
            status = (
                ReportingPeriod.objects.select_for_update()
                .filter(pk=period.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status != PeriodStatus.DRAFT:
                outcome[period.pk] = PeriodFrozen(f"{period} is {status}: its result is frozen")
                continue
            outcome[period.pk], _ = PeriodResult.objects.update_or_create(
                period=period,
                defaults={
                    **content,
                    "fingerprint": _fingerprint(content),
                    "computed_at": timezone.now(),
                },
            )
    return {pk: outcome[pk] for pk in period_ids}  # in the order asked


class PeriodFrozen(Exception):
    """Only draft periods are (re)computed."""


def _micro_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(MICRO)


def aggregate_year(year: int) -> list[AggregateResult]:
    """Annex IV aggregates of `year` from the stored period results: EU and per Member State."""
    results = PeriodResult.objects.filter(period__year=year).select_related(
        "period__site__reporting_profile"
    )
    by_scope: dict[str, list[ind.Site]] = defaultdict(list)
    for result in results:
        site = result.period.site
        profile = getattr(site, "reporting_profile", None)
        values = {s: as_number(v["value"]) for s, v in result.inputs.items()}
        dc = ind.Site(
            dc_type=profile.dc_type if profile else "unknown",
            pdit_kw=values.get("PDIT"),
            edc_kwh=values.get("EDC"),
            eit_kwh=values.get("EIT"),
            win_m3=values.get("WIN"),
            ereuse_kwh=values.get("EREUSE"),
            eres_tot_kwh=values.get("ERES-TOT"),
        )
        by_scope["EU"].append(dc)
        by_scope[site.country].append(dc)
    now = timezone.now()
    rows = []
    for scope, sites in sorted(by_scope.items()):
        for group, agg in ind.annex_iv(sites).items():
            rows.append(
                AggregateResult(
                    year=year,
                    scope=scope,
                    group=group,
                    n_sites=agg.n_sites,
                    total_pdit_kw=_micro_or_none(agg.total_pdit_kw),
                    total_edc_kwh=_micro_or_none(agg.total_edc_kwh),
                    total_win_m3=_micro_or_none(agg.total_win_m3),
                    averages={
                        kpi: {
                            "value": as_text(to_places(a.value)),
                            "n_sites": a.n_sites,
                            "suppressed": a.suppressed,
                            "reason": a.reason,
                        }
                        for kpi, a in agg.averages.items()
                    },
                    computed_at=now,
                )
            )
    with transaction.atomic():
        AggregateResult.objects.filter(year=year).delete()
        AggregateResult.objects.bulk_create(rows)
    return rows
