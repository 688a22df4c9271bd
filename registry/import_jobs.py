"""Asset imports too large for a request: stored under MEDIA_ROOT/imports and run by a worker.

The job follows the lifecycle every background job shares (circulus.jobs): a worker claims it
(attempts + 1) and beats its heartbeat while it runs; a redelivered message takes over a job
whose worker process died; the beat reaper fails, as retryable, a job whose heartbeat stopped or
that no worker started; `retry` (the admin's action) queues a failed job again.

The worker checks and writes the file exactly as `import_assets` does for the admin and the
command (all rows or none), publishing the rows checked so far on the job. The assets and the
job's success commit in one transaction, conditional on the attempt: an attempt that is no
longer the job's (reaped or retried meanwhile) writes nothing, so no import is written twice.

The file stays until the job succeeds or is rejected. A failed job keeps it for a retry until it
is given up: not retried within IMPORT_FILE_MAX_AGE_SECONDS (`remove_ended_files`, hourly).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from circulus import bounds, jobs
from registry.importing import import_assets
from registry.models import AssetImportJob, ImportStatus

log = logging.getLogger(__name__)
MAX_ERRORS = 1000  # errors kept on the job; the summary gives the total

IMPORT = jobs.Kind(
    "asset_import",
    "registry.AssetImportJob",
    "status",
    queued=ImportStatus.QUEUED,
    running=ImportStatus.RUNNING,
    succeeded=ImportStatus.SUCCEEDED,
    failed=ImportStatus.FAILED,
    error_field="message",
    enqueue="registry.import_jobs.enqueue",
    reset={"rows_checked": 0, "created": 0, "errors": []},
)

FAILED = (
    "The import stopped unexpectedly and nothing was written; the worker's log says why. "
    "Retry the job."
)
NOT_QUEUED = (
    "No worker could be reached to run the import because the task queue is down, so nothing "
    "was written. The file is kept: retry the job from Asset import jobs once the queue is back."
)
NO_FILE = "The uploaded file is no longer stored, so nothing was written. Upload the file again."


def given_up() -> str:
    hours = settings.IMPORT_FILE_MAX_AGE_SECONDS / 3600
    return (
        f"It was not retried within {hours:g} hours, so its file was deleted. Upload the file "
        "again to import it."
    )


class NotQueued(Exception):
    """The job could not be handed to a worker: it is failed, retryable, its file kept."""


class _Superseded(Exception):
    """This attempt is no longer the job's (reaped or retried meanwhile): it writes nothing."""


# --- queueing ----------------------------------------------------------------------------------


def queue(upload, *, user) -> AssetImportJob:
    """Store `upload` with a new job and hand the job to a worker."""
    from circulus.api import QueueUnavailable  # not at import time: DRF reads the settings

    name_length = AssetImportJob._meta.get_field("source").max_length
    job = AssetImportJob.objects.create(
        source=bounds.short_name(upload.name, name_length),
        requested_by=user,
        heartbeat_at=timezone.now(),  # the reaper's clock for a queued job
    )
    job.file.save(f"{job.pk}{Path(upload.name).suffix.lower()}", upload, save=True)
    try:
        enqueue(job)
    except QueueUnavailable as exc:  # the job is failed, retryable (circulus.jobs.send)
        raise NotQueued(NOT_QUEUED) from exc
    job.refresh_from_db()
    return job


def enqueue(job: AssetImportJob) -> None:
    """Send the job's message, the first time or for a retry. A broker that cannot be reached
    fails the job at once, retryable, and raises QueueUnavailable."""
    from registry.tasks import import_assets_job  # tasks import this module

    job_id = str(job.pk)
    jobs.send(
        IMPORT,
        job,
        lambda: import_assets_job.apply_async(args=[job_id], task_id=jobs.message_id(job)),
    )


def retry(job: AssetImportJob) -> AssetImportJob:
    """Queue a failed job again, from its stored file (enqueued once the transaction commits).
    ValidationError, in a sentence, when it is not failed or its file is gone."""
    if job.status != ImportStatus.FAILED:
        raise ValidationError(
            f"Only a failed import can be retried, and this one is {job.get_status_display()}."
        )
    if not _stored(job):
        raise ValidationError(
            "Its file is no longer stored, so it cannot be retried. Upload the file again."
        )
    return jobs.retry(job)


