"""Celery tasks of the exports: run one job; fail jobs whose worker stopped beating."""

from celery import shared_task

from reporting.exports import jobs


# acks_late: the broker keeps the message until the export ends, so a worker killed mid-export
# does not lose it (CELERY_TASK_REJECT_ON_WORKER_LOST requeues it).
@shared_task(name="exports.run_export", acks_late=True)
def run_export(job_id: str) -> str | None:
    return jobs.run(job_id)


@shared_task(name="exports.reap_stale_exports")
def reap_stale_exports() -> int:
    """Kept for beat schedules that still name it: reaps stale jobs of every kind."""
    return jobs.reap_stale()


@shared_task(name="exports.send_scheduled_reports")
def send_scheduled_reports() -> dict[str, int]:
    """Daily: run and e-mail every saved report whose weekly or monthly day is today."""
    from reporting.exports import saved

    return saved.send_due()
