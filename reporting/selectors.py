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


def latest_sites_pue(sites) -> dict[int, Decimal | None]:
    """`latest_site_pue` for many sites in one query (a few periods per site)."""
    from reporting.models import PeriodResult

    ids = {site.id for site in sites}
    rows = PeriodResult.objects.order_by("period__site_id", "-period__year", "-computed_at")
    if len(ids) <= 20:  # else read every site's and keep ours: no query with hundreds of ids
        rows = rows.filter(period__site_id__in=ids)
    out: dict[int, Decimal | None] = {}
    for site_id, value in rows.values_list("period__site_id", "indicators__PUE"):
        if site_id in ids and site_id not in out:
            out[site_id] = Decimal(str(value)) if value not in (None, "") else None
    return out


latest_site_pue.for_sites = latest_sites_pue


def meter_readings(meter, start=None, end=None):
    """(timestamp, value) of one meter's readings in time order, start ≤ timestamp < end
    (either end open when None): one range of the (meter, timestamp) key."""
    from reporting.models import Reading

    readings = Reading.objects.filter(meter=meter)
    if start is not None:
        readings = readings.filter(timestamp__gte=start)
    if end is not None:
        readings = readings.filter(timestamp__lt=end)
    return readings.order_by("timestamp").values_list("timestamp", "value")
