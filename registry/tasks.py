"""The registry's background jobs."""

from celery import shared_task

from registry import expiry


@shared_task(name="registry.send_expiry_digests")
def send_expiry_digests() -> dict[str, int]:
    """Daily: each operator's digest of warranty, support and end-of-life dates coming up."""
    return expiry.send_digests()
