"""The asset register export: XLSX (XlsxWriter constant-memory) or CSV, streamed.

One query: the rows come from `.values_list(...)` over the joined asset, model, manufacturer and
site tables, iterated in chunks, so memory does not grow with the number of assets and there is
no query per row.
"""

import csv
import io
import tempfile
from collections.abc import Callable, Iterator

from django.db.models import Case, DecimalField, FloatField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.http import FileResponse, StreamingHttpResponse

from registry.api.filters import AssetFilter
from registry.models import Asset
from reporting.exports import cells
from reporting.exports.cells import DATE, DATETIME, NUMBER, TEXT, Column

CHUNK = 5000
PROGRESS_EVERY = 10_000  # rows between progress callbacks (heartbeats of export jobs)
MASS = DecimalField(max_digits=9, decimal_places=3)

# (column, value expression or field path)
COLUMNS: list[tuple[Column, object]] = [
    (Column("Asset tag", TEXT, width=18), "asset_tag"),
    (Column("Serial number", TEXT, width=18), "serial_number"),
    (Column("Manufacturer", TEXT, width=14), "hardware_model__manufacturer__name"),
    (Column("Model", TEXT, width=28), "hardware_model__name"),
    (Column("Model slug", TEXT, width=24), "hardware_model__slug"),
    (Column("Kind", TEXT, width=12), "hardware_model__kind"),
    (Column("WEEE category", TEXT, width=8), "hardware_model__weee_category"),
    (Column("Site", TEXT, width=10), "site__code"),
    (Column("State", TEXT, width=16), "state"),
    (Column("Workload", TEXT, width=12), "workload"),
    (Column("Room", TEXT, width=8), "room"),
    (Column("Rack", TEXT, width=8), "rack"),
    (Column("Purchase date", DATE, width=12), "purchase_date"),
    (Column("Warranty end", DATE, width=12), "warranty_end"),
    (Column("Planned end of life", DATE, width=12), "planned_eol"),
    (Column("Mass [kg]", NUMBER, "0.000", width=10), "x_mass_kg"),
    (Column("Mass source (measured/catalogue)", TEXT, width=12), "x_mass_source"),
    (
        Column("Embodied GWP [kgCO2e]", NUMBER, "0.0", width=12),
        "hardware_model__embodied_gwp_kgco2e",
    ),
    (Column("Owner", TEXT, width=14), "owner"),
    (Column("Notes", TEXT, width=40), "notes"),
    (Column("Registered at (UTC)", DATETIME, width=19), "created_at"),
]
HEADERS = [c.header for c, _ in COLUMNS]


def filtered_assets(params: dict | None = None, queryset=None):
    """Assets filtered exactly as `/api/assets/` filters them (site, state, kind, model, dates…).

    `params` is a dict of the list endpoint's query parameters; lists are allowed for `state` and
    `kind`. Unknown or invalid filters raise ValueError (the caller reports them)."""
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, value in (params or {}).items():
        if value in (None, "", []):
            continue
        query.setlist(key, [str(v) for v in value] if isinstance(value, list | tuple) else [value])
    base = Asset.objects.all() if queryset is None else queryset
    found = AssetFilter(query, queryset=base)
    if not found.is_valid():
        raise ValueError(dict(found.errors))
    return found.qs


def asset_filters(params: dict) -> dict:
    """An export job's parameters as `/api/assets/` filters (`hardware_kind` is its `kind`)."""
    renamed = {"hardware_kind": "kind"}
    return {renamed.get(k, k): v for k, v in params.items() if k != "format"}


def export_rows(queryset) -> Iterator[tuple]:
    """The export's rows, in id order, from one query iterated in chunks."""
    fields = [expr for _, expr in COLUMNS]
    return (
        queryset.order_by("id")
        .annotate(
            # Fetched as doubles: a cell is a double anyway, and a Decimal(9,3) or (10,1) is
            # exact in one; this skips a Decimal conversion per value.
            x_mass_kg=Cast(
                Coalesce("measured_mass_kg", "hardware_model__mass_kg", output_field=MASS),
                FloatField(),
            ),
            x_gwp=Cast("hardware_model__embodied_gwp_kgco2e", FloatField()),
            x_mass_source=Case(
                When(measured_mass_kg__isnull=False, then=Value("measured")),
                When(hardware_model__mass_kg__isnull=False, then=Value("catalogue")),
                default=Value(""),
            ),
        )
        .values_list(*fields)
        .iterator(chunk_size=CHUNK)
    )


def _progress_iter(rows, progress: Callable[[int], None] | None):
    if progress is None:
        yield from rows
        return
    n = 0
    for row in rows:
        yield row
        n += 1
        if n % PROGRESS_EVERY == 0:
            progress(n)
    progress(n)


def write_xlsx(queryset, target, progress: Callable[[int], None] | None = None) -> int:
    """Write the register to `target` (path or binary file); returns the number of rows."""
    book = cells.new_workbook(target, constant_memory=True)
    formats = cells.Formats(book)
    ws = book.add_worksheet("Assets")
    table = cells.Table([c for c, _ in COLUMNS], _progress_iter(export_rows(queryset), progress))
    cells.set_widths(ws, [table])
    ws.freeze_panes(1, 0)
    end = cells.write_table(ws, formats, table)
    book.close()
    return end - 1


def csv_lines(queryset, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """The register as CSV text, a chunk of lines at a time (UTF-8 BOM first, for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    value = cells.csv_value
    yield "\ufeff"
    writer.writerow(HEADERS)
    for i, row in enumerate(_progress_iter(export_rows(queryset), progress), 1):
        writer.writerow([value(v) for v in row])
        if i % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(queryset, target, progress: Callable[[int], None] | None = None) -> int:
    """Write the register as CSV to `target` (a path); returns the number of rows."""
    done = 0

    def counted(n: int) -> None:
        nonlocal done
        done = n
        if progress is not None:
            progress(n)

    with open(target, "w", encoding="utf-8", newline="") as handle:
        for chunk in csv_lines(queryset, progress=counted):
            handle.write(chunk)
    return done


def write_file(queryset, path, progress=None) -> int:
    """Write by the file's extension: `.csv` or `.xlsx`."""
    if str(path).lower().endswith(".csv"):
        return write_csv(queryset, path, progress)
    return write_xlsx(queryset, path, progress)


def export_assets_response(queryset, fmt: str = "xlsx", filename: str = "assets"):
    """An HTTP response with the register of `queryset` (e.g. the admin's selected assets).

    CSV streams row by row; XLSX is written to an anonymous temporary file (deleted when the
    response is closed) and streamed from there."""
    if fmt == "csv":
        response = StreamingHttpResponse(csv_lines(queryset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response
    write_xlsx(queryset, handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{filename}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
