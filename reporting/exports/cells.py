"""The one place where values become spreadsheet cells, for XLSX and CSV alike.

Rules (docs/exports.md, "Safety rules"):
- Formula injection is impossible. In XLSX every text value goes through `write_string`, which
  stores an inline string: Excel shows it as text and never evaluates it, whatever it starts
  with, so the text is kept exactly as recorded. The workbook is also opened with
  `strings_to_formulas=False` so no generic `write()` call could ever make a formula. In CSV
  there is no cell type, so a text value starting with `=`, `+`, `-`, `@`, tab or carriage return
  gets a leading single quote (OWASP "CSV Injection": prefix such cells with `'`); numbers are
  written as plain numbers and are never prefixed (a number cannot be a formula).
- Numbers are numeric cells; `None` (not reported) is an empty cell, never 0.
- Decimals are written as numbers (an XLSX cell is an IEEE double: exact to 15 significant
  digits, far beyond any figure here); in CSV a Decimal is written exactly as stored, without an
  exponent.
- Dates are date cells (`yyyy-mm-dd`); datetimes are converted to UTC (Excel has no time zones)
  and written as date-time cells; CSV uses ISO 8601.
"""

import datetime as dt
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import xlsxwriter

from circulus.spreadsheet import FORMULA_TRIGGERS, neutralise  # noqa: F401 - one rule, shared

WORKBOOK_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "remove_timezone": True,
}

TEXT, NUMBER, INTEGER, DATE, DATETIME, BOOL = (
    "text",
    "number",
    "integer",
    "date",
    "datetime",
    "bool",
)


def csv_value(value: Any) -> str:
    """One CSV cell. Blank for None; numbers plain; dates ISO; text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else ""
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return utc_naive(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return neutralise(str(value))


def utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def new_workbook(target, *, constant_memory: bool = False) -> xlsxwriter.Workbook:
    """An XlsxWriter workbook that can never turn a string into a formula or a link."""
    return xlsxwriter.Workbook(target, {**WORKBOOK_OPTIONS, "constant_memory": constant_memory})


@dataclass
class Formats:
    """The few cell formats every export shares, created once per workbook."""

    book: xlsxwriter.Workbook
    cache: dict = field(default_factory=dict)

    def get(self, name: str, num_format: str | None = None):
        key = (name, num_format)
        if key not in self.cache:
            props = {
                "header": {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"},
                "wrap": {"text_wrap": True, "valign": "top"},
                "title": {"bold": True, "font_size": 12},
                DATE: {"num_format": "yyyy-mm-dd"},
                DATETIME: {"num_format": "yyyy-mm-dd hh:mm:ss"},
                NUMBER: {"num_format": num_format or "General"},
                INTEGER: {"num_format": "0"},
            }.get(name, {})
            if num_format and name != NUMBER:
                props = {**props, "num_format": num_format}
            self.cache[key] = self.book.add_format(props)
        return self.cache[key]


def cell_writer(
    ws, kind: str, fmt=None, formats: "Formats | None" = None
) -> Callable[[int, int, Any], None]:
    """A function writing one value of a column of type `kind` (chosen once per column, so the
    per-cell cost is one call). Values of an unexpected type fall back to `write_value`."""
    write_string, write_number = ws.write_string, ws.write_number

    if kind == TEXT:

        def write(row, col, value):
            if value is None or value == "":
                return
            if value.__class__ is str:
                write_string(row, col, value, fmt)
            else:  # a date or number in a text column keeps its own format
                write_value(ws, row, col, value, None, formats)

    elif kind in (NUMBER, INTEGER):

        def write(row, col, value):
            if value is None:
                return
            cls = value.__class__
            if cls is Decimal:
                if value.is_finite():
                    write_number(row, col, float(value), fmt)
            elif cls is int or cls is float:
                write_number(row, col, value, fmt)
            else:
                write_value(ws, row, col, value, fmt, formats)

    elif kind == DATE:
        write_datetime = ws.write_datetime

        def write(row, col, value):
            if value is None:
                return
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                write_datetime(row, col, value, fmt)
            else:
                write_value(ws, row, col, value, fmt, formats)

    elif kind == DATETIME:
        write_datetime = ws.write_datetime

        def write(row, col, value):
            if value is None:
                return
            if isinstance(value, dt.datetime):
                write_datetime(row, col, utc_naive(value), fmt)
            else:
                write_value(ws, row, col, value, fmt, formats)

    else:

        def write(row, col, value):
            write_value(ws, row, col, value, fmt, formats)

    return write


def write_value(ws, row: int, col: int, value: Any, fmt=None, formats: Formats | None = None):
    """Write any value by its type. Text is always a string cell, never a formula."""
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, Decimal):
        if value.is_finite():
            ws.write_number(row, col, float(value), fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, dt.datetime):
        f = fmt or (formats.get(DATETIME) if formats else None)
        ws.write_datetime(row, col, utc_naive(value), f)
    elif isinstance(value, dt.date):
        f = fmt or (formats.get(DATE) if formats else None)
        ws.write_datetime(row, col, value, f)
    else:
        text = str(value)
        if text:
            ws.write_string(row, col, text, fmt)


# --- tables: one description, three renderings (XLSX sheet, CSV, JSON) ------------------------


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = TEXT
    num_format: str | None = None  # e.g. "0.00" for reported indicators
    width: float | None = None
    wrap: bool = False  # long text: wrapped within the column's width, the row made tall enough

    def chars(self, per_unit: float) -> int:
        """About how many characters one line of the column holds (`per_unit`: characters per
        unit of column width, the width of one "0")."""
        return max(int((self.width or default_width(self.header)) * per_unit), 1)


@dataclass
class Table:
    """A block of rows under one header row; a sheet holds one or more tables."""

    columns: list[Column]
    rows: Iterable[list]
    title: str | None = None

    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def write_table(ws, formats: Formats, table: Table, first_row: int = 0) -> int:
    """Write `table` at `first_row`; returns the next free row."""
    row = first_row
    if table.title:
        ws.write_string(row, 0, table.title, formats.get("title"))
        row += 1
    header = formats.get("header")
    # Spreadsheets do not all grow a row for wrapped text (LibreOffice keeps the default height
    # and prints the second line across the next row): set the height the text needs.
    ws.set_row(row, wrapped_height([(c, c.header) for c in table.columns], BOLD_CHARS_PER_UNIT))
    for col, column in enumerate(table.columns):
        ws.write_string(row, col, column.header, header)
    row += 1
    writers = []
    for column in table.columns:
        if column.kind in (DATE, DATETIME):
            fmt = formats.get(column.kind, column.num_format)
        elif column.kind in (NUMBER, INTEGER) and column.num_format:
            fmt = formats.get(NUMBER, column.num_format)
        elif column.wrap:
            fmt = formats.get("wrap")
        else:
            fmt = None
        writers.append(cell_writer(ws, column.kind, fmt, formats))
    wrapped = [(i, c) for i, c in enumerate(table.columns) if c.wrap]
    for values in table.rows:
        if wrapped:
            ws.set_row(row, wrapped_height([(c, values[i]) for i, c in wrapped], CHARS_PER_UNIT))
        for col, value in enumerate(values):
            writers[col](row, col, value)
        row += 1
    return row


LINE_HEIGHT_PT = 15  # the default row height, one line of 11 pt text
# Characters per unit of column width: text averages narrower than "0", bold about as wide.
# Erring low only adds blank space; erring high would print lines across the next row.
CHARS_PER_UNIT, BOLD_CHARS_PER_UNIT = 1.2, 1.0


def wrapped_height(cells: list[tuple[Column, Any]], per_unit: float) -> float:
    """The row height (points) that shows every text of `cells` wrapped at its column's width."""
    lines = max(
        (
            len(textwrap.wrap(value, column.chars(per_unit)))
            for column, value in cells
            if isinstance(value, str)
        ),
        default=1,
    )
    return LINE_HEIGHT_PT * max(lines, 1)


