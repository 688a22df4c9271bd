"""The demo workbooks as LibreOffice Calc prints them (headless, to PDF): every sheet fitted to
one page wide with its name, sites and year in the page header, and each chart whole on a page.

Runs with the docs step (marker `docs`) on the demo's own outputs; needs `soffice`
(Debian: libreoffice-calc-nogui) and `pdftotext`/`pdfinfo` (poppler-utils).
"""

import math
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from tests.docs.conftest import ROOT

pytestmark = [
    pytest.mark.docs,
    pytest.mark.skipif(
        not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdfinfo")),
        reason="needs soffice (libreoffice-calc-nogui) and poppler-utils",
    ),
]
YEAR = 2025
ROWS_PER_PAGE = 25  # landscape A4 holds more rows than this at any fit-to-width scale
CHARTS = {  # title -> (y-axis name) as the workbook writes them
    f"Monthly PUE {YEAR}": "PUE",
    f"Monthly WUE {YEAR}": "WUE [m3/MWh]",
}


@pytest.fixture(scope="module")
def demo_out(demo_env) -> Path:
    out = Path(demo_env["CIRCULUS_OUT_DIR"])
    if not (out / f"eu-{YEAR}-submit.xlsx").exists():
        subprocess.run(["make", "demo"], cwd=ROOT, env=demo_env, check=True, capture_output=True)
    return out


def printed_pages(xlsx: Path, tmp_path: Path) -> list[str]:
    """The text of each printed page, in order."""
    subprocess.run(
        [
            "soffice",
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = tmp_path / f"{xlsx.stem}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    count = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE).group(1))
    return [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in range(1, count + 1)
    ]


def sheet_of(page: str, sheets: list[str]) -> str:
    first = next(line for line in page.splitlines() if line.strip())
    name = first.split()[0]
    assert name in sheets, f"page header does not name a sheet: {first!r}"
    return name


@pytest.mark.parametrize("name", [f"eu-{YEAR}-submit.xlsx", f"ewaste-{YEAR}.xlsx"])
def test_every_sheet_prints_one_page_wide_with_its_header(demo_out, tmp_path, name):
    xlsx = demo_out / name
    book = openpyxl.load_workbook(xlsx)  # not read-only: dimensions of every sheet
    sheets = book.sheetnames
    pages = printed_pages(xlsx, tmp_path)
    by_sheet: dict[str, list[str]] = {}
    for page in pages:
        by_sheet.setdefault(sheet_of(page, sheets), []).append(page)
    assert set(by_sheet) == set(sheets)  # every sheet prints, each page says which it is
    # Fitted to one page wide, a sheet runs to as many pages as its rows need, never more: a
    # sheet cut into columns would print several times that. (Before the print setup the EU
    # workbook printed as 53 pages.) Monthly adds one page per chart.
    for sheet, printed in by_sheet.items():
        rows = book[sheet].max_row
        allowed = max(1, math.ceil(rows / ROWS_PER_PAGE)) + (len(CHARTS) if sheet == "Monthly" else 0)
        assert len(printed) <= allowed, f"{sheet}: {len(printed)} pages for {rows} rows"
        if len(printed) > 1 and name.startswith("ewaste"):
            # One table per sheet: its header row is repeated at the top of every page.
            first_header = str(book[sheet].cell(1, 1).value)
            assert all(first_header in page for page in printed)
    for page in pages:
        first = next(line for line in page.splitlines() if line.strip())
        assert "PAR1" in first and str(YEAR) in first  # sites and year in the page header
        assert re.search(r"page \d+ of \d+", page)


def test_each_monthly_chart_prints_whole_on_one_page(demo_out, tmp_path):
    pages = printed_pages(demo_out / f"eu-{YEAR}-submit.xlsx", tmp_path)
    for title, axis in CHARTS.items():
        on = [i for i, page in enumerate(pages) if title in page]
        assert len(on) == 1, f"{title} is on pages {[i + 1 for i in on]}"
        page = pages[on[0]]
        # Its axis name, both ends of the x axis and numeric y ticks are on the same page.
        assert axis in page and "Month" in page
        assert f"{YEAR}-01" in page and f"{YEAR}-12" in page
        ticks = re.findall(r"^\s+(\d+(?:\.\d+)?)\s*$", page, re.MULTILINE)
        assert len(ticks) >= 3, f"{title}: y-axis tick labels missing on its page"


def test_readme_items_and_wrapped_headers_print_whole(demo_out, tmp_path):
    """LibreOffice does not grow a row for wrapped text by itself: a header row left at the
    default height prints its second line across the first data row, and a narrow README
    column cuts its items ("Generated at (U")."""
    xlsx = demo_out / f"eu-{YEAR}-submit.xlsx"
    book = openpyxl.load_workbook(xlsx)
    pages = printed_pages(xlsx, tmp_path)
    readme = "\n".join(page for page in pages if sheet_of(page, book.sheetnames) == "00_README")
    for (item,) in book["00_README"].iter_rows(min_row=2, max_col=1, values_only=True):
        assert item in readme, f"README item {item!r} is cut in print"
    for sheet in ("C_ICT_Capacity", "E_Indicators", "G_Measurement_Points"):
        page = next(page for page in pages if sheet_of(page, book.sheetnames) == sheet)
        lines = page.splitlines()
        first_cell = str(book[sheet].cell(2, 1).value)
        row = next(i for i, line in enumerate(lines) if line.lstrip().startswith(first_cell))
        above = " ".join(lines[:row])
        for cell in book[sheet][1]:
            last_word = str(cell.value).split()[-1]
            assert last_word in above, f"{sheet}: header {cell.value!r} prints over the first row"
