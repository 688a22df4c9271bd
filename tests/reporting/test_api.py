"""Reporting API: permissions (anonymous, wrong site, read-only roles), ingest, compute, tasks."""

from datetime import timedelta

import pytest

from reporting.models import IngestJob, MeasurementPoint, Reading, ReportingPeriod
from tests.reporting.conftest import T0, make_meter, make_site, period

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(operator_user):
    mine, other = make_site("MINE"), make_site("OTHR")
    mine.operators.add(operator_user)
    make_meter(mine, "MINE-UPS", "eit-ups-output")
    make_meter(mine, "MINE-MAIN", "edc-supply")
    make_meter(other, "OTHR-UPS", "eit-ups-output")
    return mine, other


CSV = "meter,timestamp,value\nMINE-UPS,2025-01-01T00:15:00Z,10\nMINE-MAIN,2025-01-01T00:15:00Z,15\n"


def test_anonymous_is_refused_everywhere(api, world):
    p = period(world[0])
    for url in (
        "/api/measurement-points/",
        "/api/readings/",
        "/api/sites/MINE/periods/",
        f"/api/periods/{p.pk}/",
        "/api/aggregates/?year=2025",
    ):
        assert api.get(url).status_code in (401, 403), url
    assert api.post("/api/readings/", CSV, content_type="text/csv").status_code in (401, 403)
    assert api.post(f"/api/periods/{p.pk}/compute/").status_code in (401, 403)


def test_operator_ingests_csv_and_json_at_own_site(api, world, operator_user):
    api.force_authenticate(operator_user)
    response = api.post("/api/readings/", CSV, content_type="text/csv")
    assert response.status_code == 201, response.content
    assert response.json()["inserted"] == 2 and response.json()["status"] == "succeeded"
    body = [{"meter": "MINE-UPS", "timestamp": "2025-01-01T00:30:00+00:00", "value": "11"}]
    assert api.post("/api/readings/", body, format="json").status_code == 201
    assert Reading.objects.count() == 3


