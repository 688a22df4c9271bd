"""Every job ends: the shared lifecycle of ingest, compute and export jobs (circulus.jobs); the
asset import job's own tests are in tests/registry/test_import_jobs.py."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from circulus import jobs
from circulus.celery import app
from reporting.exports.models import ExportJob
from reporting.models import IngestJob, Reading, TaskRun
from tests import factories as f
from tests.celery_worker import (
    _database_url,
    kill_worker,
    start_killable_worker,
    start_worker,
    wait_for,
)
from tests.reporting.conftest import T0, csv_text, make_meter, make_site, period, series

pytestmark = pytest.mark.django_db


def _stored_upload(job: IngestJob, rows) -> IngestJob:
    job.file.save(f"{job.pk}.csv", ContentFile("".join(csv_text(rows)).encode()), save=True)
    return job


def _old(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


# --- the protocol --------------------------------------------------------------------------


def test_reaper_fails_stale_jobs_of_every_kind_and_leaves_live_ones(settings, auditor_user):
    settings.JOB_STALE_SECONDS = 120
    settings.JOB_QUEUED_STALE_SECONDS = 1800
    ingest_job = IngestJob.objects.create(source="t")
    run = TaskRun.objects.create(name="reporting.compute_period")
    export = ExportJob.objects.create(kind="assets", requested_by=auditor_user)
    live = IngestJob.objects.create(source="live")
    for job in (ingest_job, run, export, live):
        assert jobs.claim(jobs.kind_of(job), job.pk) == 1
    for job in (ingest_job, run, export):
        type(job).objects.filter(pk=job.pk).update(heartbeat_at=_old(10))
    never = IngestJob.objects.create(source="never started")
    IngestJob.objects.filter(pk=never.pk).update(created_at=_old(60))
    waiting = IngestJob.objects.create(source="queued a minute ago")

    # Every registered kind is reaped (the connectors app adds its pulls, the registry its asset
    # imports: none stale here).
    assert jobs.reap() == {"ingest": 2, "compute": 1, "export": 1, "pull": 0, "asset_import": 0}
    for job, field in ((ingest_job, "message"), (run, "error"), (export, "error")):
        job.refresh_from_db()
        assert "heartbeat" in getattr(job, field) and job.finished_at
    never.refresh_from_db()
    assert never.status == "failed" and "No worker started it" in never.message
    assert IngestJob.objects.get(pk=live.pk).status == "running"
    assert IngestJob.objects.get(pk=waiting.pk).status == "pending"


def test_a_late_attempt_cannot_end_a_newer_one():
    job = IngestJob.objects.create(source="t")
    first = jobs.claim(jobs.INGEST, job.pk)
    assert jobs.claim(jobs.INGEST, job.pk) is None  # running, beating: not claimable
    IngestJob.objects.filter(pk=job.pk).update(heartbeat_at=_old(60))
    second = jobs.claim(jobs.INGEST, job.pk)  # a redelivery after the heartbeat went stale
    assert (first, second) == (1, 2)
    assert not jobs.finish(jobs.INGEST, job.pk, first, message="late")
    assert jobs.finish(jobs.INGEST, job.pk, second, message="ok")
    job.refresh_from_db()
    assert job.status == "succeeded" and job.message == "ok" and job.attempts == 2


def test_a_redelivery_claims_a_job_whose_worker_process_is_gone():
    job = IngestJob.objects.create(source="t")
    jobs.claim(jobs.INGEST, job.pk)
    # The pool child that claimed it was killed: its pid no longer exists, the heartbeat is fresh.
    # A child that has exited and been reaped (spawned: forking this threaded process is unsafe).
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    dead = gone.pid
    IngestJob.objects.filter(pk=job.pk).update(worker=f"{jobs.worker_id().split(':')[0]}:{dead}")
    assert jobs.claim(jobs.INGEST, job.pk) == 2


def test_failure_text_reaching_users_names_no_internals():
    from django.db import DataError

    text = jobs.public_error(DataError('numeric field overflow\nCONTEXT: COPY "staging", line 3'))
    assert "DataError" in text and "COPY" not in text and "overflow" not in text


# --- retries -------------------------------------------------------------------------------


def test_failed_ingest_is_retried_by_its_requester_through_the_api(
    api, operator_user, django_capture_on_commit_callbacks
):
    site = make_site("RTY1")
    site.operators.add(operator_user)
    make_meter(site, "RTY1-UPS", "eit-ups-output")
    job = IngestJob.objects.create(source="upload", requested_by=operator_user)
    _stored_upload(job, series("RTY1-UPS", T0 + timedelta(minutes=15), 4, 2))
    IngestJob.objects.filter(pk=job.pk).update(status="failed", message="worker lost", attempts=1)
    other = f.user("other-op", group="operator")
    api.force_authenticate(other)
    assert api.post(f"/api/ingest-jobs/{job.pk}/retry/").status_code in (403, 404)

    api.force_authenticate(operator_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/ingest-jobs/{job.pk}/retry/")
    assert response.status_code == 202, response.content
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.inserted == 4
    assert Reading.objects.filter(meter__code="RTY1-UPS").count() == 4
    again = api.post(f"/api/ingest-jobs/{job.pk}/retry/")
    assert again.status_code == 409 and "Only failed jobs" in again.json()["detail"][0]


def test_failed_computation_is_retried_through_the_api(
    api, operator_user, django_capture_on_commit_callbacks
):
    site = make_site("RTY2")
    site.operators.add(operator_user)
    run = TaskRun.objects.create(
        name="reporting.compute_period",
        period=period(site),
        requested_by=operator_user,
        status="failed",
        error="worker lost",
    )
    api.force_authenticate(operator_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/tasks/{run.pk}/retry/")
    assert response.status_code == 202, response.content
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 1 and run.error == ""


def test_admin_retries_failed_jobs_of_any_kind_and_refuses_others(
    client, django_user_model, django_capture_on_commit_callbacks
):
    root = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    client.force_login(root)
    failed = IngestJob.objects.create(source="lost", status="failed")  # nothing stored
    done = IngestJob.objects.create(source="done", status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/reporting/ingestjob/",
            {"action": "retry_failed_jobs", "_selected_action": [failed.pk, done.pk]},
            follow=True,
        )
    text = response.content.decode()
    assert "Only failed jobs can be retried" in text
    failed.refresh_from_db()
    # Its upload was never stored: it fails again at once, saying why.
    assert failed.status == "failed" and "upload the file again" in failed.message


def test_a_request_that_crashes_leaves_no_job_pending(api, operator_user, monkeypatch):
    site = make_site("CRS1")
    site.operators.add(operator_user)

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("reporting.ingest.submission.ingest_csv", crash)
    api.force_authenticate(operator_user)
    api.raise_request_exception = False
    response = api.generic("POST", "/api/readings/", b"meter,timestamp,value\n", "text/csv")
    assert response.status_code == 500
    job = IngestJob.objects.get()
    assert job.status == "failed" and job.finished_at and "disk on fire" not in job.message


# --- real workers, killed ------------------------------------------------------------------


def _hold_first_reading(code: str):
    """Insert, uncommitted, the first reading the job's file will insert, from another
    connection: the job's INSERT waits on the unique key, so the job stays running (beating)
    until this transaction ends; rolled back, it leaves the job every row to write."""
    conn = psycopg.connect(_database_url())
    conn.execute(
        "INSERT INTO reporting_reading (meter_id, timestamp, value) "
        "SELECT id, %s, 1 FROM reporting_measurementpoint WHERE code = %s",
        [T0 + timedelta(minutes=15), code],
    )
    return conn


def _queued_ingest(code: str, count: int) -> IngestJob:
    from reporting.tasks import queue_ingest

    job = IngestJob.objects.create(source="kill-test")
    _stored_upload(job, series(code, T0 + timedelta(minutes=15), count, 1))
    return queue_ingest(job)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_killed_pool_child_job_is_claimed_again_by_the_redelivery(kill_prefix):
    site = make_site("KIL1")
    make_meter(site, "KIL1-UPS", "eit-ups-output")
    worker = start_killable_worker(kill_prefix, JOB_HEARTBEAT_SECONDS="1")
    lock = _hold_first_reading("KIL1-UPS")
    try:
        job = _queued_ingest("KIL1-UPS", 300)
        running = wait_for(
            lambda: IngestJob.objects.filter(pk=job.pk, status="running").first(),
            what="the job to run",
        )
        child = int(running.worker.rsplit(":", 1)[1])
        assert child != worker.pid  # the pool child, not the main process
        os.kill(child, signal.SIGKILL)
        lock.rollback()
        done = wait_for(
            lambda: IngestJob.objects.filter(pk=job.pk, finished_at__isnull=False).first(),
            what="the redelivered attempt",
        )
        assert done.status == "succeeded" and done.attempts == 2, done.message
        assert Reading.objects.filter(meter__code="KIL1-UPS").count() == 300  # exactly once
    finally:
        lock.close()
        kill_worker(worker)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_killed_worker_job_is_reaped_then_retried(kill_prefix, settings, api):
    site = make_site("KIL2")
    make_meter(site, "KIL2-UPS", "eit-ups-output")
    worker = start_killable_worker(kill_prefix, JOB_HEARTBEAT_SECONDS="1")
    lock = _hold_first_reading("KIL2-UPS")
    try:
        job = _queued_ingest("KIL2-UPS", 200)
        wait_for(lambda: IngestJob.objects.filter(pk=job.pk, status="running").exists())
        os.killpg(worker.pid, signal.SIGKILL)  # the whole worker: main process and pool
        worker.wait(timeout=30)
    finally:
        lock.rollback()
        lock.close()
    settings.JOB_STALE_SECONDS = 3
    time.sleep(4)  # no heartbeat any more
    assert jobs.reap()["ingest"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and "heartbeat" in job.message

    worker = start_killable_worker(kill_prefix)
    try:
        api.force_authenticate(f.user("root-k", is_superuser=True))
        assert api.post(f"/api/ingest-jobs/{job.pk}/retry/").status_code == 202
        done = wait_for(
            lambda: IngestJob.objects.filter(pk=job.pk, finished_at__isnull=False).first()
        )
        assert done.status == "succeeded" and done.attempts == 2, done.message
        assert Reading.objects.filter(meter__code="KIL2-UPS").count() == 200
    finally:
        kill_worker(worker)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_worker_with_a_broken_database_refuses_to_start_and_takes_no_job(kill_prefix):
    from reporting.tasks import queue_compute

    site = make_site("BRK1")
    run = queue_compute(period(site))
    broken = _database_url().rsplit("/", 1)[0] + "/no_such_database"
    worker = start_worker(kill_prefix, broken, pool="prefork")
    try:
        assert worker.wait(timeout=90) != 0
        assert b"cannot reach its database" in worker.stdout.read()
    finally:
        kill_worker(worker)
    # It took nothing: the message still waits in the broker for a worker that can run it.
    assert TaskRun.objects.get(pk=run.pk).status == "pending"
    assert app.AsyncResult(str(run.pk)).state == "PENDING"
