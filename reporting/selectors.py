"""Reads other apps use without depending on reporting's internals."""

from decimal import Decimal

from registry.models import Site


def latest_site_pue(site: Site) -> Decimal | None:
    """The PUE of the site's most recent computed reporting period (reuse queries default to it)."""
    from reporting.models import PeriodResult

    result = (
        PeriodResult.objects.filter(period__site=site)
        .order_by("-period__year", "-computed_at")
        .values_list("indicators", flat=True)
        .first()
    )
    value = (result or {}).get("PUE")
    return Decimal(str(value)) if value not in (None, "") else None
