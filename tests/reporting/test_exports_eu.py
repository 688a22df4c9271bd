"""The EU annual workbook: round trip against the stored results, variants, validation flag."""

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from reporting import indicators as ind
from reporting import rollups
from reporting.computation import aggregate_year, compute_and_store
from reporting.exports import eu_workbook
from reporting.models import (
    FieldValue,
    InstrumentKind,
    MeasurementPoint,
    PeriodResult,
    Reading,
    RenewableInstrument,
    ReportingPeriod,
    SiteProfile,
)
from reporting.services import transition
from tests import factories as f
from tests.factories import record

YEAR = 2024
VECTORS = {
    v["id"]: v for v in json.loads((Path(__file__).parent / "vectors.json").read_text())["vectors"]
}


def _profile(site, **fields):
    defaults = {
        "owner_name": "=Owner SA",
        "owner_contact": "+33 1 23 45 67 89",
        "operator_name": "Op",
        "operator_contact": "ops@example.org",
        "lau_code": "75056",
        "nuts3_code": "FR101",
        "dc_type": "colocation",
        "structure_type": "structure",
        "operation_start_year": 2019,
        "operation_start_month": 4,
        "red_el_hv": "2N",
        "red_el_lv": "N+1",
        "red_el_rack": "2N",
        "red_cool_room": "N+1",
        "red_cool_rack": "N",
    }
    return SiteProfile.objects.create(site=site, **(defaults | fields))


def _daily_meter(site, code, quantity, unit, per_day):
    meter = MeasurementPoint.objects.create(
        site=site,
        code=code,
        quantity=quantity,
        unit=unit,
        register="interval",
        interval_minutes=1440,
    )
    start = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)
    Reading.objects.bulk_create(
        Reading(meter=meter, timestamp=start + dt.timedelta(days=d + 1), value=per_day(d))
        for d in range(366)
    )
    rollups.rebuild([meter.pk])  # written around ingest: its daily rollups by hand
    return meter


def _period(site, values: dict, *, confidential=(), validate=True, meters=False):
    period = ReportingPeriod.calendar_year(site, YEAR, pdit_basis="installed", wue_category=2)
    period.full_clean()
    period.save()
    if meters:
        _daily_meter(site, f"{site.code}-E", "edc-supply", "kWh", lambda d: Decimal(150 + d % 7))
        _daily_meter(site, f"{site.code}-IT", "eit-ups-output", "kWh", lambda d: Decimal(100))
        _daily_meter(site, f"{site.code}-W", "water-total", "m3", lambda d: Decimal("0.2"))
    for symbol, value in values.items():
        FieldValue.objects.create(
            period=period,
            symbol=symbol,
            value=value,
            confidential=symbol in confidential,
            quality="omitted" if value is None else "measured",
            measured_by="" if value is None else "test meter",
            omission_reason="no meter yet" if value is None else "",
        )
    for symbol in confidential:
        if symbol not in values:
            FieldValue.objects.create(period=period, symbol=symbol, confidential=True)
    if validate:
        transition(period, "validated")
    else:
        compute_and_store(period)
    return period


@pytest.fixture
def two_sites(db):
    """T3 (vectors) at PAR1, metered monthly series at FRA1 with EDC confidential."""
    par = f.site("PAR1", time_zone="UTC")
    fra = f.site("FRA1", country="DE", time_zone="UTC")
    _profile(par)
    _profile(fra, nuts3_code="DE300", lau_code="11000000", dc_type="enterprise")
    t3 = {k: Decimal(v) for k, v in VECTORS["T3"]["inputs"].items()}
    _period(
        par,
        {
            "PDIT": Decimal("1200"),
            "SDC": Decimal("5000"),
            "SCR": Decimal("2000"),
            **{k: t3[k] for k in ("EDC", "EIT", "WIN", "WIN-POT", "EREUSE")},
            "TWH": None,  # omitted, Art. 3(2)
        },
    )
    period = ReportingPeriod.objects.get(site=par)
    RenewableInstrument.objects.bulk_create(
        [
            RenewableInstrument(period=period, kind=InstrumentKind.GO, volume_kwh=t3["ERES-GOO"]),
            RenewableInstrument(period=period, kind=InstrumentKind.PPA, volume_kwh=t3["ERES-PPA"]),
            RenewableInstrument(
                period=period, kind=InstrumentKind.ONSITE, volume_kwh=t3["ERES-OS"]
            ),
        ]
    )
    transition(period, "draft")
    transition(period, "validated")
    _period(
        fra,
        {"PDIT": Decimal("600"), "SDC": Decimal("900"), "SCR": Decimal("400")},
        confidential=("EDC",),
        meters=True,
    )
    aggregate_year(YEAR)
    gpu = f.asset("GPU-1", at_site=par)
    record(gpu, "sent-to-recycler", 5, recycler="R", certification="r2v3", consignment_ref="C")
    record(gpu, "recycled", 9, certificate_ref="C-1", weee_category="6", weighed_mass_kg="2")
    return par, fra


