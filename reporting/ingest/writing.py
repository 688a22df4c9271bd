"""Moving the staged rows into the readings: new ones inserted, unchanged ones counted,
conflicting ones reported or (when asked) replaced with a revision kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from reporting.ingest.checks import QUANTUM
from reporting.ingest.reports import MAX_SHOWN, IngestReport, Listing, Rejected
from reporting.ingest.staging import STAGING
from reporting.models import MeasurementPoint


def _within_file_duplicates(cursor, report: IngestReport, first_line: int) -> int:
    """Rows repeating a meter and time of the same file: the count of repeats.

    A repeat with the same value is harmless; with another value it is a bad line.
    """
    cursor.execute(
        f"SELECT meter_id, MIN(line), MAX(line), COUNT(*), MIN(value) <> MAX(value) "
        f"FROM {STAGING} GROUP BY meter_id, ts HAVING COUNT(*) > 1 ORDER BY 2"
    )
    repeats, codes = 0, None
    for meter_id, first, last, count, differ in cursor.fetchall():
        repeats += count - 1
        if differ:
            codes = codes or dict(MeasurementPoint.objects.values_list("id", "code"))
            reason = f"meter {codes[meter_id]!r} has another value at this time on line {first}"
            report.errors.add(
                {"line": last, "row": last - first_line + 1, "field": "value", "reason": reason}
            )
    return repeats


def _insert_new(cursor, rows: int, loaded: int) -> int:
    """Insert the staged readings that are not stored yet; their count, with the `loaded`
    readings of the file already written by the stager.

    Usually every reading is new: a plain INSERT, under a savepoint, then costs far less than an
    `ON CONFLICT DO NOTHING` one, which inserts each row speculatively. The first repeat (a stored
    reading, or a meter and time twice in the file) undoes it and the upsert runs instead.
    """
    if loaded == rows:
        return loaded  # each row went straight into the readings, none met a stored one
    insert = (
        "INSERT INTO reporting_reading (meter_id, timestamp, value) SELECT meter_id, ts, value "
        f"FROM {STAGING}"
    )
    if not loaded:
        try:
            with transaction.atomic():
                cursor.execute(insert)
            return cursor.rowcount
        except IntegrityError as exc:
            unique = getattr(exc.__cause__, "sqlstate", None) == "23505"
            if not (unique or "UNIQUE constraint failed" in str(exc)):
                raise
    # The loaded rows are staged too: the upsert leaves them (and every stored reading) alone.
    cursor.execute(f"{insert} WHERE true ON CONFLICT (meter_id, timestamp) DO NOTHING")
    return loaded + cursor.rowcount


def apply(
    cursor, report: IngestReport, *, replace: bool, job, user, first_line: int, loaded: int = 0
) -> int:
    """Insert new readings; count unchanged ones; report (or replace) conflicting ones. Returns
    the number of rows that repeat a meter and time of the file.

    The common case (every row new) costs one INSERT, or nothing when the stager loaded every
    row; the checks run only when rows were left.
    """
    report.inserted = _insert_new(cursor, report.rows, loaded)
    if report.inserted == report.rows:
        return 0  # every reading was new: no repeat, nothing unchanged, no conflict
    repeats = _within_file_duplicates(cursor, report, first_line)
    distinct = report.rows - repeats
    if report.errors.total:
        raise Rejected
    if report.inserted == distinct:
        return repeats
    # A conflict is a staged value that differs from the stored one (a row this file has just
    # inserted equals itself, so it never shows up here).
    joined = (
        f"FROM {STAGING} s JOIN reporting_reading r "
        "ON r.meter_id = s.meter_id AND r.timestamp = s.ts"
    )
    differs = "WHERE r.value <> s.value"
    cursor.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT s.meter_id, s.ts {joined} {differs}) c")
    conflicted = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT s.line, m.code, s.ts, r.value, s.value {joined} "
        f"JOIN reporting_measurementpoint m ON m.id = s.meter_id {differs} "
        f"ORDER BY s.line LIMIT {MAX_SHOWN}"
    )
    for line, code, ts, stored, new in cursor.fetchall():
        report.conflicts.shown.append(
            {
                "line": line,
                "meter": code,
                "timestamp": _iso(ts),
                "stored": str(Decimal(str(stored)).quantize(QUANTUM)),
                "new": str(Decimal(str(new)).quantize(QUANTUM)),
            }
        )
    report.conflicts.total = conflicted
    report.unchanged = distinct - report.inserted - conflicted
    if replace and conflicted:
        job_id = job.pk.hex if job and connection.vendor == "sqlite" else (job.pk if job else None)
        cursor.execute(
            "INSERT INTO reporting_readingrevision "
            "(meter_id, timestamp, old_value, new_value, replaced_at, job_id, replaced_by_id) "
            "SELECT d.meter_id, d.ts, d.old, d.new, %s, %s, %s FROM (SELECT DISTINCT "
            f"s.meter_id, s.ts, r.value AS old, s.value AS new {joined} {differs}) d",
            [_db_now(), job_id, getattr(user, "pk", None)],
        )
        cursor.execute(
            f"UPDATE reporting_reading SET value = s.value FROM {STAGING} s "
            "WHERE reporting_reading.meter_id = s.meter_id "
            "AND reporting_reading.timestamp = s.ts AND reporting_reading.value <> s.value"
        )
        report.replaced = cursor.rowcount
        report.conflicts = Listing()
    return repeats


def _db_now():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _iso(ts) -> str:
    if isinstance(ts, str):  # SQLite hands back naive UTC, as datetime or text
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
