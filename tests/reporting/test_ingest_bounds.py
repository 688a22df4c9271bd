"""Readings outside the time window and uploads beyond their size, through every door (the API's
CSV and JSON bodies, the admin upload, the command): each is a 400 (413 for size) naming the
line and field, nothing is written, no month of storage is made for them, no file stays."""

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from reporting import partitions
from reporting.models import IngestJob, Reading
from tests import factories as f
from tests.reporting.conftest import make_meter, make_site

pytestmark = pytest.mark.django_db

READINGS = "/api/readings/"
UPLOAD = "/admin/reporting/measurementpoint/upload/"
HEADER = "meter,timestamp,value\n"
GOOD = "PAR1-UPS,2025-01-01T00:15:00Z,1\n"

# (timestamp, words of the reason)
OUTSIDE = [
    ("9999-12-31T23:30:00Z", "future"),
    ("9999-12-31T23:30:00-14:00", "future"),
    ("2100-01-01T00:00:00Z", "future"),
    ("0001-01-01T00:00:00Z", "before 1990-01-01"),
    ("0001-01-01T00:00:00+14:00", "before 1990-01-01"),
    ("1989-12-31T23:59:59Z", "before 1990-01-01"),
]


@pytest.fixture
def admin(db):
    return f.user("root", is_superuser=True, is_staff=True)


@pytest.fixture
def meter(db):
    return make_meter(make_site("PAR1"), "PAR1-UPS", "eit-ups-output")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _months() -> set[str]:
    if not partitions.supported():
        return set()
    with connection.cursor() as cursor:
        return set(partitions.existing(cursor))


def _the_error(body: dict) -> dict:
    (error,) = body["errors"]["shown"]
    return error


@pytest.mark.parametrize(("stamp", "reason"), OUTSIDE)
def test_the_api_refuses_a_csv_reading_outside_the_window(api, admin, meter, stamp, reason):
    api.force_authenticate(admin)
    before = _months()
    body = HEADER + GOOD + f"PAR1-UPS,{stamp},1\n"
    response = api.generic("POST", READINGS, body.encode(), content_type="text/csv")
    assert response.status_code == 400, response.content
    error = _the_error(response.json())
    assert (error["line"], error["field"]) == (3, "timestamp") and reason in error["reason"]
    assert not Reading.objects.exists() and _months() == before


@pytest.mark.parametrize(("stamp", "reason"), OUTSIDE)
def test_the_api_refuses_a_json_reading_outside_the_window(api, admin, meter, stamp, reason):
    api.force_authenticate(admin)
    before = _months()
    body = [{"meter": "PAR1-UPS", "timestamp": stamp, "value": "1"}]
    response = api.post(READINGS, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    error = _the_error(response.json())
    assert (error["line"], error["field"]) == (1, "timestamp") and reason in error["reason"]
    assert not Reading.objects.exists() and _months() == before


@pytest.mark.parametrize(("stamp", "reason"), OUTSIDE[:4])
def test_the_admin_upload_refuses_a_reading_outside_the_window(client, admin, meter, stamp, reason):
    client.force_login(admin)
    body = (HEADER + f"PAR1-UPS,{stamp},1\n").encode()
    response = client.post(UPLOAD, {"file": SimpleUploadedFile("r.csv", body)})
    assert response.status_code == 400
    page = response.content.decode()
    assert "timestamp" in page and reason in page
    assert not Reading.objects.exists()


@pytest.mark.parametrize(("stamp", "reason"), OUTSIDE[:4])
def test_ingest_readings_refuses_a_reading_outside_the_window(tmp_path, meter, stamp, reason):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + f"PAR1-UPS,{stamp},1\n")
    with pytest.raises(CommandError, match="rejected"):
        call_command("ingest_readings", str(path))
    assert not Reading.objects.exists()


def test_the_window_edges_are_accepted(api, admin, meter, settings):
    api.force_authenticate(admin)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.INPUT_CLOCK_SKEW_SECONDS - 60)
    body = (
        HEADER
        + "PAR1-UPS,1990-01-01T00:00:00Z,1\n"
        + "PAR1-UPS,2025-01-01T00:00:00+14:00,1\n"
        + f"PAR1-UPS,{soon.isoformat()},1\n"
    )
    response = api.generic("POST", READINGS, body.encode(), content_type="text/csv")
    assert response.status_code == 201, response.content
    assert Reading.objects.count() == 3


def test_a_bulk_block_with_one_future_reading_is_refused_naming_it(api, admin, meter):
    api.force_authenticate(admin)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = [
        f"PAR1-UPS,{(start + dt.timedelta(minutes=15 * i)).isoformat()},1\n" for i in range(2000)
    ]
    rows[1500] = "PAR1-UPS,2124-06-01T00:00:00Z,1\n"
    response = api.generic(
        "POST", READINGS, (HEADER + "".join(rows)).encode(), content_type="text/csv"
    )
    assert response.status_code == 400
    assert _the_error(response.json())["line"] == 1502
    assert not Reading.objects.exists()


def test_the_api_refuses_a_body_beyond_the_limit_with_413(api, admin, meter, settings):
    settings.READINGS_UPLOAD_MAX_BYTES = 100
    api.force_authenticate(admin)
    body = (HEADER + GOOD * 10).encode()
    response = api.generic("POST", READINGS, body, content_type="text/csv")
    assert response.status_code == 413 and "100 bytes limit" in response.json()["detail"]
    records = json.dumps([{"meter": "PAR1-UPS", "timestamp": "2025-01-01T00:15:00Z"}] * 10)
    response = api.post(READINGS, records, content_type="application/json")
    assert response.status_code == 413 and "100 bytes limit" in response.json()["detail"]
    assert not IngestJob.objects.exists() and not Reading.objects.exists()


