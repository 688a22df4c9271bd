"""The registry's background jobs."""

import logging

from celery import shared_task

from registry import admin_import, audits, expiry, import_jobs

log = logging.getLogger(__name__)


@shared_task(name="registry.send_expiry_digests")
def send_expiry_digests() -> dict[str, int]:
    """Daily: each operator's digest of warranty, support and end-of-life dates coming up."""
    return expiry.send_digests()


@shared_task(name="registry.deliver_webhooks")
def deliver_webhooks() -> dict[str, int]:
    """Send the webhook deliveries that are due (after each event, and every sweep)."""
    from registry import webhooks

    counts = webhooks.deliver_due()
    if sum(counts.values()) >= 200:  # more may be waiting: go on in a fresh task
        deliver_webhooks.delay()
    return counts


@shared_task(name="registry.remove_stale_import_files")
def remove_stale_import_files() -> dict:
    """Hourly: delete the asset-import files nothing will use any more: those of finished jobs,
    of failed jobs not retried in time (given up), and those left by a crash or a preview never
    confirmed. A job that stopped is failed by the job reaper (circulus.jobs.reap), not here."""
    ended = import_jobs.remove_ended_files()
    removed = admin_import.remove_stale_files()
    if removed or any(ended.values()):
        log.info("removed %d stale asset-import file(s); ended jobs' files: %s", removed, ended)
    return {"removed": removed, **ended}


@shared_task(name="registry.import_assets_job")
def import_assets_job(job_id: str) -> dict:
    """One attempt at a stored asset import (all rows or none), publishing its progress."""
    job = import_jobs.run(job_id)
    if job is None:
        return {"job": job_id, "skipped": "not claimable (finished or running elsewhere)"}
    return {"job": job_id, "status": job.status, "created": job.created}


@shared_task(name="registry.close_audit")
def close_audit(audit_id: int) -> dict:
    """Record what a large audit saw and close it (every event or none); on a refusal or a
    failure the audit is open again with the reason."""
    closed = audits.run_close(audit_id)
    return {"audit": audit_id, "closed": closed is not None}


@shared_task(name="registry.reopen_lost_audit_closes")
def reopen_lost_audit_closes() -> dict[str, int]:
    """Hourly: open again the audits whose close no worker finished (nothing of it recorded)."""
    reopened = audits.reopen_lost()
    if reopened:
        log.warning("%d audit close(s) lost: the audits are open again", reopened)
    return {"reopened": reopened}