def _sheet_rows(ws) -> tuple[list, list[list]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def _num(value):
    return None if value is None else float(value)


def test_workbook_round_trip_every_number(two_sites, tmp_path):
    path = tmp_path / "eu.xlsx"
    data = eu_workbook.report_data(YEAR)
    eu_workbook.write_xlsx(data, str(path))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [name for name, _ in eu_workbook.SHEETS]
    for ws in book.worksheets:
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), ws.title

    results = {r.period.site.code: r for r in PeriodResult.objects.select_related("period__site")}
    header, rows = _sheet_rows(book["B_Energy_Sustainability"])
    assert header[5] == "II.1(a) PDIT — Installed information technology power demand [kW]"
    for row in rows:
        result = results[row[0]]
        assert row[2] == dt.datetime(YEAR, 1, 1) and row[3] == dt.datetime(YEAR, 12, 31)
        for col, name in enumerate(header):
            for symbol in ind.SYMBOLS:
                if name == eu_workbook.header(symbol):
                    assert row[col] == _num(result.inputs[symbol]["value"]), (row[0], symbol)
    par = next(r for r in rows if r[0] == "PAR1")
    col = {h: i for i, h in enumerate(header)}
    expected = VECTORS["T3"]["expected"]
    assert par[col[eu_workbook.header("ERES-TOT")]] == float(expected["ERES-TOT"])
    assert par[col[eu_workbook.header("TWH")]] is None  # omitted: blank, never 0
    assert par[col[eu_workbook.header("CDD")]] is None

    header, rows = _sheet_rows(book["E_Indicators"])
    for row in rows:
        stored = results[row[0]].indicators
        for i, name in enumerate(("PUE", "WUE", "ERF", "REF")):
            value = None if stored[name] is None else Decimal(stored[name])
            assert row[2 + i] == _num(ind.round_reported(value)), (row[0], name)
            assert row[7 + i] == _num(value)
    fmt = [c.number_format for c in book["E_Indicators"][2]]
    assert fmt[2] == "0.00" and fmt[7] == "0.0000000000"
    par = next(r for r in rows if r[0] == "PAR1")
    assert par[2:6] == [float(expected[k]) for k in ("PUE", "WUE", "ERF", "REF")]  # T3
    _, f_rows = _sheet_rows(book["F_Omissions_Estimates"])
    assert any(r[0] == "PAR1" and r[2] == "TWH" and r[3] == "omitted" for r in f_rows)

    header, rows = _sheet_rows(book["Monthly"])
    fra = [r for r in rows if r[0] == "FRA1"]
    monthly = results["FRA1"].monthly
    assert len(fra) == len(monthly) == 12
    for row, month in zip(fra, monthly, strict=True):
        assert row[1] == month["month"]
        assert row[2:9] == [
            _num(month[k]) for k in ("EDC", "EIT", "WIN", "EREUSE", "PUE", "WUE", "ERF")
        ]
    assert book["Monthly"]._charts == [] or True  # openpyxl drops charts on read
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2

    header, rows = _sheet_rows(book["A_Information"])
    par = next(r for r in rows if r[0] == "PAR1")
    assert par[2] == "=Owner SA" and par[3] == "+33 1 23 45 67 89"  # text, not formulas
    assert par[13] == 2019

    _, rows = _sheet_rows(book["H_Aggregates"])
    eu_all = next(r for r in rows if r[1] == "EU" and r[2] == "all")
    assert eu_all[3] == 2


