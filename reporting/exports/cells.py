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
import math
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


@dataclass(frozen=True)
class Shown:
    """A number with the format a spreadsheet shows it in, for a column whose rows hold
    different quantities (a register's values in kWh, %, °C): the cell keeps the full value,
    the page shows it rounded. CSV and JSON carry the full value."""

    value: Decimal | int | float
    num_format: str


def csv_value(value: Any) -> str:
    """One CSV cell. Blank for None; numbers plain; dates ISO; text neutralised."""
    if value is None:
        return ""
    if isinstance(value, Shown):
        return csv_value(value.value)
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
                "text": {"valign": "top"},
                "title": {"bold": True, "font_size": 12, "text_wrap": True, "valign": "top"},
                DATE: {"num_format": "yyyy-mm-dd", "valign": "top"},
                DATETIME: {"num_format": "yyyy-mm-dd hh:mm:ss", "valign": "top"},
                NUMBER: {"num_format": num_format or "General", "valign": "top"},
                INTEGER: {"num_format": "0", "valign": "top"},
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
    if isinstance(value, Shown):
        if formats is not None:
            fmt = formats.get(NUMBER, value.num_format)
        write_value(ws, row, col, value.value, fmt, formats)
    elif isinstance(value, bool):
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
    width: float | None = None  # None: as wide as its header and values need, within limits
    wrap: bool = True  # text wraps within the column's width, the row made tall enough


@dataclass
class Table:
    """A block of rows under one header row; a sheet holds one or more tables.

    A `note` table (one text column) is written across the width of the sheet's other tables,
    so a sentence under a table neither widens its first column nor runs off the page."""

    columns: list[Column]
    rows: Iterable[list]
    title: str | None = None
    note: bool = False

    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def write_table(
    ws,
    formats: Formats,
    table: Table,
    first_row: int = 0,
    widths: dict[int, float] | None = None,
    span: int | None = None,
) -> int:
    """Write `table` at `first_row` (`widths`: the sheet's column widths, by default the
    table's own; `span`: how many columns a title or note spans, by default all, see
    `first_page_columns`); returns the next free row.

    Spreadsheets do not all grow a row for wrapped text (LibreOffice keeps the default height
    and prints the second line across the next row), so every row is set to the height its
    wrapped text needs. Text wraps rather than flowing over the next cells: a text running past
    the last column would widen the printed sheet by its length."""
    widths = widths if widths is not None else column_widths([table])
    row = first_row
    last = max(min(span or len(widths), len(widths)), 1) - 1
    if table.title:
        _spanned(ws, row, last, table.title, formats.get("title"), widths, title=True)
        row += 1
    if table.note:
        ws.write_string(row, 0, table.columns[0].header, formats.get("header"))
        for (value,) in table.rows:
            row += 1
            _spanned(ws, row, last, value, formats.get("wrap"), widths)
        return row + 1
    header = formats.get("header")
    line_chars = [widths.get(i, 8.43) for i in range(len(table.columns))]
    ws.set_row(row, wrapped_height(table.headers(), line_chars, BOLD_CHARS_PER_UNIT))
    for col, column in enumerate(table.columns):
        ws.write_string(row, col, column.header, header)
    row += 1
    writers = []
    for column in table.columns:
        if column.kind in (DATE, DATETIME):
            fmt = formats.get(column.kind, column.num_format)
        elif column.kind in (NUMBER, INTEGER):
            fmt = formats.get(NUMBER, column.num_format)
        else:
            fmt = formats.get("wrap" if column.wrap else "text")
        writers.append(cell_writer(ws, column.kind, fmt, formats))
    wrapped = [i for i, c in enumerate(table.columns) if c.kind == TEXT and c.wrap]
    for values in table.rows:
        texts = [values[i] if isinstance(values[i], str) else "" for i in wrapped]
        height = wrapped_height(texts, [line_chars[i] for i in wrapped], CHARS_PER_UNIT)
        if height > LINE_HEIGHT_PT:
            ws.set_row(row, height)
        for col, value in enumerate(values):
            writers[col](row, col, value)
        row += 1
    return row


def _spanned(ws, row, last_col, text, fmt, widths, title: bool = False) -> None:
    """One text across columns 0 to `last_col`, wrapped within their width (a title in the
    title's larger bold type)."""
    if last_col > 0:
        ws.merge_range(row, 0, row, last_col, "", fmt)
    ws.write_string(row, 0, text, fmt)
    total = sum(widths.get(i, 8.43) for i in range(last_col + 1))
    per_unit, scale = (BOLD_CHARS_PER_UNIT / 1.1, 1.1) if title else (CHARS_PER_UNIT, 1)
    ws.set_row(row, wrapped_height([text], [total], per_unit) * scale)


LINE_HEIGHT_PT = 15  # the default row height, one line of 11 pt text
# Characters per unit of column width: text averages narrower than "0", bold about as wide.
# Erring low only adds blank space; erring high would print lines across the next row.
CHARS_PER_UNIT, BOLD_CHARS_PER_UNIT = 1.2, 1.0
# Widths chosen for a column without its own: a header wraps onto lines of at most HEADER_WIDTH
# (its longest word kept whole), a text wraps beyond TEXT_WIDTH, a number is as wide as shown.
MIN_WIDTH, HEADER_WIDTH, TEXT_WIDTH = 6, 14, 24


