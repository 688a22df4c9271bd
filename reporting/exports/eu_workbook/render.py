"""The renderings of the gathered data: the workbook (xlsx, with its monthly charts), its CSV
twins in one zip, and JSON."""

import csv
import io
import zipfile
from collections.abc import Callable

from reporting.exports import cells
from reporting.exports.cells import Table
from reporting.exports.eu_workbook.annex_sheets import (
    readme,
    sheet_a,
    sheet_b,
    sheet_c,
    sheet_d,
    sheet_e,
)
from reporting.exports.eu_workbook.record_sheets import (
    has_readings,
    sheet_f,
    sheet_g,
    sheet_h,
    sheet_i,
    sheet_k,
    sheet_monthly,
)
from reporting.exports.eu_workbook.rzreg import RZREG_SHEETS
from reporting.exports.eu_workbook.terms import RZREG

SHEETS: list[tuple[str, Callable[[dict], list[Table]]]] = [
    ("00_README", readme),
    ("A_Information", sheet_a),
    ("B_Energy_Sustainability", sheet_b),
    ("C_ICT_Capacity", sheet_c),
    ("D_Data_Traffic", sheet_d),
    ("E_Indicators", sheet_e),
    ("F_Omissions_Estimates", sheet_f),
    ("G_Measurement_Points", sheet_g),
    ("H_Aggregates", sheet_h),
    ("I_EWaste", sheet_i),
    ("K_Label_2026", sheet_k),
    ("Monthly", sheet_monthly),
]


def sheets(data: dict) -> list[tuple[str, list[Table]]]:
    layout = RZREG_SHEETS if data["variant"] == RZREG else SHEETS
    return [(name, build(data)) for name, build in layout]


def _noop(pct, force=False):
    return None


def write_xlsx(data: dict, target, progress=_noop) -> None:
    book = cells.new_workbook(target)
    formats = cells.Formats(book)
    built = sheets(data)
    for i, (name, tables) in enumerate(built):
        ws = book.add_worksheet(name)
        widths = cells.set_widths(ws, tables)
        if len(tables) == 1 and not tables[0].title:
            ws.freeze_panes(1, 1 if name != "00_README" else 0)
        row, span = 0, cells.first_page_columns(tables)
        for table in tables:
            row = cells.write_table(ws, formats, table, row, widths, span) + 1
        if name == "Monthly" and any(has_readings(s) for s in data["sites"]):
            _charts(book, ws, data, below_row=row, tables=tables)
        progress(30 + 60 * (i + 1) / len(built))
    cells.print_setup(book, dict(built), scope=_print_scope(data))
    book.close()


def _print_scope(data: dict) -> str:
    codes = [s["code"] for s in data["sites"]]
    sites = ", ".join(codes[:6]) + (f" and {len(codes) - 6} more" if len(codes) > 6 else "")
    return f"{sites or 'no site'} · {data['year']} · {data.get('variant', '')}".rstrip(" ·")


def _charts(book, ws, data: dict, *, below_row: int, tables: list) -> None:
    """Native line charts of the monthly PUE and WUE, one series per site.

    Printed, each chart starts its own page below the table and is no wider than the table, so a
    sheet fitted to one page wide keeps the chart whole (axis and plot on the same page).
    """
    first = 1  # data rows start under the header
    col_pue, col_wue = 6, 7
    charts = []
    for title, col, axis in (
        (f"Monthly PUE {data['year']}", col_pue, "PUE"),
        (f"Monthly WUE {data['year']}", col_wue, "WUE [m3/MWh]"),
    ):
        chart = book.add_chart({"type": "line"})
        chart.set_title({"name": title})
        chart.set_y_axis({"name": axis})
        chart.set_x_axis({"name": "Month"})
        charts.append((chart, col))
    row = first
    for s in data["sites"]:
        n = len(s["monthly"])
        if n:
            for chart, col in charts:
                chart.add_series(
                    {
                        "name": s["code"],
                        "categories": ["Monthly", row, 1, row + n - 1, 1],
                        "values": ["Monthly", row, col, row + n - 1, col],
                        "marker": {"type": "circle"},
                    }
                )
        row += n
    width = max(cells.table_width_px(tables), 640)
    height = int(width * cells.CHART_HEIGHT_RATIO)
    rows_per_chart = -(-height // cells.ROW_HEIGHT_PX) + 2
    anchor, breaks = below_row + 1, []
    for chart, _ in charts:
        chart.set_size({"width": width, "height": height})
        # One blank row under the break: a chart touching a page's edge is drawn on both pages.
        ws.insert_chart(anchor + 1, 0, chart, {"object_position": 3})
        breaks.append(anchor)
        anchor += rows_per_chart
    ws.set_h_pagebreaks(breaks)


def write_csv_zip(data: dict, target, progress=_noop) -> None:
    """The CSV twin of every sheet (UTF-8 with BOM, text neutralised), in one zip."""
    built = sheets(data)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, (name, tables) in enumerate(built):
            buffer = io.StringIO()
            cells.write_csv_tables(csv.writer(buffer), tables)
            archive.writestr(f"{name}.csv", "\ufeff" + buffer.getvalue())
            progress(30 + 60 * (i + 1) / len(built))


def as_json(data: dict) -> dict:
    """The workbook's content as JSON: {sheet: [{title, columns, rows}]}."""
    return {
        "schema_version": data["schema_version"],
        "year": data["year"],
        "variant": data["variant"],
        "generated_at": cells.json_value(data["generated_at"]),
        "sheets": {name: [cells.table_json(t) for t in tables] for name, tables in sheets(data)},
    }
