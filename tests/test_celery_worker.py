"""A task sent with .delay() runs in a separate worker process and its result is stored."""

import os

import pytest

from circulus.celery import app, ping


@pytest.mark.celery_worker
def test_delay_runs_in_a_separate_worker_process(celery_worker_process):
    result = ping.delay("over the broker")
    value = result.get(timeout=30)
    assert value["payload"] == "over the broker"
    assert value["pid"] != os.getpid()  # it really ran elsewhere
    # The stored result can be read back by id, as a poller would.
    assert app.AsyncResult(result.id).result["payload"] == "over the broker"
