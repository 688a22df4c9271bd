"""Celery tasks: thin wrappers over the ingest and computation services.

Every queued computation has a `TaskRun` row so that `/api/tasks/{id}/` can answer even when
tasks run eagerly (no result backend); ingest files have their `IngestJob`.
"""

import logging
import uuid
from contextlib import nullcontext

from celery import chord, group, shared_task
from django.conf import settings
from django.core.exceptions import PermissionDenied

from circulus import jobs
from registry.models import Site
from reporting import computation, ingest, partitions
from reporting import permissions as reporting_policy
from reporting.models import IngestJob, JobStatus, PeriodStatus, ReportingPeriod, TaskRun
from reporting.services import open_period

log = logging.getLogger(__name__)


def _summary(result) -> dict:
    return {
        "period": result.period_id,
        "indicators": result.indicators,
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "fingerprint": result.fingerprint,
    }


def _compute(period_id: int) -> dict:
    period = ReportingPeriod.objects.select_related("site").get(pk=period_id)
    return _summary(computation.compute_and_store(period))


@shared_task(name="reporting.compute_period")
def compute_period(period_id: int, run_id: str | None = None, beat: list | None = None) -> dict:
    """Compute one draft period from its readings and store the result.

    With `run_id` the TaskRun follows the job lifecycle; a member of a year's fan-out has none
    and keeps the year's run alive instead (`beat`: [run id, attempt]).
    """
    if run_id is None:
        with jobs.beating(jobs.COMPUTE, *beat) if beat else nullcontext():
            try:
                return _compute(period_id)
            except computation.PeriodFrozen as exc:
                return {"period": period_id, "skipped": str(exc)}
    attempt = jobs.claim(jobs.COMPUTE, run_id)
    if attempt is None:
        return {"period": period_id, "skipped": "not claimable (finished or running elsewhere)"}
    with jobs.beating(jobs.COMPUTE, run_id, attempt):
        try:
            summary = _compute(period_id)
        except computation.PeriodFrozen as exc:
            jobs.finish(jobs.COMPUTE, run_id, attempt, JobStatus.REJECTED, error=str(exc))
            return {"period": period_id, "skipped": str(exc)}
        except Exception as exc:
            jobs.fail(jobs.COMPUTE, run_id, attempt, exc)
            raise
    jobs.finish(jobs.COMPUTE, run_id, attempt, result=summary)
    return summary


@shared_task(name="reporting.compute_periods")
def compute_periods(period_ids: list[int], beat: list | None = None) -> list[dict]:
    """A batch of a year's fan-out: these draft periods computed together (one set of queries
    for the batch, `computation.compute_many`) and stored one by one; a period no longer draft
    is skipped, as `compute_period` skips it. `beat`: [run id, attempt] of the year's run."""
    with jobs.beating(jobs.COMPUTE, *beat) if beat else nullcontext():
        outcome = computation.compute_and_store_many(period_ids)
    return [
        {"period": pk, "skipped": str(found)}
        if isinstance(found, computation.PeriodFrozen)
        else _summary(found)
        for pk, found in outcome.items()
    ]


@shared_task(name="reporting.aggregate_year")
def aggregate_year(
    _results=None, year: int = 0, run_id: str | None = None, attempt: int | None = None
) -> dict:
    """Annex IV aggregates of a year (the chord callback after every site is computed)."""
    rows = computation.aggregate_year(year)
    # A batch task returns a list of period summaries; a single one (older messages) a dict.
    periods = sum(len(r) if isinstance(r, list) else 1 for r in (_results or []))
    summary = {"year": year, "groups": len(rows), "periods": periods}
    if run_id and attempt:
        jobs.finish(jobs.COMPUTE, run_id, attempt, result=summary)
    return summary


def year_signature(
    year: int,
    site_code: str | None = None,
    run_id: str | None = None,
    queue: str | None = None,
    attempt: int | None = None,
):
    """chord(group(compute batches of draft periods), aggregate): the batches run in parallel
    on the compute workers; a batch of `COMPUTE_YEAR_BATCH_SITES` sites is computed together
    (its query count does not grow with its sites), so many sites still fan out across workers.
    """
    sites = Site.objects.order_by("code")
    if site_code:
        sites = sites.filter(code=site_code)
    else:
        sites = sites.filter(reporting_profile__isnull=False)
    period_ids = [open_period(site, year).pk for site in sites]
    draft = ReportingPeriod.objects.filter(pk__in=period_ids, status=PeriodStatus.DRAFT)
    options = {"queue": queue} if queue else {}
    beat = [run_id, attempt] if run_id and attempt else None
    ids = list(draft.order_by("site__code").values_list("pk", flat=True))
    size = max(1, settings.COMPUTE_YEAR_BATCH_SITES)
    header = group(
        compute_periods.s(ids[at : at + size], beat=beat).set(**options)
        for at in range(0, len(ids), size)
    )
    callback = aggregate_year.s(year=year, run_id=run_id, attempt=attempt).set(**options)
    return chord(header, callback)


