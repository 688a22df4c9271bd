"""Export jobs: request, run (claim → heartbeat → done/failed), reap stale ones, retry.

Recovery: tasks are acknowledged late, so a worker killed mid-export leaves its message to be
redelivered; the job it was running stops beating and `reap_stale` (scheduled by beat) fails it
with the reason, after which it can be retried. A redelivered message may also reclaim a job
whose heartbeat is stale. Every write to a running job is conditional on the attempt number, so
a worker that comes back late can never overwrite a newer attempt.
"""

import datetime as dt
import os
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from registry import permissions as policy
from registry.models import Site
from reporting import permissions as reporting_policy
from reporting.exports.models import ExportJob, ExportKind, ExportState

HEARTBEAT_SECONDS = 10
EXPORT_DIR = "exports"


class JobLost(Exception):
    """The job is no longer this attempt's (reaped or retried): stop writing."""


# --- who may export what ---------------------------------------------------------------------


def can_download(user, job: ExportJob) -> bool:
    """The requester, superusers and auditors (reporting/permissions.py)."""
    return reporting_policy.can_see_export(user, job)


def exportable_assets(user, queryset):
    """The part of `queryset` the user may export as an asset register (same policy as
    `authorise`): everything for superusers, auditors and procurement; operators their sites."""
    roles = policy.roles(user)
    if user.is_superuser or roles & {policy.AUDITOR, policy.PROCUREMENT}:
        return queryset
    if policy.OPERATOR in roles:
        return queryset.filter(site_id__in=policy.operated_site_ids(user))
    return queryset.none()


def authorise(user, kind: str, params: dict) -> dict:
    """The params to run with, or PermissionDenied. Superusers and auditors export anything;
    procurement exports the asset register; operators export their own sites only (when they
    name no site, their sites are filled in)."""
    if not (user and user.is_authenticated):
        raise PermissionDenied("Sign in to export.")
    roles = policy.roles(user)
    if user.is_superuser or policy.AUDITOR in roles:
        return params
    if kind == ExportKind.ASSETS and policy.PROCUREMENT in roles:
        return params
    if policy.OPERATOR in roles:
        mine = set(
            Site.objects.filter(pk__in=policy.operated_site_ids(user)).values_list(
                "code", flat=True
            )
        )
        if not mine:
            raise PermissionDenied("You operate no site.")
        key = "site" if kind == ExportKind.ASSETS else "sites"
        asked = params.get(key)
        asked = [asked] if isinstance(asked, str) else list(asked or [])
        if not asked:
            if kind == ExportKind.ASSETS and len(mine) > 1:
                raise PermissionDenied("Name one of the sites you operate (site).")
            asked = sorted(mine)
        if not set(asked) <= mine:
            raise PermissionDenied("You may export only the sites you operate.")
        return {**params, key: asked[0] if key == "site" else asked}
    raise PermissionDenied("Your role may not make this export.")


# --- lifecycle -------------------------------------------------------------------------------


def request_export(user, kind: str, params: dict) -> ExportJob:
    """Create a queued job and enqueue it once the transaction commits."""
    params = authorise(user, kind, params)
    job = ExportJob.objects.create(kind=kind, params=params, requested_by=user)
    enqueue(job)
    return job


def enqueue(job: ExportJob) -> None:
    from reporting.exports.tasks import run_export

    job_id = str(job.pk)

    def send():
        result = run_export.delay(job_id)
        ExportJob.objects.filter(pk=job_id).update(task_id=result.id or "")

    transaction.on_commit(send)


def retry(job: ExportJob) -> ExportJob:
    """A failed job goes back to the queue (its old file, if any, is dropped)."""
    updated = ExportJob.objects.filter(pk=job.pk, state=ExportState.FAILED).update(
        state=ExportState.QUEUED, progress=0, error="", file="", finished_at=None
    )
    if not updated:
        raise ValidationError(f"Only failed jobs can be retried (this one is {job.state}).")
    job.refresh_from_db()
    enqueue(job)
    return job


def stale_cutoff(minutes: int | None = None) -> dt.datetime:
    minutes = settings.EXPORT_STALE_MINUTES if minutes is None else minutes
    return timezone.now() - dt.timedelta(minutes=minutes)


