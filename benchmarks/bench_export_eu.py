"""The EU annual workbook for 100 sites (read the models, write every sheet): goal < 5 s.

Each site has an Annex I profile, a computed period with entered Annex II values and a few
ledger events (so I_EWaste has content). Timed: `report_data` + `write_xlsx`, best of 3 (1 in
quick mode with 20 sites). There is no baseline to divide by: the goal is absolute.
"""

import datetime as dt
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.harness import vendor
from hardware.models import HardwareModel
from registry import services
from registry.models import Site
from reporting.computation import aggregate_year, compute_and_store
from reporting.exports import eu_workbook
from reporting.models import FieldValue, ReportingPeriod, SiteProfile

GOAL_S = 5.0
YEAR = 2025
VALUES = {
    "PDIT": "1200",
    "SDC": "5000",
    "SCR": "2000",
    "EDC": "10000000",
    "EIT": "8000000",
    "WIN": "12000",
    "EREUSE": "1500000",
}


def site_profile(site_id: int) -> dict:
    """A complete Annex I profile of a benchmark site (the computation and workbook read it)."""
    return {
        "site_id": site_id,
        "owner_name": "Owner",
        "owner_contact": "owner@example.org",
        "operator_name": "Operator",
        "operator_contact": "ops@example.org",
        "lau_code": "75056",
        "dc_type": "enterprise",
        "structure_type": "structure",
        "operation_start_year": 2015,
        "operation_start_month": 1,
        "red_el_hv": "2N",
        "red_el_lv": "N+1",
        "red_el_rack": "2N",
        "red_cool_room": "N+1",
        "red_cool_rack": "N",
    }


def _setup(n: int) -> None:
    model = (
        HardwareModel.objects.filter(mass_kg__isnull=False, holds_data=False)
        .order_by("slug")
        .first()
    )
    for i in range(n):
        site = Site.objects.create(
            code=f"EU{i:03d}", name=f"Bench {i}", country="FR", time_zone="Europe/Paris"
        )
        SiteProfile.objects.create(**site_profile(site.pk))
        period = ReportingPeriod.calendar_year(site, YEAR, pdit_basis="installed", wue_category=2)
        period.save()
        FieldValue.objects.bulk_create(
            FieldValue(period=period, symbol=s, value=Decimal(v), confidential=(s == "EDC"))
            for s, v in VALUES.items()
        )
        compute_and_store(period)
        asset = services.create_asset(
            asset_tag=f"EU-{i}",
            hardware_model=model,
            site=site,
            occurred_at=dt.datetime(YEAR, 2, 1, tzinfo=dt.UTC),
            to_state="in-stock",
            details={
                "supplier": "Acme",
                "price": "1",
                "currency": "EUR",
                "purchase_date": f"{YEAR}-02-01",
            },
        )
        services.record_event(
            asset,
            "sold",
            occurred_at=dt.datetime(YEAR, 3, 1, tzinfo=dt.UTC),
            details={"counterparty": "Broker", "price": "1", "currency": "EUR"},
        )
    aggregate_year(YEAR)


def run(quick: bool) -> dict:
    n = 20 if quick else 100
    repeat = 1 if quick else 3
    _setup(n)
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            started = time.perf_counter()
            data = eu_workbook.report_data(
                YEAR, [f"EU{i:03d}" for i in range(n)], variant="publish", allow_unvalidated=True
            )
            eu_workbook.write_xlsx(data, str(Path(tmp) / "eu.xlsx"))
            best = min(best, time.perf_counter() - started)
    return {
        "seconds": best,
        "goal": GOAL_S,
        "goal_met": best < GOAL_S,
        "sites": n,
        "lines": [f"{vendor()}: EU workbook for {n} sites in {best:.2f} s (goal < {GOAL_S} s)"],
    }
