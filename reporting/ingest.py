"""Meter register import and readings ingest.

Readings files (`meter,timestamp,value`) are streamed in blocks of `CHUNK_ROWS` lines. A block is
checked in bulk first (`reporting.bulk_checks`: pyarrow's CSV reader, patterns and array
comparisons); a block that the bulk check does not accept whole (a bad row, or a form it does not
cover) is checked row by row in Python, which names every bad line exactly as before. Checked rows
go to a temporary staging table (binary COPY on PostgreSQL, executemany on SQLite), then one
set-based statement moves them into `reporting_reading`; on PostgreSQL a checked block goes
straight into `reporting_reading` instead while no row has met a stored reading or a repeat
(`_Stager`). The daily rollups of the file's days are written last (`rollups.StagedDays`).
Everything happens in one transaction:

- atomic: one bad row (unknown meter, unparsable or offset-less timestamp, non-numeric value,
  negative interval value, …) rejects the whole file and nothing is written; the report lists
  every bad line (the first `MAX_SHOWN`) and the total;
- idempotent: a reading identical to a stored one is `unchanged`;
- a reading that differs from a stored one is a conflict: reported and left alone, unless the
  caller asks to `replace` it, which keeps the old value as a `ReadingRevision`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import chain, islice

import numpy as np
import psycopg
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from circulus import bounds
from registry.models import Site
from reporting import bulk_checks, partitions, rollups
from reporting.models import IngestJob, JobStatus, MeasurementPoint, MeterSetting, Register

MAX_SHOWN = 100  # bad lines / conflicts listed in a report; the total is always given
log = logging.getLogger(__name__)
CHUNK_ROWS = 50_000
READING_COLUMNS = ("meter", "timestamp", "value")
METER_COLUMNS = ("site", "meter", "quantity", "unit", "register", "multiplier")
METER_OPTIONAL = ("device_id", "location", "interval_minutes", "valid_from", "valid_to")
# A row may state that its unit and multiplier hold from an instant on (CT ratio changed, meter
# replaced): a new setting interval; readings up to that instant keep the earlier settings.
SETTING_COLUMNS = ("settings_from", "settings_reason")
QUANTUM = Decimal("0.000001")  # reporting_reading.value has 6 decimal places
LIMIT = Decimal(10) ** 14  # and 14 integer digits
STAGING = "reporting_ingest_staging"
MAX_OFFSET = timedelta(hours=14)  # the widest real UTC offset (Kiribati, UTC+14)
_JOIN_METER = "JOIN reporting_measurementpoint m ON m.id = s.meter_id"


@dataclass
class Listing:
    """A capped list of problems with the true total."""

    total: int = 0
    shown: list[dict] = field(default_factory=list)
    # A line with two problems is one bad line: totals count lines, the listing problems.
    lines: set = field(default_factory=set)

    def add(self, item: dict) -> None:
        self.total += 1
        self.lines.add(item.get("line"))
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(item)

    @property
    def bad_lines(self) -> int:
        return len(self.lines)

    def as_dict(self) -> dict:
        return {"total": self.total, "bad_lines": self.bad_lines, "shown": self.shown}


@dataclass
class IngestReport:
    rows: int = 0
    inserted: int = 0
    unchanged: int = 0
    replaced: int = 0
    conflicts: Listing = field(default_factory=Listing)
    errors: Listing = field(default_factory=Listing)

    @property
    def accepted(self) -> bool:
        return self.errors.total == 0

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "rows": self.rows,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "replaced": self.replaced,
            "conflicts": self.conflicts.as_dict(),
            "errors": self.errors.as_dict(),
        }

    def summary(self) -> str:
        if not self.accepted:
            return (
                f"rejected: {self.errors.bad_lines} bad row(s) ({self.errors.total} problem(s)) "
                f"in {self.rows} row(s), nothing written"
            )
        return (
            f"{self.rows} rows: {self.inserted} inserted, {self.unchanged} unchanged, "
            f"{self.conflicts.total} conflict(s), {self.replaced} replaced"
        )


class _Rejected(Exception):
    """Raised inside the transaction so that a rejected file writes nothing."""


class Collided(Exception):
    """PostgreSQL ended the file's transaction to break a deadlock with another writer (two
    files writing shared readings in opposite orders, or a month created mid-file; see
    docs/operations.md): nothing of the file was stored, and sending it again is safe."""

    public = True  # its text is for the requester (reporting.jobs.public_error)


COLLIDED = (
    "another file was writing the same readings or month at the same time, and the database "
    "stopped this one to let the other finish: nothing of this file was stored; send it again"
)
DEADLOCK_TRIES = 3  # a file that can be read again is sent again this many times in all


Progress = Callable[[int], None]


# --- readings ----------------------------------------------------------------------------------


def _read_header(rows, required: tuple[str, ...], report) -> list[str] | None:
    """The lower-cased header row, or None after recording why the file cannot be read."""
    try:
        _, header = next(rows)
    except StopIteration:
        report.errors.add({"line": 1, "field": "header", "reason": "empty file"})
        return None
    except Unreadable as exc:
        report.errors.add(exc.as_error())
        return None
    header = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        reason = f"missing column(s) {', '.join(missing)}; expected {','.join(required)}"
        report.errors.add({"line": 1, "field": "header", "reason": reason})
        return None
    return header


class Unreadable(Exception):
    """A line that is not CSV text (bad encoding, NUL, stray CR, oversized field)."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason

    def as_error(self) -> dict:
        return {"line": self.line, "field": "file", "reason": self.reason}


