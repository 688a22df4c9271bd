"""The reuse query's reads kept between requests while the registry is unchanged (PostgreSQL).

Writers to the versioned tables bump a counter (registry migration 0007); a kept answer is
served while the counter still equals the one stored with it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.db import connection, transaction

# Registry migration 0007: every statement writing assets, sites, measured runs or catalogue
# hardware models holds this advisory lock (shared, until its transaction ends) and bumps the
# registry_version sequence.
REGISTRY_WRITE_LOCK = 1919248177
VERSIONED_TABLES = (
    "registry_asset",
    "registry_site",
    "registry_reusemeasurement",
    "hardware_hardwaremodel",
)
_VERSION_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM registry_version"
_CACHE: dict[tuple, tuple[int, object]] = {}
_CACHE_SIZE = 64


# The counter read once at the start of `find_candidates`, for all its kept reads.
READ_VERSION: ContextVar[int | None] = ContextVar("registry_version", default=None)


def may_keep() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def registry_version() -> int:
    with connection.cursor() as cur:
        cur.execute(_VERSION_SQL)
        return cur.fetchone()[0]


def versioned(key: tuple, compute: Callable[[], object]):
    """`compute()` — a read of VERSIONED_TABLES only — kept in this process while
    none of those tables changed (PostgreSQL; elsewhere, and inside a transaction, it runs).

    Hit: the counter equals the one stored with the answer (one tiny query). Miss: in one
    transaction, share-lock the tables (a TRUNCATE waits for us rather than deadlocking), try
    the writers' advisory lock exclusively — granted only when no transaction that wrote them is
    still open, and writers' next statements wait until we finish — then read the counter and
    compute: the answer is exactly the committed tables at that counter, and is stored. While a
    writer is open, compute without storing.
    """
    if not may_keep():
        return compute()
    version = READ_VERSION.get()
    if version is None:
        version = registry_version()
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {', '.join(VERSIONED_TABLES)} IN ACCESS SHARE MODE")
            cur.execute(
                f"SELECT pg_try_advisory_xact_lock({REGISTRY_WRITE_LOCK}), ({_VERSION_SQL})"  # noqa: S608
            )
            quiet, version = cur.fetchone()
        value = compute()
    if quiet:
        _CACHE.pop(key, None)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))  # the oldest entry
        _CACHE[key] = (version, value)
    return value