def test_annex_iv_aggregate_of_t9(db, tmp_path):
    t9 = VECTORS["T9"]
    for code, values in t9["inputs"]["sites"].items():
        site = f.site(f"T9{code}", time_zone="UTC")
        _period(site, {"PDIT": Decimal("800")} | {k: Decimal(v) for k, v in values.items()})
    aggregate_year(YEAR)
    path = tmp_path / "t9.xlsx"
    eu_workbook.write_xlsx(eu_workbook.report_data(YEAR), str(path))
    header, rows = _sheet_rows(openpyxl.load_workbook(path)["H_Aggregates"])
    eu_all = next(r for r in rows if r[1] == "EU" and r[2] == "all")
    # Two data centres: the EU "all" group is withheld like any other group of fewer than 3.
    assert eu_all[header.index("Annex IV (i) Number of reporting data centres")] == 2
    assert eu_all[header.index("EDC-weighted average PUE")] is None
    assert eu_all[header.index("Annex IV (iv) Total EDC [kWh]")] is None
    assert eu_all[header.index("Withheld (< 3 DCs)")] == "totals, PUE"

    _, e_rows = _sheet_rows(openpyxl.load_workbook(path)["E_Indicators"])
    assert [r[2] for r in e_rows] == [
        float(t9["expected"]["PUE_A"]),
        float(t9["expected"]["PUE_B"]),
    ]
    # A third data centre lifts the suppression: the EDC-weighted formula of T9 shows through.
    third = f.site("T9C", time_zone="UTC")
    _period(third, {"PDIT": Decimal("800"), "EDC": Decimal("1"), "EIT": Decimal("1")})
    aggregate_year(YEAR)
    eu_workbook.write_xlsx(eu_workbook.report_data(YEAR), str(path))
    header, rows = _sheet_rows(openpyxl.load_workbook(path)["H_Aggregates"])
    eu_all = next(r for r in rows if r[1] == "EU" and r[2] == "all")
    pue = Decimal(str(eu_all[header.index("EDC-weighted average PUE")]))
    a, b = t9["inputs"]["sites"].values()
    by_hand = (
        Decimal(a["EDC"]) * Decimal(a["EDC"]) / Decimal(a["EIT"])
        + Decimal(b["EDC"]) * Decimal(b["EDC"]) / Decimal(b["EIT"])
        + 1
    ) / (Decimal(a["EDC"]) + Decimal(b["EDC"]) + 1)
    assert ind.round_reported(pue) == ind.round_reported(by_hand)


def test_publish_variant_withholds_confidential_fields(two_sites, tmp_path):
    submit = eu_workbook.as_json(eu_workbook.report_data(YEAR, ["FRA1"], variant="submit"))
    publish = eu_workbook.as_json(eu_workbook.report_data(YEAR, ["FRA1"], variant="publish"))

    def cell(doc, sheet, column):
        table = doc["sheets"][sheet][0]
        return table["rows"][0][table["columns"].index(column)]

    edc = eu_workbook.header("EDC")
    assert cell(submit, "B_Energy_Sustainability", edc) is not None
    assert cell(publish, "B_Energy_Sustainability", edc) is None
    assert cell(publish, "B_Energy_Sustainability", eu_workbook.header("EIT")) is not None
    pue = "Annex III(a) PUE = EDC/EIT"
    assert cell(submit, "E_Indicators", pue) is not None
    assert cell(publish, "E_Indicators", pue) is None  # derived from a confidential input
    wue = "Annex III(b) WUE = WIN/EIT [m3/MWh] (2024/1364)"  # the header names the schema
    assert cell(publish, "E_Indicators", wue) is not None
    monthly = publish["sheets"]["Monthly"][0]
    assert all(r[2] is None and r[6] is None for r in monthly["rows"])
    omissions = publish["sheets"]["F_Omissions_Estimates"][0]["rows"]
    assert [omissions[0][0], omissions[0][2]] == ["FRA1", "EDC"]
    assert omissions[0][3] == "withheld (confidential)"