def csv_rows(lines: Iterable[str], *, start: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) from CSV text lines; the header is line 1, `start` the first given.

    Raises Unreadable, naming the line, where the text cannot be read as UTF-8 CSV.
    """
    reader = csv.reader(lines)
    line = start - 1
    while True:
        line += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise Unreadable(line, "not UTF-8 text (save the file as UTF-8)") from None
        except csv.Error as exc:
            raise Unreadable(line, f"not readable as CSV: {exc}") from None
        if any("\x00" in value for value in row):
            raise Unreadable(line, "contains a NUL character (is the file UTF-16? use UTF-8)")
        yield line, row


@dataclass
class Block:
    """Up to `CHUNK_ROWS` CSV lines in which each line is one record (`_plain`)."""

    lines: list[str]
    data: bytes  # the lines as UTF-8
    first_line: int


def csv_blocks(lines: Iterator[str], *, start: int, bulk: bool = True):
    """The lines after the header as `Block`s while the text is plain, then as (line, fields)
    from `csv_rows` for the rest of the file (a quote may open a field spanning lines).

    The line numbers are those `csv_rows` gives: in plain text a record is a line.
    """
    line = start
    while bulk:
        block: list[str] = []
        try:
            block.extend(islice(lines, CHUNK_ROWS))  # keeps the lines read before an error
        except UnicodeDecodeError as exc:
            failed = exc
        else:
            failed = None
        data = "".join(block).encode()
        if failed is None and len(block) == CHUNK_ROWS and _plain(block, data):
            yield Block(block, data, line)
            line += len(block)
            continue
        if block and _plain(block, data):
            yield Block(block, data, line)
            line += len(block)
            block = []
        rest = _raise(failed) if failed else lines
        yield from csv_rows(chain(block, rest), start=line)
        return
    yield from csv_rows(lines, start=line)


def _plain(block: list[str], data: bytes) -> bool:
    """Whether each given line is one CSV record: no quote (a quoted field may hold a comma or a
    line end), no NUL, no carriage return but in CRLF, one line end per line (the last may lack
    it)."""
    ends = data.count(b"\n")
    return (
        b'"' not in data
        and b"\x00" not in data
        and data.count(b"\r") == data.count(b"\r\n")
        and (ends == len(block) or (ends == len(block) - 1 and not block[-1].endswith("\n")))
    )


def _raise(exc: BaseException):
    raise exc
    yield  # a generator: raises when first read


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
    header = _read_header(rows, READING_COLUMNS, report)
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
            _create_staging(cursor, postgres)
            days = rollups.StagedDays(cursor) if postgres else None
            stager = _Stager(cursor, postgres, report, progress, days)
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
            items = _readable(read_ahead(rows, check), errors)
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
                            staged = _check_row(line, row[im], row[it], row[iv], meters, allowed)
                            if isinstance(staged, list):
                                for problem in staged:
                                    errors.add({"line": line, "row": number, **problem})
                            elif not errors.total:
                                stager.add(staged)
                    except Unreadable as exc:  # an oversized field: what follows is not read
                        errors.add(exc.as_error())
                        break
            if errors.total:
                raise _Rejected
            stager.flush()
            stager.finish()
            stager.ensure_partitions()
            if days:
                days.note_stored()
            repeats = _apply(
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
    except _Rejected:
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


def read_ahead(items: Iterable, work: Callable) -> Iterator[tuple]:
    """(item, work(item)) for each item, the next one read and worked on in a thread while the
    caller handles this one: a block is parsed and checked while the database loads the one
    before it. `work` must not touch the database (the thread has its own connection). An
    exception met in the thread is raised here, in order, where the item would have been."""
    ahead: queue.Queue = queue.Queue(maxsize=1)  # one block waiting: memory stays flat
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((item, work(item), None))
        except BaseException as exc:  # handed to the caller, which raises it
            ahead.put((None, None, exc))
        else:
            ahead.put(_DONE)

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while (got := ahead.get()) is not _DONE:
            item, result, exc = got
            if exc is not None:
                raise exc
            yield item, result
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to put
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        thread.join()


_DONE = (None, None, None)


def _readable(rows, errors: Listing):
    """`rows` up to the first unreadable line, which is recorded as an error (the file is then
    rejected: what follows a decoding error cannot be trusted)."""
    try:
        yield from rows
    except Unreadable as exc:
        errors.add(exc.as_error())


def _check_row(line, code, ts_text, value_text, meters, allowed_site_ids):
    """The staged tuple (line, meter_id, timestamp, value), or the problems."""
    problems = []
    code, ts_text, value_text = code.strip(), ts_text.strip(), value_text.strip()
    meter = meters.get(code)
    if meter is None:
        problems.append({"line": line, "field": "meter", "reason": f"unknown meter {code!r}"})
    elif allowed_site_ids is not None and meter["site_id"] not in allowed_site_ids:
        reason = f"meter {code!r} is at a site you do not operate"
        problems.append({"line": line, "field": "meter", "reason": reason})
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        ts = None
        reason = f"{ts_text!r} is not an ISO 8601 timestamp"
        problems.append({"line": line, "field": "timestamp", "reason": reason})
    else:
        if ts.tzinfo is None or ts.utcoffset() is None:
            reason = f"{ts_text!r} has no UTC offset (e.g. +01:00 or Z)"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
            ts = None
        elif abs(ts.utcoffset()) > MAX_OFFSET:
            reason = f"{ts_text!r} has a UTC offset beyond ±14:00"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
            ts = None
        elif outside := bounds.instant_refusal(ts):  # before anything converts it
            problems.append({"line": line, "field": "timestamp", "reason": f"{ts_text} {outside}"})
            ts = None
        elif meter is not None and (
            (meter["valid_from"] and ts < meter["valid_from"])
            or (meter["valid_to"] and ts > meter["valid_to"])
        ):
            reason = f"{ts_text} is outside the validity of meter {code!r}"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
    try:
        value = Decimal(value_text)
        if not value.is_finite() or "_" in value_text:
            raise InvalidOperation
    except InvalidOperation:
        value = None
        reason = f"{value_text!r} is not a number"
        problems.append({"line": line, "field": "value", "reason": reason})
    else:
        if abs(value) >= LIMIT:
            problems.append({"line": line, "field": "value", "reason": "too large (≥ 1e14)"})
        elif value < 0 and meter is not None and meter["register"] == Register.INTERVAL:
            reason = f"negative consumption {value_text} on interval meter {code!r}"
            problems.append({"line": line, "field": "value", "reason": reason})
    if problems:
        return problems
    quantized = value.quantize(QUANTUM)
    if abs(quantized) >= LIMIT:  # 99999999999999.9999999 rounds up to 1e14
        return [{"line": line, "field": "value", "reason": "too large (≥ 1e14)"}]
    return (line, meter["id"], ts, quantized)


def _create_staging(cursor, postgres: bool) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
    if postgres:
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING} (line bigint, meter_id bigint, ts timestamptz, "
            "value numeric(20, 6)) ON COMMIT DROP"
        )
    else:
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING} (line integer, meter_id integer, ts text, value decimal)"
        )


class _Stager:
    """Sends checked rows to the staging table in chunks: binary COPY on PostgreSQL. Hands them
    to the rollups (`days`) and notes their UTC months (the partitions they need) on the way.

    On PostgreSQL a checked block goes straight into the readings, by binary COPY under a
    savepoint, while no block has met a stored reading or a repeat: a new reading then costs
    one COPY instead of a COPY to staging and an INSERT from it. Its staging rows wait in a
    temporary file, needed only if a later row is not loaded so. The first block that meets a
    stored reading or a repeat is undone, the waiting rows are staged, and the staged rows
    decide from then on (`_apply`), as for a block checked row by row. `loaded` counts the
    readings written straight away.
    """

    def __init__(self, cursor, postgres: bool, report: IngestReport, progress, days=None):
        self.cursor, self.postgres, self.report, self.progress = cursor, postgres, report, progress
        self.days: rollups.StagedDays | None = days
        self.rows: list[tuple] = []
        self.months: set[datetime] = set()
        self.ensured: set[datetime] = set()
        self.loading = postgres
        self.loaded = 0
        # Staging rows not sent yet; `finish` closes it (an unnamed file: nothing is left behind
        # on disk when an error ends the ingest first).
        self.waiting = tempfile.TemporaryFile() if postgres else None  # noqa: SIM115

    def add(self, staged: tuple) -> None:
        self.rows.append(staged)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def add_checked(self, checked: bulk_checks.Checked) -> None:
        self.flush()
        if self.postgres:
            self._note(checked.meter_id, checked.ts_us, checked.micros)
            if self.loading:
                self._load(checked)
            if self.loading:  # its staging columns wait, as they are (encoded if ever needed)
                np.save(self.waiting, np.stack(_staged_columns(checked)))
            else:
                self.finish()
                self._stage([checked])
        else:
            self.cursor.executemany(
                f"INSERT INTO {STAGING} VALUES (%s, %s, %s, %s)", bulk_checks.sqlite_rows(checked)
            )
        self._progress()

    def _load(self, checked: bulk_checks.Checked) -> None:
        self.ensure_partitions()
        self.days.note_stored()  # before the block's readings are in the table
        try:
            with (
                transaction.atomic(),
                self.cursor.cursor.copy(
                    f"COPY {partitions.TABLE} (meter_id, timestamp, value) "
                    "FROM STDIN (FORMAT binary)"
                ) as copy,
            ):
                copy.write(bulk_checks.copy_binary(checked, line=False))
        except psycopg.errors.UniqueViolation:
            self.loading = False
        else:
            self.loaded += len(checked)

    def finish(self) -> None:
        """Stage the waiting rows of loaded blocks unless every row so far was loaded (then no
        statement reads the staging table)."""
        if not self.waiting:
            return
        if self.loaded != self.report.rows and self.waiting.tell():
            end = self.waiting.tell()
            self.waiting.seek(0)
            self._stage(_waiting_blocks(self.waiting, end))
        self.waiting.close()
        self.waiting = None

    def _stage(self, blocks: Iterable[bulk_checks.Checked]) -> None:
        with self.cursor.cursor.copy(
            f"COPY {STAGING} (line, meter_id, ts, value) FROM STDIN (FORMAT binary)"
        ) as copy:
            copy.write(bulk_checks.COPY_HEADER)
            for checked in blocks:
                copy.write(bulk_checks.copy_binary(checked)[len(bulk_checks.COPY_HEADER) : -2])
            copy.write(bulk_checks.COPY_TRAILER)

    def ensure_partitions(self) -> None:
        """The months of the rows so far exist (only those: a typo'd year makes one month).

        Ingests write their readings side by side; only their rollups take turns, per meter
        (`rollups.StagedDays.write`). Lock order, the same for every writer of readings so that
        none can deadlock on it: the partitions' lock (month creation, held to the commit), then
        the readings' keys (unique waits on another file's uncommitted readings), then the
        meters' locks, in ascending id, all in one statement."""
        if self.months - self.ensured:
            partitions.ensure_months(self.months - self.ensured)
            self.ensured |= self.months

    def flush(self) -> None:
        if not self.rows:
            return
        if self.postgres:
            with self.cursor.cursor.copy(
                f"COPY {STAGING} (line, meter_id, ts, value) FROM STDIN (FORMAT binary)"
            ) as copy:
                copy.set_types(["int8", "int8", "timestamptz", "numeric"])
                for row in self.rows:
                    copy.write_row(row)
            micros = [int(value.scaleb(6)) for *_, value in self.rows]
            fits = max(map(abs, micros)) < rollups.EXACT_LIMIT
            self._note(
                np.array([meter_id for _, meter_id, _, _ in self.rows], np.int64),
                np.array([_micros_since_epoch(ts) for _, _, ts, _ in self.rows], np.int64),
                np.array(micros if fits else [0] * len(micros), np.int64),
                exact=fits,
            )
        else:
            # Django stores SQLite datetimes as naive UTC text and decimals through str().
            self.cursor.executemany(
                f"INSERT INTO {STAGING} VALUES (%s, %s, %s, %s)",
                [
                    (ln, mid, ts.astimezone(UTC).replace(tzinfo=None).isoformat(" "), str(v))
                    for ln, mid, ts, v in self.rows
                ],
            )
        self.rows = []
        self._progress()

    def _note(self, meter_id, ts_us, micros, exact=True) -> None:
        if self.days:
            self.days.add(meter_id, ts_us, micros, exact=exact)
        for month in np.unique(ts_us.astype("datetime64[us]").astype("datetime64[M]")):
            self.months.add(datetime.fromisoformat(f"{month}-01T00:00+00:00"))

    def _progress(self) -> None:
        if self.progress:
            self.progress(self.report.rows)


