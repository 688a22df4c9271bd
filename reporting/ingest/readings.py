"""Ingesting a readings file or JSON array in one transaction (see the package's docstring)."""

from __future__ import annotations

import contextlib
import csv
import logging
import time
from collections.abc import Callable, Iterable

import psycopg
from django.db import OperationalError, connection, transaction

from circulus import bounds
from reporting import bulk_checks, rollups
from reporting.ingest import writing
from reporting.ingest.checks import check_row
from reporting.ingest.csv_text import (
    Block,
    Unreadable,
    csv_blocks,
    csv_rows,
    read_ahead,
    read_header,
    readable,
)
from reporting.ingest.reports import IngestReport, Rejected
from reporting.ingest.staging import STAGING, Stager, create_staging
from reporting.models import IngestJob, MeasurementPoint, Register

log = logging.getLogger(__name__)
READING_COLUMNS = ("meter", "timestamp", "value")


class Collided(Exception):
    """PostgreSQL ended the file's transaction to break a deadlock with another writer (two
    files writing shared readings in opposite orders, or a month created mid-file; see
    docs/operations.md): nothing of the file was stored, and sending it again is safe."""

    public = True  # its text is for the requester (circulus.jobs.public_error)


COLLIDED = (
    "another file was writing the same readings or month at the same time, and the database "
    "stopped this one to let the other finish: nothing of this file was stored; send it again"
)
DEADLOCK_TRIES = 3  # a file that can be read again is sent again this many times in all


Progress = Callable[[int], None]


def ingest_csv(
    lines: Iterable[str],
    *,
    replace: bool = False,
    allowed_site_ids: set[int] | None = None,
    job: IngestJob | None = None,
    user=None,
    progress: Progress | None = None,
    bulk: bool = True,
) -> IngestReport:
    """Ingest a readings CSV (`meter,timestamp,value`, header first) given as text lines.

    `bulk=False` checks every row in Python (the reference the bulk checks are tested against).
    """
    lines = iter(lines)
    rows = csv_rows(lines)
    report = IngestReport()
    header = read_header(rows, READING_COLUMNS, report)
    if header is None:
        return report
    positions = tuple(header.index(c) for c in READING_COLUMNS)
    return ingest_rows(
        csv_blocks(lines, start=2, bulk=bulk),
        first_line=2,
        positions=positions,
        width=len(header),
        replace=replace,
        allowed_site_ids=allowed_site_ids,
        job=job,
        user=user,
        progress=progress,
    )


def ingest_records(records: list, **kwargs) -> IngestReport:
    """Ingest a JSON array of `{"meter", "timestamp", "value"}` objects (item 1 = line 1)."""

    def rows():
        for index, item in enumerate(records, start=1):
            if not isinstance(item, dict):
                yield index, []
                continue
            yield index, ["" if item.get(k) is None else str(item.get(k)) for k in READING_COLUMNS]

    return ingest_rows(rows(), first_line=1, positions=(0, 1, 2), width=3, **kwargs)


def ingest_rows(
    rows: Iterable[tuple[int, list[str]] | Block],
    *,
    positions: tuple[int, int, int],
    width: int,
    first_line: int = 2,
    replace: bool = False,
    allowed_site_ids: set[int] | None = None,
    job: IngestJob | None = None,
    user=None,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate and stage `rows` (or blocks of CSV lines), then write them set-based, all in one
    transaction."""
    report = IngestReport()
    values = list(
        MeasurementPoint.objects.values(
            "id", "code", "site_id", "register", "valid_from", "valid_to"
        )
    )
    meters = {m["code"]: m for m in values}
    im, it, iv = positions
    allowed = allowed_site_ids
    postgres = connection.vendor == "postgresql"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            create_staging(cursor, postgres)
            days = rollups.StagedDays(cursor) if postgres else None
            stager = Stager(cursor, postgres, report, progress, days)
            errors = report.errors
            arrays = bulk_checks.Meters.build(
                values, interval=Register.INTERVAL, allowed_site_ids=allowed_site_ids
            )
            limit = csv.field_size_limit()
            window = bulk_checks.window(bounds.earliest(), bounds.latest())

            def check(item):
                if not isinstance(item, Block):
                    return None
                return bulk_checks.check(
                    item.data,
                    lines=len(item.lines),
                    first_line=item.first_line,
                    width=width,
                    positions=positions,
                    meters=arrays,
                    field_limit=limit,
                    window=window,
                )

            # Closed on any way out: the read-ahead thread ends with the loop.
            items = readable(read_ahead(rows, check), errors)
            with contextlib.closing(items):
                for item, checked in items:
                    if isinstance(item, Block):
                        if checked is not None:  # every row of the block passed
                            report.rows += len(checked)
                            if not errors.total:
                                stager.add_checked(checked)
                            continue
                        pairs = csv_rows(item.lines, start=item.first_line)
                    else:
                        pairs = (item,)
                    try:
                        for line, row in pairs:
                            report.rows += 1
                            # `row`: the data row, counted alike in CSV (header excluded) and JSON.
                            number = line - first_line + 1
                            if len(row) != width:
                                errors.add(
                                    {
                                        "line": line,
                                        "row": number,
                                        "field": "row",
                                        "reason": f"expected {width} fields, got {len(row)}",
                                    }
                                )
                                continue
                            staged = check_row(line, row[im], row[it], row[iv], meters, allowed)
                            if isinstance(staged, list):
                                for problem in staged:
                                    errors.add({"line": line, "row": number, **problem})
                            elif not errors.total:
                                stager.add(staged)
                    except Unreadable as exc:  # an oversized field: what follows is not read
                        errors.add(exc.as_error())
                        break
            if errors.total:
                raise Rejected
            stager.flush()
            stager.finish()
            stager.ensure_partitions()
            if days:
                days.note_stored()
            repeats = writing.apply(
                cursor,
                report,
                replace=replace,
                job=job,
                user=user,
                first_line=first_line,
                loaded=stager.loaded,
            )
            # The daily rollups of every (meter, day) the file touched, in the same transaction.
            if days:
                days.write(repeats=repeats > 0)
            else:
                rollups.refresh_staged(cursor, STAGING)
            cursor.execute(f"DROP TABLE {STAGING}")
    except Rejected:
        report.inserted = report.unchanged = report.replaced = 0
    except OperationalError as exc:
        if isinstance(exc.__cause__, psycopg.errors.DeadlockDetected):
            raise Collided(COLLIDED) from exc
        raise
    if progress:
        progress(report.rows)
    return report


def ingest_file(open_text: Callable[[], Iterable[str]], **kwargs) -> IngestReport:
    """`ingest_csv` of a file that can be read again (`open_text()` opens its text), sent again
    if the database stopped it to break a deadlock (`Collided`), up to DEADLOCK_TRIES in all."""
    for attempt in range(1, DEADLOCK_TRIES + 1):
        try:
            with open_text() as text:
                return ingest_csv(text, **kwargs)
        except Collided:
            if attempt == DEADLOCK_TRIES:
                raise
            log.warning("ingest stopped to break a deadlock (try %d); sending it again", attempt)
            time.sleep(0.2 * attempt)  # the other writer commits meanwhile
    raise AssertionError("unreachable")
