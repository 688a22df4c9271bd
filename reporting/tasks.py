"""Celery tasks: thin wrappers over the ingest and computation services.

Every queued computation has a `TaskRun` row so that `/api/tasks/{id}/` can answer even when
tasks run eagerly (no result backend); ingest files have their `IngestJob`.
"""

import logging
import uuid

from celery import chord, group, shared_task
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from registry.models import Site
from reporting import computation, ingest
from reporting import permissions as reporting_policy
from reporting.models import IngestJob, JobStatus, PeriodStatus, ReportingPeriod, TaskRun
from reporting.services import open_period

log = logging.getLogger(__name__)


def _finish(run_id, status, **fields) -> None:
    if run_id:
        TaskRun.objects.filter(pk=run_id).update(
            status=status, finished_at=timezone.now(), **fields
        )


def _start(run_id) -> None:
    if run_id:
        TaskRun.objects.filter(pk=run_id).update(status=JobStatus.RUNNING)


def _summary(result) -> dict:
    return {
        "period": result.period_id,
        "indicators": result.indicators,
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "fingerprint": result.fingerprint,
    }


@shared_task(name="reporting.compute_period")
def compute_period(period_id: int, run_id: str | None = None) -> dict:
    """Compute one draft period from its readings and store the result."""
    _start(run_id)
    period = ReportingPeriod.objects.select_related("site").get(pk=period_id)
    try:
        result = computation.compute_and_store(period)
    except computation.PeriodFrozen as exc:
        _finish(run_id, JobStatus.REJECTED, error=str(exc))
        return {"period": period_id, "skipped": str(exc)}
    except Exception as exc:
        _finish(run_id, JobStatus.FAILED, error=repr(exc))
        raise
    summary = _summary(result)
    _finish(run_id, JobStatus.SUCCEEDED, result=summary)
    return summary


@shared_task(name="reporting.aggregate_year")
def aggregate_year(_results=None, year: int = 0, run_id: str | None = None) -> dict:
    """Annex IV aggregates of a year (the chord callback after every site is computed)."""
    rows = computation.aggregate_year(year)
    summary = {"year": year, "groups": len(rows), "periods": len(_results or [])}
    _finish(run_id, JobStatus.SUCCEEDED, result=summary)
    return summary


def year_signature(
    year: int, site_code: str | None = None, run_id: str | None = None, queue: str | None = None
):
    """chord(group(compute each draft period), aggregate): the sites run in parallel."""
    sites = Site.objects.order_by("code")
    if site_code:
        sites = sites.filter(code=site_code)
    else:
        sites = sites.filter(reporting_profile__isnull=False)
    period_ids = [open_period(site, year).pk for site in sites]
    draft = ReportingPeriod.objects.filter(pk__in=period_ids, status=PeriodStatus.DRAFT)
    options = {"queue": queue} if queue else {}
    header = group(compute_period.s(pk).set(**options) for pk in draft.values_list("pk", flat=True))
    return chord(header, aggregate_year.s(year=year, run_id=run_id).set(**options))


@shared_task(bind=True, name="reporting.compute_year")
def compute_year(self, year: int, site_code: str | None = None, run_id: str | None = None) -> dict:
    """Fan out: every reporting site's period of `year`, then the Annex IV aggregates."""
    _start(run_id)
    # The fan-out follows the queue this task came from (a worker may serve a dedicated one).
    queue = None if self.request.is_eager else (self.request.delivery_info or {}).get("routing_key")
    signature = year_signature(year, site_code, run_id, queue)
    if not signature.tasks:  # a chord needs at least one task in its header
        return aggregate_year([], year=year, run_id=run_id)
    result = signature.apply_async()
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


@shared_task(bind=True, name="reporting.ingest_job")
def ingest_job(self, job_id: str) -> dict:
    """Ingest a stored readings upload; progress (rows read) is published as task state."""
    job = IngestJob.objects.select_related("requested_by").get(pk=job_id)

    def progress(rows: int) -> None:
        if not self.request.is_eager:
            try:
                self.update_state(state="PROGRESS", meta={"job": str(job.pk), "rows": rows})
            except Exception:  # no result backend: the job row still gets the final report
                log.debug("no result backend to publish progress", exc_info=True)

    report = ingest.run_job(job, progress=progress)
    return {"job": str(job.pk), **report.as_dict()}


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
    compute_period.apply_async(args=[period.pk, str(run.pk)], task_id=str(run.pk))
    return run


def queue_year(year: int, site_code: str | None = None, user=None) -> TaskRun:
    run = TaskRun.objects.create(
        id=uuid.uuid4(), name="reporting.compute_year", year=year, requested_by=user
    )
    compute_year.apply_async(args=[year, site_code, str(run.pk)], task_id=str(run.pk))
    return run


def queue_ingest(job: IngestJob) -> IngestJob:
    job.task_id = str(job.pk)
    job.save(update_fields=["task_id"])
    ingest_job.apply_async(args=[str(job.pk)], task_id=job.task_id)
    return job
