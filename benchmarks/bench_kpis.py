"""a site-year and a fleet year computed from daily rollups vs the raw monthly GROUP BY.

Site-year: one site with M meters × 35,040 15-minute readings of 2025 (one in ten a cumulative
counter, the rest interval meters). Fleet: S sites of K meters each, the same readings. The
readings are generated set-based in the database and their daily rollups built once, as ingest
builds them (the build time is reported, not compared). The baseline is the bare query a
hand-written report would run over the readings: SUM and COUNT per meter and month.
`compute_many` (inputs, coverage, resets, indicators, validation checks of every period, as a
compute_year batch runs it) reads the rollups: meters × days rows, in a number of queries that
does not grow with the number of sites.
Goal: ≤ 0.05× the baseline (≥ 20× faster) for the site-year and for the fleet year.
"""

import time
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection, transaction

from benchmarks.harness import peak_rss_mb, timed, vendor
from registry.models import Site
from reporting import partitions, rollups
from reporting.computation import compute, compute_many
from reporting.models import MeasurementPoint, ReportingPeriod

GOAL = 0.05
PER_METER = 35_040  # a year of 15-minute intervals
START = datetime(2025, 1, 1, tzinfo=UTC)


def _setup(sites: int, meters: int, prefix: str) -> list[ReportingPeriod]:
    """`sites` sites of `meters` meters, their readings, rollups and 2025 periods."""
    created = Site.objects.bulk_create(
        Site(code=f"{prefix}-{s:03d}", name="bench", country="FR", time_zone="UTC")
        for s in range(sites)
    )
    site_ids = [s.pk for s in Site.objects.filter(code__startswith=f"{prefix}-")]
    MeasurementPoint.objects.bulk_create(
        MeasurementPoint(
            site_id=site_id,
            code=f"{prefix}-{site_id}-{i:05d}",
            quantity="edc-supply" if i % 10 == 0 else "eit-ups-output",
            unit="kWh",
            register="cumulative" if i % 10 == 0 else "interval",
        )
        for site_id in site_ids
        for i in range(meters)
    )
    partitions.ensure_partitions(START, datetime(2026, 1, 1, tzinfo=UTC))  # as ingest would
    with transaction.atomic(), connection.cursor() as cursor:
        # interval: 10 kWh per interval ending at i ≥ 1; cumulative: a counter 0, 13, 26 …
        in_sites = ", ".join(str(pk) for pk in site_ids)
        if connection.vendor == "postgresql":
            series = "generate_series(0, %s) AS s(i)"
            stamp = "%s + s.i * interval '15 minutes'"
            params = [START, PER_METER]
        else:
            series = (
                "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
                "SELECT i FROM s) s"
            )
            stamp = "datetime('2025-01-01 00:00:00', '+' || (s.i * 15) || ' minutes')"
            params = [PER_METER]
        cursor.execute(
            "INSERT INTO reporting_reading (meter_id, timestamp, value) "
            f"SELECT m.id, {stamp}, CASE WHEN m.register = 'interval' THEN 10 ELSE 13 * s.i END "
            f"FROM reporting_measurementpoint m CROSS JOIN {series} "
            f"WHERE m.site_id IN ({in_sites}) AND (m.register = 'cumulative' OR s.i >= 1)",
            params,
        )
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE reporting_reading")
    assert created
    periods = [ReportingPeriod.calendar_year(Site(pk=pk), 2025) for pk in site_ids]
    ReportingPeriod.objects.bulk_create(periods)
    return list(ReportingPeriod.objects.filter(site_id__in=site_ids).select_related("site"))


def _build_rollups(periods) -> int:
    ids = list(
        MeasurementPoint.objects.filter(site__in=[p.site_id for p in periods]).values_list(
            "pk", flat=True
        )
    )
    days = rollups.refresh(ids, date(2024, 12, 31), date(2026, 1, 1))
    if connection.vendor == "postgresql":  # planner statistics, as autovacuum keeps them
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE reporting_readingday")
    return days


