"""Celery tasks: thin wrappers over connectors.pulls (each pull on the connectors queue)."""

from celery import shared_task

from connectors import pulls


def enqueue(pull) -> None:
    run_pull.delay(str(pull.pk))


@shared_task(name="connectors.pull")
def run_pull(pull_id: str) -> str | None:
    return pulls.run(pull_id)


@shared_task(name="connectors.pull_due")
def pull_due() -> int:
    """Beat, every minute: queue the sources whose interval passed and the retries that are due."""
    return len(pulls.due())
