"""No input makes the API answer 500: each case answers a 4xx naming the field (and line) and
writes nothing. The cases are those a schemathesis run and a hand probe found."""

import json

import pytest
from django.core.management import CommandError, call_command

from reporting.models import IngestJob, Reading
from tests import factories as f
from tests.reporting.conftest import make_meter, make_site

pytestmark = pytest.mark.django_db

READINGS = "/api/readings/"


@pytest.fixture
def admin(api, db):
    user = f.user("root", is_superuser=True, is_staff=True)
    api.force_authenticate(user)
    return user


@pytest.fixture
def meter(db):
    return make_meter(make_site("PAR1"), "PAR1-UPS", "eit-ups-output")


def _csv(api, body: bytes):
    return api.generic("POST", READINGS, body, content_type="text/csv")


def _errors(response) -> list[dict]:
    return response.json()["errors"]["shown"]


def test_non_numeric_asset_ids_are_not_found(api, admin):
    for path in ("history", "events"):
        assert api.get(f"/api/assets/abc/{path}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (b"meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z,\xff1\n", 2, "UTF-8"),
        (
            "meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z,1\xe9\n".encode("latin-1"),
            2,
            "0xE9",
        ),
        ("meter,timestamp,value\n".encode("utf-16-le"), 1, "NUL"),
        (b"meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z\r,1\n", 2, "CSV"),
        (
            b'meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z,"' + b"9" * 200_000 + b'"\n',
            2,
            "CSV",
        ),  # fmt: skip
        (
            b"meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z,99999999999999.9999999\n",
            2,
            "too large",
        ),  # fmt: skip
        (b"meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00+17:30,1\n", 2, "offset"),
        (b"meter,timestamp,value\nPAR1-UPS\x00,2025-01-01T00:15:00Z,1\n", 2, "NUL"),
    ],
)
def test_unreadable_csv_is_a_400_naming_the_line(api, admin, meter, body, line, reason):
    response = _csv(api, body)
    assert response.status_code == 400, response.content
    (error,) = _errors(response)
    assert error["line"] == line and reason in error["reason"]
    assert not Reading.objects.exists()
    assert IngestJob.objects.get().status == "rejected"


def test_an_empty_csv_body_is_a_400_and_leaves_no_job(api, admin):
    response = _csv(api, b"")
    assert response.status_code == 400 and "empty" in response.json()["detail"]
    assert not IngestJob.objects.exists()


@pytest.mark.parametrize("body", ["[1]", "null", "true", "1", '"x"'])
def test_export_requests_that_are_not_objects_are_a_400(api, admin, body):
    response = api.generic("POST", "/api/exports/", body, content_type="application/json")
    assert response.status_code == 400
    assert "expected a JSON object" in json.dumps(response.json())


def test_a_non_array_json_ingest_leaves_no_job(api, admin):
    response = api.post(READINGS, {"meter": "x"}, format="json")
    assert response.status_code == 400
    assert not IngestJob.objects.exists()


def test_deeply_nested_json_is_a_400(api, admin):
    body = "[" * 100_000 + "]" * 100_000
    response = api.generic("POST", "/api/exports/", body, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json()["detail"]


def test_nul_in_a_json_string_or_the_query_is_a_400(api, admin):
    response = api.post("/api/sites/", {"code": "X\x00", "name": "n"}, format="json")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert api.get("/api/sites/?search=a%00b").status_code == 400
    response = api.post("/api/sites/", {"code": "X1", "name": "a\x00b"}, format="multipart")
    assert response.status_code == 400 and "name" in response.json()


def test_readings_filter_with_an_impossible_offset_is_a_400(api, admin):
    response = api.get(f"{READINGS}?to=2025-01-01T00:00:00%2B17:30")
    assert response.status_code == 400 and "to" in response.json()
    assert api.get(f"{READINGS}?from=yesterday").status_code == 400


def test_position_beyond_the_column_is_a_400_naming_it(api, admin):
    site = f.site("PAR1")
    body = {
        "asset_tag": "GPU-9",
        "hardware_model": f.hardware_model().slug,
        "site": site.code,
        "position_u": 99999,
        "occurred_at": "2024-03-01T10:00:00+01:00",
        "supplier": "Acme",
        "price": "1.00",
        "currency": "EUR",
        "purchase_date": "2024-03-01",
    }
    response = api.post("/api/assets/", body, format="json")
    assert response.status_code == 400 and "position_u" in response.json()


def test_deleting_a_referenced_site_or_model_is_a_quick_409_naming_referrers(
    api, admin, django_assert_max_num_queries
):
    site = make_site("PAR1")
    make_meter(site, "PAR1-UPS", "eit-ups-output")
    gpu = f.asset("GPU-1", at_site=site)
    with django_assert_max_num_queries(30):  # counts, never the referring rows themselves
        response = api.delete(f"/api/sites/{site.code}/")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "measurement points" in detail and "assets" in detail
    response = api.delete(f"/api/hardware-models/{gpu.hardware_model_id}/")
    assert response.status_code == 409 and "assets" in response.json()["detail"]
    response = api.delete(f"/api/manufacturers/{gpu.hardware_model.manufacturer_id}/")
    assert response.status_code == 409 and "hardware models" in response.json()["detail"]
    site.refresh_from_db()  # still there


def test_too_large_bodies_and_unknown_paths_answer_json(api, admin, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    response = api.post("/api/sites/", {"code": "x" * 100}, format="multipart")
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    settings.DEBUG = False
    response = client.get("/api/nowhere/")
    assert response.status_code == 404 and response.json() == {"detail": "not found"}


def test_ingest_command_prints_one_line_for_a_latin1_file(tmp_path, meter):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "meter,timestamp,value\nPAR1-UPS,2025-01-01T00:15:00Z,1 café\n".encode("latin-1")
    )
    with pytest.raises(CommandError, match="rejected"):
        call_command("ingest_readings", str(path))
    assert not Reading.objects.exists()


@pytest.mark.parametrize("command", ["import_assets", "import_sites", "import_meters"])
def test_file_commands_answer_unreadable_files_in_one_line(tmp_path, command):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("code,name\nPAR1,Café\n".encode("latin-1"))
    # import_meters reports the line on stderr and says "rejected"; the others name the byte.
    with pytest.raises(CommandError, match="UTF-8|rejected"):
        call_command(command, str(latin1))
    with pytest.raises(CommandError, match="cannot read"):
        call_command(command, str(tmp_path / "missing.csv"))