def _baseline(periods) -> list:
    if connection.vendor == "postgresql":
        month = "date_trunc('month', timestamp AT TIME ZONE 'UTC')"
    else:
        month = "strftime('%%Y-%%m', timestamp)"
    site_ids = ", ".join(str(p.site_id) for p in periods)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT meter_id, {month} AS month, SUM(value), COUNT(*) FROM reporting_reading "
            f"WHERE meter_id IN (SELECT id FROM reporting_measurementpoint "
            f"WHERE site_id IN ({site_ids})) GROUP BY meter_id, month"
        )
        return cursor.fetchall()


def _compute_all(periods) -> list[dict]:
    """Every period at once, as compute_year's batches compute them (`compute_many`)."""
    return compute_many(periods)


def _wipe(periods) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE reporting_reading, reporting_readingday")
        else:
            cursor.execute("DELETE FROM reporting_reading")
            cursor.execute("DELETE FROM reporting_readingday")
    site_ids = [p.site_id for p in periods]
    ReportingPeriod.objects.filter(site_id__in=site_ids).delete()
    MeasurementPoint.objects.filter(site_id__in=site_ids).delete()
    Site.objects.filter(pk__in=site_ids).delete()


def _measure(label: str, sites: int, meters: int, prefix: str, quick: bool, repeat: int) -> dict:
    started = time.perf_counter()
    periods = _setup(sites, meters, prefix)
    load_s = time.perf_counter() - started
    build_s, days = timed(_build_rollups, periods)
    base_s, groups = timed(_baseline, periods, repeat=repeat)
    ours_s, contents = timed(_compute_all, periods, repeat=repeat)
    # The figures from rollups are those of the readings (the baseline's own sums).
    eit_ids = set(
        MeasurementPoint.objects.filter(
            site__in=[p.site_id for p in periods], quantity="eit-ups-output"
        ).values_list("pk", flat=True)
    )
    eit_raw = sum((Decimal(str(total)) for m, _, total, _ in groups if m in eit_ids), Decimal(0))
    eit_ours = sum(
        (Decimal(c["inputs"]["EIT"]["value"]) for c in contents if c["inputs"]["EIT"]["value"]),
        Decimal(0),
    )
    assert eit_ours == eit_raw, (eit_ours, eit_raw)
    if quick:  # per-site compute and the raw reference path, on the small size only
        assert contents == [compute(p) for p in periods]
        assert contents[0] == compute(periods[0], source="raw")
    rows = sites * meters * PER_METER
    ratio = ours_s / base_s
    _wipe(periods)
    return {
        "ratio": ratio,
        "lines": [
            f"{label}: {sites} site(s) × {meters} meters × {PER_METER:,} readings = {rows:,} rows "
            f"(generated in {load_s:.1f} s; {days:,} day rollups built in {build_s:.1f} s)",
            f"  compute from rollups {ours_s:.3f} s vs raw monthly GROUP BY {base_s:.2f} s: "
            f"{ratio:.3f}x (goal ≤ {GOAL}x); EIT {eit_ours} kWh = the readings' sum",
        ],
    }


def run(quick: bool) -> dict:
    postgres = connection.vendor == "postgresql"
    if quick:
        site_meters, fleet = 10, (5, 2)
    else:
        site_meters, fleet = (1000, (200, 2)) if postgres else (100, (20, 2))
    # Best of N on both sides alike. The fleet's computation takes ~0.15 s, where one burst of
    # other load moves it by a third, so it gets more tries; the site-year's baseline alone runs
    # for tens of seconds, so two each.
    site = _measure("site-year", 1, site_meters, "BK", quick, repeat=3 if quick else 2)
    fleet_result = _measure("fleet year", *fleet, "BF", quick, repeat=3 if quick else 5)
    ratio = max(site["ratio"], fleet_result["ratio"])
    return {
        "ratio": round(ratio, 4),
        "site_year_ratio": round(site["ratio"], 4),
        "fleet_ratio": round(fleet_result["ratio"], 4),
        "goal": GOAL,
        "goal_met": ratio <= GOAL,
        "peak_rss_mb": round(peak_rss_mb()),
        "lines": [
            f"{vendor()}:",
            *site["lines"],
            *fleet_result["lines"],
            f"peak RSS {peak_rss_mb():.0f} MB",
        ],
    }