def test_unvalidated_period_refused_without_the_flag(two_sites, tmp_path):
    site = f.site("MAD1", country="ES", time_zone="UTC")
    _period(site, {"PDIT": Decimal("700")}, validate=False)
    with pytest.raises(eu_workbook.NotValidated):
        eu_workbook.report_data(YEAR)
    out = tmp_path / "eu.xlsx"
    with pytest.raises(CommandError, match="MAD1"):
        call_command("export_eu", "--year", str(YEAR), "--out", str(out), stdout=io.StringIO())
    call_command(
        "export_eu",
        "--year",
        str(YEAR),
        "--allow-unvalidated",
        "--out",
        str(out),
        stdout=io.StringIO(),
    )
    readme = {
        r[0]: r[1] for r in openpyxl.load_workbook(out)["00_README"].iter_rows(values_only=True)
    }
    assert "not validated" in readme["NOT VALIDATED: MAD1"]
    assert isinstance(readme["Generated at (UTC)"], dt.datetime)
    # a validated selection needs no flag
    call_command(
        "export_eu", "--year", str(YEAR), "--site", "PAR1", "--out", str(out), stdout=io.StringIO()
    )


def test_csv_twins_and_json_carry_the_same_content(two_sites, tmp_path):
    data = eu_workbook.report_data(YEAR)
    out = tmp_path / "eu.zip"
    eu_workbook.write_csv_zip(data, str(out))
    doc = eu_workbook.as_json(data)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(f"{n}.csv" for n, _ in eu_workbook.SHEETS)
        text = archive.read("B_Energy_Sustainability.csv").decode("utf-8-sig")
        e_text = archive.read("E_Indicators.csv").decode("utf-8-sig")
        a_text = archive.read("A_Information.csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    table = doc["sheets"]["B_Energy_Sustainability"][0]
    assert rows[0] == table["columns"]
    for csv_row, json_row in zip(rows[1:], table["rows"], strict=True):
        assert csv_row == ["" if v is None else str(v) for v in json_row]
    frame = pd.read_csv(io.StringIO(e_text))
    assert frame.loc[frame["DC_ID"] == "PAR1", "Annex III(a) PUE = EDC/EIT"].item() == 1.25
    assert "'=Owner SA" in a_text and "'+33 1 23 45 67 89" in a_text


def test_eu_json_api(api, two_sites, auditor_user, operator_user):
    api.force_authenticate(auditor_user)
    body = api.get("/api/exports/eu-annual/", {"year": YEAR, "variant": "publish"}).json()
    assert set(body["sheets"]) == {name for name, _ in eu_workbook.SHEETS}
    par, _fra = two_sites
    par.operators.add(operator_user)
    api.force_authenticate(operator_user)
    assert api.get("/api/exports/eu-annual/", {"year": YEAR, "site": "FRA1"}).status_code == 403
    mine = api.get("/api/exports/eu-annual/", {"year": YEAR}).json()
    assert [r[0] for r in mine["sheets"]["A_Information"][0]["rows"]] == ["PAR1"]


def test_eu_export_job(
    api, two_sites, auditor_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    api.force_authenticate(auditor_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/exports/", {"kind": "eu-annual", "year": YEAR, "format": "zip"}, format="json"
        )
    assert response.status_code == 202
    job = api.get(f"/api/exports/{response.json()['id']}/").json()
    assert job["state"] == "done", job["error"]
    content = b"".join(api.get(job["download_url"]).streaming_content)
    assert "00_README.csv" in zipfile.ZipFile(io.BytesIO(content)).namelist()


def test_admin_eu_workbook_page(admin_client, two_sites):
    url = "/admin/exports/exportjob/eu-workbook/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get("/admin/exports/exportjob/").status_code == 200
    response = admin_client.post(url, {"year": YEAR, "variant": "publish", "output": "xlsx"})
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames[0] == "00_README"


def test_admin_eu_workbook_page_refuses_unvalidated_without_flag(admin_client, two_sites):
    _period(f.site("MAD1", time_zone="UTC"), {"PDIT": Decimal("700")}, validate=False)
    url = "/admin/exports/exportjob/eu-workbook/"
    response = admin_client.post(url, {"year": YEAR, "variant": "submit", "output": "zip"})
    assert response.status_code == 200 and b"MAD1" in response.content
    response = admin_client.post(
        url, {"year": YEAR, "variant": "submit", "output": "zip", "allow_unvalidated": "on"}
    )
    assert (
        "00_README.csv"
        in zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    )


def test_write_demo_exports(two_sites, settings, tmp_path):
    from reporting.exports.demo import write_demo_exports

    settings.OUT_DIR = tmp_path
    out = io.StringIO()
    paths = write_demo_exports(out, YEAR)
    assert [p.name for p in paths] == [f"eu-{YEAR}-submit.xlsx", f"ewaste-{YEAR}.xlsx"]
    assert all(p.exists() for p in paths)
    assert "EU annual workbook" in out.getvalue()


def _h_rows_of_download(content: bytes, fmt: str) -> list:
    if fmt == "zip":
        text = zipfile.ZipFile(io.BytesIO(content)).read("H_Aggregates.csv").decode("utf-8-sig")
        return [r for r in csv.reader(io.StringIO(text)) if r and r[0] == str(YEAR)]
    _, rows = _sheet_rows(openpyxl.load_workbook(io.BytesIO(content))["H_Aggregates"])
    return [r for r in rows if r[0] == YEAR]


@pytest.mark.parametrize("fmt", ["xlsx", "zip"])
def test_annex_iv_aggregates_reach_only_the_roles_that_may_read_them_through_every_door(
    api, client, two_sites, operator_user, auditor_user, settings, tmp_path, fmt,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.MEDIA_ROOT = tmp_path
    par, _fra = two_sites
    par.operators.add(operator_user)
    seen = {}
    for user in (operator_user, auditor_user):
        api.force_authenticate(user)
        body = api.get("/api/exports/eu-annual/", {"year": YEAR, "site": "PAR1"}).json()
        (h,) = body["sheets"]["H_Aggregates"]
        with django_capture_on_commit_callbacks(execute=True):
            job = api.post(
                "/api/exports/",
                {"kind": "eu-annual", "year": YEAR, "sites": ["PAR1"], "format": fmt},
                format="json",
            ).json()
        job = api.get(f"/api/exports/{job['id']}/").json()
        download = b"".join(api.get(job["download_url"]).streaming_content)
        client.force_login(user)
        page = client.post(
            "/admin/exports/exportjob/eu-workbook/",
            {"year": YEAR, "variant": "submit", "output": fmt, "sites": [par.pk]},
        )
        seen[user.username] = (
            h,
            _h_rows_of_download(download, fmt),
            _h_rows_of_download(b"".join(page.streaming_content), fmt),
        )
    json_h, job_rows, admin_rows = seen[operator_user.username]
    assert json_h["rows"] == [] and "Withheld" in json_h["title"]
    assert job_rows == [] and admin_rows == []
    json_h, job_rows, admin_rows = seen[auditor_user.username]
    assert json_h["rows"] and job_rows and admin_rows
    assert len(json_h["rows"]) == len(job_rows) == len(admin_rows)


@pytest.mark.parametrize("fmt", ["xlsx", "zip"])
@pytest.mark.parametrize("with_period", [True, False])
def test_a_site_without_readings_exports_with_its_empty_months_explained(
    api, auditor_user, settings, tmp_path, django_capture_on_commit_callbacks, fmt, with_period
):
    settings.MEDIA_ROOT = tmp_path
    quiet = f.site("MAD1", time_zone="UTC")
    _profile(quiet)
    if with_period:
        _period(quiet, {"PDIT": Decimal("700")})
    api.force_authenticate(auditor_user)
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post(
            "/api/exports/",
            {"kind": "eu-annual", "year": YEAR, "sites": ["MAD1"], "format": fmt},
            format="json",
        ).json()
    job = api.get(f"/api/exports/{job['id']}/").json()
    assert job["state"] == "done", job["error"]
    content = b"".join(api.get(job["download_url"]).streaming_content)
    if fmt == "zip":
        monthly = zipfile.ZipFile(io.BytesIO(content)).read("Monthly.csv").decode("utf-8-sig")
    else:
        rows = openpyxl.load_workbook(io.BytesIO(content))["Monthly"].iter_rows(values_only=True)
        monthly = "\n".join(str(v) for row in rows for v in row if v is not None)
    explained = "No readings in" if with_period else "No reporting period for"
    assert explained in monthly and "MAD1" in monthly
