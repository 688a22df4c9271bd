"""Celery application. Workers on any machine join by pointing at the same broker and database."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circulus.settings")

app = Celery("circulus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="circulus.ping")
def ping(payload: str = "pong") -> dict:
    """Round-trip check used by health probes and the worker integration test."""
    import socket

    return {"payload": payload, "hostname": socket.gethostname(), "pid": os.getpid()}


@worker_init.connect
def refuse_to_start_without_a_database(**kwargs) -> None:
    """Readiness check: a worker that cannot reach its database would take messages and fail
    every job without being able to say so, so it does not start (exit status 1)."""
    from django.db import connection

    try:
        connection.ensure_connection()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means not ready
        raise SystemExit(
            f"circulus worker: cannot reach its database ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}); not starting. "
            "Check DATABASE_URL and that PostgreSQL is up."
        ) from None
    finally:
        connection.close()
