"""Asset imports too large for a request: stored under MEDIA_ROOT/imports and run by a worker.

The worker checks and writes the file exactly as `import_assets` does for the admin and the
command (all rows or none), publishing the rows checked so far on the job; the file is deleted
when the job ends, whatever its outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from circulus import bounds
from registry.importing import import_assets
from registry.models import AssetImportJob, ImportStatus

log = logging.getLogger(__name__)
MAX_ERRORS = 1000  # errors kept on the job; the summary gives the total
FAILED = "the import stopped unexpectedly and nothing was written; upload the file again"
NOT_QUEUED = (
    "no worker could be reached to run the import (the task broker is down); nothing was "
    "written: upload the file again later"
)
LOST = "no worker finished the import in time and nothing was written; upload the file again"


class NotQueued(Exception):
    """The job could not be handed to a worker: it is marked failed, its file deleted."""


def queue(upload, *, user) -> AssetImportJob:
    """Store `upload` with a new job and hand the job to a worker."""
    from registry.tasks import import_assets_job  # tasks import this module

    name_length = AssetImportJob._meta.get_field("source").max_length
    job = AssetImportJob.objects.create(
        source=bounds.short_name(upload.name, name_length), requested_by=user
    )
    job.file.save(f"{job.pk}{Path(upload.name).suffix.lower()}", upload, save=True)
    try:
        import_assets_job.apply_async(args=[str(job.pk)], task_id=str(job.pk))
    except NotQueued:
        raise
    except Exception as exc:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise  # the import itself failed, in this process: already recorded by `run`
        log.exception("asset import job %s could not be queued", job.pk)
        _end(job, status=ImportStatus.FAILED, message=NOT_QUEUED)
        raise NotQueued(NOT_QUEUED) from exc
    job.refresh_from_db()
    return job


def fail_lost(now=None) -> int:
    """Fail the jobs that no worker finished within JOB_MAX_SECONDS (a worker killed mid-job,
    a message lost), deleting their files; their count."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.JOB_MAX_SECONDS)
    lost = AssetImportJob.objects.filter(
        status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING), created_at__lt=cutoff
    )
    count = 0
    for job in lost:
        _end(job, status=ImportStatus.FAILED, message=LOST)
        count += 1
    return count


def run(job_id) -> AssetImportJob | None:
    """Run a queued job (None when another worker took it or it has ended)."""
    claimed = AssetImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING
    )
    if not claimed:
        return None
    job = AssetImportJob.objects.select_related("requested_by").get(pk=job_id)

    def progress(rows: int) -> None:
        AssetImportJob.objects.filter(pk=job.pk).update(rows_checked=rows)

    try:
        report = import_assets(Path(job.file.path), actor=job.requested_by, progress=progress)
    except Exception:
        _end(job, status=ImportStatus.FAILED, message=FAILED)
        raise
    _end(
        job,
        status=ImportStatus.SUCCEEDED if report.ok else ImportStatus.REJECTED,
        rows_checked=report.rows,
        created=report.created,
        errors=[
            {"row": e.row, "column": e.column, "value": e.value, "message": e.message}
            for e in report.errors[:MAX_ERRORS]
        ],
        message=report.summary(),
    )
    job.refresh_from_db()
    return job


def _end(job: AssetImportJob, **fields) -> None:
    """Record the outcome and delete the file: nothing of a finished job stays on disk."""
    if job.file:
        job.file.delete(save=False)
    AssetImportJob.objects.filter(pk=job.pk).update(file="", finished_at=timezone.now(), **fields)