def _micros_since_epoch(ts: datetime) -> int:
    return (ts - bulk_checks.EPOCH) // bulk_checks.MICROSECOND


def _staged_columns(checked: bulk_checks.Checked) -> tuple:
    return checked.line, checked.meter_id, checked.ts_us, checked.micros


def _waiting_blocks(file, end: int) -> Iterator[bulk_checks.Checked]:
    """The blocks `np.save`d to `file` (read from its start up to `end`), one at a time."""
    while file.tell() < end:
        line, meter_id, ts_us, micros = np.load(file)
        yield bulk_checks.Checked(line, meter_id, ts_us, micros, values=None)


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


def _apply(
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
        raise _Rejected
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


def run_job(job: IngestJob, *, progress: Progress | None = None) -> IngestReport:
    """Ingest a stored upload (the caller records the outcome on the job)."""
    allowed = _allowed_site_ids(job.requested_by)
    return ingest_file(
        lambda: io.TextIOWrapper(job.file.storage.open(job.file.name, "rb"), encoding="utf-8-sig"),
        replace=job.replace,
        allowed_site_ids=allowed,
        job=job,
        user=job.requested_by,
        progress=progress,
    )


def report_fields(report: IngestReport) -> dict:
    """The IngestJob fields that record a report."""
    return {
        "rows": report.rows,
        "inserted": report.inserted,
        "unchanged": report.unchanged,
        "replaced": report.replaced,
        "conflicts": report.conflicts.as_dict(),
        "errors": report.errors.as_dict(),
        "message": report.summary(),
    }


def record_report(job: IngestJob, report: IngestReport) -> None:
    job.status = JobStatus.SUCCEEDED if report.accepted else JobStatus.REJECTED
    for name, value in report_fields(report).items():
        setattr(job, name, value)
    job.finished_at = timezone.now()
    job.save()


def fail_job(job: IngestJob, exc: BaseException) -> None:
    """An ingest that crashed inside a request ends failed (never left pending)."""
    from reporting.jobs import public_error

    IngestJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, message=public_error(exc), finished_at=timezone.now()
    )


