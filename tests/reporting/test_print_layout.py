"""How a sheet is set up for print (reporting/exports/cells.print_setup), read back from the
file; tests/docs/test_printed_workbook.py checks the printed PDFs themselves."""

import io
from decimal import Decimal

import openpyxl

from reporting.exports import cells
from reporting.exports.cells import NUMBER, Column, Shown, Table


def _book(tables_by_sheet: dict[str, list[Table]]) -> openpyxl.Workbook:
    target = io.BytesIO()
    book = cells.new_workbook(target)
    formats = cells.Formats(book)
    for name, tables in tables_by_sheet.items():
        ws = book.add_worksheet(name)
        widths = cells.set_widths(ws, tables)
        row = 0
        for table in tables:
            row = cells.write_table(ws, formats, table, row, widths) + 1
    cells.print_setup(book, tables_by_sheet, scope="PAR1 · 2025")
    book.close()
    target.seek(0)
    return openpyxl.load_workbook(target)


def _wide(n: int) -> Table:
    columns = [Column("DC_ID")] + [Column(f"Figure {i} [kWh]", NUMBER) for i in range(n)]
    return Table(columns, [["PAR1", *range(n)]])


def test_a_narrow_sheet_is_fitted_to_one_page_wide_and_a_wide_one_flows_legibly():
    book = _book({"Narrow": [_wide(5)], "Wide": [_wide(40)]})
    narrow, wide = book["Narrow"], book["Wide"]
    assert narrow.sheet_properties.pageSetUpPr.fitToPage
    assert narrow.page_setup.fitToWidth in (1, None) and narrow.page_setup.fitToHeight == 0
    assert narrow.print_title_rows == "$1:$1" and narrow.print_title_cols is None
    # Fitted to one page, 40 columns would print at about a third of their size: instead they
    # flow across pages at 70 % or more, the key column and header row on every page.
    assert not (wide.sheet_properties.pageSetUpPr and wide.sheet_properties.pageSetUpPr.fitToPage)
    assert cells.MIN_SCALE <= wide.page_setup.scale <= 100
    assert cells.FONT_PT * cells.MIN_SCALE / 100 >= 7
    assert wide.print_title_cols == "$A:$A" and wide.print_title_rows == "$1:$1"
    assert wide.page_setup.orientation == "landscape" and wide.page_setup.paperSize == 9


def test_the_layout_takes_the_fewest_pages_then_the_largest_text():
    widths = [60] + [100] * 20  # points as printed at 100 %
    layout = cells.page_layout(widths, height=200)
    assert not layout.fit and layout.scale >= cells.MIN_SCALE
    fewest = cells.pages_wide(widths, cells.MIN_SCALE)
    assert layout.pages_wide == fewest
    bigger = [s for s in range(layout.scale + 5, 101, 5)]
    assert all(cells.pages_wide(widths, s) > fewest for s in bigger)
    assert cells.page_layout([60, 100, 100], height=200).fit


def test_long_text_wraps_in_its_column_and_its_row_grows():
    note = "a long explanation " * 12
    book = _book({"Notes": [Table([Column("DC_ID"), Column("Note")], [["PAR1", note]])]})
    ws = book["Notes"]
    assert ws.column_dimensions["B"].width < cells.TEXT_WIDTH + 2  # not as wide as the text
    assert ws["B2"].alignment.wrap_text
    assert ws.row_dimensions[2].height > cells.LINE_HEIGHT_PT


def test_a_shown_value_keeps_its_precision_and_prints_rounded():
    share = Decimal("80.2848764326")
    book = _book({"Register": [Table([Column("Item"), Column("Value", NUMBER)], [
        ["Renewable share [%]", Shown(share, "0.0")],
        ["PUE", Shown(Decimal("1.3000021918"), "0.00")],
    ])]})  # fmt: skip
    ws = book["Register"]
    assert ws["B2"].value == float(share) and ws["B2"].number_format == "0.0"
    assert ws["B3"].number_format == "0.00"
    assert cells.csv_value(Shown(share, "0.0")) == "80.2848764326"
    assert cells.json_value(Shown(share, "0.0")) == "80.2848764326"
