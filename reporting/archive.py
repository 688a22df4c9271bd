"""Old readings out of the database and back: monthly partitions ⇄ Parquet files (PostgreSQL).

Annex II asks for the measurement records to be kept for 10 years; they need not stay in the
live table. `archive_before(year)` writes every monthly partition older than `year` (UTC) to a
zstd-compressed Parquet file, reads the file back and checks its row count and checksum
against the database before it detaches and drops the partition. `restore(...)` checks a file
against its own recorded count and checksum, loads it into a new table, checks it again and
attaches it as the month's partition. Nothing is dropped that was not verified on disk.

A period that is not submitted (draft, or validated and so reopenable) still needs its
readings: archiving any month its readings fall in is refused.

Checksum: SHA-256 over one line per reading in key order, `meter_id<TAB>UTC microseconds since
the epoch<TAB>value with its 6 decimals<LF>`, so it does not depend on how either side stores
them. PostgreSQL writes the database's lines and Arrow the file's, each from its own stored
values, so the two sides are checked independently; the file's lines are also exactly what a
restore COPYs back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection, transaction

from reporting import partitions, rollups
from reporting.computation import period_bounds
from reporting.models import MeasurementPoint, PeriodStatus, ReportingPeriod

FORMAT = "circulus-readings/1"
BATCH = 50_000


class ArchiveError(Exception):
    """Why an archive or a restore was refused (one line); nothing was changed."""


@dataclass
class Moved:
    partition: str
    path: Path
    rows: int
    sha256: str

    def line(self, verb: str) -> str:
        where = f"{self.path} (sha256 {self.sha256[:12]}…)"
        return f"{verb} {self.partition}: {self.rows:,} readings ⇄ {where}"


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def _schema():
    pa, _ = _pa()
    return pa.schema(
        [
            ("meter_id", pa.int64()),
            ("meter_code", pa.dictionary(pa.int32(), pa.string())),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("value", pa.decimal128(20, 6)),
        ]
    )


def _require_postgres(what: str) -> None:
    if not partitions.supported():
        raise ArchiveError(
            f"{what} needs PostgreSQL: on {connection.vendor} the readings are one table without "
            "monthly partitions to detach (docs/operations.md, Readings: monthly partitions)"
        )


# One canonical line per reading, written by PostgreSQL from the stored row (numeric(20, 6) as
# text always has its 6 decimals; the epoch in microseconds is exact).
SQL_MICROS = '(extract(epoch FROM "timestamp") * 1000000)::bigint'
SQL_LINE = f"meter_id::text || E'\\t' || {SQL_MICROS}::text || E'\\t' || value::text || E'\\n'"


def _arrow_lines(batch) -> str:
    """The same lines, written by Arrow from the file's columns."""
    pa, _ = _pa()
    import pyarrow.compute as pc

    micros = pc.cast(pc.cast(batch.column("timestamp"), pa.int64()), pa.string())
    fields = [pc.cast(batch.column("meter_id"), pa.string()), micros]
    fields.append(pc.cast(batch.column("value"), pa.string()))
    lines = pc.binary_join_element_wise(*fields, "\t").to_pylist()
    return "".join(f"{line}\n" for line in lines)


def _file_digest(path: Path) -> tuple[int, str, set[tuple[int, str]]]:
    """Rows, checksum and (meter id, code) pairs of an archive file, read back from disk."""
    pa, pq = _pa()
    digest, rows, meters = hashlib.sha256(), 0, set()
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH):
        digest.update(_arrow_lines(batch).encode())
        pairs = pa.table(
            [batch.column("meter_id"), batch.column("meter_code").cast(pa.string())],
            names=["id", "code"],
        ).group_by(["id", "code"])
        found = pairs.aggregate([])
        meters.update(zip(found["id"].to_pylist(), found["code"].to_pylist(), strict=True))
        rows += batch.num_rows
    return rows, digest.hexdigest(), meters


def _database_digest(table: str) -> tuple[int, str]:
    digest, rows = hashlib.sha256(), 0
    with connection.chunked_cursor() as stream:
        stream.execute(f'SELECT {SQL_LINE} FROM {table} ORDER BY meter_id, "timestamp"')
        while batch := stream.fetchmany(BATCH):
            digest.update("".join(line for (line,) in batch).encode())
            rows += len(batch)
    return rows, digest.hexdigest()


