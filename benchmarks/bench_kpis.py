"""compute a site-year (monthly inputs, coverage, resets, indicators) vs a raw SQL monthly GROUP BY.

The site has M meters × 35,040 15-minute readings of 2025 (one in ten a cumulative counter,
the rest interval meters), generated set-based in the database. The baseline is the bare query
a hand-written report would run: SUM and COUNT per meter and local month over the same rows.
`compute` does that aggregation (with LAG for the counters), coverage, the indicators and the
§10.1 checks. Goal: ≤ 2× the baseline. Peak RSS is reported: Python only sees per-meter monthly
totals, so memory does not grow with the number of readings.
"""

import time
from datetime import UTC, datetime

from django.db import connection, transaction

from benchmarks.harness import peak_rss_mb, timed, vendor
from registry.models import Site
from reporting import partitions
from reporting.computation import compute
from reporting.models import MeasurementPoint, ReportingPeriod

GOAL = 2.0
PER_METER = 35_040  # a year of 15-minute intervals
START = datetime(2025, 1, 1, tzinfo=UTC)


def _setup(meters: int) -> ReportingPeriod:
    site, _ = Site.objects.get_or_create(
        code="BENCH-KPI", defaults={"name": "bench", "country": "FR", "time_zone": "UTC"}
    )
    points = [
        MeasurementPoint(
            site=site,
            code=f"BK-{i:05d}",
            quantity="edc-supply" if i % 10 == 0 else "eit-ups-output",
            unit="kWh",
            register="cumulative" if i % 10 == 0 else "interval",
        )
        for i in range(meters)
    ]
    MeasurementPoint.objects.bulk_create(points)
    ids = list(MeasurementPoint.objects.filter(site=site).values_list("id", "register"))
    partitions.ensure_partitions(START, datetime(2026, 1, 1, tzinfo=UTC))  # as ingest would
    with transaction.atomic(), connection.cursor() as cursor:
        for meter_id, register in ids:
            # interval: 10 kWh per interval ending at i; cumulative: a counter at 0, 13, 26 …
            first, value = (1, "10") if register == "interval" else (0, "13 * (i - 0)")
            if connection.vendor == "postgresql":
                cursor.execute(
                    "INSERT INTO reporting_reading (meter_id, timestamp, value) "
                    f"SELECT %s, %s + i * interval '15 minutes', {value} "
                    "FROM generate_series(%s, %s) AS i",
                    [meter_id, START, first, PER_METER],
                )
            else:
                cursor.execute(
                    "WITH RECURSIVE s(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
                    "INSERT INTO reporting_reading (meter_id, timestamp, value) "
                    "SELECT %s, datetime('2025-01-01 00:00:00', '+' || (i * 15) || ' minutes'), "
                    f"{value} FROM s",
                    [first, PER_METER, meter_id],
                )
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE reporting_reading")
    period = ReportingPeriod.calendar_year(site, 2025)
    period.save()
    return period


def _baseline(period: ReportingPeriod) -> list:
    if connection.vendor == "postgresql":
        month = "date_trunc('month', timestamp AT TIME ZONE 'UTC')"
    else:
        month = "strftime('%%Y-%%m', timestamp)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT meter_id, {month} AS month, SUM(value), COUNT(*) FROM reporting_reading "
            "WHERE meter_id IN (SELECT id FROM reporting_measurementpoint WHERE site_id = %s) "
            "GROUP BY meter_id, month",
            [period.site_id],
        )
        return cursor.fetchall()


def _wipe(period: ReportingPeriod) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE reporting_reading")
        else:
            cursor.execute("DELETE FROM reporting_reading")
    site = period.site
    period.delete()
    MeasurementPoint.objects.filter(site=site).delete()


def run(quick: bool) -> dict:
    postgres = connection.vendor == "postgresql"
    meters = 10 if quick else (1000 if postgres else 100)
    rows = meters * PER_METER
    started = time.perf_counter()
    period = _setup(meters)
    load_s = time.perf_counter() - started
    rss_before = peak_rss_mb()
    repeat = 3 if quick else 2
    base_s, groups = timed(_baseline, period, repeat=repeat)
    ours_s, content = timed(compute, period, repeat=repeat)
    assert len(groups) == meters * 13, len(groups)  # the readings at 2026-01-01 00:00 too
    eit = content["inputs"]["EIT"]["value"]
    ratio = ours_s / base_s
    _wipe(period)
    return {
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "goal_met": ratio <= GOAL,
        "rows": rows,
        "peak_rss_mb": round(peak_rss_mb()),
        "lines": [
            f"{vendor()}: {meters} meters × {PER_METER:,} readings = {rows:,} rows "
            f"(generated in {load_s:.1f} s)",
            f"compute {ours_s:.2f} s vs raw monthly GROUP BY {base_s:.2f} s: {ratio:.2f}x "
            f"(goal ≤ {GOAL}x); EIT {eit} kWh",
            f"peak RSS {peak_rss_mb():.0f} MB (before computing {rss_before:.0f} MB)",
        ],
    }
