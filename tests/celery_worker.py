"""Fixture: a real Celery worker process on the local Redis broker (not the eager path).

The worker uses the test database when it can be shared (PostgreSQL); tests whose task touches
the database check `worker.shares_db` and use `django_db(transaction=True)` so rows are committed.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import kombu.pools
import pytest

from circulus import queues
from circulus.celery import app

REDIS_URL = os.environ.get("CIRCULUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _reconfigure(**conf) -> None:
    """Point the already-configured app at another broker/backend, dropping cached connections."""
    # kombu keeps pools in a process-wide registry keyed by connection: a closed pool left there
    # would be handed out again the next time the same broker is used.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.control.mailbox.__dict__.pop("producer_pool", None)
    app._local.__dict__.pop("backend", None)
    app.conf.update(conf)


UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def broker_down(settings):
    """The task queue cannot be reached: every door that queues work must answer at once."""
    # Saved before the settings change: the app reads its configuration from them lazily.
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _reconfigure(broker_url=UNREACHABLE, result_backend=None, task_always_eager=False)
    yield
    _reconfigure(**saved)


@dataclass
class Worker:
    prefix: str
    shares_db: bool

    @property
    def queue(self) -> str:
        return queues.name(queues.DEFAULT, self.prefix)


def _database_url() -> str | None:
    from django.db import connection

    conf = connection.settings_dict
    if connection.vendor != "postgresql":
        return None
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{auth}@{conf['HOST'] or 'localhost'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def start_worker(
    prefix: str, database_url: str | None, kinds=None, hostname=None, pool="solo", environ=None
):
    """A `celery worker` subprocess on the test broker, serving `kinds` (all queues if None).

    It runs in its own process group, so a test can SIGKILL the whole worker (`os.killpg`);
    `pool="prefork"` gives it a pool child to kill alone.
    """
    env = os.environ | {
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "CELERY_QUEUE_PREFIX": prefix,
        **(environ or {}),
    }
    env.pop("CELERY_TASK_DEFAULT_QUEUE", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "celery", "-A", "circulus", "worker", f"--pool={pool}"]
    command += ["--concurrency=1", "--loglevel=WARNING"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if kinds:
        command += ["-Q", ",".join(queues.name(kind, prefix) for kind in kinds)]
    if hostname:
        command += ["--hostname", hostname]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(worker, hostname=None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    destination = [hostname] if hostname else None
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"worker exited: {worker.stdout.read().decode()[-2000:]}")
        if app.control.ping(timeout=1, destination=destination):
            return
    pytest.fail("worker did not answer a ping within a minute")


def start_killable_worker(prefix: str, **environ):
    """A prefork worker on `prefix`'s queues, up and answering, that a test may kill (its pool
    children report their pid in the jobs they claim)."""
    hostname = f"kill-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    worker = start_worker(
        prefix, _database_url(), hostname=hostname, pool="prefork", environ=environ
    )
    wait_until_up(worker, hostname)
    return worker


def kill_worker(process) -> None:
    """SIGKILL the worker and its pool children (a worker lost without a goodbye)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(predicate, seconds: float = 90, what: str = "condition"):
    """`predicate()`'s first true value, polled every quarter second; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def kill_prefix(celery_worker_process):
    """Queues of their own: the workers a test starts (and kills) serve only it."""
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL")
    prefix = f"circulus-kill-{uuid.uuid4().hex[:8]}-"
    saved = point_app_at_test_broker(prefix)
    yield prefix
    _reconfigure(**saved)


def stop_worker(worker) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def point_app_at_test_broker(prefix: str) -> dict:
    """Send this process's tasks to the test broker's prefixed queues; returns the old conf."""
    keys = ("broker_url", "result_backend", "task_always_eager", "task_default_queue")
    saved = {k: app.conf[k] for k in (*keys, "task_queues", "task_routes")}
    _reconfigure(
        broker_url=REDIS_URL,
        result_backend=REDIS_URL,
        task_always_eager=False,
        task_default_queue=queues.name(queues.DEFAULT, prefix),
        task_queues=queues.queues(prefix),
        task_routes=queues.routes(prefix),
    )
    return saved


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    if not _redis_reachable():
        pytest.skip(f"no Redis reachable at {REDIS_URL}: real-worker tests need one")
    prefix = f"circulus-test-{uuid.uuid4().hex[:8]}-"
    with django_db_blocker.unblock():
        database_url = _database_url()
    worker = start_worker(prefix, database_url)
    saved = point_app_at_test_broker(prefix)
    try:
        wait_until_up(worker)
        yield Worker(prefix=prefix, shares_db=database_url is not None)
    finally:
        stop_worker(worker)
        _reconfigure(**saved)