def wrapped_height(texts: list[str], widths: list[float], per_unit: float) -> float:
    """The row height (points) that shows each text wrapped at the width beside it."""
    lines = max(
        (
            len(textwrap.wrap(text, max(int(width * per_unit), 1)))
            for text, width in zip(texts, widths, strict=True)
            if text
        ),
        default=1,
    )
    return LINE_HEIGHT_PT * max(lines, 1)


def shown(value: Any, column: Column) -> str:
    """About the text a spreadsheet shows for `value` in `column` (to size the column)."""
    if value is None:
        return ""
    if isinstance(value, Shown):
        return shown(value.value, Column(column.header, NUMBER, value.num_format))
    if isinstance(value, dt.datetime):
        return "0000-00-00 00:00:00"
    if isinstance(value, dt.date):
        return "0000-00-00"
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        decimals = (column.num_format or "").partition(".")[2].count("0")
        if column.num_format and column.num_format != "General":
            text = (
                f"{float(value):,.{decimals}f}"
                if "," in column.num_format
                else (f"{float(value):.{decimals}f}")
            )
            return text + ("%" if column.num_format.endswith("%") else "")
        return f"{float(value):.10g}"[:11]  # General shows at most 11 characters
    return str(value)


def auto_width(column: Column, values: list) -> float:
    """A column's width: its own, or enough for its header on a few lines and its values."""
    if column.width:
        return column.width
    # A header wraps onto about three lines, its longest word whole (bold capitals are wide).
    longest = max(len(word) for word in [*column.header.split(), ""]) * 1.2 + 1
    header = max(min(len(column.header) / 3, HEADER_WIDTH), min(longest, HEADER_WIDTH))
    texts = [shown(v, column) for v in values]
    if column.kind == TEXT:
        value = min(max((len(t) for t in texts), default=0) / CHARS_PER_UNIT, TEXT_WIDTH)
    else:  # digits are one unit wide each
        value = max((len(t) for t in texts), default=0)
    return round(max(header, value + 1, MIN_WIDTH), 1)


def default_width(header: str) -> float:
    return auto_width(Column(header), [])


def column_widths(tables: list[Table]) -> dict[int, float]:
    """The sheet's column widths: each column as wide as the widest table's need there."""
    widths: dict[int, float] = {}
    for table in tables:
        if table.note:
            continue
        rows = table.rows if isinstance(table.rows, list | tuple) else []
        for col, column in enumerate(table.columns):
            width = auto_width(column, [r[col] for r in rows])
            widths[col] = max(widths.get(col, 0), width)
    return widths


def set_widths(ws, tables: list[Table]) -> dict[int, float]:
    """Set the sheet's column widths; returns them (for `write_table`)."""
    widths = column_widths(tables)
    for col, width in widths.items():
        ws.set_column(col, col, width)
    return widths


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
    if isinstance(value, Shown):
        value = value.value
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

MARGIN_IN = {"left": 0.4, "right": 0.4, "top": 0.75, "bottom": 0.6}
# Landscape A4 (297 x 210 mm) inside the margins, in points at 100 %.
PAGE_WIDTH_PT = (297 / 25.4 - MARGIN_IN["left"] - MARGIN_IN["right"]) * 72
PAGE_HEIGHT_PT = (210 / 25.4 - MARGIN_IN["top"] - MARGIN_IN["bottom"]) * 72
# The smallest print scale, in %: the 11-pt text of a cell prints at 7.7 pt, above the 7-pt
# floor of legible print with room for the spreadsheet's own rounding.
FONT_PT, MIN_TEXT_PT = 11, 7.7
MIN_SCALE = math.ceil(100 * MIN_TEXT_PT / FONT_PT)


def width_px(width: float) -> int:
    """A column width (in widths of "0" of the default font) in pixels, as Excel draws it."""
    return int(width * 7 + 0.5) + 5


def printed_width_pt(width: float) -> int:
    """A column's printed width at 100 % in LibreOffice, in points: its pixel width taken as
    points (measured with LibreOffice 7.4; Excel prints it at 3/4 of that, so a layout that
    fits LibreOffice fits Excel with larger text)."""
    return width_px(width)


def table_width_px(tables: list[Table]) -> int:
    """The printed width of the widest table, in pixels as the column widths set it."""
    return sum(width_px(w) for w in column_widths(tables).values())


def table_height_pt(table: Table, widths: dict[int, float]) -> float:
    """The height of `table` as `write_table` writes it, in points, with the blank row under it."""
    line_chars = [widths.get(i, 8.43) for i in range(len(table.columns))]
    rows = table.rows if isinstance(table.rows, list | tuple) else []
    height = LINE_HEIGHT_PT  # the blank row under it
    if table.title:
        height += 1.1 * LINE_HEIGHT_PT
    if table.note:
        total = sum(widths.values()) or line_chars[0]
        return (
            height
            + LINE_HEIGHT_PT
            + sum(wrapped_height([v], [total], CHARS_PER_UNIT) for (v,) in rows)
        )
    height += wrapped_height(table.headers(), line_chars, BOLD_CHARS_PER_UNIT)
    wrapped = [i for i, c in enumerate(table.columns) if c.kind == TEXT and c.wrap]
    for values in rows:
        texts = [values[i] if isinstance(values[i], str) else "" for i in wrapped]
        height += wrapped_height(texts, [line_chars[i] for i in wrapped], CHARS_PER_UNIT)
    return height


