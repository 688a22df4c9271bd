"""Ingest, compute and export run on their own queues, so each can have its own workers."""

import time
import uuid
from datetime import timedelta

import pytest
from celery import Celery
from django.core.files.base import ContentFile

from circulus import queues
from circulus.celery import app
from reporting.models import IngestJob, TaskRun
from reporting.tasks import queue_compute, queue_ingest, queue_year
from tests.celery_worker import (
    _database_url,
    _reconfigure,
    _redis_reachable,
    point_app_at_test_broker,
    start_worker,
    stop_worker,
    wait_until_up,
)
from tests.reporting.conftest import T0, csv_text, ingest, make_meter, make_site, period, series


@pytest.mark.parametrize(
    "task, kind",
    [
        ("reporting.ingest_job", "ingest"),
        ("reporting.compute_period", "compute"),
        ("reporting.compute_periods", "compute"),
        ("reporting.compute_year", "compute"),
        ("reporting.aggregate_year", "compute"),
        ("exports.run_export", "export"),
        ("circulus.ping", "celery"),
        ("exports.reap_stale_exports", "celery"),
    ],
)
def test_settings_route_each_kind_of_task_to_its_queue(task, kind):
    # A fresh app from the settings: the worker fixtures repoint the shared one at test queues.
    configured = Celery("settings-only")
    configured.config_from_object("django.conf:settings", namespace="CELERY")
    assert configured.amqp.router.route({}, task)["queue"].name == kind


def _wait(run: TaskRun, seconds: float = 90) -> TaskRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.finished_at:
            break
        time.sleep(0.2)
    return run


@pytest.fixture
def two_workers(django_db_blocker):
    """One worker serving only ingest, one serving compute, export and the default queue."""
    if not _redis_reachable():
        pytest.skip("no Redis reachable: real-worker tests need one")
    with django_db_blocker.unblock():
        database_url = _database_url()
    if not database_url:
        pytest.skip("the workers share the test database only on PostgreSQL")
    prefix = f"circulus-test-{uuid.uuid4().hex[:8]}-"
    tag = uuid.uuid4().hex[:6]
    names = {"ingest": f"ingest-{tag}@test", "compute": f"compute-{tag}@test"}
    workers = [
        start_worker(prefix, database_url, [queues.INGEST], names["ingest"]),
        start_worker(
            prefix, database_url, [queues.COMPUTE, queues.EXPORT, queues.DEFAULT], names["compute"]
        ),
    ]
    saved = point_app_at_test_broker(prefix)
    try:
        for worker, hostname in zip(workers, names.values(), strict=True):
            wait_until_up(worker, hostname)
        yield names
    finally:
        for worker in workers:
            stop_worker(worker)
        _reconfigure(**saved)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_two_queues_each_take_their_own_work(two_workers):
    sites = [make_site(code) for code in ("QUE1", "QUE2")]
    for site in sites:
        make_meter(site, f"{site.code}-UPS", "eit-ups-output")
        make_meter(site, f"{site.code}-MAIN", "edc-supply")
        ingest(series(f"{site.code}-UPS", T0 + timedelta(minutes=15), 96, 10))
        ingest(series(f"{site.code}-MAIN", T0 + timedelta(minutes=15), 96, 13))
    first = period(sites[0], pdit_basis="installed")
    period(sites[1], pdit_basis="installed")

    run = queue_compute(first)
    app.AsyncResult(str(run.pk)).get(timeout=60)
    assert app.AsyncResult(str(run.pk)).worker == two_workers["compute"]

    make_meter(sites[0], "QUE1-IT", "eit-ups-output")
    job = IngestJob.objects.create(source="queue-test")
    body = "".join(csv_text(series("QUE1-IT", T0 + timedelta(minutes=15), 50, 2)))
    job.file.save(f"{job.pk}.csv", ContentFile(body.encode()), save=True)
    try:
        queue_ingest(job)
        assert app.AsyncResult(job.task_id).get(timeout=60)["inserted"] == 50
        assert app.AsyncResult(job.task_id).worker == two_workers["ingest"]
    finally:
        job.file.delete(save=False)

    # A year fans out one compute per site, all on the compute queue, then the aggregates.
    year = _wait(queue_year(2025))
    assert year.status == "succeeded", year.error
    assert app.AsyncResult(str(year.pk)).worker == two_workers["compute"]
