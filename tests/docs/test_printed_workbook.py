"""The demo workbooks as LibreOffice Calc prints them (headless, to PDF): every page legible
(text of at least 7 pt as printed), its sheet's name, sites and year in the page header, the
header row and key column repeated, at most 3 pages a sheet on average, each chart whole on a
page and values rounded as shown.

Runs with the docs step (marker `docs`) on the demo's own outputs (`make demo`, or an
already-made demo's output directory in CIRCULUS_DEMO_OUT); needs `soffice`
(Debian: libreoffice-calc-nogui) and `pdftotext`/`pdfinfo` (poppler-utils).
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from tests.docs.conftest import ROOT

pytestmark = [
    pytest.mark.docs,
    pytest.mark.skipif(
        not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdfinfo")),
        reason="needs soffice (libreoffice-calc-nogui) and poppler-utils",
    ),
]
YEAR = 2025
EU, EWASTE, RZREG = f"eu-{YEAR}-submit", f"ewaste-{YEAR}", f"rzreg-{YEAR}-BER1"
SITES = {EU: "PAR1", EWASTE: "PAR1", RZREG: "BER1"}  # a site each page header names
MIN_PT = 7.0  # the smallest text a printed page may carry (font size x print scale)
MAX_PAGES_PER_SHEET = 3.0  # on average over a workbook's sheets
CHARTS = {  # title -> (y-axis name) as the workbook writes them
    f"Monthly PUE {YEAR}": "PUE",
    f"Monthly WUE {YEAR}": "WUE [m3/MWh]",
}
WORD = re.compile(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">')


@dataclass
class Page:
    text: str  # as laid out on the page
    text_pt: float  # the smallest text on it, in points as printed


@pytest.fixture(scope="module")
def demo_out(demo_env) -> Path:
    if os.environ.get("CIRCULUS_DEMO_OUT"):
        return Path(os.environ["CIRCULUS_DEMO_OUT"])
    out = Path(demo_env["CIRCULUS_OUT_DIR"])
    if not (out / f"{EU}.xlsx").exists():
        subprocess.run(["make", "demo"], cwd=ROOT, env=demo_env, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def printed(demo_out, tmp_path_factory) -> dict[str, list[Page]]:
    """Each workbook's printed pages, in order; one LibreOffice run converts them all, with a
    one-cell workbook of 11-pt text at 100 % that calibrates the text height as measured."""
    tmp = tmp_path_factory.mktemp("printed")
    calibration = tmp / "calibration.xlsx"
    book = xlsxwriter.Workbook(calibration)
    book.add_worksheet("Calibration").write_string(0, 0, "Eleven point text")
    book.close()
    books = [demo_out / f"{name}.xlsx" for name in (EU, EWASTE, RZREG)]
    subprocess.run(
        [
            "soffice",
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp / 'lo-profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp),
            *map(str, [calibration, *books]),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # A word's box is as tall as its font's ascent and descent: about 1.3 em for Carlito (the
    # metric twin of Calibri), measured here rather than assumed.
    (box,) = {round(h, 3) for h in _heights(tmp / "calibration.pdf", 1)}
    em = box / 11
    return {
        xlsx.stem: [
            Page(text, min(_heights(tmp / f"{xlsx.stem}.pdf", n)) / em)
            for n, text in enumerate(_texts(tmp / f"{xlsx.stem}.pdf"), 1)
        ]
        for xlsx in books
    }


def _texts(pdf: Path) -> list[str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    count = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE).group(1))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")[:count]
    assert len(pages) == count
    return pages


def _heights(pdf: Path, page: int) -> list[float]:
    boxes = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(bottom) - float(top) for top, bottom in WORD.findall(boxes)]


def sheet_of(page: str, sheets: list[str]) -> str:
    first = next(line for line in page.splitlines() if line.strip())
    name = first.split()[0]
    assert name in sheets, f"page header does not name a sheet: {first!r}"
    return name


def by_sheet(pages: list[Page], sheets: list[str]) -> dict[str, list[Page]]:
    found: dict[str, list[Page]] = {}
    for page in pages:
        found.setdefault(sheet_of(page.text, sheets), []).append(page)
    return found


@pytest.mark.parametrize("name", [EU, EWASTE, RZREG])
def test_every_page_prints_legibly_with_its_header(demo_out, printed, name):
    book = openpyxl.load_workbook(demo_out / f"{name}.xlsx")
    pages = by_sheet(printed[name], book.sheetnames)
    assert set(pages) == set(book.sheetnames)  # every sheet prints, each page says which it is
    small = {
        f"{sheet} page {i}": round(page.text_pt, 1)
        for sheet, sheet_pages in pages.items()
        for i, page in enumerate(sheet_pages, 1)
        if page.text_pt < MIN_PT
    }
    assert not small, f"text smaller than {MIN_PT} pt as printed: {small}"
    # Before each sheet chose its layout the EU workbook printed 14 pages at 1.4-9.2 pt; a
    # global 70 % scale gave 3.3 pages a sheet. Wide sheets now print across pages, not more.
    average = len(printed[name]) / len(pages)
    assert average <= MAX_PAGES_PER_SHEET, {s: len(p) for s, p in pages.items()}
    for page in printed[name]:
        first = next(line for line in page.text.splitlines() if line.strip())
        assert SITES[name] in first and str(YEAR) in first  # sites and year in the page header
        assert re.search(r"page \d+ of \d+", page.text)


@pytest.mark.parametrize("name", [EU, EWASTE, RZREG])
def test_header_row_and_key_column_repeat_on_every_page(demo_out, printed, name):
    """A sheet of one table printed on several pages, across or down, names its columns and
    the row's site (or item) on each: the header row and first column are print titles."""
    book = openpyxl.load_workbook(demo_out / f"{name}.xlsx")
    for sheet, pages in by_sheet(printed[name], book.sheetnames).items():
        ws = book[sheet]
        if ws.print_title_rows is None or len(pages) == 1:
            continue  # several tables one under another: each has its own header
        header_row = int(ws.print_title_rows.split(":")[-1].strip("$"))
        key = str(ws.cell(header_row, 1).value).split()[0]  # its first word: a header wraps
        keys = {str(v) for (v,) in ws.iter_rows(min_row=header_row + 1, max_col=1, values_only=True)}
        for i, page in enumerate(pages, 1):
            body = page.text.lstrip().split("\n", 1)[-1]  # below the page header
            assert key in body, f"{sheet} page {i} of {len(pages)} lacks its header {key!r}"
            assert any(re.search(rf"^\s*{re.escape(k)}\b", body, re.M) for k in keys), (
                f"{sheet} page {i} lacks its rows' key column ({key})"
            )


