"""The 2026 field dictionary, the label preview, EnEfG compliance findings and the de-rzreg
variant, through every door: models, computation, workbook (read back), JSON, command, API, admin.

The German site is the demo's BER1 (reporting/demo_de.py), loaded through the real import paths.
"""

import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from reporting import indicators as ind
from reporting.computation import compute_and_store
from reporting.demo_de import load_demo_site_de
from reporting.exports import eu_workbook
from reporting.exports.demo import write_demo_rzreg
from reporting.exports.models import ExportJob
from reporting.models import FieldValue, PeriodResult, ReportingPeriod
from reporting.services import transition
from tests import factories as f
from tests.reporting.conftest import make_site, period

pytestmark = pytest.mark.django_db
YEAR = 2025
PREVIEW = (
    "preview (draft act, class bounds unverified) — the official label is issued by the European "
    "database"
)


@pytest.fixture
def ber1(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.OUT_DIR = tmp_path / "out"
    site = load_demo_site_de(io.StringIO())
    result = compute_and_store(ReportingPeriod.objects.get(site=site, year=YEAR))
    return result


@pytest.fixture
def par1():
    site = make_site("PAR9", country="FR")
    p = period(site, YEAR, pdit_basis="installed", wue_category=2)
    for symbol, value in {"EDC": "1500000", "EIT": "1000000", "WIN": "300", "PDIT": "600"}.items():
        FieldValue.objects.create(period=p, symbol=symbol, value=Decimal(value))
    return compute_and_store(p)


def _num(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _rows(ws, header_row):
    rows = list(ws.iter_rows(values_only=True))
    header = rows[header_row]
    return [dict(zip(header, r, strict=True)) for r in rows[header_row + 1 :]]


# --- field dictionary: chosen by the reporting year ------------------------------------------


def _de_2026_period(ber1, **values):
    """A 2026 period of the German site with entered figures (its report is due in 2027)."""
    p = period(ber1.period.site, 2026, pdit_basis="installed", wue_category=2)
    for symbol, value in values.items():
        FieldValue.objects.create(
            period=p,
            symbol=symbol,
            value=Decimal(value),
            quality="measured",
            measured_by="test meter",
        )
    return p


def test_the_2025_report_follows_2024_1364_not_the_later_act(ber1):
    # Due 15 May 2026, before the rating act's reported adoption (21 Sep 2026).
    assert ber1.period.schema == ind.SCHEMA_2024
    inputs = ber1.inputs
    total, eit = (Decimal(inputs[s]["value"]) for s in ("WIN", "EIT"))
    assert Decimal(ber1.indicators["WUE"]) == (total / (eit / 1000)).quantize(Decimal("1e-10"))
    schema, why = ind.governing_dictionary(YEAR)
    assert schema == ind.SCHEMA_2024 and "after that report was due" in why


def test_under_the_2026_dictionary_wue_is_freshwater_over_eit(ber1):
    p = _de_2026_period(ber1, EDC="1300000", EIT="1000000", WIN="900", **{"WIN-FRE": "600"})
    assert p.schema == ind.SCHEMA_2026
    result = compute_and_store(p)
    assert Decimal(result.indicators["WUE"]) == Decimal("0.6")  # 600 m3 / 1000 MWh
    assert "BIN" not in result.inputs  # the 2026 dictionary has no data-traffic indicators


def test_fields_outside_the_period_dictionary_are_refused(ber1, par1):
    fr_period = par1.period
    for symbol, reason in (("WIN-FRE", "2024/1364 field dictionary"), ("PNR", "not in DE")):
        value = FieldValue(period=fr_period, symbol=symbol, value=Decimal(1))
        with pytest.raises(ValidationError, match=reason):
            value.full_clean()
    de_2026 = _de_2026_period(ber1)
    with pytest.raises(ValidationError, match="2024/1364\\+2026 field dictionary"):
        FieldValue(period=de_2026, symbol="BIN", value=Decimal(1)).full_clean()


def test_a_year_change_that_would_strand_entered_values_is_refused(par1):
    p = par1.period
    FieldValue.objects.create(period=p, symbol="TOUT", value=Decimal("0.001"))
    p.year, p.start_date, p.end_date = 2026, date(2026, 1, 1), date(2026, 12, 31)
    with pytest.raises(ValidationError, match="TOUT entered"):
        p.full_clean()


def test_the_api_shows_the_year_dictionary_and_cannot_set_another(api, par1):
    api.force_authenticate(f.user("root", is_staff=True, is_superuser=True))
    url = f"/api/periods/{par1.period.pk}/"
    assert api.get(url).json()["schema"] == "2024/1364"
    assert api.patch(url, {"schema": "2024/1364+2026"}, format="json").status_code == 200
    assert ReportingPeriod.objects.get(pk=par1.period.pk).schema == "2024/1364"  # read-only
    response = api.post(
        f"{url}values/", {"symbol": "WIN-FRE", "value": "5", "quality": "estimated"}, format="json"
    )
    assert response.status_code == 400 and "field dictionary" in str(response.json())
    created = api.post(
        "/api/sites/PAR9/periods/",
        {"year": 2026, "start_date": "2026-01-01", "end_date": "2026-12-31"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["schema"] == "2024/1364+2026"


# --- workbook: headers, README, K_Label_2026 round trip, JSON ------------------------------------


def test_workbook_names_the_schema_and_the_label_sheet_reads_back(ber1, par1, tmp_path):
    out = tmp_path / "eu.xlsx"
    call_command("export_eu", year=YEAR, allow_unvalidated=True, out=str(out), stdout=io.StringIO())
    book = openpyxl.load_workbook(out)
    readme = dict(book["00_README"].iter_rows(values_only=True))
    assert "BER1: 2024/1364" in readme["Field dictionary (schema)"]
    assert "PAR9: 2024/1364" in readme["Field dictionary (schema)"]
    # the year chose it: the rating act came after the 2025 report was due
    assert (
        "2024/1364+2026 applies from 21 Sep 2026, after that report was due"
        in readme["Field dictionary rule"]
    )
    assert "draft act, class bounds unverified" in readme["K_Label_2026"]
    assert "Ares(2026)3247482" in readme["K_Label_2026"]  # the bounds' sources
    headers = next(book["E_Indicators"].iter_rows(values_only=True))
    assert any(h and "WUE = WIN/EIT" in h for h in headers)
    b_rows = _rows(book["B_Energy_Sustainability"], 0)
    assert {r["DC_ID"]: r["Field dictionary (schema)"] for r in b_rows} == {
        "BER1": "2024/1364",
        "PAR9": "2024/1364",
    }

    labels = {r["DC_ID"]: r for r in _rows(book["K_Label_2026"], 1)}
    for result in (ber1, par1):
        row = labels[result.period.site.code]
        pue = Decimal(result.indicators["PUE"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert _num(row["PUE (2 dp)"]) == pue
        assert row["Status"] == PREVIEW
        assert row["Size category (Annex IV)"] == result.indicators["size_class"]
        assert row["Region (NUTS 3)"] == (result.period.site.reporting_profile.nuts3_code or None)
    ber = labels["BER1"]
    for code in ("BER1", "PAR9"):  # a 2024/1364 period reports no WIN-FRE for the label's WUE
        assert labels[code]["WUE class (A-G)"] is None and "WIN-FRE" in labels[code]["WUE basis"]
    # classes against the act's table, read independently of the workbook code
    ber_pue = Decimal(ber1.indicators["PUE"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
    table = [("A", "1.15"), ("B", "1.25"), ("C", "1.35"), ("D", "1.5")]
    assert ber["PUE class (A-G)"] == _band(ber_pue, table)
    assert ber["Waste-heat reuse readiness"] == "Waste heat reused"

    monthly = [r for r in _rows(book["Monthly"], 0) if r["DC_ID"] == "BER1"]
    fresh = next(k for k in monthly[0] if k and k.startswith("WIN-FRE"))
    assert [_num(r[fresh]) for r in monthly] == [_num(m["WIN-FRE"]) for m in ber1.monthly]
    wue = [_num(r["WUE [m3/MWh]"]) for r in monthly]
    assert wue == [_num(m["WUE"]).quantize(Decimal("1e-10")) for m in ber1.monthly]
    january = ber1.monthly[0]  # monthly WUE also follows the period's dictionary
    by_hand = Decimal(january["WIN"]) / (Decimal(january["EIT"]) / 1000)
    assert Decimal(january["WUE"]) == by_hand.quantize(Decimal("1e-10"))


def _band(value, bounds):
    return next(code for code, upper in bounds if value <= Decimal(upper))


def test_json_export_carries_the_same_label_sheet(api, ber1, par1):
    api.force_authenticate(f.user("root", is_staff=True, is_superuser=True))
    response = api.get(
        "/api/exports/eu-annual/", {"year": YEAR, "allow_unvalidated": "true", "site": "BER1"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["schema_version"] == eu_workbook.SCHEMA_VERSION
    (table,) = body["sheets"]["K_Label_2026"]
    assert PREVIEW in table["title"]
    assert table["rows"][0][0] == "BER1" and table["rows"][0][-1] == PREVIEW


# --- compliance findings --------------------------------------------------------------------


def test_german_period_gets_enefg_findings_that_never_block(ber1):
    found = {f["rule_id"]: f for f in ber1.findings}
    assert found["rzreg-registration"]["legal_ref"] == "EnEfG §13(1), §20(2), Anlage 3 (RZReg)"
    assert found["enefg-pue-upcoming"]["applies_from"] == "2027-07-01"  # started 2021: existing
    assert found["enefg-renewable-share"]["severity"] == "info"
    period = ber1.period
    FieldValue.objects.filter(period=period, symbol="PNR").delete()
    transition(period, "validated")  # a compliance warning does not block validation
    result = PeriodResult.objects.get(period=period)
    # §3 Nr. 24: without the non-redundant load the act's scope is unknown, and says so
    warning = next(f for f in result.findings if f["rule_id"] == "enefg-scope")
    assert warning["severity"] == "warning" and "300 kW" in warning["message"]
    assert not [f for f in result.findings if f["rule_id"].startswith("rzreg-")]


def test_a_french_period_gets_no_enefg_findings(par1):
    assert not [f for f in par1.findings if f.get("legal_ref")]


def test_compliance_findings_reach_the_workbook_with_reference_and_date(ber1, tmp_path):
    out = tmp_path / "eu.xlsx"
    call_command(
        "export_eu",
        year=YEAR,
        site=["BER1"],
        allow_unvalidated=True,
        out=str(out),
        stdout=io.StringIO(),
    )
    ws = openpyxl.load_workbook(out)["F_Omissions_Estimates"]
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] and "compliance" in str(r[0]))
    found = _rows_from(rows, start + 1)
    pue = next(r for r in found if r["Rule"] == "enefg-pue-upcoming")
    assert pue["Legal reference"] == "EnEfG §11(1) (PUE)"
    assert pue["Applies from"].date().isoformat() == "2027-07-01"


def _rows_from(rows, header_index):
    header = rows[header_index]
    return [dict(zip(header, r, strict=True)) for r in rows[header_index + 1 :] if any(r)]


# --- the RZReg variant ------------------------------------------------------------------------


def test_demo_rzreg_export_reads_back_as_the_database(ber1):
    path = write_demo_rzreg(io.StringIO(), YEAR)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["00_README", "J_DE_EnEfG_Anlage3", "Compliance"]
    rows = _rows(book["J_DE_EnEfG_Anlage3"], 0)
    by_english = {r["Data point"]: r for r in rows}
    assert len(rows) == len(eu_workbook.DATA_POINTS)
    inputs = ber1.inputs
    for english, symbol in eu_workbook.ANLAGE_3_INPUT.items():
        row = by_english[english]
        expected = _num(inputs[symbol]["value"])
        assert _num(row["Wert / Value"]) == expected, english
        assert row["Quality"] == inputs[symbol]["quality"]
        assert row["Datenpunkt"]  # German name beside the English one
    assert by_english["Postcode"]["Text"] == "10115"
    assert _num(by_english["Power usage effectiveness (PUE, EN 50600-4-2)"]["Wert / Value"]) == (
        _num(ber1.indicators["PUE"])
    )
    grid, own, feed = (Decimal(inputs[s]["value"]) for s in ("EGRID", "EOWN", "EFEED"))
    total = by_english["Total electricity consumption incl. own generation"]
    assert _num(total["Wert / Value"]) == grid + own - feed and total["Einheit / Unit"] == "kWh"
    share = by_english["Renewable share of electricity (EN 50600-4-3)"]
    eres = Decimal(inputs["ERES-TOT"]["value"])
    assert _num(share["Wert / Value"]).quantize(Decimal("0.0001")) == (
        eres / (grid + own - feed) * 100
    ).quantize(Decimal("0.0001"))
    compliance = _rows(book["Compliance"], 1)
    assert {r["Rule"] for r in compliance} >= {"rzreg-registration", "enefg-renewable-share"}
    # EnEfG §11(2) S. 3: the upgrading electricity and the §11 PUE, apart from the 2(f) PUE
    upgrade = by_english["Electricity only for upgrading waste heat"]
    assert upgrade["Anlage 3"] == "§11(2) S. 3, no Anlage 3 item"
    assert _num(upgrade["Wert / Value"]) == Decimal(inputs["EUPGRADE"]["value"])
    edc, eit = Decimal(inputs["EDC"]["value"]), Decimal(inputs["EIT"]["value"])
    pue_11 = by_english["§11 PUE, waste-heat upgrading left out (not the 2(f) PUE)"]
    assert _num(pue_11["Wert / Value"]).quantize(Decimal("1e-8")) == (
        (edc - Decimal(inputs["EUPGRADE"]["value"])) / eit
    ).quantize(Decimal("1e-8"))
    assert _num(pue_11["Wert / Value"]) < _num(
        by_english["Power usage effectiveness (PUE, EN 50600-4-2)"]["Wert / Value"]
    )
    # EnEfG §12: the demo's ISO 50001 certificate, certified on 31 Dec 2025
    state = by_english["Management system, state on the period's last day"]
    assert state["Text"] == "certified" and state["Anlage 3"] == "§12, no Anlage 3 item"
    systems = by_english["Management systems (kind, state, dates, document)"]["Text"]
    assert "DE-50001-2024-0112" in systems
    readme = dict(book["00_README"].iter_rows(values_only=True))
    assert "The 2025 report is due 15 May 2026" in readme["Field dictionary rule"]
    assert "§20(2) says 15 May 2024" in readme["Compliance"]


def test_rzreg_for_a_site_in_another_country_is_a_command_error_and_writes_nothing(par1, tmp_path):
    out = tmp_path / "rz.xlsx"
    with pytest.raises(CommandError, match="PAR9: site is in FR"):
        call_command("export_eu", year=YEAR, site=["PAR9"], variant="de-rzreg", out=str(out))
    assert not out.exists()


def test_rzreg_with_missing_inputs_lists_them_per_site(ber1, tmp_path):
    FieldValue.objects.filter(period=ber1.period, symbol__in=["PNR", "TWH-DELIV"]).delete()
    profile = ber1.period.site.reporting_profile
    profile.postcode = ""
    profile.save()
    compute_and_store(ber1.period)
    out = tmp_path / "rz.xlsx"
    with pytest.raises(CommandError) as caught:
        call_command("export_eu", year=YEAR, variant="de-rzreg", out=str(out))
    message = str(caught.value)
    assert "BER1" in message and "PNR" in message and "postcode" in message
    assert "TWH-DELIV" in message  # heat was delivered, so its temperature is needed
    assert not out.exists()


def test_rzreg_bad_input_over_the_api_is_400_and_queues_nothing(api, ber1, par1):
    api.force_authenticate(f.user("root", is_staff=True, is_superuser=True))
    body = {"kind": "eu-annual", "year": YEAR, "variant": "de-rzreg", "sites": ["PAR9", "BER1"]}
    response = api.post("/api/exports/", body, format="json")
    assert response.status_code == 400
    missing = response.json()["missing"]["de-rzreg"]
    assert list(missing) == ["PAR9"] and "FR" in missing["PAR9"][0]
    assert not ExportJob.objects.exists()
    json_view = api.get(
        "/api/exports/eu-annual/", {"year": YEAR, "variant": "de-rzreg", "site": "PAR9"}
    )
    assert json_view.status_code == 400 and "PAR9" in json_view.json()["missing"]["de-rzreg"]


def test_rzreg_over_the_api_queues_a_job_when_complete(
    api, ber1, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = Path(settings.VAR_DIR) / "media"
    api.force_authenticate(f.user("root", is_staff=True, is_superuser=True))
    body = {
        "kind": "eu-annual",
        "year": YEAR,
        "variant": "de-rzreg",
        "allow_unvalidated": True,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/exports/", body, format="json")
    assert response.status_code == 202, response.json()
    job = ExportJob.objects.get()
    assert job.state == "done" and job.file.endswith("rzreg-2025-de-rzreg.xlsx"), job.error
    assert "J_DE_EnEfG_Anlage3" in openpyxl.load_workbook(job.path).sheetnames


def test_rzreg_from_the_admin_page(client, ber1, par1):
    client.force_login(f.user("root", is_staff=True, is_superuser=True))
    url = "/admin/exports/exportjob/eu-workbook/"
    form = {"year": YEAR, "variant": "de-rzreg", "output": "xlsx", "allow_unvalidated": "on"}
    refused = client.post(url, {**form, "sites": [par1.period.site.pk]}, follow=True)
    assert refused.status_code == 200 and "site is in FR" in refused.content.decode()
    sent = client.post(url, {**form, "sites": [ber1.period.site.pk]})
    assert sent.status_code == 200 and "rzreg-2025-de-rzreg.xlsx" in sent["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(sent.streaming_content)))
    assert "J_DE_EnEfG_Anlage3" in book.sheetnames


# --- the period page ------------------------------------------------------------------------


def test_period_page_shows_the_label_preview_and_compliance_columns(client, ber1):
    client.force_login(f.user("root", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/reporting/reportingperiod/{ber1.period.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and "label-2026-preview" in html
    assert PREVIEW in html
    # the page's checks list each finding with its legal reference and start date
    assert "(EnEfG §13(1), §20(2), Anlage 3 (RZReg), from 2024-08-15)" in html


def test_german_demo_site_loads_idempotently(ber1):
    from reporting.models import Reading

    count = Reading.objects.count()
    out = io.StringIO()
    load_demo_site_de(out)
    assert Reading.objects.count() == count and "0 inserted" in out.getvalue()
    assert ber1.period.site.code == "BER1" and ber1.period.site.country == "DE"
    assert not ber1.errors, ber1.errors


def test_a_stored_postcode_of_four_digits_is_held_at_the_rzreg_export(ber1, tmp_path):
    # Stored past the model's rule (as a profile saved before the rule existed would be).
    type(ber1.period.site.reporting_profile).objects.filter(
        pk=ber1.period.site.reporting_profile.pk
    ).update(postcode="1011")
    compute_and_store(ber1.period)
    out = tmp_path / "rz.xlsx"
    with pytest.raises(CommandError, match="postcode '1011': A German postcode has five digits"):
        call_command("export_eu", year=YEAR, variant="de-rzreg", out=str(out))
    assert not out.exists()
