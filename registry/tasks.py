"""The registry's background jobs."""

from celery import shared_task

from registry import expiry


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
