"""Bulk import of sites and assets from CSV or XLSX: validate every row first, write nothing on
error, then write everything in one transaction.

`import_assets` is the one sanctioned bulk path into the ledger besides `services.record_event`:
recording 100,000 purchases one `record_event` at a time costs ~10 queries each (lock, last event,
insert, update, history), so the importer validates in memory against lookups fetched once and
then bulk-inserts the assets, their history rows and their `purchased` events (COPY on
PostgreSQL, executemany elsewhere). Each row passes the rules of `registration.new_asset`, the
ones `services.create_asset` applies, and is stored as it would store it: the same fields, state
and ledger row (tests/registry/test_import_parity.py).
"""

import contextlib
import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from circulus import bounds
from hardware.models import HardwareModel
from registry import permissions, webhooks
from registry.lifecycle import EventKind
from registry.models import Asset, LifecycleEvent, Site
from registry.registration import Clock, new_asset

log = logging.getLogger(__name__)
# What a user reads when the database refuses the write after every row checked out: never the
# database's own text (it goes to the log).
CLASH = (
    "Another import or edit registered one of these asset tags or serial numbers while the file "
    "was being checked, so nothing was written. Import the file again: its check will name the "
    "rows that clash."
)

BATCH = 5000
PROGRESS_ROWS = 5000
Progress = Callable[[int], None]
FIRST_DATA_ROW = 2  # row 1 holds the column names, as a spreadsheet shows it

ASSET_COLUMNS = (
    "asset_tag",
    "serial_number",
    "hardware_model",
    "site",
    "room",
    "rack",
    "position_u",
    "owner",
    "purchase_date",
    "purchase_price",
    "currency",
    "supplier",
    "warranty_end",
    "support_end",
    "planned_eol",
    "measured_mass_kg",
    "state",
    "data_bearing",
)
ASSET_REQUIRED = (
    "asset_tag",
    "hardware_model",
    "site",
    "purchase_date",
    "purchase_price",
    "currency",
    "supplier",
)
SITE_COLUMNS = ("code", "name", "country", "time_zone")
# The rules' names for a column, where they differ (the purchase's details, the first state).
COLUMN_OF = {"price": "purchase_price", "to_state": "state"}


@dataclass(frozen=True)
class RowError:
    row: int  # as numbered in a spreadsheet: the header is row 1; 0 for the file as a whole
    column: str
    message: str
    value: str = ""  # the cell as read, for a reader who looks for it in the file

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return (
            f"{where}, column {self.column}: {self.message}"
            if self.column
            else (f"{where}: {self.message}")
        )


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    refused: int = 0  # the HTTP status of a file refused whole (400, or 413 too large)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One sentence for the reader of a page, a command's output or a job's message."""
        if self.refused:
            first = self.errors[0]
            at = f" at row {first.row}" if first.row else ""
            return f"The file was refused{at}: {first.message.rstrip('.')}. Nothing was written."
        if self.errors:
            return (
                f"{_count(len(self.errors), 'error')} in {_count(self.rows, 'row')}: "
                "nothing was written."
            )

        def done(n: int, what: str) -> str:
            verb = "would be" if self.dry_run else ("was" if n == 1 else "were")
            return f"{n} {verb} {what}"

        text = f"{_count(self.rows, 'row')} read without error: {done(self.created, 'created')}"
        return text + (f", {done(self.updated, 'updated')}." if self.updated else ".")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- reading -------------------------------------------------------------------------------------


def read_rows(path_or_file, *, name: str | None = None) -> tuple[list[str], Iterator[list]]:
    """Column names and an iterator over the data rows of a CSV or XLSX file (by extension).

    The file is checked against `circulus.bounds` before any row is parsed and while the rows
    are read: `bounds.Refused` names what is wrong (encoding, NUL, not a workbook, too many
    columns or cells).
    """
    name = name or getattr(path_or_file, "name", None) or str(path_or_file)
    with _binary(path_or_file) as handle:
        if str(name).lower().endswith((".xlsx", ".xlsm")):
            rows = _xlsx_rows(handle.read())
        else:
            rows = _csv_rows(bounds.decode(handle.read()))
    rows = _counted(rows)
    header = next(rows, None) or []
    bounds.check_columns(len(header))
    return [str(h or "").strip().lower() for h in header], rows


