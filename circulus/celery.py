"""Celery application. Workers on any machine join by pointing at the same broker and database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circulus.settings")

app = Celery("circulus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="circulus.ping")
def ping(payload: str = "pong") -> dict:
    """Round-trip check used by health probes and the worker integration test."""
    import socket

    return {"payload": payload, "hostname": socket.gethostname(), "pid": os.getpid()}
