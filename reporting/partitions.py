"""Monthly partitions of the readings table on PostgreSQL (SQLite keeps one table).

`reporting_reading` is RANGE-partitioned on timestamp by UTC month: `reporting_reading_y2025m03`
holds [2025-03-01T00:00Z, 2025-04-01T00:00Z). The beat creates the months ahead
(`ensure_ahead`); ingest calls `ensure_months` with the months its rows fall in before loading
them (only months that hold rows, and only inside the input window of `circulus.bounds`: no
month before its floor or after the current one), so storage never grows for a typo'd year.

DEFAULT partition policy: there is one (`reporting_reading_default`) as a catch-all, so a write
outside every monthly partition (a raw INSERT, a far-off timestamp) is never refused. It is
meant to stay empty: creating a month moves that month's rows out of it first, and the beat
task reports how many rows it still holds. The primary key (meter_id, timestamp) includes the
partition key, so it stays unique across the whole table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.db import connection, transaction

from circulus import bounds

TABLE = "reporting_reading"
DEFAULT = f"{TABLE}_default"
NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")
# Serialises partition DDL between concurrent ingests, the beat and restores (advisory lock key,
# also in the function of migration 0012).
LOCK_KEY = 0x52454144  # "READ"


def supported() -> bool:
    return connection.vendor == "postgresql"


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def months(start: datetime, end: datetime) -> list[datetime]:
    """The UTC month starts of every month that overlaps [start, end]."""
    out, current, last = [], month_start(start), month_start(end)
    while current <= last:
        out.append(current)
        current = next_month(current)
    return out


def partition_name(start: datetime) -> str:
    return f"{TABLE}_y{start:%Y}m{start:%m}"


def bounds_of(name: str) -> tuple[datetime, datetime] | None:
    """[lower, upper) of a monthly partition, from its name; None for any other table."""
    match = NAME.match(name)
    if not match:
        return None
    lower = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return lower, next_month(lower)


def existing(cursor) -> list[str]:
    """The partitions attached to the readings table, monthly ones in time order."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [TABLE],
    )
    return [name for (name,) in cursor.fetchall()]


def ensure_partitions(start: datetime, end: datetime) -> list[str]:
    """Create the monthly partitions for [start, end] that do not exist yet; return their names.

    Each month is made by the database function `reporting_reading_ensure_month` (migration
    0012): it runs with the table owner's rights, so the application's role, which creates
    nothing itself, can still add months; rows of the month already in the DEFAULT partition
    are moved into it (PostgreSQL refuses to attach a range the default partition holds).
    """
    return _ensure(months(start, end))


def ensure_months(starts) -> list[str]:
    """`ensure_partitions` for the UTC months starting at `starts`, of those a reading may fall
    in (the input window of `circulus.bounds`): a month outside it is never made, whatever asks."""
    first, last = month_start(bounds.earliest()), month_start(bounds.latest())
    return _ensure([start for start in starts if first <= start <= last])


def _ensure(starts) -> list[str]:
    if not supported():
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        have = set(existing(cursor))
        for lower in sorted(starts):
            if partition_name(lower) in have:
                continue  # the usual case: no lock, no DDL
            cursor.execute("SELECT reporting_reading_ensure_month(%s)", [lower])
            if cursor.fetchone()[0]:
                created.append(partition_name(lower))
    return created


def ensure_ahead(months_ahead: int, now: datetime | None = None) -> list[str]:
    """This month and the next `months_ahead` (the beat's job)."""
    start = month_start(now or datetime.now(UTC))
    end = start
    for _ in range(months_ahead):
        end = next_month(end)
    return _ensure(months(start, end))


def default_rows() -> int:
    """Rows in the DEFAULT partition (meant to be 0: see the module docstring)."""
    if not supported():
        return 0
    with connection.cursor() as cursor:
        # Through the owner's function: the application's role has no grant on partitions.
        cursor.execute("SELECT reporting_reading_default_rows()")
        return cursor.fetchone()[0]
