"""ingest_readings (validate every row, stage, set-based upsert) vs raw COPY → staging → upsert.

Both sides load the same readings CSV (N rows over 100 meters) into an empty reading table. The
baseline is the fastest plain path: PostgreSQL COPY of the raw file into an unlogged-free TEMP
staging table then one INSERT … SELECT … JOIN meters ON CONFLICT DO NOTHING (SQLite: executemany
of the parsed CSV into a TEMP table, then the same INSERT). It validates nothing and detects no
conflict. `ingest_csv` additionally checks every row in Python, rejects bad files, detects
duplicates and conflicts. Goal: ingest rate ≥ 0.75× the baseline rate (PostgreSQL).
Peak RSS is reported: the file is streamed in chunks, so it does not grow with N.
"""

import csv
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction

from benchmarks.harness import peak_rss_mb, vendor
from registry.models import Site
from reporting.ingest import ingest_csv
from reporting.models import MeasurementPoint

GOAL = 0.75
METERS = 100


def _setup() -> list[str]:
    site, _ = Site.objects.get_or_create(
        code="BENCH-ING", defaults={"name": "bench", "country": "FR", "time_zone": "UTC"}
    )
    codes = [f"BI-{i:04d}" for i in range(METERS)]
    MeasurementPoint.objects.bulk_create(
        [
            MeasurementPoint(site=site, code=c, quantity="eit-pdu", unit="kWh", register="interval")
            for c in codes
        ],
        ignore_conflicts=True,
    )
    return codes


def _write_csv(path: Path, codes: list[str], n: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    per_meter = -(-n // len(codes))
    with path.open("w", newline="") as out:
        out.write("meter,timestamp,value\n")
        written = 0
        for step in range(per_meter):
            stamp = (start + timedelta(minutes=15 * (step + 1))).isoformat()
            for i, code in enumerate(codes):
                if written == n:
                    return
                out.write(f"{code},{stamp},{(step * 7 + i) % 1000 / 10}\n")
                written += 1


def _wipe() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE reporting_reading, reporting_readingrevision")
        else:
            cursor.execute("DELETE FROM reporting_reading")


def _baseline(path: Path) -> int:
    upsert = (
        "INSERT INTO reporting_reading (meter_id, timestamp, value) "
        "SELECT m.id, s.ts, s.value FROM bench_staging s "
        "JOIN reporting_measurementpoint m ON m.code = s.meter WHERE true "
        "ON CONFLICT (meter_id, timestamp) DO NOTHING"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE TEMP TABLE bench_staging "
                "(meter text, ts timestamptz, value numeric(20, 6)) "
                "ON COMMIT DROP"
            )
            with (
                path.open("rb") as handle,
                cursor.cursor.copy(
                    "COPY bench_staging FROM STDIN (FORMAT csv, HEADER true)"
                ) as copy,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        else:
            cursor.execute("CREATE TEMP TABLE bench_staging (meter text, ts text, value decimal)")
            with path.open(newline="") as handle:
                rows = csv.reader(handle)
                next(rows)
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 50_000:
                        cursor.executemany("INSERT INTO bench_staging VALUES (%s, %s, %s)", batch)
                        batch = []
                if batch:
                    cursor.executemany("INSERT INTO bench_staging VALUES (%s, %s, %s)", batch)
        cursor.execute(upsert)
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE bench_staging")
    return inserted


def _bare_copy(path: Path) -> float:
    """PostgreSQL's own speed: binary COPY of the parsed rows into a bare keyed table (seconds).

    The rows are parsed before the clock starts; the table has only the (meter_id, timestamp)
    primary key, no surrogate id, no foreign key, no other index.
    """
    ids = dict(MeasurementPoint.objects.values_list("code", "id"))
    with path.open(newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        parsed = [(ids[m], datetime.fromisoformat(t), Decimal(v)) for m, t, v in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_bare (meter_id integer, ts timestamptz, "
            "value numeric(20, 6), PRIMARY KEY (meter_id, ts)) ON COMMIT DROP"
        )
        started = time.perf_counter()
        with cursor.cursor.copy("COPY bench_bare FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "timestamptz", "numeric"])
            for row in parsed:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_bare")
    return elapsed


def _ours(path: Path):
    with path.open(newline="") as handle:
        return ingest_csv(handle)


def run(quick: bool) -> dict:
    postgres = connection.vendor == "postgresql"
    n = 200_000 if quick else (10_000_000 if postgres else 2_000_000)
    codes = _setup()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "readings.csv"
        _write_csv(path, codes, n)
        rss_before = peak_rss_mb()
        _wipe()
        started = time.perf_counter()
        inserted = _baseline(path)
        base_s = time.perf_counter() - started
        assert inserted == n, inserted
        _wipe()
        started = time.perf_counter()
        report = _ours(path)
        ours_s = time.perf_counter() - started
        assert report.inserted == n, report.summary()
        started = time.perf_counter()
        again = _ours(path)  # idempotent re-run: everything unchanged
        again_s = time.perf_counter() - started
        assert again.unchanged == n, again.summary()
        _wipe()
        bare_s = _bare_copy(path) if postgres else None
    ratio = base_s / ours_s  # = our rate / baseline rate
    lines.append(
        f"{vendor()}: {n:,} readings; ingest_csv {n / ours_s:,.0f} rows/s ({ours_s:.1f} s), "
        f"raw COPY/staging/upsert {n / base_s:,.0f} rows/s ({base_s:.1f} s): "
        f"{ratio:.2f}x the baseline rate (goal ≥ {GOAL}x)"
    )
    if bare_s:
        lines.append(
            f"binary COPY into a bare (meter_id, timestamp)-keyed table {n / bare_s:,.0f} rows/s "
            f"({bare_s:.1f} s): ingest_csv is {bare_s / ours_s:.2f}x that rate (informational)"
        )
    lines.append(f"re-ingest of the same file (all unchanged): {n / again_s:,.0f} rows/s")
    lines.append(f"peak RSS {peak_rss_mb():.0f} MB (before the runs {rss_before:.0f} MB)")
    if not postgres:
        lines.append("SQLite: the goal is stated for PostgreSQL; informational here")
    return {
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "goal_met": (ratio >= GOAL) if postgres else None,
        "rows": n,
        "ratio_vs_bare_copy": round(bare_s / ours_s, 3) if bare_s else None,
        "peak_rss_mb": round(peak_rss_mb()),
        "lines": lines,
    }
