"""The staging table that checked rows go to before one set-based statement stores them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import numpy as np
import psycopg
from django.db import transaction

from reporting import bulk_checks, partitions, rollups
from reporting.ingest import csv_text
from reporting.ingest.reports import IngestReport

STAGING = "reporting_ingest_staging"


def create_staging(cursor, postgres: bool) -> None:
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


class Stager:
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
        if len(self.rows) >= csv_text.CHUNK_ROWS:
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
