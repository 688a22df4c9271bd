"""Pulls: starting them, running one (the job body), scheduling due ones and retries.

Every pull follows the job lifecycle of circulus.jobs (claim, heartbeat, reaper, retry). A pull
that fails on the source's side (no answer within its timeout, an answer that cannot be read) is
tried again after a backoff (CONNECTOR_RETRY_MINUTES × 4^(attempt − 1)) up to
CONNECTOR_MAX_ATTEMPTS attempts; each source is its own task, so one dead source delays no other.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from circulus import jobs
from connectors import energy, inventory
from connectors.actor import system_actor
from connectors.clients import SourceError, prometheus, redfish
from connectors.models import Pull, PullState, Source, SourceKind
from reporting import ingest

PULL = jobs.Kind(
    "pull",
    "connectors.Pull",
    "state",
    queued=PullState.QUEUED,
    running=PullState.RUNNING,
    succeeded=PullState.SUCCEEDED,
    failed=PullState.FAILED,
    error_field="error",
    enqueue="connectors.tasks.enqueue",
    reset={"progress": 0, "log": "", "outcome": "", "retry_at": None},
)


def client_for(source: Source):
    options = {
        "credentials": source.credentials(),
        "timeout": source.timeout_s,
        "verify": source.verify_tls,
    }
    if source.kind == SourceKind.REDFISH:
        return redfish.Client(source.endpoint, **options)
    if source.kind == SourceKind.PROMETHEUS:
        return prometheus.Client(source.endpoint, **options)
    return None  # SNMP: one request per counter (connectors.clients.snmp)


def start(source: Source, user=None, *, enqueue: bool = True) -> Pull:
    """Queue a pull of `source` (enqueued once the transaction commits; `enqueue=False`: the
    caller runs it itself, with `run`)."""
    busy = source.pulls.filter(state__in=(PullState.QUEUED, PullState.RUNNING)).first()
    if busy is not None:
        raise ValidationError({"source": f"{source.name} is being pulled already ({busy.state})"})
    pull = Pull.objects.create(source=source, requested_by=user, heartbeat_at=timezone.now())
    if enqueue:
        from connectors.tasks import enqueue as send

        transaction.on_commit(lambda: send(pull))
    return pull


def run(pull_id) -> str | None:
    """The job body: one attempt at a pull. Returns the pull's state, or None if not claimable."""
    attempt = jobs.claim(PULL, pull_id)
    if attempt is None:
        return None
    pull = Pull.objects.select_related("source__site").get(pk=pull_id)
    source = pull.source
    lines: list[str] = []

    def note(text: str) -> None:
        lines.append(f"{timezone.now():%H:%M:%S} {text}")
        jobs.mine(PULL, pull_id, attempt).update(log="\n".join(lines))

    def progress(percent: int) -> None:
        jobs.mine(PULL, pull_id, attempt).update(progress=min(percent, 99))

    with jobs.beating(PULL, pull_id, attempt):
        try:
            outcome, fields = _pull(source, note, progress)
        except Exception as exc:
            note(f"failed: {jobs.public_error(exc)}")
            jobs.fail(PULL, pull_id, attempt, exc)
            _schedule_retry(pull_id, attempt, exc)
            return PullState.FAILED
    note(outcome)
    jobs.finish(PULL, pull_id, attempt, outcome=outcome, progress=100, **fields)
    return PullState.SUCCEEDED


def _pull(source: Source, note, progress) -> tuple[str, dict]:
    note(f"pulling {source.get_kind_display()} at {source.endpoint}")
    client = client_for(source)
    sentences, fields = [], {}
    if source.reads_inventory:
        units = redfish.inventory(client, progress)
        note(f"inventory: {len(units)} unit(s) reported")
        fields["diff"] = inventory.plan(source, units)
        sentences.append(inventory.summary(fields["diff"]))
    feeds = list(source.feeds.select_related("meter").order_by("meter__code"))
    if feeds:
        records = energy.readings(source, client, feeds, note)
        # The upload doors' own way in: the same checks, an ingest job, the actor's site scope.
        submitted = ingest.submit_readings(
            records, user=system_actor(source.site), source=f"connector {source.name}"
        )
        if submitted.collided is not None:
            raise SourceError("another writer was storing readings of these meters: tried again")
        report = submitted.report
        if not report.accepted:
            first = report.errors.shown[0] if report.errors.shown else {}
            raise energy.Rejected(
                f"the readings were refused by the ingest ({report.summary()}); first problem: "
                f"row {first.get('row')}, {first.get('field')}: {first.get('reason')}"
            )
        fields["readings"] = report.inserted
        sentences.append(
            f"Meters: {report.inserted} new reading(s), {report.unchanged} already stored, "
            f"{report.conflicts.total} conflict(s) left as stored."
        )
    if not sentences:
        sentences.append("Nothing to read: the source has no meter feed and reads no inventory.")
    return " ".join(sentences), fields


def _schedule_retry(pull_id, attempt: int, exc: BaseException) -> None:
    if isinstance(exc, energy.Rejected) or attempt >= settings.CONNECTOR_MAX_ATTEMPTS:
        return
    wait = dt.timedelta(minutes=settings.CONNECTOR_RETRY_MINUTES * 4 ** (attempt - 1))
    at = timezone.now() + wait
    Pull.objects.filter(pk=pull_id, state=PullState.FAILED, attempts=attempt).update(
        retry_at=at, error=f"{jobs.public_error(exc)} (tried again from {at:%H:%M} UTC)"
    )


def due(now: dt.datetime | None = None) -> list[Pull]:
    """Start every enabled source whose interval has passed, and retry failed pulls whose backoff
    is over. Returns the pulls queued."""
    now = now or timezone.now()
    queued = []
    for source in Source.objects.filter(enabled=True).order_by("id"):
        latest = source.pulls.order_by("-created_at").first()
        if latest is None:
            queued.append(start(source))
        elif latest.state == PullState.FAILED and latest.retry_at:
            if latest.retry_at <= now:
                queued.append(jobs.retry(latest))
        elif latest.created_at + dt.timedelta(minutes=source.interval_minutes) <= now and (
            latest.state in (PullState.SUCCEEDED, PullState.FAILED)
        ):
            queued.append(start(source))
    return queued
