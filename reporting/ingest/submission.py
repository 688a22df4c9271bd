"""Every upload door's one way in (`submit_readings`), and the job records an ingest leaves."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from django.core.files import File
from django.utils import timezone

from circulus import bounds
from reporting import permissions as policy
from reporting.ingest.readings import Collided, Progress, ingest_csv, ingest_file, ingest_records
from reporting.ingest.reports import IngestReport
from reporting.models import IngestJob, JobStatus

ASYNC_INGEST_BYTES = 5_000_000  # larger CSV uploads are ingested by a task, not in the request


@dataclass
class Submission:
    """An upload's job, and its report when the upload was ingested inside the request."""

    job: IngestJob
    report: IngestReport | None = None  # None: queued for a worker, or stopped (`collided`)
    collided: Collided | None = None  # another writer's file stopped this one: nothing stored

    @property
    def queued(self) -> bool:
        return self.report is None and self.collided is None


def submit_readings(body, *, user, source: str, replace: bool = False, size: int = 0):
    """Ingest an upload for `user`, at the sites they may write at, recorded as an IngestJob.

    `body` is a JSON array of `{"meter", "timestamp", "value"}` objects, or CSV bytes: an
    uploaded file or a request body stream of `size` bytes. CSV larger than ASYNC_INGEST_BYTES is
    stored and queued for a worker; anything else is ingested now. The job never stays pending:
    a collision with another writer fails it and is returned (nothing was stored, the upload can
    be sent again); any other error fails it and is raised.
    """
    # A file name of any length is kept, shortened to the column.
    source = bounds.short_name(source, IngestJob._meta.get_field("source").max_length)
    job = IngestJob.objects.create(source=source, replace=replace, requested_by=user)
    options = {
        "replace": replace,
        "allowed_site_ids": policy.writable_site_ids(user),
        "job": job,
        "user": user,
    }
    try:
        if isinstance(body, list):
            report = ingest_records(body, **options)
        elif size > ASYNC_INGEST_BYTES:
            from reporting.tasks import queue_ingest  # tasks import this module

            _store(job, body)
            queue_ingest(job)
            job.refresh_from_db()
            return Submission(job)
        else:
            report = ingest_csv(bounds.text_lines(_lines(body)), **options)
        record_report(job, report)
    except Collided as exc:
        fail_job(job, exc)
        return Submission(job, collided=exc)
    except Exception as exc:
        fail_job(job, exc)
        raise
    return Submission(job, report)


def _lines(body):
    """An uploaded file's lines as Django splits them (a lone CR ends a line too); a request
    body's lines as it reads them (only LF does)."""
    return body if isinstance(body, File) else iter(body.readline, b"")


def _store(job: IngestJob, body) -> None:
    """Keep the upload with its job, for the worker (and a retry) to read."""
    if isinstance(body, File):
        job.bytes_total = body.size
        job.file.save(f"{job.pk}.csv", body, save=True)
        return
    with tempfile.TemporaryFile() as tmp:
        for chunk in iter(lambda: body.read(1 << 20), b""):
            tmp.write(chunk)
        job.bytes_total = tmp.tell()
        tmp.seek(0)
        job.file.save(f"{job.pk}.csv", File(tmp), save=True)


def run_job(job: IngestJob, *, progress: Progress | None = None) -> IngestReport:
    """Ingest a stored upload (the caller records the outcome on the job)."""
    allowed = _allowed_site_ids(job.requested_by)
    return ingest_file(
        lambda: bounds.text_stream(job.file.storage.open(job.file.name, "rb"), newline=None),
        replace=job.replace,
        allowed_site_ids=allowed,
        job=job,
        user=job.requested_by,
        progress=progress,
    )


def report_fields(report: IngestReport) -> dict:
    """The IngestJob fields that record a report."""
    return {
        "rows": report.rows,
        "inserted": report.inserted,
        "unchanged": report.unchanged,
        "replaced": report.replaced,
        "conflicts": report.conflicts.as_dict(),
        "errors": report.errors.as_dict(),
        "message": report.summary(),
    }


def record_report(job: IngestJob, report: IngestReport) -> None:
    job.status = JobStatus.SUCCEEDED if report.accepted else JobStatus.REJECTED
    for name, value in report_fields(report).items():
        setattr(job, name, value)
    job.finished_at = timezone.now()
    job.save()


def fail_job(job: IngestJob, exc: BaseException) -> None:
    """An ingest that crashed inside a request ends failed (never left pending)."""
    from circulus.jobs import public_error

    IngestJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, message=public_error(exc), finished_at=timezone.now()
    )


def _allowed_site_ids(user) -> set[int] | None:
    """None = every site (superuser or no user: a command run by an administrator)."""
    from registry.permissions import operated_site_ids

    if user is None or user.is_superuser:
        return None
    return operated_site_ids(user)