def _count(cursor, table: str, where: str = "", params=()) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM {table} {where}", list(params))
    return cursor.fetchone()[0]


# --- archive -----------------------------------------------------------------------------------


def periods_needing(cutoff: datetime) -> list[str]:
    """Periods not yet submitted whose readings start before `cutoff`."""
    needing = []
    open_periods = ReportingPeriod.objects.exclude(status=PeriodStatus.SUBMITTED)
    for period in open_periods.select_related("site").order_by("year", "site__code"):
        if period_bounds(period)[0] < cutoff:
            needing.append(f"{period.site.code} {period.year} ({period.status})")
    return needing


def archive_before(year: int, directory: Path, *, today: datetime | None = None) -> list[Moved]:
    """Archive every monthly partition that ends by 1 January `year` 00:00 UTC."""
    _require_postgres("archive_readings")
    this_year = (today or datetime.now(UTC)).year
    if not 1970 < year <= this_year:
        raise ArchiveError(f"--before {year}: give a year from 1971 to {this_year}")
    cutoff = datetime(year, 1, 1, tzinfo=UTC)
    needing = periods_needing(cutoff)
    if needing:
        raise ArchiveError(
            f"refused: periods not yet submitted still need readings before {year}: "
            + ", ".join(needing)
        )
    directory.mkdir(parents=True, exist_ok=True)
    with connection.cursor() as cursor:
        # Stray rows of those years in the DEFAULT partition go into their months first.
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC') "
            f'FROM {partitions.DEFAULT} WHERE "timestamp" < %s',
            [cutoff],
        )
        partitions.ensure_months([wall.replace(tzinfo=UTC) for (wall,) in cursor.fetchall()])
        old = [
            name
            for name in partitions.existing(cursor)
            if (b := partitions.bounds_of(name)) and b[1] <= cutoff
        ]
    clashes = [name for name in old if (directory / f"{name}.parquet").exists()]
    if clashes:
        raise ArchiveError(
            f"{directory / (clashes[0] + '.parquet')} exists already: restore or move it first"
        )
    return [_archive_one(name, directory) for name in old]


