"""Faults answer at once and leave no job waiting in silence: a broker that cannot be reached
(503, the job failed, for every kind of job), a database connection lost mid-request (503 with
Retry-After), a worker that cannot reach its database (it refuses to start)."""

import subprocess
import sys
import time

import pytest
from django.db import OperationalError

from reporting.exports.models import ExportJob
from reporting.models import IngestJob, TaskRun
from tests import factories as f
from tests.celery_worker import UNREACHABLE, _reconfigure, app
from tests.reporting.conftest import make_meter, make_site, period


def _answered_at_once(call):
    started = time.monotonic()
    response = call()
    assert time.monotonic() - started < 10, "the request waited on the broker"
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert "task queue" in response.json()["detail"]
    return response


def _failed_saying_why(job, state_field, error_field):
    job.refresh_from_db()
    assert getattr(job, state_field) == "failed"
    assert "task queue" in getattr(job, error_field).lower()
    assert job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_an_export_is_refused_with_503_and_failed_when_the_broker_is_down(api, broker_down):
    f.site("PAR1")
    api.force_authenticate(f.user("root", is_superuser=True))
    _answered_at_once(lambda: api.post("/api/exports/", {"kind": "assets"}, format="json"))
    _failed_saying_why(ExportJob.objects.get(), "state", "error")


@pytest.mark.django_db(transaction=True)
def test_a_computation_is_refused_with_503_and_failed_when_the_broker_is_down(api, broker_down):
    site = make_site("BRK1")
    p = period(site)
    api.force_authenticate(f.user("root", is_superuser=True))
    _answered_at_once(lambda: api.post(f"/api/periods/{p.pk}/compute/"))
    _failed_saying_why(TaskRun.objects.get(), "status", "error")


@pytest.mark.django_db(transaction=True)
def test_a_queued_ingest_is_refused_with_503_and_failed_when_the_broker_is_down(
    api, broker_down, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("reporting.ingest.submission.ASYNC_INGEST_BYTES", 10)
    make_meter(make_site("BRK1"), "BRK1-UPS", "eit-ups-output")
    body = b"meter,timestamp,value\nBRK1-UPS,2025-01-01T00:15:00Z,1\n"
    api.force_authenticate(f.user("root", is_superuser=True))
    _answered_at_once(lambda: api.generic("POST", "/api/readings/", body, "text/csv"))
    _failed_saying_why(IngestJob.objects.get(), "status", "message")


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_refused_with_503_and_stays_failed_when_the_broker_is_down(api, broker_down):
    root = f.user("root", is_superuser=True)
    run = TaskRun.objects.create(
        name="reporting.compute_year", year=2025, requested_by=root, status="failed", error="x"
    )
    api.force_authenticate(root)
    _answered_at_once(lambda: api.post(f"/api/tasks/{run.pk}/retry/"))
    _failed_saying_why(run, "status", "error")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/assets/", "/admin/registry/asset/"])
def test_a_lost_database_connection_answers_503_with_retry_after(admin_client, monkeypatch, path):
    from django.db.models.query import QuerySet

    from registry.models import Asset

    fetch = QuerySet._fetch_all

    def lost(queryset):
        if queryset.model is Asset:  # the connection drops while the page reads assets
            raise OperationalError("server closed the connection unexpectedly")
        return fetch(queryset)

    monkeypatch.setattr(QuerySet, "_fetch_all", lost)
    admin_client.raise_request_exception = False
    response = admin_client.get(path)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert b"server closed" not in response.content  # no database text reaches the client


def test_a_worker_that_cannot_reach_its_database_refuses_to_start(tmp_path):
    env = {
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "CELERY_BROKER_URL": UNREACHABLE,
        "DEBUG": "1",
        "PATH": "/usr/bin:/bin",
        "CIRCULUS_ENV_FILE": "",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "circulus", "worker", "--pool=solo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "cannot reach its database" in done.stdout + done.stderr
    assert time.monotonic() - started < 60


@pytest.fixture
def result_backend(settings):
    saved = {k: app.conf[k] for k in ("result_backend", "task_always_eager")}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _reconfigure(result_backend="cache+memory://", task_always_eager=False)
    yield app.backend
    _reconfigure(**saved)


def _taken_and_failed(backend, job, worker="celery@node-7"):
    """What a worker that lost its database leaves behind: the message's failure, no job write."""
    from celery.app.task import Context

    from circulus.jobs import message_id

    request = Context(id=message_id(job), hostname=worker, task="x", args=[], kwargs={})
    error = OperationalError("could not connect to server")
    backend.store_result(message_id(job), error, "FAILURE", request=request)


@pytest.mark.django_db
def test_a_job_a_worker_took_and_could_not_start_is_failed_by_the_next_reaper_pass_naming_it(
    result_backend,
):
    from circulus import jobs

    root = f.user("root", is_superuser=True)
    taken = TaskRun.objects.create(name="reporting.compute_year", year=2025, requested_by=root)
    waiting = IngestJob.objects.create(source="api", requested_by=root)
    export = ExportJob.objects.create(kind="assets", params={}, requested_by=root)
    for job in (taken, export):
        _taken_and_failed(result_backend, job)
    reaped = jobs.reap()  # JOB_QUEUED_STALE_SECONDS is half an hour: not why these fail
    assert reaped["compute"] == 1 and reaped["export"] == 1 and reaped["ingest"] == 0
    for job, state, error in ((taken, "status", "error"), (export, "state", "error")):
        job.refresh_from_db()
        assert getattr(job, state) == "failed" and job.worker == "celery@node-7"
        assert "Worker celery@node-7 took it" in getattr(job, error)
    waiting.refresh_from_db()
    assert waiting.status == "pending"  # no worker has taken it: it just waits its turn
    # Retried, the job has a new message; the old message's failure no longer counts.
    jobs.retry(taken)
    assert jobs.reap()["compute"] == 0
