"""One lifecycle for every background job (ingest, compute, export, and the kinds other apps
register: connector pulls).

queued → running → succeeded | failed, with attempts, a heartbeat and the worker's id:

- A worker claims a job with one conditional UPDATE (queued → running, attempts + 1). A
  redelivered message (tasks are acknowledged late) may claim a running job whose heartbeat is
  stale or whose worker process is gone (a killed pool child), so a lost worker's job restarts.
- While the job runs, a thread with its own database connection beats `heartbeat_at`: the beat
  is visible even while the job's own transaction is open.
- Every write that ends an attempt is conditional on (running, attempt): a worker that comes
  back late never overwrites a newer attempt.
- The beat reaper (`reap`) fails, as retryable, running jobs whose heartbeat stopped and queued
  jobs that no worker started (a worker that cannot reach the database consumes and fails the
  message without ever touching the job). `retry` puts a failed job back in the queue.
- What a user reads about a failure never carries internal (database) text: that goes to the
  worker's log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """How one job model spells the common lifecycle (its field and state names predate it)."""

    name: str
    model_label: str
    state_field: str
    queued: str
    running: str
    succeeded: str
    failed: str
    error_field: str
    enqueue: str  # dotted path of `enqueue(job)`, called after a retry commits
    reset: dict = field(default_factory=dict)  # fields cleared when an attempt starts

    @property
    def model(self):
        return apps.get_model(self.model_label)

    def objects(self, **state):
        return self.model.objects.filter(**state)

    def in_state(self, value: str) -> Q:
        return Q(**{self.state_field: value})


INGEST = Kind(
    "ingest",
    "reporting.IngestJob",
    "status",
    queued="pending",
    running="running",
    succeeded="succeeded",
    failed="failed",
    error_field="message",
    enqueue="reporting.tasks.enqueue_ingest",
)
COMPUTE = Kind(
    "compute",
    "reporting.TaskRun",
    "status",
    queued="pending",
    running="running",
    succeeded="succeeded",
    failed="failed",
    error_field="error",
    enqueue="reporting.tasks.enqueue_compute",
)
EXPORT = Kind(
    "export",
    "exports.ExportJob",
    "state",
    queued="queued",
    running="running",
    succeeded="done",
    failed="failed",
    error_field="error",
    enqueue="reporting.exports.jobs.enqueue",
    reset={"progress": 0, "file": ""},
)
KINDS = [INGEST, COMPUTE, EXPORT]


def register(kind: Kind) -> None:
    """Another app's job model joins the lifecycle (claims, the reaper, retries): called from
    its AppConfig.ready, since this module, which every app may import, imports none of them."""
    if all(k.model_label != kind.model_label for k in KINDS):
        KINDS.append(kind)


def kind_of(job) -> Kind:
    label = job._meta.label
    for kind in KINDS:
        if kind.model_label == label:
            return kind
    raise LookupError(f"{label} is not a job model")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(worker: str) -> bool:
    """The worker that ran a job is a dead process on this machine (a killed pool child)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def stale_cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.JOB_STALE_SECONDS)


def queued_cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.JOB_QUEUED_STALE_SECONDS)


# --- sending ----------------------------------------------------------------------------------


def message_id(job) -> str:
    """The Celery task id of the job's current message: the job's id, then `<id>.<n>` for the
    retry after attempt n. The reaper finds the message's outcome from the row alone."""
    return str(job.pk) if not job.attempts else f"{job.pk}.{job.attempts}"


def send(kind: Kind, job, publish) -> None:
    """Send the job's message with `publish()`. If the broker cannot be reached (short
    timeouts: CELERY_BROKER_CONNECTION_TIMEOUT), the job is failed at once, retryable, and
    QueueUnavailable (503) tells the caller, instead of a job waiting for a worker that will
    never hear of it."""
    from circulus.api import QueueUnavailable

    try:
        publish()
    except Exception as exc:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise  # eager: the task itself failed and already recorded why
        log.error("could not queue %s job %s", kind.name, job.pk, exc_info=exc)
        kind.objects(pk=job.pk).filter(kind.in_state(kind.queued)).update(
            **{
                kind.state_field: kind.failed,
                kind.error_field: (
                    f"Could not reach the task queue at {timezone.now():%Y-%m-%d %H:%M:%S} UTC: "
                    "never queued. Retry the job once the queue is back."
                ),
            },
            finished_at=timezone.now(),
        )
        raise QueueUnavailable() from exc


