"""Builders for the reporting tests: a site with a profile, meters, readings as CSV text.

The models are imported inside the builders, so the pure tests beside them (test_indicators.py)
also run without Django (`pytest -p no:django`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from registry.models import Site
    from reporting.models import ReportingPeriod


def make_site(code="TST1", country="FR", time_zone="UTC", **fields) -> Site:
    from registry.models import Site
    from reporting.models import SiteProfile

    site, _ = Site.objects.get_or_create(
        code=code, defaults={"name": f"Site {code}", "country": country, "time_zone": time_zone}
    )
    SiteProfile.objects.get_or_create(
        site=site,
        defaults={
            "owner_name": "Owner",
            "owner_contact": "owner@example.org",
            "operator_name": "Operator",
            "operator_contact": "ops@example.org",
            "lau_code": "75056",
            "nuts3_code": "",
            "dc_type": fields.get("dc_type", "colocation"),
            "structure_type": "structure",
            "operation_start_year": 2019,
            "operation_start_month": 3,
            "red_el_hv": "2N",
            "red_el_lv": "N+1",
            "red_el_rack": "2N",
            "red_cool_room": "N+1",
            "red_cool_rack": "N",
        },
    )
    return site


def make_meter(site, code, quantity, unit="kWh", register="interval", **fields):
    from reporting.models import MeasurementPoint

    return MeasurementPoint.objects.create(
        site=site, code=code, quantity=quantity, unit=unit, register=register, **fields
    )


def csv_text(rows) -> list[str]:
    """CSV lines for ingest_csv from (meter, timestamp, value) tuples."""
    lines = ["meter,timestamp,value\n"]
    for meter, ts, value in rows:
        stamp = ts if isinstance(ts, str) else ts.isoformat()
        lines.append(f"{meter},{stamp},{value}\n")
    return lines


def ingest(rows, **kwargs):
    from reporting.ingest import ingest_csv

    return ingest_csv(csv_text(rows), **kwargs)


def series(meter, start, count, value, step=timedelta(minutes=15), cumulative_from=None):
    """`count` readings every `step` from `start` (interval: constant `value` per interval;
    cumulative: a counter starting at `cumulative_from` growing by `value`)."""
    out = []
    for i in range(count):
        ts = start + i * step
        if cumulative_from is None:
            out.append((meter, ts, value))
        else:
            out.append((meter, ts, Decimal(cumulative_from) + Decimal(value) * i))
    return out


def period(site, year=2025, **fields) -> ReportingPeriod:
    from reporting.models import ReportingPeriod

    obj = ReportingPeriod.calendar_year(site, year, **fields)
    obj.full_clean()
    obj.save()
    return obj


T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def site(db):
    return make_site()
