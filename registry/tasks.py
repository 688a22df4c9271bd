"""The registry's background jobs."""

import logging

from celery import shared_task

from registry import admin_import, expiry

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
    """Hourly: delete asset-import files that no confirmation will use any more."""
    removed = admin_import.remove_stale_files()
    if removed:
        log.info("removed %d stale asset-import file(s)", removed)
    return {"removed": removed}
