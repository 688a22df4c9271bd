"""Monthly partitions: a year's GROUP BY and a meter-month scan, partitioned vs one table.

M meters × 4 years of hourly readings (2022–2025) are loaded into the partitioned
`reporting_reading` and, as the baseline, into a plain table with the same rows and the same
(meter_id, timestamp) primary key. Measured in the same run, best of N, each side re-analysed:
the computation's monthly interval sums for 2025 (all meters), and one meter's readings of one
month in key order (what an API page or the admin's readings page reads). Then the archive
round trip of 2022 (`archive_readings --before 2023`, `--restore 2022`): rows/s each way and the
Parquet size against the table's. PostgreSQL only (SQLite has no partitions).
"""

import tempfile
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.db import connection

from benchmarks.harness import timed, vendor
from registry.models import Site
from reporting import partitions
from reporting.models import MeasurementPoint

START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = int((END - START).total_seconds() // 3600)
FLAT = "bench_reading_flat"
GOAL = 1.0  # a year's sums, partitioned ≤ the plain table: pruning must never cost
YEAR_SUMS = (
    "SELECT meter_id, date_trunc('month', \"timestamp\" - interval '1 hour') AS month, "
    'SUM(value), COUNT(*) FROM {table} WHERE "timestamp" > %s AND "timestamp" <= %s '
    "GROUP BY meter_id, month"
)
ONE_MONTH = (
    'SELECT "timestamp", value FROM {table} WHERE meter_id = %s AND "timestamp" >= %s '
    'AND "timestamp" < %s ORDER BY "timestamp"'
)


def _setup(meters: int) -> list[int]:
    site = Site.objects.create(code="BKP1", name="Partitions", country="FR", time_zone="UTC")
    MeasurementPoint.objects.bulk_create(
        MeasurementPoint(
            site=site,
            code=f"BKP-{i:04d}",
            quantity="eit-ups-output",
            unit="kWh",
            register="interval",
            interval_minutes=60,
        )
        for i in range(meters)
    )
    ids = list(MeasurementPoint.objects.filter(site=site).values_list("id", flat=True))
    partitions.ensure_partitions(START, END)
    with connection.cursor() as cursor:
        for meter_id in ids:
            cursor.execute(
                'INSERT INTO reporting_reading (meter_id, "timestamp", value) '
                "SELECT %s, %s + i * interval '1 hour', round((random() * 100)::numeric, 6) "
                "FROM generate_series(1, %s) AS i",
                [meter_id, START, HOURS],
            )
        cursor.execute(
            f"CREATE TABLE {FLAT} (meter_id bigint NOT NULL, "
            '"timestamp" timestamptz NOT NULL, value numeric(20, 6) NOT NULL, '
            'PRIMARY KEY (meter_id, "timestamp"))'
        )
        cursor.execute(f"INSERT INTO {FLAT} SELECT * FROM reporting_reading ORDER BY 1, 2")
        cursor.execute(f"VACUUM ANALYZE {FLAT}")
        cursor.execute("VACUUM ANALYZE reporting_reading")
    return ids


def _query(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def _size(cursor, sql: str) -> int:
    cursor.execute(sql)
    return cursor.fetchone()[0] or 0


def run(quick: bool) -> dict:
    if connection.vendor != "postgresql":
        return {"lines": ["skipped: partitions are PostgreSQL's (SQLite keeps one table)"]}
    meters = 10 if quick else 200
    repeat = 3 if quick else 5
    started = time.perf_counter()
    ids = _setup(meters)
    rows = meters * HOURS
    load_s = time.perf_counter() - started
    year = [datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    month = [ids[len(ids) // 2], datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)]
    lines = [f"{vendor()}: {meters} meters × {HOURS:,} hourly readings = {rows:,} rows "]
    results = {}
    for label, sql, params in (
        ("year's monthly sums", YEAR_SUMS, year),
        ("one meter-month scan", ONE_MONTH, month),
    ):
        flat_s, flat_n = timed(_query, sql.format(table=FLAT), params, repeat=repeat)
        part_s, part_n = timed(_query, sql.format(table="reporting_reading"), params, repeat=repeat)
        assert flat_n == part_n, (label, flat_n, part_n)
        results[label] = round(part_s / flat_s, 3)
        lines.append(
            f"{label}: partitioned {part_s * 1000:.1f} ms vs one table {flat_s * 1000:.1f} ms: "
            f"{part_s / flat_s:.2f}x ({part_n:,} rows out)"
        )
    with connection.cursor() as cursor:
        table_bytes = _size(
            cursor,
            "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relname LIKE 'reporting_reading_y2022m%%'",
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = StringIO()
        archived_s, _ = timed(
            call_command, "archive_readings", "--before", "2023", "--dir", tmp, stdout=out
        )
        archived = meters * 365 * 24 - meters  # 2022-01-01 01:00 … 2022-12-31 23:00 per meter
        file_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
        restored_s, _ = timed(
            call_command, "archive_readings", "--restore", "2022", "--dir", tmp, stdout=out
        )
    with connection.cursor() as cursor:
        back = _size(
            cursor, "SELECT COUNT(*) FROM reporting_reading WHERE \"timestamp\" < '2023-01-01Z'"
        )
        assert back == archived, (back, archived)
        cursor.execute(f"DROP TABLE {FLAT}")
        cursor.execute("TRUNCATE reporting_reading")
    lines += [
        f"archive 2022: {archived:,} rows in {archived_s:.1f} s ({archived / archived_s:,.0f} "
        f"rows/s), Parquet {file_bytes / 2**20:.1f} MiB vs table+index "
        f"{table_bytes / 2**20:.1f} MiB; restore {restored_s:.1f} s "
        f"({archived / restored_s:,.0f} rows/s); every row back",
        f"(generated in {load_s:.1f} s)",
    ]
    return {
        "ratio": results["year's monthly sums"],
        "goal": GOAL,
        "goal_met": results["year's monthly sums"] <= GOAL,
        "ratios": results,
        "rows": rows,
        "archive_rows_per_s": round(archived / archived_s),
        "restore_rows_per_s": round(archived / restored_s),
        "lines": lines,
    }
