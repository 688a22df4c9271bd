"""Export jobs: API, permissions, lifecycle, worker-failure recovery, a real worker."""

import datetime as dt
import io
import os
import time
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from reporting.exports import jobs, tasks
from reporting.exports.models import ExportJob, ExportState
from reporting.tasks import reap_stale_jobs
from tests import factories as f

URL = "/api/exports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def par(db):
    site = f.site("PAR1")
    f.asset("GPU-1", at_site=site, notes="=1+1")
    f.asset("GPU-2", at_site=site)
    return site


@pytest.fixture
def fra(db):
    site = f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    f.asset("GPU-9", at_site=site)
    return site


def _post(api, user, body, capture):
    api.force_authenticate(user)
    with capture(execute=True):
        return api.post(URL, body, format="json")


def test_asset_export_job_runs_eagerly_and_downloads(
    api, procurement_user, par, django_capture_on_commit_callbacks
):
    response = _post(
        api,
        procurement_user,
        {"kind": "assets", "site": "PAR1"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    body = api.get(f"{URL}{job_id}/").json()
    assert body["state"] == "done" and body["progress"] == 100 and body["attempts"] == 1
    assert body["download_url"] == f"{URL}{job_id}/download/"
    download = api.get(body["download_url"])
    assert download.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    assert sheet.max_row == 3
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_params_may_be_nested_and_csv(api, auditor_user, par, django_capture_on_commit_callbacks):
    response = _post(
        api,
        auditor_user,
        {"kind": "assets", "params": {"format": "csv", "state": ["in-stock"]}},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.state == ExportState.DONE and job.file.endswith(".csv")
    text = job.path.read_text(encoding="utf-8-sig")
    assert "'=1+1" in text


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "nope"}, "kind"),
        ({"kind": "ewaste"}, "year"),
        ({"kind": "assets", "format": "zip"}, "format"),
        ({"kind": "assets", "state": ["melted"]}, "state"),
        ({"kind": "ewaste", "year": 2024, "sites": ["NOPE"]}, "sites"),
        ({"kind": "ewaste", "year": 2024, "variant": "publish"}, "params"),
    ],
)
def test_invalid_requests_are_refused(api, auditor_user, body, field):
    api.force_authenticate(auditor_user)
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())


def test_who_may_request_what(api, par, fra, operator_user, procurement_user, django_user_model):
    par.operators.add(operator_user)
    api.force_authenticate(procurement_user)
    assert api.post(URL, {"kind": "ewaste", "year": 2024}, format="json").status_code == 403
    api.force_authenticate(operator_user)
    assert api.post(URL, {"kind": "assets", "site": "FRA1"}, format="json").status_code == 403
    body = {"kind": "ewaste", "year": 2024, "sites": ["FRA1"]}
    assert api.post(URL, body, format="json").status_code == 403
    response = api.post(URL, {"kind": "ewaste", "year": 2024}, format="json")
    assert response.status_code == 202
    assert ExportJob.objects.get(pk=response.json()["id"]).params["sites"] == ["PAR1"]
    nobody = django_user_model.objects.create_user("nobody", password="x")
    api.force_authenticate(nobody)
    assert api.post(URL, {"kind": "assets"}, format="json").status_code == 403
    api.force_authenticate(None)
    assert api.post(URL, {"kind": "assets"}, format="json").status_code in (401, 403)


def test_download_only_for_requester_superusers_and_auditors(
    api, par, procurement_user, auditor_user, django_user_model, django_capture_on_commit_callbacks
):
    response = _post(api, procurement_user, {"kind": "assets"}, django_capture_on_commit_callbacks)
    job_id = response.json()["id"]
    download = f"{URL}{job_id}/download/"
    api.force_authenticate(None)
    assert api.get(download).status_code in (401, 403)
    assert api.get(f"{URL}{job_id}/").status_code in (401, 403)
    other = f.user("buyer2", group="procurement")
    api.force_authenticate(other)
    assert api.get(download).status_code == 404
    assert api.get(f"{URL}{job_id}/").status_code == 404
    assert api.get(URL).json()["results"] == []
    api.force_authenticate(auditor_user)
    assert api.get(download).status_code == 200
    admin = django_user_model.objects.create_superuser("root", password="x")
    api.force_authenticate(admin)
    assert api.get(download).status_code == 200
    assert len(api.get(URL).json()["results"]) == 1