def claim(job_id) -> ExportJob | None:
    """queued → running (or a stale running job, after a redelivery); None if not ours."""
    now = timezone.now()
    claimable = Q(state=ExportState.QUEUED) | Q(
        state=ExportState.RUNNING, heartbeat_at__lt=stale_cutoff()
    )
    updated = ExportJob.objects.filter(claimable, pk=job_id).update(
        state=ExportState.RUNNING,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        progress=0,
        error="",
        attempts=F("attempts") + 1,
    )
    return ExportJob.objects.get(pk=job_id) if updated else None


class Heartbeat:
    """Progress and heartbeat writes, at most every HEARTBEAT_SECONDS (and always at 100)."""

    def __init__(self, job: ExportJob):
        self.job = job
        self.last = 0.0

    def __call__(self, pct: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < HEARTBEAT_SECONDS:
            return
        self.last = now
        alive = ExportJob.objects.filter(
            pk=self.job.pk, state=ExportState.RUNNING, attempts=self.job.attempts
        ).update(progress=max(0, min(99, int(pct))), heartbeat_at=timezone.now())
        if not alive:
            raise JobLost(f"export job {self.job.pk} was reaped or retried meanwhile")


def run(job_id) -> str | None:
    """Run one job to done or failed. Returns the final state (None: not claimed)."""
    job = claim(job_id)
    if job is None:
        return None
    mine = ExportJob.objects.filter(pk=job.pk, state=ExportState.RUNNING, attempts=job.attempts)
    beat = Heartbeat(job)
    try:
        relative = produce(job, beat)
    except JobLost:
        return None
    except Exception as exc:  # noqa: BLE001 - any failure ends the job as failed, with the reason
        mine.update(
            state=ExportState.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(),
        )
        return ExportState.FAILED
    done = mine.update(
        state=ExportState.DONE, progress=100, file=relative, finished_at=timezone.now()
    )
    return ExportState.DONE if done else None


def reap_stale(minutes: int | None = None) -> int:
    """Fail running jobs whose heartbeat is older than `minutes`; they become retryable."""
    cutoff = stale_cutoff(minutes)
    stale = ExportJob.objects.filter(state=ExportState.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    return stale.update(
        state=ExportState.FAILED,
        finished_at=timezone.now(),
        error=(
            f"No heartbeat since before {cutoff:%Y-%m-%d %H:%M} UTC: the worker stopped "
            "mid-export (killed or lost). Retry the job."
        ),
    )


# --- producing the file ----------------------------------------------------------------------


def _target(job: ExportJob, name: str) -> tuple[Path, str]:
    relative = f"{EXPORT_DIR}/{job.pk}/{name}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, relative


def produce(job: ExportJob, beat: Heartbeat) -> str:
    """Write the job's file (under a temporary name, renamed when complete)."""
    p = job.params
    beat(0, force=True)
    if job.kind == ExportKind.ASSETS:
        from reporting.exports import assets

        fmt = "csv" if p.get("format") == "csv" else "xlsx"
        queryset = assets.filtered_assets(assets.asset_filters(p))
        total = max(queryset.count(), 1)
        path, relative = _target(job, f"assets.{fmt}")
        partial = path.with_name(path.name + ".part")
        writer = assets.write_csv if fmt == "csv" else assets.write_xlsx
        writer(queryset, partial, progress=lambda n: beat(n * 100 / total))
    elif job.kind == ExportKind.EWASTE:
        from reporting.exports import ewaste

        year = int(p["year"])
        path, relative = _target(job, f"ewaste-{year}.xlsx")
        partial = path.with_name(path.name + ".part")
        ewaste.write_workbook(p.get("sites") or None, year, partial)
    elif job.kind == ExportKind.EU_ANNUAL:
        from reporting.exports import eu_workbook

        year = int(p["year"])
        fmt = "zip" if p.get("format") == "zip" else "xlsx"
        variant = p.get("variant", "submit")
        prefix = "rzreg" if variant == eu_workbook.RZREG else "eu"
        path, relative = _target(job, f"{prefix}-{year}-{variant}.{fmt}")
        partial = path.with_name(path.name + ".part")
        data = eu_workbook.report_data(
            year,
            p.get("sites") or None,
            variant=variant,
            allow_unvalidated=bool(p.get("allow_unvalidated")),
        )
        beat(30, force=True)
        if fmt == "zip":
            eu_workbook.write_csv_zip(data, partial, progress=beat)
        else:
            eu_workbook.write_xlsx(data, partial, progress=beat)
    else:
        raise ValueError(f"unknown export kind {job.kind!r}")
    os.replace(partial, path)
    return relative