# --- a worker's attempt ------------------------------------------------------------------------


def claim(kind: Kind, pk) -> int | None:
    """Start an attempt: the attempt number, or None when the job is not this worker's to run
    (finished, failed, or running elsewhere with a live heartbeat)."""
    now = timezone.now()
    claimable = kind.in_state(kind.queued) | (
        kind.in_state(kind.running) & Q(heartbeat_at__lt=stale_cutoff())
    )
    current = kind.objects(pk=pk).values(kind.state_field, "worker", "attempts").first()
    if current and current[kind.state_field] == kind.running and _process_gone(current["worker"]):
        claimable |= kind.in_state(kind.running) & Q(
            worker=current["worker"], attempts=current["attempts"]
        )
    updated = (
        kind.objects(pk=pk)
        .filter(claimable)
        .update(
            **{kind.state_field: kind.running, kind.error_field: ""},
            **kind.reset,
            worker=worker_id(),
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
        )
    )
    if not updated:
        return None
    return kind.objects(pk=pk).values_list("attempts", flat=True).get()


def mine(kind: Kind, pk, attempt: int):
    """The job's row while it is still this attempt's (for conditional updates)."""
    return kind.objects(pk=pk, attempts=attempt).filter(kind.in_state(kind.running))


def finish(kind: Kind, pk, attempt: int, state: str | None = None, **fields) -> bool:
    """End the attempt (succeeded unless `state` says otherwise); False if it was no longer
    ours (reaped or retried meanwhile)."""
    state = state or kind.succeeded
    return bool(
        mine(kind, pk, attempt).update(
            **{kind.state_field: state}, finished_at=timezone.now(), **fields
        )
    )


def public_error(exc: BaseException) -> str:
    """What the requester reads about a failure: a validation message as is; anything else by
    its type only (the details, possibly database text, are in the worker's log)."""
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    if getattr(exc, "public", False):
        return str(exc)
    return f"failed: internal error ({type(exc).__name__}; details in the worker log). Retry it."


def fail(kind: Kind, pk, attempt: int, exc: BaseException) -> bool:
    log.error("%s job %s attempt %s failed", kind.name, pk, attempt, exc_info=exc)
    return finish(kind, pk, attempt, kind.failed, **{kind.error_field: public_error(exc)[:4000]})


