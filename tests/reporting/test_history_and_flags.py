"""Meter history is never rewritten; entered values state their basis; counts count right."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from reporting.computation import compute_and_store
from reporting.ingest import import_meters, ingest_records
from reporting.models import FieldValue, MeasurementPoint, MeterSetting, ReportingPeriod
from tests.reporting.conftest import csv_text, ingest, make_meter, series

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = datetime(2025, 3, 1, tzinfo=UTC)
CHANGE = DAY + 12 * HOUR


def one_day(site):
    obj = ReportingPeriod(
        site=site,
        year=2025,
        start_date=date(2025, 3, 1),
        end_date=date(2025, 3, 1),
        partial_year=True,
        pdit_basis="installed",
        wue_category=2,
    )
    obj.full_clean()
    obj.save()
    return obj


def _value(result, symbol):
    return Decimal(result.inputs[symbol]["value"])


# --- meter history ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("multiplier", Decimal("0.001")),
        ("unit", "L"),
        ("register", "interval"),
        ("quantity", "other"),
        ("interval_minutes", 5),  # would judge the past's coverage in 5-minute slots
    ],
)
def test_changing_a_meter_with_readings_is_refused_with_the_count(site, name, value):
    meter = make_meter(site, "W-1", "water-total", unit="m3", register="cumulative")
    ingest(series("W-1", DAY, 5, 1, step=HOUR, cumulative_from=0))
    setattr(meter, name, value)
    with pytest.raises(ValidationError) as caught:
        meter.full_clean()
    assert "5 reading(s)" in caught.value.message_dict[name][0]


def test_a_meter_without_readings_may_still_be_corrected(site):
    meter = make_meter(site, "W-1", "water-total", unit="m3", register="cumulative")
    meter.multiplier = Decimal("0.001")
    meter.full_clean()


def test_import_meters_refuses_a_silent_multiplier_change_and_writes_nothing(site, tmp_path):
    make_meter(site, "W-1", "water-total", unit="m3", register="cumulative")
    ingest(series("W-1", DAY, 3, 1, step=HOUR, cumulative_from=0))
    text = (
        "site,meter,quantity,unit,register,multiplier\n"
        "TST1,NEW-1,edc-supply,kWh,interval,1\n"
        "TST1,W-1,water-total,m3,cumulative,0.001\n"
    )
    report = import_meters(text.splitlines(keepends=True))
    assert not report.accepted
    assert [(e["line"], e["field"]) for e in report.errors.shown] == [(3, "multiplier")]
    assert "3 reading(s)" in report.errors.shown[0]["reason"]
    assert not MeasurementPoint.objects.filter(code="NEW-1").exists()
    assert MeasurementPoint.objects.get(code="W-1").multiplier == 1
    path = tmp_path / "meters.csv"
    path.write_text(text)
    err = StringIO()
    with pytest.raises(CommandError, match=r"1 bad row\(s\)"):
        call_command("import_meters", str(path), stderr=err)
    assert "line 3, multiplier" in err.getvalue()


def test_a_stated_interval_keeps_the_old_readings_at_the_old_multiplier(site):
    make_meter(site, "UPS-1", "eit-ups-output", interval_minutes=60)
    make_meter(site, "MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    # 24 hourly intervals of 10 on UPS-1; MAIN's counter grows by 15 an hour.
    ingest(
        series("UPS-1", DAY + HOUR, 24, 10, step=HOUR)
        + series("MAIN", DAY, 25, 15, step=HOUR, cumulative_from=1000)
    )
    before = compute_and_store(one_day(site))
    assert (_value(before, "EIT"), _value(before, "EDC")) == (240, 360)
    text = (
        "site,meter,quantity,unit,register,multiplier,settings_from,settings_reason\n"
        f"TST1,UPS-1,eit-ups-output,kWh,interval,2,{CHANGE.isoformat()},CT ratio doubled\n"
        f"TST1,MAIN,edc-supply,kWh,cumulative,3,{CHANGE.isoformat()},CT ratio tripled\n"
    )
    report = import_meters(text.splitlines(keepends=True))
    assert report.accepted and report.intervals == 2, report.errors.shown
    assert MeasurementPoint.objects.get(code="UPS-1").multiplier == 1  # the start is kept
    again = import_meters(text.splitlines(keepends=True))
    assert again.accepted and again.intervals == 0 and again.unchanged == 2
    ReportingPeriod.objects.all().delete()
    after = compute_and_store(one_day(site))
    # By hand: readings up to 12:00 keep ×1, the 12 after it take the new multiplier.
    assert _value(after, "EIT") == 12 * 10 + 12 * 10 * 2
    assert _value(after, "EDC") == 12 * 15 + 12 * 15 * 3


def test_an_interval_cannot_change_quantity_or_register_nor_go_back_in_time(site):
    meter = make_meter(site, "UPS-1", "eit-ups-output")
    MeterSetting.objects.create(
        meter=meter, valid_from=CHANGE, unit="kWh", multiplier=2, reason="CT"
    )
    text = (
        "site,meter,quantity,unit,register,multiplier,settings_from,settings_reason\n"
        f"TST1,UPS-1,eit-ups-output,kWh,cumulative,2,{(CHANGE + HOUR).isoformat()},x\n"
        f"TST1,NEW-9,eit-ups-output,kWh,interval,2,{CHANGE.isoformat()},x\n"
    )
    report = import_meters(text.splitlines(keepends=True))
    assert [(e["line"], e["field"]) for e in report.errors.shown] == [
        (2, "register"),
        (3, "settings_from"),
    ]
    back = "site,meter,quantity,unit,register,multiplier,settings_from,settings_reason\n"
    back += f"TST1,UPS-1,eit-ups-output,kWh,interval,4,{(CHANGE - HOUR).isoformat()},x\n"
    report = import_meters(back.splitlines(keepends=True))
    assert report.errors.shown[0]["field"] == "settings_from"
    assert MeterSetting.objects.count() == 1


def test_the_api_refuses_a_multiplier_change_on_a_meter_with_readings(site, api, operator_user):
    site.operators.add(operator_user)
    api.force_authenticate(operator_user)
    meter = make_meter(site, "UPS-1", "eit-ups-output")
    ingest([("UPS-1", DAY, "1")])
    response = api.patch(
        f"/api/measurement-points/{meter.pk}/", {"multiplier": "0.001"}, format="json"
    )
    assert response.status_code == 400
    assert "1 reading(s)" in str(response.json())
    meter.refresh_from_db()
    assert meter.multiplier == 1


# --- entered values state their basis ------------------------------------------------------------


def test_measured_without_an_instrument_or_document_is_refused(site):
    p = one_day(site)
    value = FieldValue(period=p, symbol="SDC", value=100, quality="measured")
    with pytest.raises(ValidationError) as caught:
        value.full_clean()
    assert "measured_by" in caught.value.message_dict
    value.measured_by = "as-built floor plans"
    value.full_clean()


def test_an_entered_value_has_no_default_basis(site):
    value = FieldValue(period=one_day(site), symbol="SDC", value=100)
    with pytest.raises(ValidationError) as caught:
        value.full_clean()
    assert "quality" in caught.value.message_dict


def test_estimates_name_no_instrument(site):
    value = FieldValue(
        period=one_day(site), symbol="TIN", value=24, quality="estimated", measured_by="BMS"
    )
    with pytest.raises(ValidationError):
        value.full_clean()


def test_an_api_value_set_again_names_its_own_instrument_not_the_last_ones(
    site, api, operator_user
):
    """POST sets the whole entry: a new measured figure does not inherit the instrument named
    for the figure it replaces (nor an estimate the old one's, which it may not carry)."""
    site.operators.add(operator_user)
    api.force_authenticate(operator_user)
    url = f"/api/periods/{one_day(site).pk}/values/"
    first = {"symbol": "SDC", "value": "4200", "quality": "measured", "measured_by": "plans rev C"}
    first["confidential"] = True
    assert api.post(url, first, format="json").status_code == 200
    again = {"symbol": "SDC", "value": "4300", "quality": "measured"}
    response = api.post(url, again, format="json")
    assert response.status_code == 400 and "measured_by" in response.json(), response.content
    assert FieldValue.objects.get(symbol="SDC").value == 4200
    estimate = {"symbol": "SDC", "value": "4300", "quality": "estimated", "note": "survey"}
    response = api.post(url, estimate, format="json")
    assert response.status_code == 200, response.content
    stored = FieldValue.objects.get(symbol="SDC")
    assert (stored.quality, stored.measured_by, stored.value) == ("estimated", "", 4300)
    assert stored.confidential  # lifted only when the POST says so


def test_a_measured_value_stored_before_bases_were_required_blocks_validation(site):
    """A row written before the rule (an upgraded database, the old demo's SDC) is not quietly
    reported as measured: the computation names it as an error, which blocks validation."""
    period = one_day(site)
    FieldValue.objects.create(period=period, symbol="SDC", value=4200, quality="measured")
    result = compute_and_store(period)
    found = [f for f in result.findings if "SDC" in f["fields"] and f["severity"] == "error"]
    assert found and "instrument or document" in found[0]["message"], result.findings


# --- counts that count right -------------------------------------------------------------------


def test_one_bad_row_with_two_problems_is_one_bad_row_in_csv_and_json(site):
    make_meter(site, "UPS-1", "eit-ups-output")
    items = [
        {"meter": "UPS-1", "timestamp": DAY.isoformat(), "value": "1"},
        {"meter": "UPS-1", "timestamp": "yesterday", "value": "lots"},
    ]
    from_json = ingest_records(items)
    from_csv = ingest([(i["meter"], i["timestamp"], i["value"]) for i in items])
    for report in (from_json, from_csv):
        assert report.rows == 2 and report.errors.total == 2 and report.errors.bad_lines == 1
        assert report.summary().startswith("rejected: 1 bad row(s) (2 problem(s)) in 2 row(s)")
        assert {e["row"] for e in report.errors.shown} == {2}
    assert {e["line"] for e in from_csv.errors.shown} == {3}  # header is line 1
    assert csv_text([]) == ["meter,timestamp,value\n"]


def _ups_form(site, **change):
    """The admin change form of meter UPS-1 as stored, with ``change`` applied."""
    return {
        "site": site.pk,
        "code": "UPS-1",
        "quantity": "eit-ups-output",
        "unit": "kWh",
        "register": "interval",
        "multiplier": "1",
        "interval_minutes": 15,
        **change,
    }


def test_the_admin_form_refuses_a_multiplier_change_on_a_meter_with_readings(site, rf):
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    meter = make_meter(site, "UPS-1", "eit-ups-output")
    ingest([("UPS-1", DAY, "1"), ("UPS-1", DAY + HOUR, "1")])
    request = rf.post("/")
    request.user = get_user_model().objects.create_superuser("root", password="pw")
    model_admin = admin.site._registry[MeasurementPoint]
    form_class = model_admin.get_form(request, meter)
    form = form_class(_ups_form(site, multiplier="0.001"), instance=meter)
    assert not form.is_valid()
    assert "2 reading(s)" in form.errors["multiplier"][0]
    # The interval is the admin's way: shown inline, never edited once written.
    inline = model_admin.get_inline_instances(request, meter)[0]
    assert inline.model is MeterSetting
    assert not inline.has_change_permission(request, meter)
    assert not inline.has_delete_permission(request, meter)


def test_the_admin_inline_cannot_add_an_interval_before_the_latest_either(site, client):
    from tests import factories

    meter = make_meter(site, "UPS-1", "eit-ups-output")
    ingest([("UPS-1", DAY, "1"), ("UPS-1", DAY + 13 * HOUR, "1")])
    MeterSetting.objects.create(
        meter=meter, valid_from=CHANGE, unit="kWh", multiplier=2, reason="CT"
    )
    client.force_login(factories.user("root", is_staff=True, is_superuser=True))
    earlier = CHANGE - HOUR  # as import_meters refuses it: the interval would go back in time
    data = {
        **_ups_form(site),
        "setting_intervals-TOTAL_FORMS": "2",
        "setting_intervals-INITIAL_FORMS": "1",
        "setting_intervals-0-id": str(MeterSetting.objects.get().pk),
        "setting_intervals-0-meter": str(meter.pk),
        "setting_intervals-1-meter": str(meter.pk),
        "setting_intervals-1-valid_from_0": earlier.strftime("%Y-%m-%d"),
        "setting_intervals-1-valid_from_1": earlier.strftime("%H:%M:%S"),
        "setting_intervals-1-unit": "kWh",
        "setting_intervals-1-multiplier": "4",
        "setting_intervals-1-reason": "typed in the admin",
    }
    page = client.post(f"/admin/reporting/measurementpoint/{meter.pk}/change/", data)
    assert page.status_code == 200, page.status_code  # the form again, with the reason
    assert b"latest interval" in page.content
    assert MeterSetting.objects.count() == 1