# --- a worker's attempt ------------------------------------------------------------------------


def run(job_id) -> AssetImportJob | None:
    """One attempt at a job: None when it is not this worker's to run (finished, failed, or
    running elsewhere with a live heartbeat) or stopped being this attempt's meanwhile."""
    attempt = jobs.claim(IMPORT, job_id)
    if attempt is None:
        return None
    job = AssetImportJob.objects.select_related("requested_by").get(pk=job_id)
    if not _stored(job):
        jobs.finish(IMPORT, job_id, attempt, ImportStatus.FAILED, message=NO_FILE, file="")
        return AssetImportJob.objects.get(pk=job_id)

    def progress(rows: int) -> None:
        jobs.mine(IMPORT, job_id, attempt).update(rows_checked=rows)

    def record_success(report) -> None:
        # Inside the transaction that writes the assets: they commit with the job's success,
        # or, when the job is no longer this attempt's, not at all.
        done = jobs.finish(
            IMPORT,
            job_id,
            attempt,
            rows_checked=report.rows,
            created=report.created,
            errors=[],
            message=report.summary(),
        )
        if not done:
            raise _Superseded

    with jobs.beating(IMPORT, job_id, attempt):
        try:
            report = import_assets(
                Path(job.file.path),
                actor=job.requested_by,
                progress=progress,
                on_write=record_success,
            )
        except _Superseded:
            log.warning(
                "asset import job %s: attempt %s superseded, nothing written", job_id, attempt
            )
            return None
        except Exception as exc:
            log.error("asset import job %s attempt %s failed", job_id, attempt, exc_info=exc)
            jobs.finish(IMPORT, job_id, attempt, ImportStatus.FAILED, message=FAILED)
            raise
    if not report.ok:
        rejected = jobs.finish(
            IMPORT,
            job_id,
            attempt,
            ImportStatus.REJECTED,
            rows_checked=report.rows,
            created=0,
            errors=[
                {"row": e.row, "column": e.column, "value": e.value, "message": e.message}
                for e in report.errors[:MAX_ERRORS]
            ],
            message=report.summary(),
        )
        if not rejected:
            return None
    _remove_file(job)  # succeeded or rejected: the file is not needed any more
    return AssetImportJob.objects.get(pk=job_id)


# --- files -------------------------------------------------------------------------------------


def _stored(job: AssetImportJob) -> bool:
    return bool(job.file) and job.file.storage.exists(job.file.name)


def _remove_file(job: AssetImportJob) -> None:
    if job.file:
        job.file.delete(save=False)
    AssetImportJob.objects.filter(pk=job.pk).update(file="")


def remove_ended_files(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete the files no job will use any more: those of jobs that succeeded or were rejected
    (a crash between the end and the removal leaves one), and those of failed jobs not retried
    within IMPORT_FILE_MAX_AGE_SECONDS, which are given up (their message says so)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.IMPORT_FILE_MAX_AGE_SECONDS)
    finished = AssetImportJob.objects.filter(
        status__in=(ImportStatus.SUCCEEDED, ImportStatus.REJECTED)
    ).exclude(file="")
    counts = {"finished_jobs": 0, "given_up_jobs": 0}
    for job in finished:
        _remove_file(job)
        counts["finished_jobs"] += 1
    stale = AssetImportJob.objects.filter(
        status=ImportStatus.FAILED, finished_at__lt=cutoff
    ).exclude(file="")
    for job in stale:
        # Conditional: a job retried meanwhile keeps its file.
        taken = AssetImportJob.objects.filter(
            pk=job.pk, status=ImportStatus.FAILED, file=job.file.name
        ).update(file="", message=Concat(F("message"), Value(" " + given_up())))
        if taken:
            job.file.delete(save=False)
            counts["given_up_jobs"] += 1
    return counts


def files_in_use() -> set[str]:
    """The names (under MEDIA_ROOT) of the files that jobs still hold."""
    return set(AssetImportJob.objects.exclude(file="").values_list("file", flat=True))