def _allowed_site_ids(user) -> set[int] | None:
    """None = every site (superuser or no user: a command run by an administrator)."""
    from registry.permissions import operated_site_ids

    if user is None or user.is_superuser:
        return None
    return operated_site_ids(user)


# --- meters.csv --------------------------------------------------------------------------------


@dataclass
class MeterImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: Listing = field(default_factory=Listing)

    intervals: int = 0

    @property
    def accepted(self) -> bool:
        return self.errors.total == 0

    def summary(self) -> str:
        if not self.accepted:
            return (
                f"rejected: {self.errors.bad_lines} bad row(s) ({self.errors.total} problem(s)) "
                f"in {self.rows} row(s), nothing written"
            )
        return (
            f"{self.rows} meters: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.intervals} setting interval(s) added"
        )


def import_meters(lines: Iterable[str], *, allowed_site_ids: set[int] | None = None):
    """Create or update measurement points from `meters.csv`, atomically.

    Columns: site,meter,quantity,unit,register,multiplier, optionally device_id, location,
    interval_minutes, valid_from, valid_to. A meter code is global (readings name only it).
    """
    report = MeterImportReport()
    rows = csv_rows(lines)
    header = _read_header(rows, METER_COLUMNS, report)
    if header is None:
        return report
    sites = {s.code: s for s in Site.objects.all()}
    existing = {m.code: m for m in MeasurementPoint.objects.all()}
    seen: dict[str, int] = {}
    try:
        with transaction.atomic():
            for line, row in _readable(rows, report.errors):
                report.rows += 1
                if len(row) != len(header):
                    reason = f"expected {len(header)} fields, got {len(row)}"
                    report.errors.add({"line": line, "field": "row", "reason": reason})
                    continue
                data = {k: v.strip() for k, v in zip(header, row, strict=True)}
                _import_meter(line, data, sites, existing, seen, allowed_site_ids, report)
            if report.errors.total:
                raise _Rejected
    except _Rejected:
        report.created = report.updated = report.unchanged = 0
    return report


