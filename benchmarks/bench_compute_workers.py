"""compute_year of a fleet on two real Celery workers vs one (the compute queue scales out).

S sites with a profile, K meters each (one EDC counter, the rest EIT interval meters), hourly
readings of 2025 and their daily rollups. `compute_year` fans out one task per site on the
compute queue (a chord whose callback computes the Annex IV aggregates). Measured: wall time
from queueing to the run finished, first with one worker process, then with two (each
`--pool=solo --concurrency=1`, on the local Redis broker, sharing the benchmark database).
The ratio is two workers / one; the speed-up is its inverse. PostgreSQL only (the workers
need a database they can share). The machine's cores bound the speed-up.
"""

import os
import time
import uuid
from datetime import date

from django.db import connection

from benchmarks.bench_export_eu import site_profile
from benchmarks.bench_kpis import START
from benchmarks.harness import vendor
from registry.models import Site
from reporting import rollups
from reporting.models import (
    MeasurementPoint,
    PeriodResult,
    ReportingPeriod,
    SiteProfile,
    TaskRun,
)

GOAL = 0.75  # two workers finish in ≤ 3/4 of one worker's time
HOURS = 8_760


def _setup(sites: int, meters: int) -> list[int]:
    Site.objects.bulk_create(
        Site(code=f"BW-{s:03d}", name="bench", country="FR", time_zone="Europe/Paris")
        for s in range(sites)
    )
    site_ids = list(Site.objects.filter(code__startswith="BW-").values_list("pk", flat=True))
    SiteProfile.objects.bulk_create(SiteProfile(**site_profile(pk)) for pk in site_ids)
    MeasurementPoint.objects.bulk_create(
        MeasurementPoint(
            site_id=pk,
            code=f"BW-{pk}-{i}",
            quantity="edc-supply" if i == 0 else "eit-ups-output",
            unit="kWh",
            register="cumulative" if i == 0 else "interval",
            interval_minutes=60,
        )
        for pk in site_ids
        for i in range(meters)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reporting_reading (meter_id, timestamp, value) "
            "SELECT m.id, %s + s.i * interval '1 hour', "
            "CASE WHEN m.register = 'interval' THEN 10 ELSE 13 * s.i END "
            "FROM reporting_measurementpoint m CROSS JOIN generate_series(0, %s) AS s(i) "
            "WHERE m.code LIKE 'BW-%%' AND (m.register = 'cumulative' OR s.i >= 1)",
            [START, HOURS],
        )
        cursor.execute("ANALYZE reporting_reading")
    ids = list(MeasurementPoint.objects.filter(code__startswith="BW-").values_list("pk", flat=True))
    rollups.refresh(ids, date(2024, 12, 31), date(2026, 1, 1))
    return site_ids


def _run_year(workers: int, prefix: str, database_url: str) -> float:
    from circulus import queues
    from reporting.tasks import queue_year
    from tests.celery_worker import start_worker, stop_worker, wait_until_up

    PeriodResult.objects.filter(period__site__code__startswith="BW-").delete()
    procs = [
        start_worker(
            prefix,
            database_url,
            kinds=[queues.COMPUTE, queues.DEFAULT],
            hostname=f"bench{n}-{uuid.uuid4().hex[:6]}@localhost",
        )
        for n in range(workers)
    ]
    try:
        for proc in procs:
            wait_until_up(proc)
        started = time.perf_counter()
        run = queue_year(2025)
        while True:
            run.refresh_from_db()
            if run.finished_at:
                break
            if time.perf_counter() - started > 1200:
                raise RuntimeError("compute_year did not finish within 20 minutes")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        assert run.status == "succeeded", (run.status, run.error)
        return elapsed
    finally:
        for proc in procs:
            stop_worker(proc)


def _wipe(site_ids) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reporting_reading, reporting_readingday")
    TaskRun.objects.all().delete()
    ReportingPeriod.objects.filter(site_id__in=site_ids).delete()
    MeasurementPoint.objects.filter(site_id__in=site_ids).delete()
    SiteProfile.objects.filter(site_id__in=site_ids).delete()
    Site.objects.filter(pk__in=site_ids).delete()


def run(quick: bool) -> dict:
    if connection.vendor != "postgresql":
        return {"lines": [f"{vendor()}: skipped (workers need a shared PostgreSQL database)"]}
    from tests.celery_worker import (
        _database_url,
        _reconfigure,
        _redis_reachable,
        point_app_at_test_broker,
    )

    if not _redis_reachable():
        return {"lines": ["skipped: no Redis at CIRCULUS_TEST_REDIS_URL"]}
    sites, meters = (10, 2) if quick else (200, 3)
    started = time.perf_counter()
    site_ids = _setup(sites, meters)
    load_s = time.perf_counter() - started
    prefix = f"circulus-bench-{uuid.uuid4().hex[:8]}-"
    saved = point_app_at_test_broker(prefix)
    os.environ.setdefault("DEBUG", "1")
    try:
        one = _run_year(1, prefix, _database_url())
        two = _run_year(2, prefix, _database_url())
    finally:
        _reconfigure(**saved)
        _wipe(site_ids)
    ratio = two / one
    return {
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "goal_met": ratio <= GOAL,
        "lines": [
            f"{vendor()}: {sites} sites × {meters} meters × {HOURS:,} hourly readings "
            f"(+ rollups; set up in {load_s:.1f} s)",
            f"compute_year: 1 worker {one:.2f} s, 2 workers {two:.2f} s: {ratio:.2f}x "
            f"(speed-up {one / two:.2f}×; goal ≤ {GOAL}x) on {os.cpu_count()} cores, shared",
        ],
    }