@contextlib.contextmanager
def _binary(path_or_file):
    if isinstance(path_or_file, str | Path):
        with open(path_or_file, "rb") as handle:
            yield handle
    else:
        yield path_or_file


def _xlsx_rows(raw: bytes) -> Iterator[tuple]:
    import openpyxl

    data = io.BytesIO(raw)  # the workbook is read whole, within the upload limit
    bounds.check_xlsx(data)
    try:
        book = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise bounds.Refused(f"not a readable XLSX workbook ({exc.__class__.__name__})") from None
    sheet = book.active
    # Rows as stored, not padded to the width the file claims (a forged dimension would make
    # every row 16,384 cells wide).
    sheet.reset_dimensions()
    return sheet.iter_rows(values_only=True)


def _csv_rows(text: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield from reader
    except csv.Error as exc:
        raise bounds.Refused(f"not readable as CSV: {exc}", line=reader.line_num) from None


def _counted(rows) -> Iterator:
    """`rows`, refused (bounds.Refused) once they hold more cells than the import limit."""
    cells = 0
    for number, row in enumerate(rows, start=1):
        cells += max(len(row), 1)
        bounds.check_cells(cells, number)
        yield row


def _text(value) -> str:
    if value.__class__ is str:  # every CSV cell
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class _Row:
    """Cleans the cells of one row, collecting errors instead of raising."""

    __slots__ = ("number", "cells", "index", "errors")

    def __init__(self, number: int, cells, index: dict, errors: list):
        self.number, self.cells, self.index, self.errors = number, cells, index, errors

    def raw(self, column: str):
        i = self.index.get(column)
        if i is None:
            return None
        try:
            return self.cells[i]
        except IndexError:  # a short row: trailing cells left empty
            return None

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, message, _text(self.raw(column))))

    def text(self, column: str) -> str:
        return _text(self.raw(column))

    def date(self, column: str) -> dt.date | None:
        value = self.raw(column)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        value = _text(value)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.error(column, f"'{value}' is not a date (YYYY-MM-DD)")
            return None

    def decimal(self, column: str) -> Decimal | None:
        value = _text(self.raw(column))
        if not value:
            return None
        try:
            return Decimal(value)
        except InvalidOperation:
            self.error(column, f"'{value}' is not a number")
            return None

    def flag(self, column: str) -> bool:
        value = _text(self.raw(column)).lower()
        if value in ("", "0", "no", "false"):
            return False
        if value in ("1", "yes", "true"):
            return True
        self.error(column, f"'{value}' is not yes or no")
        return False

    def whole(self, column: str) -> int | None:
        value = _text(self.raw(column))
        if not value:
            return None
        if not (value.isascii() and value.isdigit()):
            self.error(column, f"'{value}' is not a whole number of rack units")
            return None
        return int(value)


# --- assets --------------------------------------------------------------------------------------