def test_the_admin_upload_refuses_a_file_beyond_the_limit_with_413(
    client, admin, meter, settings, media
):
    settings.READINGS_UPLOAD_MAX_BYTES = 100
    client.force_login(admin)
    body = (HEADER + GOOD * 10).encode()
    response = client.post(UPLOAD, {"file": SimpleUploadedFile("r.csv", body)})
    assert response.status_code == 413 and "100 bytes limit" in response.content.decode()
    assert not IngestJob.objects.exists()


def test_a_very_long_file_name_is_kept_shortened(client, admin, meter):
    client.force_login(admin)
    name = "r" * 240 + ".csv"
    body = (HEADER + GOOD).encode()
    response = client.post(UPLOAD, {"file": SimpleUploadedFile(name, body)})
    assert response.status_code == 200
    job = IngestJob.objects.get()
    assert job.status == "succeeded" and job.source.endswith(".csv")
    assert len(job.source) <= IngestJob._meta.get_field("source").max_length


def test_a_finished_queued_upload_leaves_no_file(api, admin, meter, media, monkeypatch):
    from reporting.ingest import submission

    api.force_authenticate(admin)
    monkeypatch.setattr(submission, "ASYNC_INGEST_BYTES", 10)
    response = api.generic("POST", READINGS, (HEADER + GOOD).encode(), content_type="text/csv")
    assert response.status_code == 202
    job = IngestJob.objects.get()
    assert job.status == "succeeded" and not job.file
    assert not any(p.is_file() for p in media.rglob("*"))


def test_partitions_are_made_only_inside_the_window(db):
    if not partitions.supported():
        pytest.skip("monthly partitions exist on PostgreSQL only")
    far = dt.datetime(2124, 1, 1, tzinfo=dt.UTC)
    old = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert partitions.ensure_months([far, old]) == []
    assert not {partitions.partition_name(far), partitions.partition_name(old)} & _months()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_utf16_with_its_mark_is_read_through_every_door(
    api, client, admin, meter, tmp_path, monkeypatch, encoding
):
    from reporting.ingest import submission

    def body(minute: int) -> bytes:
        text = HEADER + f"PAR1-UPS,2025-01-01T00:{minute:02d}:00Z,1\r\n"
        return (
            ("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding)
        )

    api.force_authenticate(admin)
    assert api.generic("POST", READINGS, body(1), content_type="text/csv").status_code == 201
    client.force_login(admin)
    assert client.post(UPLOAD, {"file": SimpleUploadedFile("r.csv", body(2))}).status_code == 200
    path = tmp_path / "r.csv"
    path.write_bytes(body(3))
    call_command("ingest_readings", str(path))
    monkeypatch.setattr(submission, "ASYNC_INGEST_BYTES", 10)  # through a queued job
    assert api.generic("POST", READINGS, body(4), content_type="text/csv").status_code == 202
    assert Reading.objects.count() == 4


def test_a_latin1_file_is_refused_naming_the_byte_and_the_encodings(api, admin, meter):
    api.force_authenticate(admin)
    body = (HEADER + "PAR1-UPS,2025-01-01T00:15:00Z,1 é\n").encode("latin-1")
    response = api.generic("POST", READINGS, body, content_type="text/csv")
    assert response.status_code == 400
    error = _the_error(response.json())
    assert error["line"] == 2 and "0xE9 is not UTF-8" in error["reason"]
    assert "UTF-16 with a byte-order mark" in error["reason"]


def test_a_header_beyond_the_column_limit_is_refused_at_once(api, admin, meter):
    api.force_authenticate(admin)
    body = b"meter,timestamp,value" + b",x" * 300_000 + b"\n"
    response = api.generic("POST", READINGS, body, content_type="text/csv")
    assert response.status_code == 400
    error = _the_error(response.json())
    assert (error["line"], error["field"]) == (1, "header") and "at most 200" in error["reason"]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00"])
def test_a_readings_filter_at_the_calendar_ends_is_not_a_500(api, admin, meter, stamp):
    api.force_authenticate(admin)
    response = api.get(READINGS, {"from": stamp})
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    ("column", "stamp", "reason"),
    [
        ("valid_to", "9999-12-31T23:30:00-14:00", "end of the calendar"),
        ("valid_from", "0001-01-01T00:00:00+14:00", "before 1990-01-01"),
        ("settings_from", "9999-12-31T23:30:00-14:00", "end of the calendar"),
    ],
)
def test_meter_instants_at_the_calendar_ends_are_refused_by_field(
    client, admin, meter, tmp_path, column, stamp, reason
):
    header = "site,meter,quantity,unit,register,multiplier," + column
    row = f"PAR1,PAR1-UPS,eit-ups-output,kWh,interval,1,{stamp}"
    path = tmp_path / "meters.csv"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(CommandError, match="rejected"):
        call_command("import_meters", str(path))
    client.force_login(admin)
    upload = SimpleUploadedFile("meters.csv", path.read_bytes())
    response = client.post("/admin/reporting/measurementpoint/import/", {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200 and column in page and reason in page