def test_a_failing_export_ends_failed_with_the_reason(
    api, auditor_user, par, monkeypatch, django_capture_on_commit_callbacks
):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("reporting.exports.assets.write_xlsx", boom)
    response = _post(api, auditor_user, {"kind": "assets"}, django_capture_on_commit_callbacks)
    body = api.get(f"{URL}{response.json()['id']}/").json()
    # The reason names the failure, not its internal text (that is in the worker log).
    assert body["state"] == "failed" and "OSError" in body["error"]
    assert "disk full" not in body["error"]
    assert api.get(f"{URL}{body['id']}/download/").status_code == 409


def test_dead_worker_job_is_reaped_then_retried(
    api, auditor_user, par, django_capture_on_commit_callbacks
):
    # A worker claimed the job, then died: running, heartbeat 30 minutes old.
    job = ExportJob.objects.create(kind="assets", params={}, requested_by=auditor_user)
    assert jobs.claim(job.pk) is not None
    old = timezone.now() - dt.timedelta(minutes=30)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=old)
    fresh = ExportJob.objects.create(kind="assets", params={}, requested_by=auditor_user)
    jobs.claim(fresh.pk)  # beating now: left alone

    assert tasks.reap_stale_exports.delay().get() == 1
    job.refresh_from_db()
    assert job.state == ExportState.FAILED and "heartbeat" in job.error
    assert ExportJob.objects.get(pk=fresh.pk).state == ExportState.RUNNING

    api.force_authenticate(auditor_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}{job.pk}/retry/")
    assert response.status_code == 202
    job.refresh_from_db()
    assert job.state == ExportState.DONE and job.attempts == 2 and job.error == ""
    assert api.post(f"{URL}{job.pk}/retry/").status_code == 409  # only failed jobs


def test_a_late_worker_cannot_overwrite_a_newer_attempt(auditor_user, par):
    job = ExportJob.objects.create(kind="assets", params={}, requested_by=auditor_user)
    first = jobs.claim(job.pk)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    jobs.reap_stale()
    beat = jobs.Heartbeat(first)
    with pytest.raises(jobs.JobLost):
        beat(50, force=True)
    assert jobs.run(job.pk) is None  # failed jobs are not claimed without a retry


def test_beat_schedule_runs_the_reaper(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["jobs-reap-stale"]
    assert entry["task"] == reap_stale_jobs.name
    assert entry["schedule"] <= 60 and settings.JOB_STALE_SECONDS <= 300  # within minutes


@pytest.mark.django_db(transaction=True)
def test_export_job_on_a_real_worker(celery_worker_process, api):
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL")
    f.site("PAR1")
    f.asset("GPU-1", at_site=f.site("PAR1"))
    auditor = f.user("audit-w", group="auditor")
    api.force_authenticate(auditor)
    response = api.post(URL, {"kind": "assets", "format": "csv"}, format="json")
    assert response.status_code == 202
    job_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = ExportJob.objects.get(pk=job_id).state
        if state in (ExportState.DONE, ExportState.FAILED):
            break
        time.sleep(0.2)
    job = ExportJob.objects.get(pk=job_id)
    assert job.state == ExportState.DONE, job.error
    assert job.task_id
    # The worker wrote under its own MEDIA_ROOT (from its environment): remove the file.
    written = Path(os.environ.get("MEDIA_ROOT", django_settings.VAR_DIR / "media")) / job.file
    if written.exists():
        written.unlink()
        written.parent.rmdir()


def test_heartbeat_records_progress_while_writing(auditor_user, par, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0)
    monkeypatch.setattr("reporting.exports.assets.PROGRESS_EVERY", 1)
    seen = []
    original = jobs.Heartbeat.__call__

    def spy(self, pct, force=False):
        original(self, pct, force)
        seen.append(ExportJob.objects.values_list("progress", "heartbeat_at").get(pk=self.job.pk))

    monkeypatch.setattr(jobs.Heartbeat, "__call__", spy)
    job = ExportJob.objects.create(kind="assets", params={}, requested_by=auditor_user)
    assert jobs.run(job.pk) == ExportState.DONE
    assert [p for p, _ in seen] == [0, 50, 99, 99]
    assert all(beat is not None for _, beat in seen)
    assert ExportJob.objects.get(pk=job.pk).progress == 100


def test_asset_job_hardware_kind_filter_and_list_queries(
    api, auditor_user, par, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    body = {"kind": "assets", "hardware_kind": ["accelerator"], "format": "csv"}
    response = _post(api, auditor_user, body, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.state == ExportState.DONE
    assert len(job.path.read_text(encoding="utf-8-sig").splitlines()) == 3
    for _ in range(5):
        ExportJob.objects.create(kind="assets", requested_by=auditor_user)
    with django_assert_max_num_queries(4):
        assert len(api.get(URL).json()["results"]) == 6
