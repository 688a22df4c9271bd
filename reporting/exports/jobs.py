"""Export jobs: request, run (claim → heartbeat → done/failed), reap stale ones, retry.

The lifecycle is the one every job shares (circulus.jobs): late acknowledgement, a heartbeat,
claims conditional on the attempt, the beat reaper and retries. This module adds what is
particular to exports: who may export what, progress, and writing the file.
"""

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from circulus import jobs as shared
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


AGGREGATES_WITHHELD = (
    "Withheld: Annex IV aggregates mix every data centre of a Member State, so only auditors "
    "and superusers read them (docs/roles.md)."
)


def for_reader(data: dict, user) -> dict:
    """The EU workbook's data as `user` may read it: Annex IV aggregates only for the roles
    that may read them (reporting.permissions.can_see_aggregates), whichever door writes it."""
    if reporting_policy.can_see_aggregates(user):
        return data
    return {**data, "aggregates": [], "aggregates_withheld": AGGREGATES_WITHHELD}


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

    def publish():
        result = run_export.apply_async(args=[job_id], task_id=shared.message_id(job))
        ExportJob.objects.filter(pk=job_id).update(task_id=result.id or "")

    transaction.on_commit(lambda: shared.send(shared.EXPORT, job, publish))


def retry(job: ExportJob) -> ExportJob:
    """A failed job goes back to the queue (its old file, if any, is dropped)."""
    return shared.retry(job)


def claim(job_id) -> ExportJob | None:
    """queued → running (or a lost attempt's job, after a redelivery); None if not ours."""
    attempt = shared.claim(shared.EXPORT, job_id)
    return ExportJob.objects.get(pk=job_id) if attempt else None


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
    beat = Heartbeat(job)
    try:
        with shared.beating(shared.EXPORT, job.pk, job.attempts):
            relative = produce(job, beat)
    except JobLost:
        return None
    except Exception as exc:  # noqa: BLE001 - any failure ends the job as failed, with the reason
        shared.fail(shared.EXPORT, job.pk, job.attempts, exc)
        return ExportState.FAILED
    done = shared.finish(shared.EXPORT, job.pk, job.attempts, progress=100, file=relative)
    return ExportState.DONE if done else None


def reap_stale() -> int:
    """Fail stale jobs (of every kind; the count is the exports')."""
    return shared.reap()[shared.EXPORT.name]


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
        data = for_reader(data, job.requested_by)
        beat(30, force=True)
        if fmt == "zip":
            eu_workbook.write_csv_zip(data, partial, progress=beat)
        else:
            eu_workbook.write_xlsx(data, partial, progress=beat)
    else:
        raise ValueError(f"unknown export kind {job.kind!r}")
    os.replace(partial, path)
    return relative
