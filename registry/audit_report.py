"""An audit's report as a workbook: one row per unit found, missing or misplaced and per unknown
tag, with where the register has it, where it was seen, when and by whom.

Printed, it fits landscape A4 one page wide (the columns are sized so that the fitted scale keeps
the 11 pt text above 7 pt on paper), the header row repeated on every page, the audit named in
the page header. Times are the site's local time (a spreadsheet has no time zones). A text cell
is always text: a tag typed as "=1+1" is kept as typed and never runs as a formula.
"""

import datetime as dt
import io
import zoneinfo

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.properties import PageSetupProperties

from circulus.spreadsheet import printable
from registry.audits import RESULTS, classify
from registry.models import Audit

# (heading, width in characters of the default 11 pt font)
COLUMNS = (
    ("Result", 11),
    ("Tag", 18),
    ("Model", 24),
    ("State", 14),
    ("Recorded location", 26),
    ("Seen location", 26),
    ("Seen at", 19),
    ("Seen by", 14),
    ("Note", 34),
)
FONT_PT = 11
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _text(cell, value: str) -> None:
    cell.value = printable(value)
    if cell.data_type == "f":  # openpyxl reads a leading "=" as a formula: keep it text
        cell.data_type = "s"


def workbook(audit: Audit) -> bytes:
    sheet = classify(audit)
    book = Workbook()
    ws = book.active
    ws.title = "Audit"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    for col, (heading, width) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=col)
        _text(cell, heading + (f" ({audit.site.time_zone})" if heading == "Seen at" else ""))
        cell.font, cell.fill, cell.alignment = bold, fill, wrap
        ws.column_dimensions[cell.column_letter].width = width
    row = 1
    for line in sheet.lines():
        row += 1
        values = (
            RESULTS[line.result],
            line.tag,
            line.model,
            line.state,
            line.recorded,
            line.seen,
            None,
            line.seen_by,
            _note(line),
        )
        for col, value in enumerate(values, start=1):
            cell = ws.cell(row=row, column=col)
            cell.alignment = wrap
            if value:
                _text(cell, value)
        if line.seen_at:
            cell = ws.cell(row=row, column=7)
            cell.value = dt.datetime.fromisoformat(line.seen_at).replace(tzinfo=None)
            cell.number_format = "yyyy-mm-dd hh:mm"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{ws.cell(row=max(row, 1), column=len(COLUMNS)).coordinate}"
    _print_setup(ws, f"Audit {audit.pk}: {audit.scope}")
    _about(book.create_sheet("About"), audit, sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _note(line) -> str:
    parts = [line.note]
    if line.recorded_events:
        parts.append(f"Ledger: {line.recorded_events}.")
    return " ".join(p for p in parts if p)


def _print_setup(ws, title: str) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as it takes
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top, ws.page_margins.bottom = 0.75, 0.6
    ws.print_title_rows = "1:1"
    ws.oddHeader.left.text = title.replace("&", "&&")
    ws.oddFooter.center.text = "page &P of &N"


def _about(ws, audit: Audit, sheet) -> None:
    zone = audit.site.time_zone

    def when(moment):
        if moment is None:
            return None
        return timezone.localtime(moment, zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)

    facts = [
        ("Audit", audit.pk),
        ("Scope", audit.scope),
        ("Status", audit.get_status_display()),
        ("Started by", audit.started_by.get_username() if audit.started_by else None),
        (f"Started at ({zone})", when(audit.started_at)),
        ("Closed or cancelled by", audit.ended_by.get_username() if audit.ended_by else None),
        (f"Closed or cancelled at ({zone})", when(audit.ended_at)),
        *((RESULTS[name], count) for name, count in sheet.counts().items()),
        ("Note", audit.note or None),
    ]
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 48
    for row, (name, value) in enumerate(facts, start=1):
        _text(ws.cell(row=row, column=1), name)
        ws.cell(row=row, column=1).font = Font(bold=True)
        cell = ws.cell(row=row, column=2)
        if isinstance(value, str):
            _text(cell, value)
        else:
            cell.value = value
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    _print_setup(ws, f"Audit {audit.pk}: {audit.scope}")
    ws.print_title_rows = None