def _import_meter(line, data, sites, existing, seen, allowed_site_ids, report) -> None:
    def bad(field_name, reason):
        report.errors.add({"line": line, "field": field_name, "reason": reason})

    code = data["meter"]
    if code in seen:
        return bad("meter", f"meter {code!r} already on line {seen[code]}")
    seen[code] = line
    site = sites.get(data["site"])
    if site is None:
        return bad("site", f"unknown site {data['site']!r}")
    if allowed_site_ids is not None and site.pk not in allowed_site_ids:
        return bad("site", f"you do not operate site {site.code}")
    meter = existing.get(code)
    if meter is not None and meter.site_id != site.pk:
        return bad("site", f"meter {code!r} belongs to another site")
    if data.get("settings_from"):
        return _import_setting(line, data, meter, bad, report)
    fields = {k: data[k] for k in ("quantity", "unit", "register")}
    fields["multiplier"] = data["multiplier"] or "1"
    for name in METER_OPTIONAL:
        if data.get(name):
            fields[name] = data[name]
    target = meter or MeasurementPoint(site=site, code=code)
    before = {name: getattr(target, name) for name in fields} if meter else None
    try:
        for name, value in fields.items():
            if name in ("valid_from", "valid_to"):
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValidationError({name: "needs a UTC offset"})
            setattr(target, name, value)
        target.full_clean()
    except (ValidationError, ValueError) as exc:
        messages = getattr(exc, "message_dict", None) or {"row": [str(exc)]}
        for name, reasons in messages.items():
            bad(name, "; ".join(reasons))
        return
    if meter is None:
        target.save()
        report.created += 1
    elif before != {name: getattr(target, name) for name in fields}:
        target.save()
        report.updated += 1
    else:
        report.unchanged += 1


