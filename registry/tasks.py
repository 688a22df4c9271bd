"""The registry's background jobs."""

import logging

from celery import shared_task

from registry import admin_import, expiry, import_jobs

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
    """Hourly: fail the import jobs no worker finished, and delete asset-import files that no
    confirmation or job will use any more."""
    lost = import_jobs.fail_lost()
    removed = admin_import.remove_stale_files()
    if removed or lost:
        log.info("removed %d stale asset-import file(s); %d lost import job(s)", removed, lost)
    return {"removed": removed, "lost_jobs": lost}


@shared_task(name="registry.import_assets_job")
def import_assets_job(job_id: str) -> dict:
    """Check and write a stored asset import (all rows or none), publishing its progress."""
    job = import_jobs.run(job_id)
    if job is None:
        return {"job": job_id, "skipped": "not queued (finished or running elsewhere)"}
    return {"job": job_id, "status": job.status, "created": job.created}
