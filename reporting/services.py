"""Writes to reporting periods: creation and the draft → validated → submitted moves."""

from django.core.exceptions import ValidationError
from django.db import transaction

from registry.models import Site
from reporting.computation import compute_and_store
from reporting.models import PeriodStatus, ReportingPeriod

# (from, to): the allowed moves. Validating recomputes first; hard findings block it.
TRANSITIONS: dict[tuple[str, str], str] = {
    (PeriodStatus.DRAFT, PeriodStatus.VALIDATED): "no hard validation error",
    (PeriodStatus.VALIDATED, PeriodStatus.DRAFT): "reopen to correct inputs",
    (PeriodStatus.VALIDATED, PeriodStatus.SUBMITTED): "sent to the national or EU database",
}


def open_period(site: Site, year: int, **fields) -> ReportingPeriod:
    """The site's period for `year`, created as a draft calendar year when missing."""
    period = ReportingPeriod.objects.filter(site=site, year=year).first()
    if period is None:
        period = ReportingPeriod.calendar_year(site, year, **fields)
        period.full_clean()
        period.save()
    return period


def transition(period: ReportingPeriod, to: str, *, actor=None) -> ReportingPeriod:
    """Move `period` to status `to`, or raise ValidationError saying why not."""
    if (period.status, to) not in TRANSITIONS:
        raise ValidationError({"status": f"cannot move a {period.status} period to {to}"})
    if to == PeriodStatus.VALIDATED:
        # Recompute from the current readings; the stored result shows the findings either way.
        result = compute_and_store(period)
        if result.errors:
            listed = "; ".join(f"{e['rule_id']}: {e['message']}" for e in result.errors)
            raise ValidationError({"status": f"hard validation errors block it: {listed}"})
    with transaction.atomic():
        locked = ReportingPeriod.objects.select_for_update().get(pk=period.pk)
        if locked.status != period.status:
            raise ValidationError({"status": f"the period is now {locked.status}"})
        reason = TRANSITIONS[(locked.status, to)]
        locked.status = to
        locked._change_reason = f"{to}: {reason}"  # recorded on the history row
        if actor is not None:
            locked._history_user = actor
        locked.save()
    period.status = to
    return locked
