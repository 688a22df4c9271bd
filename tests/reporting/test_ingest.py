"""Ingest rules: atomic per file, idempotent, conflicts reported, --replace keeps history."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reporting.ingest import MAX_SHOWN, import_meters, ingest_records
from reporting.models import Reading, ReadingRevision
from tests.reporting.conftest import T0, csv_text, ingest, make_meter, make_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def meters(site):
    return (
        make_meter(site, "UPS-1", "eit-ups-output"),
        make_meter(site, "MAIN", "edc-supply", register="cumulative"),
    )


def _values():
    return sorted(Reading.objects.values_list("meter__code", "timestamp", "value"))


def test_valid_file_is_ingested(meters):
    report = ingest(
        [("UPS-1", T0, "1.5"), ("MAIN", T0, "100"), ("UPS-1", T0 + timedelta(minutes=15), "2")]
    )
    assert report.accepted and report.inserted == 3 and report.rows == 3
    assert Reading.objects.get(meter__code="UPS-1", timestamp=T0).value == Decimal("1.5")


def test_same_file_twice_changes_nothing(meters):
    rows = [("UPS-1", T0, "1.5"), ("MAIN", T0, "100.25")]
    ingest(rows)
    before = _values()
    again = ingest(rows)
    assert again.accepted and again.inserted == 0 and again.unchanged == 2
    assert again.conflicts.total == 0 and _values() == before


def test_offsets_are_normalised_to_the_same_instant(meters):
    ingest([("UPS-1", "2025-01-01T01:00:00+01:00", "1")])
    report = ingest([("UPS-1", "2025-01-01T00:00:00Z", "1")])
    assert report.unchanged == 1 and Reading.objects.count() == 1


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (("NOPE", "2025-01-01T00:00:00Z", "1"), "meter", "unknown meter 'NOPE'"),
        (("UPS-1", "yesterday", "1"), "timestamp", "not an ISO 8601 timestamp"),
        (("UPS-1", "2025-01-01T00:00:00", "1"), "timestamp", "no UTC offset"),
        (("UPS-1", "2025-01-01", "1"), "timestamp", "no UTC offset"),
        (("UPS-1", "2025-01-01T00:00:00Z", "abc"), "value", "is not a number"),
        (("UPS-1", "2025-01-01T00:00:00Z", "NaN"), "value", "is not a number"),
        (("UPS-1", "2025-01-01T00:00:00Z", ""), "value", "is not a number"),
        (("UPS-1", "2025-01-01T00:00:00Z", "-2"), "value", "negative consumption"),
        (("UPS-1", "2025-01-01T00:00:00Z", "1e15"), "value", "too large"),
    ],
)
def test_one_bad_row_rejects_the_file_and_names_line_field_reason(meters, row, field, reason):
    report = ingest([("UPS-1", T0 + timedelta(hours=1), "1"), row, ("MAIN", T0, "5")])
    assert not report.accepted
    assert report.inserted == 0 and Reading.objects.count() == 0
    (error,) = report.errors.shown
    assert error["line"] == 3 and error["field"] == field and reason in error["reason"]


def test_negative_cumulative_reading_is_a_counter_value_not_an_error(meters):
    assert ingest([("MAIN", T0, "-5")]).accepted


def test_every_bad_line_is_counted_and_the_listing_is_capped(meters):
    rows = [("UPS-1", T0 + timedelta(minutes=15 * i), "x") for i in range(MAX_SHOWN + 20)]
    report = ingest([("UPS-1", T0, "1"), *rows])
    assert report.errors.total == MAX_SHOWN + 20 and len(report.errors.shown) == MAX_SHOWN
    assert Reading.objects.count() == 0


def test_wrong_field_count_and_bad_header(meters):
    report = ingest_records([{"meter": "UPS-1"}])
    assert not report.accepted
    from reporting.ingest import ingest_csv

    report = ingest_csv(["meter,time,value\n", "UPS-1,2025-01-01T00:00:00Z,1\n"])
    assert report.errors.shown[0]["field"] == "header"
    report = ingest_csv(["meter,timestamp,value\n", "UPS-1,2025-01-01T00:00:00Z\n"])
    assert report.errors.shown[0] == {
        "line": 2,
        "row": 1,
        "field": "row",
        "reason": "expected 3 fields, got 2",
    }


def test_duplicate_in_file_with_other_value_is_a_bad_line(meters):
    report = ingest([("UPS-1", T0, "1"), ("UPS-1", T0, "2")])
    assert not report.accepted and report.errors.shown[0]["line"] == 3
    assert Reading.objects.count() == 0


def test_duplicate_in_file_with_same_value_is_harmless(meters):
    report = ingest([("UPS-1", T0, "1"), ("UPS-1", T0, "1.000")])
    assert report.accepted and report.inserted == 1 and report.unchanged == 0


def test_differing_value_is_a_conflict_reported_not_overwritten(meters):
    ingest([("UPS-1", T0, "1")])
    report = ingest([("UPS-1", T0, "3"), ("UPS-1", T0 + timedelta(minutes=15), "2")])
    assert report.accepted and report.inserted == 1 and report.conflicts.total == 1
    conflict = report.conflicts.shown[0]
    assert conflict["line"] == 2 and conflict["meter"] == "UPS-1"
    assert conflict["stored"] == "1.000000" and conflict["new"] == "3.000000"
    assert Reading.objects.get(timestamp=T0).value == 1
    assert not ReadingRevision.objects.exists()


def test_replace_overwrites_and_keeps_a_revision(meters):
    ingest([("UPS-1", T0, "1")])
    report = ingest([("UPS-1", T0, "3")], replace=True)
    assert report.replaced == 1 and report.conflicts.total == 0
    assert Reading.objects.get(timestamp=T0).value == 3
    revision = ReadingRevision.objects.get()
    assert (revision.old_value, revision.new_value) == (1, 3)
    assert ingest([("UPS-1", T0, "3")], replace=True).unchanged == 1  # idempotent


def test_operator_cannot_ingest_for_another_site(meters):
    other = make_site("OTH1")
    make_meter(other, "OTHER-UPS", "eit-ups-output")
    report = ingest([("OTHER-UPS", T0, "1")], allowed_site_ids={meters[0].site_id})
    assert not report.accepted and "do not operate" in report.errors.shown[0]["reason"]


def test_reading_outside_meter_validity_is_refused(site):
    make_meter(site, "NEW", "eit-ups-output", valid_from=T0 + timedelta(days=1))
    report = ingest([("NEW", T0, "1")])
    assert "outside the validity" in report.errors.shown[0]["reason"]


def test_json_records(meters):
    report = ingest_records([{"meter": "UPS-1", "timestamp": "2025-01-01T00:15:00Z", "value": 2}])
    assert report.accepted and report.inserted == 1


def test_ingest_command_reports_bad_lines_and_conflicts(meters, tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("".join(csv_text([("UPS-1", T0, "1"), ("UPS-1", "bad", "1")])))
    err = StringIO()
    with pytest.raises(
        CommandError, match=r"rejected: 1 bad row\(s\) \(1 problem\(s\)\) in 2 row\(s\)"
    ):
        call_command("ingest_readings", str(path), stderr=err)
    assert "line 3, timestamp" in err.getvalue()
    path.write_text("".join(csv_text([("UPS-1", T0, "1")])))
    call_command("ingest_readings", str(path), stdout=StringIO())
    path.write_text("".join(csv_text([("UPS-1", T0, "2")])))
    out, err = StringIO(), StringIO()
    call_command("ingest_readings", str(path), stdout=out, stderr=err)
    assert "1 conflict" in out.getvalue() and "use --replace" in err.getvalue()
    call_command("ingest_readings", str(path), "--replace", stdout=out)
    assert Reading.objects.get().value == 2


METERS_CSV = """site,meter,quantity,unit,register,multiplier,device_id
TST1,M-1,edc-supply,kWh,cumulative,1,dev-1
TST1,W-1,water-total,m3,cumulative,0.001,
"""


def test_import_meters_is_idempotent_and_atomic(site, tmp_path):
    report = import_meters(METERS_CSV.splitlines(keepends=True))
    assert report.accepted and report.created == 2
    again = import_meters(METERS_CSV.splitlines(keepends=True))
    assert again.unchanged == 2 and again.created == 0
    bad = METERS_CSV + "NOPE,X-1,edc-supply,kWh,interval,1,\nTST1,X-2,water-total,kWh,interval,1,\n"
    report = import_meters(bad.splitlines(keepends=True))
    assert not report.accepted
    assert [(e["line"], e["field"]) for e in report.errors.shown] == [(4, "site"), (5, "unit")]
    path = tmp_path / "meters.csv"
    path.write_text(METERS_CSV.replace("dev-1", "dev-2"))
    out = StringIO()
    call_command("import_meters", str(path), stdout=out)
    assert "1 updated" in out.getvalue()


def test_many_conflicts_are_counted_and_the_listing_is_capped(meters):
    rows = [("UPS-1", T0 + timedelta(minutes=15 * i), "1") for i in range(MAX_SHOWN + 5)]
    ingest(rows)
    report = ingest([(m, ts, "2") for m, ts, _ in rows])
    assert report.conflicts.total == MAX_SHOWN + 5 and len(report.conflicts.shown) == MAX_SHOWN
    assert report.unchanged == 0 and report.inserted == 0


def test_values_are_kept_to_six_decimals_so_a_rerun_is_unchanged(meters):
    ingest([("UPS-1", T0, "1.0000004")])
    assert Reading.objects.get().value == Decimal("1.000000")
    assert ingest([("UPS-1", T0, "1.0000004")]).unchanged == 1
