"""Shared helpers: a throwaway database for the run, timing and peak memory."""

import contextlib
import io
import resource
import time

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_databases, teardown_databases


@contextlib.contextmanager
def bench_database():
    """A fresh test database (test_<name>), migrated, dropped at the end: never the real one."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.SECURE_SSL_REDIRECT = False
    old = setup_databases(verbosity=0, interactive=False)
    try:
        call_command("load_catalogue", verbosity=0, stdout=io.StringIO())
        yield connection
    finally:
        teardown_databases(old, verbosity=0)


def timed(fn, *args, repeat: int = 1, **kwargs) -> tuple[float, object]:
    """Best wall time of `repeat` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vendor() -> str:
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