def default_width(header: str) -> float:
    return min(max(len(header) * 0.6, 12), 48)


def column_widths(tables: list[Table]) -> dict[int, float]:
    widths: dict[int, float] = {}
    for table in tables:
        for col, column in enumerate(table.columns):
            width = column.width or default_width(column.header)
            widths[col] = max(widths.get(col, 0), width)
    return widths


def set_widths(ws, tables: list[Table]) -> None:
    for col, width in column_widths(tables).items():
        ws.set_column(col, col, width)


def write_csv_tables(writer, tables: list[Table]) -> None:
    """The CSV twin of a sheet: each table's title (if any), header and rows; a blank line
    between tables."""
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        if table.title:
            writer.writerow([csv_value(table.title)])
        writer.writerow([csv_value(h) for h in table.headers()])
        for values in table.rows:
            writer.writerow([csv_value(v) for v in values])


def json_value(value: Any) -> Any:
    """JSON twin of a cell: Decimals as strings (exact), dates ISO, None stays null."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, dt.datetime):
        return utc_naive(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def table_json(table: Table) -> dict:
    return {
        "title": table.title,
        "columns": table.headers(),
        "rows": [[json_value(v) for v in values] for values in table.rows],
    }


# --- print setup ---------------------------------------------------------------------------------

ROW_HEIGHT_PX = 20  # XlsxWriter's default row height
# Landscape A4 prints about 277 x 180 mm inside margins and header: a chart this much taller than
# wide, no wider than the table, fits one page at the fit-to-width scale.
CHART_HEIGHT_RATIO = 0.55


def table_width_px(tables: list[Table]) -> int:
    """The printed width of the widest table, in pixels as the column widths set it."""
    return int(sum(w * 7 + 5 for w in column_widths(tables).values()))


def _header_text(text: str) -> str:
    return text.replace("&", "&&")  # `&` starts a header code


def print_setup(book, layouts: dict[str, list[Table]], *, scope: str) -> None:
    """The same page setup for every sheet of the book, whoever added it.

    Landscape A4, fitted to one page wide (as many pages tall as needed), the header row(s)
    repeated on every page, the sheet's name and the sites and year in the page header and page
    numbers in the footer, so a printed page says where it comes from.
    """
    for ws in book.worksheets():
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.6)
        ws.fit_to_pages(1, 0)
        tables = layouts.get(ws.get_name())
        if tables is None or len(tables) == 1:
            header_rows = 1 + (1 if tables and tables[0].title else 0)
            ws.repeat_rows(0, header_rows - 1)
        ws.set_header(f'&L&"-,Bold"&A&R{_header_text(scope)}', {"margin": 0.3})
        ws.set_footer("&Cpage &P of &N", {"margin": 0.3})