def test_register_values_print_rounded_as_shown(printed):
    """The RZReg register printed `80.284876433 %`: a value prints as its unit is read (the
    cell keeps the full value)."""
    register = "\n".join(p.text for p in printed[RZREG] if "J_DE_EnEfG_Anlage3" in p.text)
    assert re.search(r"Renewable share of electricity.*\s80\.3\s", register)
    assert not re.findall(r"\d\.\d{4,}", register)


def test_each_monthly_chart_prints_whole_on_one_page(printed):
    pages = [page.text for page in printed[EU]]
    for title, axis in CHARTS.items():
        on = [i for i, page in enumerate(pages) if title in page]
        assert len(on) == 1, f"{title} is on pages {[i + 1 for i in on]}"
        page = pages[on[0]]
        # Its axis name, both ends of the x axis and numeric y ticks are on the same page.
        assert axis in page and "Month" in page
        assert f"{YEAR}-01" in page and f"{YEAR}-12" in page
        ticks = re.findall(r"^\s+(\d+(?:\.\d+)?)\s*$", page, re.MULTILINE)
        assert len(ticks) >= 3, f"{title}: y-axis tick labels missing on its page"


def test_readme_items_and_wrapped_headers_print_whole(demo_out, printed):
    """LibreOffice does not grow a row for wrapped text by itself: a header row left at the
    default height prints its second line across the first data row, and a narrow README
    column cuts its items ("Generated at (U")."""
    book = openpyxl.load_workbook(demo_out / f"{EU}.xlsx")
    pages = [page.text for page in printed[EU]]
    readme = "\n".join(page for page in pages if sheet_of(page, book.sheetnames) == "00_README")
    for (item,) in book["00_README"].iter_rows(min_row=2, max_col=1, values_only=True):
        assert item in readme, f"README item {item!r} is cut in print"
    for sheet in ("C_ICT_Capacity", "E_Indicators", "G_Measurement_Points"):
        first_cell = str(book[sheet].cell(2, 1).value)
        above = ""  # the header rows of each of the sheet's pages, down to its first data row
        for page in (page for page in pages if sheet_of(page, book.sheetnames) == sheet):
            lines = page.splitlines()
            row = next(i for i, line in enumerate(lines) if line.lstrip().startswith(first_cell))
            above += " ".join(lines[:row])
        for cell in book[sheet][1]:
            last_word = str(cell.value).split()[-1]
            assert last_word in above, f"{sheet}: header {cell.value!r} prints over the first row"
