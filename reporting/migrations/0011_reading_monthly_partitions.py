"""PostgreSQL: the readings table becomes RANGE-partitioned by month on timestamp (UTC months),
with a DEFAULT partition as a catch-all; every existing reading is copied over. SQLite keeps
one table (nothing to do). reporting/partitions.py creates the months ahead afterwards.

The DDL is written out here (not imported from reporting.partitions) so that this migration
keeps doing what it did when the module changes.
"""

from datetime import UTC, datetime

from django.db import migrations

TABLE = "reporting_reading"


def _month_starts(first: datetime, last: datetime):
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        yield datetime(year, month, 1, tzinfo=UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_unpartitioned")
        cursor.execute(
            f"ALTER TABLE {TABLE}_unpartitioned RENAME CONSTRAINT {TABLE}_pkey "
            f"TO {TABLE}_unpartitioned_pkey"
        )
        cursor.execute(
            f"CREATE TABLE {TABLE} (meter_id bigint NOT NULL, "
            '"timestamp" timestamp with time zone NOT NULL, value numeric(20, 6) NOT NULL, '
            f'CONSTRAINT {TABLE}_pkey PRIMARY KEY (meter_id, "timestamp")) '
            'PARTITION BY RANGE ("timestamp")'
        )
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        # The months that hold data (only those: one stray reading of 1990 makes one month, not
        # thirty years of them), this month and the next three (the beat keeps that up).
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC') "
            f"FROM {TABLE}_unpartitioned"
        )
        starts = {wall.replace(tzinfo=UTC) for (wall,) in cursor.fetchall()}
        now = datetime.now(UTC)
        ahead = datetime(now.year + (now.month + 2) // 12, (now.month + 2) % 12 + 1, 1, tzinfo=UTC)
        starts.update(_month_starts(now, ahead))
        for start in sorted(starts):
            cursor.execute(
                f"CREATE TABLE {TABLE}_y{start:%Y}m{start:%m} PARTITION OF {TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, _next_month(start)],
            )
        cursor.execute(
            f'INSERT INTO {TABLE} (meter_id, "timestamp", value) '
            f'SELECT meter_id, "timestamp", value FROM {TABLE}_unpartitioned'
        )
        cursor.execute(f"DROP TABLE {TABLE}_unpartitioned")
        cursor.execute(f"ANALYZE {TABLE}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_partitioned")
        cursor.execute(
            f"ALTER TABLE {TABLE}_partitioned RENAME CONSTRAINT {TABLE}_pkey "
            f"TO {TABLE}_partitioned_pkey"
        )
        cursor.execute(
            f"CREATE TABLE {TABLE} (meter_id bigint NOT NULL, "
            '"timestamp" timestamp with time zone NOT NULL, value numeric(20, 6) NOT NULL, '
            f'CONSTRAINT {TABLE}_pkey PRIMARY KEY (meter_id, "timestamp"))'
        )
        cursor.execute(
            f'INSERT INTO {TABLE} (meter_id, "timestamp", value) '
            f'SELECT meter_id, "timestamp", value FROM {TABLE}_partitioned'
        )
        cursor.execute(f"DROP TABLE {TABLE}_partitioned")  # drops its partitions too


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0010_reading_composite_key"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
