"""Meter register import and readings ingest.

Readings files (`meter,timestamp,value`) are streamed in blocks of `CHUNK_ROWS` lines
(`csv_text`). A block is checked in bulk first (`reporting.bulk_checks`: pyarrow's CSV reader,
patterns and array comparisons); a block that the bulk check does not accept whole (a bad row, or
a form it does not cover) is checked row by row in Python (`checks`), which names every bad line
exactly as before. Checked rows go to a temporary staging table (`staging`: binary COPY on
PostgreSQL, executemany on SQLite), then one set-based statement moves them into
`reporting_reading` (`writing`); on PostgreSQL a checked block goes straight into
`reporting_reading` instead while no row has met a stored reading or a repeat (`staging.Stager`).
The daily rollups of the file's days are written last (`rollups.StagedDays`). Everything happens
in one transaction (`readings`):

- atomic: one bad row (unknown meter, unparsable or offset-less timestamp, non-numeric value,
  negative interval value, …) rejects the whole file and nothing is written; the report lists
  every bad line (the first `MAX_SHOWN`) and the total;
- idempotent: a reading identical to a stored one is `unchanged`;
- a reading that differs from a stored one is a conflict: reported and left alone, unless the
  caller asks to `replace` it, which keeps the old value as a `ReadingRevision`.

Every upload door (API, admin) goes through `submit_readings` (`submission`), which creates the
job, ingests at once or queues, and fails the job on error. `meters` imports `meters.csv`.
"""

from reporting.ingest.csv_text import CHUNK_ROWS, Unreadable, csv_rows, read_ahead
from reporting.ingest.meters import MeterImportReport, import_meters
from reporting.ingest.readings import (
    COLLIDED,
    DEADLOCK_TRIES,
    Collided,
    ingest_csv,
    ingest_file,
    ingest_records,
    ingest_rows,
)
from reporting.ingest.reports import MAX_SHOWN, IngestReport, Listing
from reporting.ingest.submission import (
    Submission,
    fail_job,
    record_report,
    report_fields,
    run_job,
    submit_readings,
)

__all__ = [
    "CHUNK_ROWS",
    "COLLIDED",
    "DEADLOCK_TRIES",
    "MAX_SHOWN",
    "Collided",
    "IngestReport",
    "Listing",
    "MeterImportReport",
    "Submission",
    "Unreadable",
    "csv_rows",
    "fail_job",
    "import_meters",
    "ingest_csv",
    "ingest_file",
    "ingest_records",
    "ingest_rows",
    "read_ahead",
    "record_report",
    "report_fields",
    "run_job",
    "submit_readings",
]