def test_operator_cannot_ingest_at_another_site(api, world, operator_user):
    api.force_authenticate(operator_user)
    body = [{"meter": "OTHR-UPS", "timestamp": "2025-01-01T00:30:00Z", "value": "1"}]
    response = api.post("/api/readings/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["shown"][0]["field"] == "meter"
    assert not Reading.objects.exists()


def test_bad_csv_is_rejected_with_every_bad_line(api, world, operator_user):
    api.force_authenticate(operator_user)
    bad = CSV + "MINE-UPS,2025-01-01 00:45,1\nMINE-UPS,2025-01-01T01:00:00Z,-1\n"
    response = api.post("/api/readings/", bad, content_type="text/csv")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["total"] == 2 and [e["line"] for e in errors["shown"]] == [4, 5]
    assert not Reading.objects.exists()
    assert IngestJob.objects.get().status == "rejected"


def test_large_csv_goes_through_a_job_that_can_be_polled(
    api, world, operator_user, settings, monkeypatch
):
    from reporting.ingest import submission

    settings.MEDIA_ROOT = str(settings.VAR_DIR / "test-media")
    api.force_authenticate(operator_user)
    monkeypatch.setattr(submission, "ASYNC_INGEST_BYTES", 10)
    response = api.post("/api/readings/", CSV, content_type="text/csv")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    task = api.get(f"/api/tasks/{job_id}/").json()  # eager: already done
    assert task["status"] == "succeeded" and task["result"]["inserted"] == 2
    assert api.get(f"/api/ingest-jobs/{job_id}/").json()["rows"] == 2


def test_auditor_reads_but_cannot_write(api, world, auditor_user):
    api.force_authenticate(auditor_user)
    p = period(world[1])
    assert api.get("/api/measurement-points/").json()["count"] == 3
    assert api.get(f"/api/periods/{p.pk}/").status_code == 200
    assert api.post("/api/readings/", CSV, content_type="text/csv").status_code == 403
    assert api.post(f"/api/periods/{p.pk}/compute/").status_code == 403
    assert api.post("/api/sites/OTHR/periods/", {"year": 2026}).status_code == 403
    meter = {"site": "OTHR", "code": "X", "quantity": "edc-supply", "unit": "kWh"}
    assert api.post("/api/measurement-points/", meter).status_code == 403


def test_wrong_site_operator_sees_and_changes_nothing_there(api, world, operator_user):
    api.force_authenticate(operator_user)
    theirs = period(world[1])
    assert api.get(f"/api/periods/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/periods/{theirs.pk}/compute/").status_code == 404
    assert api.get("/api/sites/OTHR/periods/").status_code == 404
    codes = {m["code"] for m in api.get("/api/measurement-points/").json()["results"]}
    assert codes == {"MINE-UPS", "MINE-MAIN"}
    meter = {
        "site": "OTHR",
        "code": "X",
        "quantity": "edc-supply",
        "unit": "kWh",
        "register": "interval",
    }
    assert api.post("/api/measurement-points/", meter).status_code == 403
    meter["site"] = "MINE"
    assert api.post("/api/measurement-points/", meter).status_code == 201
    assert MeasurementPoint.objects.filter(code="X", site__code="MINE").exists()


def test_period_lifecycle_through_the_api(api, world, operator_user):
    api.force_authenticate(operator_user)
    created = api.post(
        "/api/sites/MINE/periods/",
        {
            "year": 2025,
            "start_date": "2025-01-01",
            "end_date": "2025-12-31",
            "pdit_basis": "installed",
        },
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    api.post("/api/readings/", CSV, content_type="text/csv")
    response = api.post(f"/api/periods/{pk}/compute/")
    assert response.status_code == 202
    task = api.get(response.json()["status_url"]).json()
    assert task["status"] == "succeeded"
    detail = api.get(f"/api/periods/{pk}/").json()
    assert detail["result"]["indicators"]["PUE"] == "1.5000000000"
    assert detail["result"]["inputs"]["EDC"]["quality"] == "measured"
    assert detail["result"]["coverage"]["MINE-UPS"]["present"] == 1
    assert any(w["rule_id"] == "meter-coverage-below-100" for w in detail["result"]["warnings"])
    value = {"symbol": "SDC", "value": "1200", "quality": "estimated", "note": "drawings"}
    assert api.post(f"/api/periods/{pk}/values/", value).status_code == 200
    moved = api.post(f"/api/periods/{pk}/transition/", {"to": "validated"})
    assert moved.status_code == 200, moved.content
    assert api.post(f"/api/periods/{pk}/transition/", {"to": "validated"}).status_code == 409
    assert api.patch(f"/api/periods/{pk}/", {"notes": "late"}).status_code == 403


def test_validation_errors_block_validated_in_the_api(api, world, operator_user):
    api.force_authenticate(operator_user)
    p = period(world[0], pdit_basis="installed")
    csv = CSV.replace(",10\n", ",20\n")  # EIT 20 > EDC 15
    api.post("/api/readings/", csv, content_type="text/csv")
    response = api.post(f"/api/periods/{p.pk}/transition/", {"to": "validated"})
    assert response.status_code == 409 and "eit-above-edc" in response.json()["status"][0]
    assert ReportingPeriod.objects.get(pk=p.pk).status == "draft"


def test_readings_list_is_filtered_and_paginated(api, world, auditor_user):
    from tests.reporting.conftest import ingest, series

    ingest(series("MINE-UPS", T0 + timedelta(minutes=15), 30, 1))
    api.force_authenticate(auditor_user)
    page = api.get("/api/readings/", {"meter": "MINE-UPS", "page_size": 10}).json()
    assert len(page["results"]) == 10 and page["next"]
    late = api.get("/api/readings/", {"meter": "MINE-UPS", "from": "2025-01-01T07:00:00Z"}).json()
    assert len(late["results"]) == 3


def test_readings_pages_walk_the_meter_time_key_forwards_and_back(api, world, auditor_user):
    from tests.reporting.conftest import ingest, series

    # Two meters with the same timestamps: the cursor is a (meter, timestamp) position.
    ingest(series("MINE-UPS", T0 + timedelta(minutes=15), 23, 1))
    ingest(series("MINE-MAIN", T0 + timedelta(minutes=15), 23, 2))
    api.force_authenticate(auditor_user)
    stored = list(
        Reading.objects.filter(meter__site__code="MINE")
        .order_by("meter_id", "timestamp")
        .values_list("meter__code", "timestamp")
    )
    seen, pages, url = [], [], "/api/readings/?site=MINE&page_size=10"
    while url:
        page = api.get(url).json()
        pages.append(page)
        seen += [(r["meter"], r["timestamp"]) for r in page["results"]]
        url = page["next"]
    assert [(m, ts.isoformat().replace("+00:00", "Z")) for m, ts in stored] == seen
    assert len(pages) == 5
    back = api.get(pages[-1]["previous"]).json()
    assert back["results"] == pages[-2]["results"]
    assert api.get("/api/readings/", {"cursor": "cD0xMn55ZXN0ZXJkYXk="}).status_code == 404


def test_list_endpoints_have_bounded_queries(
    api, world, auditor_user, django_assert_max_num_queries
):
    from tests.reporting.conftest import ingest, series

    for code in ("A1", "B1", "C1"):
        site = make_site(code)
        period(site)
        make_meter(site, f"{code}-M", "edc-supply")
    ingest(series("MINE-UPS", T0 + timedelta(minutes=15), 50, 1))
    api.force_authenticate(auditor_user)
    for url in (
        "/api/measurement-points/",
        "/api/periods/",
        "/api/readings/?page_size=50",
        "/api/aggregates/?year=2025",
    ):
        with django_assert_max_num_queries(6):
            assert api.get(url).status_code == 200, url


def test_aggregates_by_year(api, world, auditor_user):
    from reporting.tasks import queue_year

    queue_year(2025)
    api.force_authenticate(auditor_user)
    rows = api.get("/api/aggregates/", {"year": 2025, "scope": "EU"}).json()
    assert {r["group"] for r in rows} >= {"all"}
    for year in ("x", "0.5", ""):  # refused naming the parameter, not an empty list
        refused = api.get("/api/aggregates/", {"year": year})
        assert refused.status_code == 400 and "year" in refused.json()


def test_schema_describes_the_reporting_routes(api, auditor_user):
    api.force_authenticate(auditor_user)
    paths = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for route in (
        "/api/sites/{code}/periods/",
        "/api/periods/{id}/",
        "/api/periods/{id}/compute/",
        "/api/tasks/{task_id}/",
        "/api/aggregates/",
        "/api/readings/",
        "/api/measurement-points/",
    ):
        assert route in paths, route