class _Heartbeat(threading.Thread):
    """Beats `heartbeat_at` every JOB_HEARTBEAT_SECONDS on its own connection."""

    def __init__(self, kind: Kind, pk, attempt: int):
        super().__init__(name=f"heartbeat-{kind.name}-{pk}", daemon=True)
        self.kind, self.pk, self.attempt = kind, pk, attempt
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    mine(self.kind, self.pk, self.attempt).update(heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed beat must not end the job
                    log.warning("heartbeat of %s job %s failed", self.kind.name, self.pk)
        finally:
            connection.close()


@contextmanager
def beating(kind: Kind, pk, attempt: int):
    """Keep the attempt's heartbeat alive for the duration of the block (worker processes only:
    an eager task runs inside the request that waits for it)."""
    if settings.CELERY_TASK_ALWAYS_EAGER or connection.vendor == "sqlite":
        yield
        return
    beat = _Heartbeat(kind, pk, attempt)
    beat.start()
    try:
        yield
    finally:
        beat.stopped.set()
        beat.join(timeout=5)


# --- the reaper and retries --------------------------------------------------------------------


def reap() -> dict[str, int]:
    """Fail, as retryable, running jobs whose heartbeat stopped and queued jobs nobody started."""
    now = timezone.now()
    stale, unstarted = stale_cutoff(), queued_cutoff()
    reaped = {}
    for kind in KINDS:
        lost = (
            kind.objects()
            .filter(kind.in_state(kind.running))
            .filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale))
        )
        count = lost.update(
            **{
                kind.state_field: kind.failed,
                kind.error_field: (
                    f"No heartbeat since before {stale:%Y-%m-%d %H:%M:%S} UTC: the worker "
                    "stopped mid-job (killed or lost). Retry the job."
                ),
            },
            finished_at=now,
        )
        waiting = (
            kind.objects()
            .filter(kind.in_state(kind.queued))
            .filter(
                Q(heartbeat_at__lt=unstarted)
                | Q(heartbeat_at__isnull=True, created_at__lt=unstarted)
            )
        )
        count += waiting.update(
            **{
                kind.state_field: kind.failed,
                kind.error_field: (
                    f"No worker started it by {now:%Y-%m-%d %H:%M:%S} UTC (workers down, or "
                    "unable to reach the database). Retry the job."
                ),
            },
            finished_at=now,
        )
        count += _reap_unstartable(kind, now)
        if count:
            log.warning("reaped %d stale %s job(s)", count, kind.name)
        reaped[kind.name] = count
    return reaped


UNSTARTABLE_LOOKUPS = 1000  # queued jobs whose message outcome one reaper pass looks up


def _reap_unstartable(kind: Kind, now: dt.datetime) -> int:
    """Fail queued jobs whose message a worker took and failed before it could start the job
    (it lost its database): the result backend knows which worker and when, the job row could
    not be told. Runs every reaper pass, so such a job fails within JOB_REAP_EVERY_SECONDS."""
    from circulus.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER or not app.conf.result_backend:
        return 0
    count = 0
    waiting = kind.objects().filter(kind.in_state(kind.queued)).order_by("-created_at")
    for job in waiting[:UNSTARTABLE_LOOKUPS]:
        try:
            result = app.AsyncResult(message_id(job))
            if result.state != "FAILURE":
                continue
            worker, done, error = result.worker, result.date_done, result.result
        except Exception:  # noqa: BLE001 - the backend down: the queued-timeout reaps it later
            log.warning("could not read the outcome of %s job %s", kind.name, job.pk)
            return count
        if isinstance(done, str):
            done = dt.datetime.fromisoformat(done)
        if done is not None and timezone.is_naive(done):
            done = timezone.make_aware(done, dt.UTC)
        if done is not None and done < (job.heartbeat_at or job.created_at):
            continue  # an earlier message's outcome, before the job was retried
        when = f" at {done:%Y-%m-%d %H:%M:%S} UTC" if done else ""
        count += (
            kind.objects(pk=job.pk)
            .filter(kind.in_state(kind.queued))
            .update(
                **{
                    kind.state_field: kind.failed,
                    kind.error_field: (
                        f"Worker {worker or '(unknown)'} took it{when} and could not start it "
                        f"({type(error).__name__}; could it reach the database? see that "
                        "worker's log). Retry the job."
                    ),
                },
                worker=(worker or "")[:200],
                finished_at=now,
            )
        )
    return count


def retry(job):
    """A failed job goes back to the queue; enqueued once the transaction commits."""
    kind = kind_of(job)
    updated = (
        kind.objects(pk=job.pk)
        .filter(kind.in_state(kind.failed))
        .update(
            **{kind.state_field: kind.queued, kind.error_field: ""},
            **kind.reset,
            finished_at=None,
            heartbeat_at=timezone.now(),  # the reaper's clock for a queued job
        )
    )
    if not updated:
        state = getattr(job, kind.state_field)
        raise ValidationError(f"Only failed jobs can be retried (this one is {state}).")
    job.refresh_from_db()
    enqueue = import_string(kind.enqueue)
    transaction.on_commit(lambda: enqueue(job))
    return job
