"""Reads other apps use without depending on reporting's internals."""

from decimal import Decimal

from registry.models import Site


def _pue_with_basis(value, year: int, status: str) -> tuple[Decimal, str] | None:
    """(PUE, which period it is from and whether that period is validated), for reuse's
    assumptions: a draft's PUE may still change."""
    from reporting.models import PeriodStatus

    if value in (None, ""):
        return None
    state = "draft, not yet validated" if status == PeriodStatus.DRAFT else status
    return Decimal(str(value)), f"PUE of the {year} reporting period ({state})"


def latest_site_pue(site: Site) -> tuple[Decimal, str] | None:
    """The PUE of the site's most recent computed reporting period (reuse queries default to it),
    with the period's year and status."""
    from reporting.models import PeriodResult

    row = (
        PeriodResult.objects.filter(period__site=site)
        .order_by("-period__year", "-computed_at")
        .values_list("indicators__PUE", "period__year", "period__status")
        .first()
    )
    return _pue_with_basis(*row) if row else None


def latest_sites_pue(sites) -> dict[int, tuple[Decimal, str] | None]:
    """`latest_site_pue` for many sites in one query (a few periods per site)."""
    from reporting.models import PeriodResult

    ids = {site.id for site in sites}
    rows = PeriodResult.objects.order_by("period__site_id", "-period__year", "-computed_at")
    if len(ids) <= 20:  # else read every site's and keep ours: no query with hundreds of ids
        rows = rows.filter(period__site_id__in=ids)
    out: dict[int, tuple[Decimal, str] | None] = {}
    for site_id, value, year, status in rows.values_list(
        "period__site_id", "indicators__PUE", "period__year", "period__status"
    ):
        if site_id in ids and site_id not in out:
            out[site_id] = _pue_with_basis(value, year, status)
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


def management_state(site: Site, on):
    """EnEfG §12: the site's management-system state on ``on`` (its label) and all its
    systems, for the period page and the exports."""
    from reporting import enefg
    from reporting.models import ManagementSystem

    systems = list(ManagementSystem.objects.filter(site=site).order_by("since"))
    state = enefg.ems_state([s.as_rule() for s in systems], on)
    return enefg.STATE_LABELS[state], systems