def pages_wide(widths: list[int], scale: float, key_columns: int = 1) -> int:
    """How many pages wide columns of these printed widths (pt) print at `scale` (%), the first
    `key_columns` repeated on each page, a column never cut between two pages."""
    room = PAGE_WIDTH_PT * 100 / scale
    key = sum(widths[:key_columns])
    pages, used = 1, key
    for w in widths[key_columns:]:
        if used + w > room and used > key:
            pages, used = pages + 1, key
        used += w
    return pages


@dataclass(frozen=True)
class PageLayout:
    """How one sheet prints: fitted to one page wide (`fit`) or at `scale` % with its key
    column(s) repeated on every page; about `pages` pages in all."""

    fit: bool
    scale: int
    pages_wide: int
    pages: int


def page_layout(widths: list[int], height: float, key_columns: int = 1) -> PageLayout:
    """Fitted to one page wide if that keeps the text at least MIN_TEXT_PT. Otherwise the
    scale (in steps of 5 %, at least MIN_SCALE) that prints the sheet on the fewest pages,
    the largest of those: text is never shrunk further than the page count needs."""
    total = sum(widths)
    fit_scale = min(100, 100 * PAGE_WIDTH_PT / total) if total else 100
    if fit_scale >= MIN_SCALE:
        tall = math.ceil(height * fit_scale / 100 / PAGE_HEIGHT_PT)
        return PageLayout(fit=True, scale=int(fit_scale), pages_wide=1, pages=max(tall, 1))
    key_columns = max(min(key_columns, len(widths) - 1), 0)
    options = []
    for scale in range(100, MIN_SCALE - 1, -5):
        wide = pages_wide(widths, scale, key_columns)
        tall = max(math.ceil(height * scale / 100 / PAGE_HEIGHT_PT), 1)
        options.append(PageLayout(fit=False, scale=scale, pages_wide=wide, pages=wide * tall))
    return min(options, key=lambda o: (o.pages, -o.scale))


def sheet_layout(tables: list[Table], key_columns: int = 1) -> PageLayout:
    """How a sheet of these tables prints (see `page_layout`)."""
    widths = column_widths(tables)
    height = sum(table_height_pt(t, widths) for t in tables)
    printed = [printed_width_pt(w) for _, w in sorted(widths.items())]
    return page_layout(printed, height, key_columns)


def first_page_columns(tables: list[Table], key_columns: int = 1) -> int:
    """How many columns the sheet's first page prints: a title or note spans no further, since
    a spanned text is cut where a page ends."""
    widths = [printed_width_pt(w) for _, w in sorted(column_widths(tables).items())]
    layout = sheet_layout(tables, key_columns)
    if layout.fit:
        return len(widths)
    room, used = PAGE_WIDTH_PT * 100 / layout.scale, 0
    for n, w in enumerate(widths):
        if used + w > room and n > key_columns:
            return n
        used += w
    return len(widths)


def _header_text(text: str) -> str:
    return text.replace("&", "&&")  # `&` starts a header code


def print_setup(
    book, layouts: dict[str, list[Table]], *, scope: str, key_columns: int = 1
) -> dict[str, PageLayout]:
    """The same page setup for every sheet of the book, whoever added it; returns each sheet's
    layout.

    Landscape A4 with the sheet's name and the sites and year in the page header and page
    numbers in the footer, so a printed page says where it comes from; the header row(s)
    repeated on every page. A sheet whose columns fit one page wide at a legible size
    (MIN_TEXT_PT) is fitted to one page wide, as many pages tall as needed; a wider one prints
    at a legible scale across pages, its first `key_columns` (the site or item the row is about)
    repeated on every page and the pages numbered across, then down, so a row's pages follow
    one another.
    """
    layout_of = {}
    for ws in book.worksheets():
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.set_margins(**MARGIN_IN)
        tables = layouts.get(ws.get_name()) or []
        printed = column_widths(tables)
        layout = sheet_layout(tables, key_columns)
        if layout.fit:
            ws.fit_to_pages(1, 0)
        else:
            ws.set_print_scale(layout.scale)
            if key_columns and len(printed) > key_columns:
                ws.repeat_columns(0, key_columns - 1)
            ws.print_across()
        if len(tables) <= 1:
            header_rows = 1 + (1 if tables and tables[0].title else 0)
            ws.repeat_rows(0, header_rows - 1)
        ws.set_header(f'&L&"-,Bold"&A&R{_header_text(scope)}', {"margin": 0.3})
        ws.set_footer("&Cpage &P of &N", {"margin": 0.3})
        layout_of[ws.get_name()] = layout
    return layout_of