def _import_setting(line, data, meter, bad, report) -> None:
    """A row with `settings_from`: the meter keeps its history, a setting interval is added."""
    if meter is None:
        return bad("settings_from", "a new meter has no earlier settings: leave settings_from out")
    for name in ("quantity", "register"):
        if data[name] != getattr(meter, name):
            return bad(name, f"{name} cannot change over a meter's life: give it a new code")
    try:
        valid_from = datetime.fromisoformat(data["settings_from"])
    except ValueError:
        return bad("settings_from", f"{data['settings_from']!r} is not an ISO 8601 instant")
    if valid_from.tzinfo is None:
        return bad("settings_from", "needs a UTC offset")
    setting = MeterSetting.objects.filter(meter=meter, valid_from=valid_from).first()
    wanted = {"unit": data["unit"], "multiplier": data["multiplier"] or "1"}
    if setting is not None:
        same = setting.unit == wanted["unit"] and setting.multiplier == Decimal(
            wanted["multiplier"]
        )
        if same:
            report.unchanged += 1
            return None
        return bad("settings_from", "an interval from this instant exists with other settings")
    setting = MeterSetting(
        meter=meter,
        valid_from=valid_from,
        reason=data.get("settings_reason", "") or "",
        **wanted,
    )
    try:
        setting.full_clean()
    except ValidationError as exc:
        column = {"reason": "settings_reason", "valid_from": "settings_from"}
        for name, reasons in exc.message_dict.items():
            bad(column.get(name, name), "; ".join(reasons))
        return None
    setting.save()
    report.intervals += 1
    return None
