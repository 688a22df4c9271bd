"""ingest_readings (bulk checks, binary COPY, rollups from the file) vs PostgreSQL's own COPY.

Every side loads the same readings CSV (N rows over 100 meters) into an empty table.

- Goal baseline (PostgreSQL): a binary COPY of the already-parsed rows into a bare TEMP table
  `(meter_id, ts, value numeric)` keyed only by `(meter_id, ts)`: PostgreSQL's own loading speed,
  with no WAL (a temp table) and nothing checked. Goal: ingest rate ≥ 0.5× that rate.
- The same COPY into a bare *logged* table (informational: readings must survive a crash, so
  ingest writes WAL that the temp baseline does not).
- The earlier baseline: raw COPY of the text file into a TEMP staging table, then one
  `INSERT … SELECT … JOIN meters ON CONFLICT DO NOTHING` (SQLite: executemany of the parsed CSV).
  It validates nothing and detects no conflict (informational; its goal was ≥ 0.75×).

`ingest_csv` checks every row (in bulk, row by row where a block has a problem), rejects bad
files, detects duplicates and conflicts, and writes the daily rollups of the days it touched (in
this file every day is new: summed from the file's rows; the re-ingest recomputes every day from
the readings). Peak RSS is reported after the ingest runs (before the
bare COPY, which holds all parsed rows in memory): the file is streamed in blocks of 50,000 lines,
so it does not grow with N. `BENCH_INGEST_ROWS=N` sets N (default 200,000 quick, 10,000,000 full
on PostgreSQL, 2,000,000 on SQLite).
"""

import csv
import os
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

GOAL = 0.5  # × the bare binary COPY rate
STAGING_GOAL = 0.75  # × the raw COPY/staging/upsert rate (the earlier goal)
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


def _bare_copy(path: Path) -> tuple[float, float]:
    """PostgreSQL's own speed: binary COPY of the parsed rows into a bare keyed table (seconds),
    TEMP (no WAL) and logged.

    The rows are parsed before the clock starts; the table has only the (meter_id, timestamp)
    primary key, no surrogate id, no foreign key, no other index.
    """
    ids = dict(MeasurementPoint.objects.values_list("code", "id"))
    with path.open(newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        parsed = [(ids[m], datetime.fromisoformat(t), Decimal(v)) for m, t, v in rows]
    elapsed = []
    for kind in ("TEMP", ""):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE {kind} TABLE bench_bare (meter_id integer, ts timestamptz, "
                "value numeric(20, 6), PRIMARY KEY (meter_id, ts))"
            )
            started = time.perf_counter()
            with cursor.cursor.copy("COPY bench_bare FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "timestamptz", "numeric"])
                for row in parsed:
                    copy.write_row(row)
            elapsed.append(time.perf_counter() - started)
            cursor.execute("DROP TABLE bench_bare")
    return elapsed[0], elapsed[1]


def _ours(path: Path):
    with path.open(newline="") as handle:
        return ingest_csv(handle)


def run(quick: bool) -> dict:
    postgres = connection.vendor == "postgresql"
    n = 200_000 if quick else (10_000_000 if postgres else 2_000_000)
    n = int(os.environ.get("BENCH_INGEST_ROWS", n))
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
        rss_ingest = peak_rss_mb()
        _wipe()
        bare_s, logged_s = _bare_copy(path) if postgres else (None, None)
    staging_ratio = base_s / ours_s  # = our rate / baseline rate
    lines.append(
        f"{vendor()}: {n:,} readings; ingest_csv {n / ours_s:,.0f} rows/s ({ours_s:.1f} s)"
    )
    if bare_s:
        lines.append(
            f"binary COPY into a bare (meter_id, timestamp)-keyed TEMP table {n / bare_s:,.0f} "
            f"rows/s ({bare_s:.1f} s): ingest_csv is {bare_s / ours_s:.2f}x that rate "
            f"(goal ≥ {GOAL}x)"
        )
        lines.append(
            f"the same into a logged table {n / logged_s:,.0f} rows/s ({logged_s:.1f} s): "
            f"ingest_csv is {logged_s / ours_s:.2f}x that rate (informational)"
        )
    lines.append(
        f"raw COPY/staging/upsert {n / base_s:,.0f} rows/s ({base_s:.1f} s): ingest_csv is "
        f"{staging_ratio:.2f}x that rate (earlier goal ≥ {STAGING_GOAL}x)"
    )
    lines.append(f"re-ingest of the same file (all unchanged): {n / again_s:,.0f} rows/s")
    bare_rss = f"; {peak_rss_mb():.0f} MB after the bare COPY, which holds every parsed row"
    lines.append(
        f"peak RSS through the ingest runs {rss_ingest:.0f} MB (before them {rss_before:.0f} MB"
        f"{bare_rss if postgres else ''})"
    )
    if not postgres:
        lines.append("SQLite: the goal is stated for PostgreSQL; informational here")
    ratio = bare_s / ours_s if bare_s else None
    return {
        "ratio": round(ratio, 3) if ratio else None,
        "goal": GOAL,
        "goal_met": (ratio >= GOAL) if postgres else None,
        "rows": n,
        "ratio_vs_logged_copy": round(logged_s / ours_s, 3) if logged_s else None,
        "ratio_vs_staging": round(staging_ratio, 3),
        "peak_rss_mb": round(rss_ingest),
        "lines": lines,
    }
