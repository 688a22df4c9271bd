"""Compute through a real Celery worker on Redis (not the eager path)."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from circulus.celery import app
from reporting.models import AggregateResult, PeriodResult, TaskRun
from reporting.tasks import queue_compute, queue_year
from tests.reporting.conftest import T0, ingest, make_meter, make_site, period, series


def _wait(run: TaskRun, seconds: float = 60) -> TaskRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.finished_at:
            break
        time.sleep(0.2)
    return run


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_compute_runs_on_a_real_worker(celery_worker_process):
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL (SQLite: in memory)")
    site = make_site("WRK1")
    make_meter(site, "WRK-UPS", "eit-ups-output")
    make_meter(site, "WRK-MAIN", "edc-supply")
    # one day of 15-minute data: EIT 96 × 10 = 960 kWh, EDC 96 × 13 = 1248 kWh, PUE 1.3
    ingest(series("WRK-UPS", T0 + timedelta(minutes=15), 96, 10))
    ingest(series("WRK-MAIN", T0 + timedelta(minutes=15), 96, 13))
    p = period(site, pdit_basis="installed")

    run = queue_compute(p)
    outcome = app.AsyncResult(str(run.pk)).get(timeout=60)
    assert outcome["indicators"]["PUE"] == "1.3000000000"
    run = _wait(run)
    assert run.status == "succeeded", run.error
    result = PeriodResult.objects.get(period=p)
    assert Decimal(result.inputs["EDC"]["value"]) == 1248

    year = _wait(queue_year(2025), 90)  # the chord: group of sites, then Annex IV
    assert year.status == "succeeded", year.error
    assert AggregateResult.objects.get(year=2025, scope="EU", group="all").n_sites == 1


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_large_upload_is_ingested_by_the_worker(celery_worker_process):
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL (SQLite: in memory)")
    from django.core.files.base import ContentFile

    from reporting.models import IngestJob, Reading
    from reporting.tasks import queue_ingest
    from tests.reporting.conftest import csv_text

    site = make_site("WRK2")
    make_meter(site, "WRK2-UPS", "eit-ups-output")
    body = "".join(csv_text(series("WRK2-UPS", T0 + timedelta(minutes=15), 500, 3)))
    job = IngestJob.objects.create(source="worker-test")
    job.file.save(f"{job.pk}.csv", ContentFile(body.encode()), save=True)
    try:
        queue_ingest(job)
        outcome = app.AsyncResult(job.task_id).get(timeout=60)
        assert outcome["inserted"] == 500
        job.refresh_from_db()
        assert (
            job.status == "succeeded"
            and Reading.objects.filter(meter__code="WRK2-UPS").count() == 500
        )
    finally:
        job.file.delete(save=False)