def _chunks(items: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refused(exc: bounds.Refused, *, dry_run: bool) -> ImportReport:
    """The report of a file refused whole (outside the input bounds): nothing was read."""
    report = ImportReport(dry_run=dry_run, refused=exc.status)
    report.errors.append(RowError(exc.line, "", exc.reason))
    return report


def import_assets(
    path_or_file,
    *,
    actor=None,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_write: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import new assets, each with its `purchased` ledger row. All rows or none.

    `progress(rows)` is told the rows checked so far, every `PROGRESS_ROWS` rows.
    `on_write(report)` runs inside the transaction that writes the assets, once they are
    written: what it records commits with them, and if it raises nothing is written (a
    background job records its success there, so assets and outcome commit together).
    """
    try:
        return _import_assets(
            path_or_file, actor=actor, dry_run=dry_run, progress=progress, on_write=on_write
        )
    except bounds.Refused as exc:  # met before anything is written
        return refused(exc, dry_run=dry_run)


def _import_assets(path_or_file, *, actor, dry_run: bool, progress, on_write) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    errors = report.errors
    header, rows = read_rows(path_or_file)
    index = {name: i for i, name in enumerate(header) if name}
    unknown = [h for h in header if h and h not in ASSET_COLUMNS]
    for column in unknown:
        errors.append(
            RowError(1, column, f"unknown column (known: {', '.join(ASSET_COLUMNS)})", column)
        )
    missing = [c for c in ASSET_REQUIRED if c not in index]
    for column in missing:
        errors.append(RowError(1, column, "column missing"))
    if errors:
        return report

    models = dict(HardwareModel.objects.values_list("slug", "id"))
    bearing_models = set(HardwareModel.objects.filter(holds_data=True).values_list("id", flat=True))
    sites = {code: (pk, tz) for pk, code, tz in Site.objects.values_list("id", "code", "time_zone")}
    writable = (
        None
        if actor is None
        else {
            code
            for code, (pk, _) in sites.items()
            if permissions.can_record(actor, EventKind.PURCHASED, _Pk(pk))
        }
    )

    clock = Clock()  # one moment for the whole file
    parsed = []  # (row number, Asset fields, event details, occurred_at)
    tags_in_file: dict[str, int] = {}
    serials_in_file: dict[tuple[int, str], int] = {}
    for number, cells in enumerate(rows, start=FIRST_DATA_ROW):
        if not any(cells) and all(c in (None, "") for c in cells):
            continue
        report.rows += 1
        if progress and report.rows % PROGRESS_ROWS == 0:
            progress(report.rows)
        row = _Row(number, cells, index, errors)
        before = len(errors)
        tag = row.text("asset_tag")
        serial = row.text("serial_number")
        slug = row.text("hardware_model")
        model_id = models.get(slug)
        if model_id is None:
            row.error(
                "hardware_model", f"no hardware model with slug '{slug}'" if slug else "required"
            )
        code = row.text("site")
        site = sites.get(code)
        if site is None:
            row.error("site", f"no site with code '{code}'" if code else "required")
        elif writable is not None and code not in writable:
            row.error("site", f"you may not create assets at site '{code}'")
        fields = {
            "asset_tag": tag,
            "serial_number": serial,
            "room": row.text("room"),
            "rack": row.text("rack"),
            "position_u": row.whole("position_u"),
            "owner": row.text("owner"),
            "warranty_end": row.date("warranty_end"),
            "support_end": row.date("support_end"),
            "planned_eol": row.date("planned_eol"),
            "measured_mass_kg": row.decimal("measured_mass_kg"),
            "data_bearing": row.flag("data_bearing"),
        }
        details = {
            "supplier": row.text("supplier"),
            "price": row.decimal("purchase_price"),
            "currency": row.text("currency"),
            "purchase_date": row.date("purchase_date"),
        }
        unread = {e.column for e in errors[before:]}  # a cell not read has said why already
        new, refusals = new_asset(
            fields,
            details=details,
            to_state=row.text("state"),
            occurred_at=None,
            model_holds_data=model_id in bearing_models,
            time_zone=site[1] if site else "UTC",
            clock=clock,
        )
        for name, messages in refusals.items():
            column = COLUMN_OF.get(name, name)
            if column not in unread:
                for message in messages:
                    row.error(column, message)
        if tag:
            if tag in tags_in_file:
                row.error("asset_tag", f"'{tag}' also on row {tags_in_file[tag]}")
            else:
                tags_in_file[tag] = number
        if serial and model_id is not None:
            key = (model_id, serial)
            if key in serials_in_file:
                row.error(
                    "serial_number",
                    f"'{serial}' also on row {serials_in_file[key]} for model '{slug}'",
                )
            else:
                serials_in_file[key] = number
        if len(errors) > before:
            continue
        fields = new.fields
        fields.update(hardware_model_id=model_id, site_id=site[0], state=new.state)
        parsed.append((number, fields, new.details, new.occurred_at))

    slugs = {v: k for k, v in models.items()}
    for tag in _stored_tags(list(tags_in_file)):
        errors.append(
            RowError(tags_in_file[tag], "asset_tag", f"'{tag}' is already registered", tag)
        )
    for key in _stored_serials(list(serials_in_file)):
        if key in serials_in_file:
            errors.append(
                RowError(
                    serials_in_file[key],
                    "serial_number",
                    f"'{key[1]}' is already registered for model '{slugs[key[0]]}'",
                    key[1],
                )
            )
    errors.sort(
        key=lambda e: (e.row, ASSET_COLUMNS.index(e.column) if e.column in ASSET_COLUMNS else 0)
    )
    if errors or dry_run:
        report.created = 0 if errors else len(parsed)
        return report

    try:
        with transaction.atomic():
            _write_assets(parsed, actor)
            if webhooks.subscribed():
                tags = [fields["asset_tag"] for _, fields, _, _ in parsed]
                for chunk in _chunks(tags):
                    webhooks.queue(LifecycleEvent.objects.filter(asset__asset_tag__in=chunk))
            report.created = len(parsed)
            if on_write:
                on_write(report)
    except IntegrityError:  # a concurrent writer took a tag or serial after validation
        log.exception("asset import refused by the database after validation")
        report.created = 0
        errors.append(RowError(0, "", CLASH))
        return report
    return report


def _stored_tags(tags: list[str]) -> list[str]:
    """The file's tags that are already stored: one query (PostgreSQL) or one per chunk."""
    if connection.vendor == "postgresql":
        # One array parameter instead of 100,000 placeholders, which psycopg's client-side
        # binding would have to parse and quote one by one.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT asset_tag FROM {Asset._meta.db_table} "  # noqa: S608 - model table name
                "WHERE asset_tag = ANY(%s::varchar[])",
                [tags],
            )
            return [tag for (tag,) in cursor.fetchall()]
    found = []
    for chunk in _chunks(tags):
        found += Asset.objects.filter(asset_tag__in=chunk).values_list("asset_tag", flat=True)
    return found


def _stored_serials(keys: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The file's (hardware model id, serial) pairs already stored (and maybe some others)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT a.hardware_model_id, a.serial_number FROM {Asset._meta.db_table} a "  # noqa: S608
                "JOIN unnest(%s::bigint[], %s::varchar[]) AS f (model_id, serial) "
                "ON a.hardware_model_id = f.model_id AND a.serial_number = f.serial",
                [[m for m, _ in keys], [s for _, s in keys]],
            )
            return [tuple(key) for key in cursor.fetchall()]
    found = []
    for chunk in _chunks(keys):
        found += Asset.objects.filter(
            hardware_model_id__in={m for m, _ in chunk}, serial_number__in={s for _, s in chunk}
        ).values_list("hardware_model_id", "serial_number")
    return found


class _Pk:
    """Just enough of a Site for `permissions.can_write_at` (which reads `.pk`)."""

    def __init__(self, pk):
        self.pk = pk


def _write_assets(parsed: list, actor) -> None:
    """Insert the assets, their history rows and their `purchased` events.

    `simple_history.utils.bulk_create_with_history` would build one historical object per asset
    in Python (measured: it alone costs as much as the asset insert); the history rows are plain
    copies of the new asset rows, so the database copies them itself (INSERT … SELECT) with the
    same `+` type, date, user and reason that django-simple-history writes. Both paths write the
    same rows (tests/registry/test_importing.py runs on SQLite and PostgreSQL).
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        _copy_assets(parsed, now, actor)
        return
    # SQLite: plain executemany of the rows bulk_create would send, without building a model
    # instance and preparing every field per row. The driver adapts dates and Decimals (Django
    # registers the adapters); aware datetimes go through the backend as a DateTimeField would.
    adapt = connection.ops.adapt_datetimefield_value
    stamp = adapt(now)
    given = [f for f in Asset._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in given}
    defaults["created_at"] = defaults["updated_at"] = stamp
    attnames = [f.attname for f in given]
    qn = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(given))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {qn(Asset._meta.db_table)} "  # noqa: S608 - model table and columns
            f"({', '.join(qn(f.column) for f in given)}) VALUES ({marks})",
            [[{**defaults, **fields}[name] for name in attnames] for _, fields, _, _ in parsed],
        )
    tags = [fields["asset_tag"] for _, fields, _, _ in parsed]
    ids_by_tag = {}
    for chunk in _chunks(tags):
        ids_by_tag.update(Asset.objects.filter(asset_tag__in=chunk).values_list("asset_tag", "id"))
    ids = [ids_by_tag[tag] for tag in tags]
    _copy_history(ids, now, actor)
    actor_id = actor.pk if actor is not None else None
    moments: dict[dt.datetime, str] = {}
    rows = []
    for asset_id, (_, fields, details, occurred_at) in zip(ids, parsed, strict=True):
        if occurred_at not in moments:
            moments[occurred_at] = adapt(occurred_at)
        rows.append(
            (
                asset_id,
                EventKind.PURCHASED.value,
                moments[occurred_at],
                stamp,
                actor_id,
                fields["state"],
                json.dumps(details),  # what a JSONField without an encoder stores
                fields["site_id"],
                fields["data_bearing"],
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {qn(LifecycleEvent._meta.db_table)} "  # noqa: S608 - model table
            "(asset_id, kind, occurred_at, recorded_at, actor_id, state_before, state_after, "
            "details, site_id, sanitisation_method, data_bearing) "
            "VALUES (%s, %s, %s, %s, %s, '', %s, %s, %s, '', %s)",
            rows,
        )


def _copy_history(ids: list[int], when: dt.datetime, actor) -> None:
    history = Asset.history.model
    qn = connection.ops.quote_name
    columns = [f.column for f in history.tracked_fields]
    names = ", ".join(qn(c) for c in columns)
    extra = ", ".join(
        qn(c) for c in ("history_date", "history_change_reason", "history_type", "history_user_id")
    )
    stamp = connection.ops.adapt_datetimefield_value(when)
    actor_id = actor.pk if actor is not None else None
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {qn(history._meta.db_table)} ({names}, {extra}) "  # noqa: S608
                f"SELECT {names}, %s, %s, '+', %s FROM {qn(Asset._meta.db_table)} "
                f"WHERE {qn('id')} IN ({marks})",
                [stamp, "import", actor_id, *chunk],
            )


STAGING = "registry_import_purchase"


def _copy_assets(parsed: list, now: dt.datetime, actor) -> None:
    """PostgreSQL: COPY the asset rows, then let the database derive the rest set-based.

    Profiled, a large share of `bulk_create`'s time goes to preparing and quoting every
    parameter in Python (and the server's to unnesting the arrays); COPY streams the rows instead.
    The history rows and the `purchased` events are then one `INSERT … SELECT` each from the new
    asset rows, joined by tag to a narrow temporary table holding what the asset row cannot give
    back exactly: the price as written in the file (the ledger keeps `str(Decimal)`, e.g.
    "1234.5", as `services.record_event` does) and the purchase moment computed by Python's
    zoneinfo, as `services.create_asset` callers pass it.
    """
    assets = Asset._meta.db_table
    history = Asset.history.model
    ledger = LifecycleEvent._meta.db_table
    given = [f for f in Asset._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in given}
    defaults["created_at"] = defaults["updated_at"] = now
    attnames = [f.attname for f in given]
    actor_id = actor.pk if actor is not None else None
    tracked = ", ".join(f"a.{f.column}" for f in history.tracked_fields)
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGING} (asset_tag varchar(50) NOT NULL, "
            "price text NOT NULL, occurred_at timestamptz NOT NULL) ON COMMIT DROP"
        )
        with cursor.copy(
            f"COPY {assets} ({', '.join(f.column for f in given)}) FROM STDIN"
        ) as copy:
            for _, fields, _, _ in parsed:
                values = {**defaults, **fields}
                copy.write_row([values[name] for name in attnames])
        with cursor.copy(f"COPY {STAGING} (asset_tag, price, occurred_at) FROM STDIN") as copy:
            for _, fields, details, occurred_at in parsed:
                copy.write_row((fields["asset_tag"], details["price"], occurred_at))
        cursor.execute(f"ANALYZE {STAGING}")
        new = f"{STAGING} p JOIN {assets} a ON a.asset_tag = p.asset_tag"
        cursor.execute(
            f"INSERT INTO {history._meta.db_table} "  # noqa: S608 - model table names
            f"({', '.join(f.column for f in history.tracked_fields)}, history_date, "
            "history_change_reason, history_type, history_user_id) "
            f"SELECT {tracked}, %s, 'import', '+', %s FROM {new} ORDER BY a.id",
            [now, actor_id],
        )
        cursor.execute(
            f"INSERT INTO {ledger} (asset_id, kind, occurred_at, recorded_at, actor_id, "  # noqa: S608
            "state_before, state_after, details, site_id, sanitisation_method, data_bearing) "
            "SELECT a.id, %s, p.occurred_at, %s, %s, '', a.state, jsonb_build_object("
            "'supplier', a.supplier, 'price', p.price, 'currency', a.currency, "
            "'purchase_date', to_char(a.purchase_date, 'YYYY-MM-DD')), a.site_id, '', "
            "a.data_bearing "
            f"FROM {new} ORDER BY a.id",
            [EventKind.PURCHASED.value, now, actor_id],
        )
        cursor.execute(f"DROP TABLE {STAGING}")


# --- sites ---------------------------------------------------------------------------------------


def import_sites(path_or_file, *, dry_run: bool = False) -> ImportReport:
    """Create or update sites by code (`code,name,country,time_zone`). All rows or none."""
    try:
        return _import_sites(path_or_file, dry_run=dry_run)
    except bounds.Refused as exc:  # met before anything is written
        return refused(exc, dry_run=dry_run)


def _import_sites(path_or_file, *, dry_run: bool) -> ImportReport:
    from django.core.exceptions import ValidationError

    report = ImportReport(dry_run=dry_run)
    header, rows = read_rows(path_or_file)
    index = {name: i for i, name in enumerate(header) if name}
    for column in SITE_COLUMNS:
        if column not in index:
            report.errors.append(RowError(1, column, "column missing"))
    if report.errors:
        return report
    existing = {s.code: s for s in Site.objects.all()}
    seen: dict[str, int] = {}
    todo = []
    for number, cells in enumerate(rows, start=FIRST_DATA_ROW):
        if not any(cells) and all(c in (None, "") for c in cells):
            continue
        report.rows += 1
        row = _Row(number, cells, index, report.errors)
        values = {c: row.text(c) for c in SITE_COLUMNS}
        values["country"] = values["country"].upper()
        code = values["code"]
        if code in seen:
            row.error("code", f"'{code}' also on row {seen[code]}")
            continue
        seen[code] = number
        site = existing.get(code) or Site(code=code)
        for name in ("name", "country", "time_zone"):
            setattr(site, name, values[name])
        try:
            site.full_clean(validate_unique=False)
        except ValidationError as exc:
            for column, messages in exc.message_dict.items():
                row.error(column, "; ".join(messages))
            continue
        todo.append(site)
    if report.errors:
        return report
    report.created = sum(1 for s in todo if s.pk is None)
    report.updated = len(todo) - report.created
    if not dry_run:
        with transaction.atomic():
            for site in todo:
                site.save()  # a handful of rows: save() keeps their history
    return report
