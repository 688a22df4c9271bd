"""Large asset imports follow the job lifecycle every job shares (circulus.jobs): a job whose
worker died is reaped as retryable and a retry writes it once; a redelivered message never runs
a job another worker is running; the admin retries a failed job from its stored file, which is
kept until the job succeeds, is rejected or is given up."""

import datetime as dt
import os
import signal
import time

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from circulus import jobs
from registry import import_jobs, importing
from registry.import_jobs import IMPORT
from registry.models import Asset, AssetImportJob, LifecycleEvent
from registry.tasks import import_assets_job, remove_stale_import_files
from tests import factories
from tests.celery_worker import _database_url, kill_worker, start_killable_worker, wait_for

HEADER = (
    "asset_tag,serial_number,hardware_model,site,purchase_date,purchase_price,currency,"
    "supplier,state\n"
)
ROW = "IMP-{i},S{i},acme-gpu-24,PAR1,2024-03-01,10.00,EUR,Acme,in-stock\n"
JOBS = "/admin/registry/assetimportjob/"


def _csv(rows: int) -> bytes:
    return (HEADER + "".join(ROW.format(i=i) for i in range(rows))).encode()


def _old(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


def _stored_job(user, rows: int = 5) -> AssetImportJob:
    """A job as `import_jobs.queue` leaves it before its message is sent: queued, file stored."""
    job = AssetImportJob.objects.create(
        source="big.csv", requested_by=user, heartbeat_at=timezone.now()
    )
    job.file.save(f"{job.pk}.csv", ContentFile(_csv(rows)), save=True)
    return job


def _imports(media) -> list:
    folder = media / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def operator(operator_user, db):
    factories.hardware_model("acme-gpu-24")
    factories.site("PAR1").operators.add(operator_user)
    return operator_user


def test_the_registry_puts_its_import_job_on_the_shared_lifecycle():
    assert jobs.kind_of(AssetImportJob()) is IMPORT


def test_a_job_whose_worker_died_is_reaped_as_retryable_and_a_retry_writes_it_once(
    operator, media, django_capture_on_commit_callbacks
):
    job = _stored_job(operator)
    assert jobs.claim(IMPORT, job.pk) == 1  # a worker took it, then died before writing
    AssetImportJob.objects.filter(pk=job.pk).update(heartbeat_at=_old(10))

    assert jobs.reap()["asset_import"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at
    assert job.message.startswith("No heartbeat since before") and "Retry the job" in job.message
    assert job.file and _imports(media) == [media / job.file.name]  # kept for the retry
    # The dead worker's message, redelivered late, finds nothing to claim.
    assert "skipped" in import_assets_job(str(job.pk))
    assert not Asset.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        import_jobs.retry(job)  # eager in tests: the worker has run it when this returns
    job.refresh_from_db()
    assert (job.status, job.attempts, job.created, job.rows_checked) == ("succeeded", 2, 5, 5)
    assert job.message == "5 rows read without error: 5 were created." and job.worker
    assert Asset.objects.count() == 5
    assert LifecycleEvent.objects.filter(asset__in=Asset.objects.all()).count() == 5
    assert job.file.name == "" and _imports(media) == []  # succeeded: the file is deleted
    # Any further copy of a message: nothing to claim, nothing written twice.
    assert "skipped" in import_assets_job(str(job.pk))
    assert Asset.objects.count() == 5


def test_an_attempt_reaped_while_it_checks_writes_nothing_and_its_retry_writes_once(
    operator, media, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker was thought dead (its heartbeat stale) but comes back: its assets and the
    job's success commit together only while the job is still this attempt's."""
    monkeypatch.setattr(importing, "PROGRESS_ROWS", 2)
    job = _stored_job(operator)
    checking = import_jobs.import_assets

    def reaped_meanwhile(path, *, progress, **options):
        def progress_then_reaped(rows):
            progress(rows)
            AssetImportJob.objects.filter(pk=job.pk).update(heartbeat_at=_old(10))
            jobs.reap()

        return checking(path, progress=progress_then_reaped, **options)

    monkeypatch.setattr(import_jobs, "import_assets", reaped_meanwhile)
    assert "skipped" in import_assets_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and "No heartbeat" in job.message and job.attempts == 1
    assert not Asset.objects.exists() and not LifecycleEvent.objects.exists()
    assert _imports(media) == [media / job.file.name]

    monkeypatch.setattr(import_jobs, "import_assets", checking)
    with django_capture_on_commit_callbacks(execute=True):
        import_jobs.retry(job)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.created) == ("succeeded", 2, 5)
    assert Asset.objects.count() == 5 and _imports(media) == []


def test_a_redelivered_message_for_a_running_job_with_a_live_heartbeat_does_nothing(
    operator, media
):
    job = _stored_job(operator)
    assert jobs.claim(IMPORT, job.pk) == 1  # another worker runs it and beats
    running = AssetImportJob.objects.get(pk=job.pk)

    outcome = import_assets_job(str(job.pk))
    assert outcome == {
        "job": str(job.pk),
        "skipped": "not claimable (finished or running elsewhere)",
    }
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("running", 1, running.worker)
    assert job.heartbeat_at == running.heartbeat_at and job.started_at == running.started_at
    assert not Asset.objects.exists() and _imports(media) == [media / job.file.name]


def test_an_import_that_stops_unexpectedly_keeps_its_file_and_tells_no_internals(
    operator, media, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError('relation "registry_asset" does not exist')

    monkeypatch.setattr(import_jobs, "import_assets", broken)
    job = _stored_job(operator)
    with pytest.raises(RuntimeError):
        import_assets_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and job.message == import_jobs.FAILED
    assert "registry_asset" not in job.message and job.message.endswith(".")
    assert _imports(media) == [media / job.file.name]


def test_a_rejected_import_deletes_its_file_and_cannot_be_retried(operator, media):
    job = AssetImportJob.objects.create(source="dup.csv", requested_by=operator)
    job.file.save(f"{job.pk}.csv", ContentFile(_csv(1) + _csv(1)[len(HEADER) :]), save=True)
    assert import_assets_job(str(job.pk))["status"] == "rejected"
    job.refresh_from_db()
    assert job.errors and job.file.name == "" and _imports(media) == []
    with pytest.raises(ValidationError, match="this one is rejected"):
        import_jobs.retry(job)


def test_the_admin_retries_a_failed_import_and_says_why_it_leaves_the_others(
    client, operator, media, django_capture_on_commit_callbacks
):
    lost = _stored_job(operator)
    AssetImportJob.objects.filter(pk=lost.pk).update(
        status="failed",
        message="No heartbeat since before …: the worker stopped mid-job.",
        attempts=1,
    )
    given_up = AssetImportJob.objects.create(
        source="old.csv", requested_by=operator, status="failed", message="Given up."
    )
    done = AssetImportJob.objects.create(
        source="done.csv", requested_by=operator, status="succeeded"
    )
    someone_else = _stored_job(factories.user("other-op", group="operator", is_staff=True))
    AssetImportJob.objects.filter(pk=someone_else.pk).update(status="failed")
    client.force_login(operator)
    chosen = [lost.pk, given_up.pk, done.pk, someone_else.pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            JOBS,
            {"action": "retry_failed_imports", "_selected_action": chosen},
            follow=True,
        )
    said = [str(m) for m in response.context["messages"]]
    assert "1 import(s) queued again. Each job's page shows its progress and outcome." in said
    assert (
        "old.csv was not retried. Its file is no longer stored, so it cannot be retried. Upload "
        "the file again." in said
    )
    assert (
        "done.csv was not retried. Only a failed import can be retried, and this one is imported."
        in said
    )
    assert len(said) == 3  # another user's job is not theirs to retry: not even mentioned
    lost.refresh_from_db()
    assert (lost.status, lost.attempts, lost.created) == ("succeeded", 2, 5)
    assert Asset.objects.count() == 5
    assert AssetImportJob.objects.get(pk=someone_else.pk).status == "failed"
    assert AssetImportJob.objects.get(pk=given_up.pk).status == "failed"


def test_a_failed_job_keeps_its_file_until_it_is_given_up(operator, media, settings):
    settings.IMPORT_FILE_MAX_AGE_SECONDS = 24 * 3600
    stale = _stored_job(operator)
    recent = _stored_job(operator)
    queued = _stored_job(operator)
    finished = _stored_job(operator)  # succeeded, its file left by a crash before the removal
    AssetImportJob.objects.filter(pk=stale.pk).update(
        status="failed", message="The import stopped.", finished_at=_old(25 * 60)
    )
    AssetImportJob.objects.filter(pk=recent.pk).update(status="failed", finished_at=_old(60))
    AssetImportJob.objects.filter(pk=finished.pk).update(status="succeeded", finished_at=_old(1))
    old = time.time() - 2 * settings.IMPORT_FILE_MAX_AGE_SECONDS
    for stored in _imports(media):  # older than the sweep's age: only a job's hold keeps them
        os.utime(stored, (old, old))

    counts = remove_stale_import_files()
    assert counts == {"removed": 0, "finished_jobs": 1, "given_up_jobs": 1}
    assert _imports(media) == sorted(media / j.file.name for j in (recent, queued))
    stale.refresh_from_db()
    assert stale.file.name == "" and stale.status == "failed"
    assert stale.message == (
        "The import stopped. It was not retried within 24 hours, so its file was deleted. "
        "Upload the file again to import it."
    )
    with pytest.raises(ValidationError, match="no longer stored"):
        import_jobs.retry(stale)


# --- real workers, killed (PostgreSQL and Redis) ---------------------------------------------


def _worker(prefix: str, media):
    return start_killable_worker(prefix, MEDIA_ROOT=str(media), JOB_HEARTBEAT_SECONDS="1")


def _hold_asset_writes():
    """From another connection, a lock that lets the job check its file but not write it: the
    job stays running (beating) in its write until this transaction ends."""
    conn = psycopg.connect(_database_url())
    conn.execute("LOCK TABLE registry_asset IN SHARE MODE")
    return conn


def _queued(root, rows: int) -> AssetImportJob:
    factories.hardware_model("acme-gpu-24")
    factories.site("PAR1")
    job = _stored_job(root, rows)
    import_jobs.enqueue(job)
    return job


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_pool_childs_import_is_claimed_again_by_the_redelivery(kill_prefix, media):
    worker = _worker(kill_prefix, media)
    lock = _hold_asset_writes()
    try:
        job = _queued(factories.user("root-i", is_superuser=True), 50)
        running = wait_for(
            lambda: AssetImportJob.objects.filter(pk=job.pk, status="running").first(),
            what="the import to run",
        )
        child = int(running.worker.rsplit(":", 1)[1])
        assert child != worker.pid  # the pool child, not the main process
        os.kill(child, signal.SIGKILL)
        lock.rollback()
        done = wait_for(
            lambda: AssetImportJob.objects.filter(pk=job.pk, finished_at__isnull=False).first(),
            what="the redelivered attempt",
        )
        assert (done.status, done.attempts, done.created) == ("succeeded", 2, 50), done.message
        assert Asset.objects.count() == 50  # exactly once
        assert _imports(media) == []
    finally:
        lock.close()
        kill_worker(worker)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_import_is_reaped_then_retried(kill_prefix, media, settings):
    worker = _worker(kill_prefix, media)
    lock = _hold_asset_writes()
    try:
        job = _queued(factories.user("root-j", is_superuser=True), 50)
        wait_for(lambda: AssetImportJob.objects.filter(pk=job.pk, status="running").exists())
        os.killpg(worker.pid, signal.SIGKILL)  # the whole worker: main process and pool
        worker.wait(timeout=30)
    finally:
        lock.rollback()
        lock.close()
    settings.JOB_STALE_SECONDS = 3
    time.sleep(4)  # no heartbeat any more
    assert jobs.reap()["asset_import"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and "heartbeat" in job.message
    assert not Asset.objects.exists() and _imports(media) == [media / job.file.name]

    worker = _worker(kill_prefix, media)
    try:
        import_jobs.retry(job)  # no transaction open: sent at once
        done = wait_for(
            lambda: AssetImportJob.objects.filter(pk=job.pk, finished_at__isnull=False).first()
        )
        assert (done.status, done.attempts, done.created) == ("succeeded", 2, 50), done.message
        assert Asset.objects.count() == 50
        assert _imports(media) == []
    finally:
        kill_worker(worker)