def _archive_one(name: str, directory: Path) -> Moved:
    pa, pq = _pa()
    lower, upper = partitions.bounds_of(name)
    path = directory / f"{name}.parquet"
    partial = directory / f"{name}.parquet.partial"
    schema = _schema()
    digest = hashlib.sha256()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {name} IN SHARE MODE")  # no writes while it is copied
        counted = _count(cursor, name)
        written = 0
        try:
            with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
                with connection.chunked_cursor() as stream:
                    stream.execute(
                        f"SELECT r.meter_id, m.code, {SQL_MICROS}, r.value::text, {SQL_LINE} "
                        f"FROM {name} r LEFT JOIN reporting_measurementpoint m "
                        'ON m.id = r.meter_id ORDER BY r.meter_id, r."timestamp"'
                    )
                    while batch := stream.fetchmany(BATCH):
                        ids, codes, micros, values, lines = zip(*batch, strict=True)
                        digest.update("".join(lines).encode())
                        table = pa.table(
                            [
                                pa.array(ids, pa.int64()),
                                pa.array(codes, pa.string()).dictionary_encode(),
                                pa.array(micros, pa.int64()).cast(schema.field(2).type),
                                pa.array(values, pa.string()).cast(schema.field(3).type),
                            ],
                            schema=schema,
                        )
                        writer.write_table(table)
                        written += len(batch)
                writer.add_key_value_metadata(
                    {
                        "circulus": json.dumps(
                            {
                                "format": FORMAT,
                                "partition": name,
                                "from": lower.isoformat(),
                                "to": upper.isoformat(),
                                "rows": written,
                                "sha256": digest.hexdigest(),
                                "archived_at": datetime.now(UTC).isoformat(),
                            }
                        )
                    }
                )
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            rows, checksum, _ = _file_digest(partial)
            if not (rows == written == counted and checksum == digest.hexdigest()):
                raise ArchiveError(
                    f"{name}: the file read back does not match the database ({rows:,} rows "
                    f"on disk, {counted:,} in the table); nothing was dropped"
                )
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        try:
            cursor.execute(f"ALTER TABLE {partitions.TABLE} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
        except Exception:
            path.unlink(missing_ok=True)  # the partition stays: so must no file claim it
            raise
    return Moved(name, path, counted, digest.hexdigest())


# --- restore -----------------------------------------------------------------------------------


def archive_files(target: str, directory: Path) -> list[Path]:
    """`target` is an archive file, or a year whose monthly files are in `directory`."""
    path = Path(target)
    if path.is_file():
        return [path]
    if target.isdigit() and len(target) == 4:
        found = sorted(directory.glob(f"{partitions.TABLE}_y{target}m[0-9][0-9].parquet"))
        if not found:
            raise ArchiveError(f"no archived readings of {target} in {directory}")
        return found
    raise ArchiveError(f"--restore {target}: no such file (give an archive file or a year)")


def _metadata(path: Path) -> dict:
    _, pq = _pa()
    try:
        raw = (pq.read_metadata(path).metadata or {}).get(b"circulus")
        meta = json.loads(raw) if raw else {}
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ArchiveError(f"{path}: not a readings archive ({exc})") from exc
    if meta.get("format") != FORMAT or partitions.bounds_of(meta.get("partition", "")) is None:
        raise ArchiveError(f"{path}: not a readings archive (no {FORMAT} metadata)")
    return meta


def restore(target: str, directory: Path) -> list[Moved]:
    _require_postgres("archive_readings --restore")
    return [_restore_one(path) for path in archive_files(target, directory)]


def _restore_one(path: Path) -> Moved:
    meta = _metadata(path)
    name, expected = meta["partition"], meta["sha256"]
    lower, upper = partitions.bounds_of(name)
    rows, checksum, meters = _file_digest(path)
    if rows != meta["rows"] or checksum != expected:
        raise ArchiveError(
            f"{path}: damaged ({rows:,} rows read, {meta['rows']:,} recorded, or the checksum "
            "differs); nothing was restored"
        )
    registered = MeasurementPoint.objects.filter(pk__in={m for m, _ in meters})
    known = dict(registered.values_list("pk", "code"))
    missing = sorted((m, c) for m, c in meters if known.get(m) != c)
    if missing:
        meter_id, code = missing[0]
        raise ArchiveError(
            f"{path}: meter {code!r} (id {meter_id}) is no longer in the register"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; re-create it before restoring"
        )
    _, pq = _pa()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [partitions.LOCK_KEY])
        if name in partitions.existing(cursor):
            held = _count(cursor, name)
            if held:
                raise ArchiveError(
                    f"{path}: {name} is in the database again with {held:,} readings; "
                    "nothing was restored"
                )
            cursor.execute(f"ALTER TABLE {partitions.TABLE} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")  # an empty month created since the archive
        in_month = 'WHERE "timestamp" >= %s AND "timestamp" < %s'
        stray = _count(cursor, partitions.DEFAULT, in_month, [lower, upper])
        if stray:
            raise ArchiveError(
                f"{path}: {stray:,} readings of that month sit in {partitions.DEFAULT}; "
                "nothing was restored"
            )
        cursor.execute(f"CREATE TABLE {name} (LIKE {partitions.TABLE} INCLUDING ALL)")
        # The file's canonical lines are COPY text rows: (meter, epoch µs, value), turned into
        # timestamps by exact integer arithmetic.
        staged = f"{name}_restore"
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staged} (meter_id bigint, micros bigint, "
            "value numeric(20, 6)) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {staged} FROM STDIN") as copy:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH):
                copy.write(_arrow_lines(batch))
        cursor.execute(
            f'INSERT INTO {name} (meter_id, "timestamp", value) SELECT meter_id, '
            "timestamptz 'epoch' + micros * interval '1 microsecond', value FROM "
            f"{staged} ORDER BY meter_id, micros"
        )
        loaded, loaded_checksum = _database_digest(name)
        if loaded != rows or loaded_checksum != expected:
            raise ArchiveError(f"{path}: the loaded rows do not match the file; nothing restored")
        cursor.execute(
            f"ALTER TABLE {partitions.TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
            [lower, upper],
        )
        # A writer of readings like any other: the rollups of the days it brought back are
        # recomputed from them (they may have gone meanwhile: a time-zone change rebuilds a
        # site's rollups from the readings then in the database).
        rollups.refresh_staged(cursor, f'(SELECT meter_id, "timestamp" AS ts FROM {name}) AS s')
    return Moved(name, path, rows, expected)