@shared_task(bind=True, name="reporting.compute_year")
def compute_year(self, year: int, site_code: str | None = None, run_id: str | None = None) -> dict:
    """Fan out: every reporting site's period of `year`, then the Annex IV aggregates."""
    attempt = jobs.claim(jobs.COMPUTE, run_id) if run_id else None
    if run_id and attempt is None:
        return {"year": year, "skipped": "not claimable (finished or running elsewhere)"}
    # The fan-out follows the queue this task came from (a worker may serve a dedicated one).
    queue = None if self.request.is_eager else (self.request.delivery_info or {}).get("routing_key")
    try:
        signature = year_signature(year, site_code, run_id, queue, attempt)
        if not signature.tasks:  # a chord needs at least one task in its header
            return aggregate_year([], year=year, run_id=run_id, attempt=attempt)
        result = signature.apply_async()
    except Exception as exc:
        if run_id:
            jobs.fail(jobs.COMPUTE, run_id, attempt, exc)
        raise
    return {"year": year, "chord": result.id}


@shared_task(name="reporting.refresh_open_periods")
def refresh_open_periods() -> dict:
    """Nightly: recompute every draft period (new readings arrive every day)."""
    years = sorted(
        set(
            ReportingPeriod.objects.filter(status=PeriodStatus.DRAFT).values_list("year", flat=True)
        )
    )
    for year in years:
        compute_year.delay(year)
    return {"years": years}


@shared_task(name="reporting.ensure_reading_partitions")
def ensure_reading_partitions() -> dict:
    """Daily: the readings' monthly partitions of this month and the next few exist
    (PostgreSQL; nothing to do on SQLite)."""
    created = partitions.ensure_ahead(settings.READING_PARTITIONS_AHEAD_MONTHS)
    stray = partitions.default_rows()
    if stray:
        log.warning("%d readings sit in the default partition (see docs/operations.md)", stray)
    return {"created": created, "default_rows": stray}


@shared_task(bind=True, name="reporting.ingest_job")
def ingest_job(self, job_id: str) -> dict:
    """Ingest a stored readings upload; progress (rows read) is published as task state."""
    attempt = jobs.claim(jobs.INGEST, job_id)
    if attempt is None:
        return {"job": job_id, "skipped": "not claimable (finished or running elsewhere)"}
    job = IngestJob.objects.select_related("requested_by").get(pk=job_id)

    def progress(rows: int) -> None:
        if not self.request.is_eager:
            try:
                self.update_state(state="PROGRESS", meta={"job": str(job.pk), "rows": rows})
            except Exception:  # no result backend: the job row still gets the final report
                log.debug("no result backend to publish progress", exc_info=True)

    with jobs.beating(jobs.INGEST, job_id, attempt):
        try:
            report = ingest.run_job(job, progress=progress)
        except Exception as exc:
            jobs.fail(jobs.INGEST, job_id, attempt, exc)
            raise
    state = JobStatus.SUCCEEDED if report.accepted else JobStatus.REJECTED
    if jobs.finish(jobs.INGEST, job_id, attempt, state, **ingest.report_fields(report)):
        _remove_upload(job)  # finished: its report is kept, the file is not needed any more
    return {"job": str(job.pk), **report.as_dict()}


def _remove_upload(job: IngestJob) -> None:
    if job.file:
        job.file.delete(save=False)
        IngestJob.objects.filter(pk=job.pk).update(file="")


@shared_task(name="reporting.remove_finished_uploads")
def remove_finished_uploads() -> dict:
    """Hourly: the stored files of finished ingest jobs (a crash between the end of a job and
    the removal of its file leaves one); a failed job keeps its file for its retry."""
    done = IngestJob.objects.filter(status__in=(JobStatus.SUCCEEDED, JobStatus.REJECTED)).exclude(
        file=""
    )
    removed = 0
    for job in done.iterator():
        _remove_upload(job)
        removed += 1
    return {"removed": removed}


@shared_task(name="reporting.reap_stale_jobs")
def reap_stale_jobs() -> dict:
    """Beat: fail (retryable) every job whose worker stopped or that no worker started."""
    return jobs.reap()


def queue_compute(period: ReportingPeriod, user=None) -> TaskRun:
    """Queue a period's computation; the TaskRun id is the Celery task id.

    `user` is whoever asked (None: the system, e.g. beat or a command): a user who does not
    operate the period's site is refused here too, whichever door they came through.
    """
    if user is not None and not reporting_policy.can_write_at(user, period.site):
        raise PermissionDenied("you do not operate this site")
    run = TaskRun.objects.create(
        id=uuid.uuid4(), name="reporting.compute_period", period=period, requested_by=user
    )
    enqueue_compute(run)
    return run


def queue_year(year: int, site_code: str | None = None, user=None) -> TaskRun:
    run = TaskRun.objects.create(
        id=uuid.uuid4(),
        name="reporting.compute_year",
        year=year,
        site_code=site_code or "",
        requested_by=user,
    )
    enqueue_compute(run)
    return run


def enqueue_compute(run: TaskRun) -> None:
    """Send a TaskRun's message (first time or retry); a failed send fails the run."""
    if run.name == "reporting.compute_year":
        task, args = compute_year, [run.year, run.site_code or None, str(run.pk)]
    else:
        task, args = compute_period, [run.period_id, str(run.pk)]
    jobs.send(jobs.COMPUTE, run, lambda: task.apply_async(args=args, task_id=_task_id(run)))


def queue_ingest(job: IngestJob) -> IngestJob:
    job.task_id = str(job.pk)
    job.save(update_fields=["task_id"])
    enqueue_ingest(job)
    return job


def enqueue_ingest(job: IngestJob) -> None:
    if not job.file:
        IngestJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, message="nothing stored to re-run: upload the file again"
        )
        return
    jobs.send(
        jobs.INGEST, job, lambda: ingest_job.apply_async(args=[str(job.pk)], task_id=_task_id(job))
    )


def _task_id(job) -> str:
    return jobs.message_id(job)
