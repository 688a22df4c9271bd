"""Audits through the API (start, scan, read, close, report) with its site scope, the asset's
last sighting in its representation, and the report workbook read back with openpyxl."""

import io

import openpyxl
import pytest

from registry import audits
from registry.lifecycle import EventKind
from registry.models import AuditStatus, LifecycleEvent
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(par, fra):
    model = f.hardware_model("acme-l4", name="L4")
    units = {
        tag: f.asset(tag, model=model, at_site=site, room=room, rack=rack)
        for tag, site, room, rack in (
            ("PAR-A", par, "Hall 1", "R1"),
            ("PAR-B", par, "Hall 1", "R1"),
            ("PAR-C", par, "Hall 1", "R2"),
            ("FRA-F", fra, "Hall 9", "R9"),
        )
    }
    return units


@pytest.fixture
def audit(op, par, floor):
    return audits.start(site=par, user=op, room="Hall 1", rack="R1")


def test_an_operator_starts_an_audit_at_a_site_they_operate_only(api, op, par, fra):
    api.force_authenticate(op)
    made = api.post("/api/audits/", {"site": "PAR1", "rack": "R1"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["started_by"] == "op" and made.json()["status"] == "open"
    refused = api.post("/api/audits/", {"site": "FRA1"}, format="json")
    assert refused.status_code == 403 and "FRA1" in refused.json()["detail"]


def test_the_list_filters_by_site_and_status_and_refuses_a_blank(api, auditor_user, audit, fra):
    api.force_authenticate(auditor_user)
    assert [a["id"] for a in api.get("/api/audits/", {"site": "PAR1"}).json()["results"]] == [
        audit.pk
    ]
    assert api.get("/api/audits/", {"status": "closed"}).json()["results"] == []
    assert api.get("/api/audits/?site=").status_code == 400
    assert api.get("/api/audits/?status=maybe").status_code == 400


def test_scans_sort_tags_and_the_detail_lists_them(api, op, audit):
    api.force_authenticate(op)
    url = f"/api/audits/{audit.pk}/scan/"
    answers = [api.post(url, {"tag": tag}, format="json") for tag in ("PAR-A", "PAR-C", "X-1")]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.json()["result"] for a in answers] == ["found", "misplaced", "unknown"]
    assert answers[-1].json()["counts"] == {"found": 1, "missing": 1, "misplaced": 1, "unknown": 1}
    assert answers[0].json()["scan"]["asset"] == "PAR-A"
    detail = api.get(f"/api/audits/{audit.pk}/").json()
    assert [line["tag"] for line in detail["missing"]] == ["PAR-B"]
    assert detail["misplaced"][0]["recorded"] == "PAR1, room Hall 1, rack R2"
    assert detail["misplaced"][0]["movable"] is True
    outside = api.post(url, {"tag": "PAR-B", "rack": "R7"}, format="json")
    assert outside.status_code == 400 and "rack" in outside.json()


def test_only_the_sites_operators_scan_and_close(api, audit, fra):
    other = f.user("other", group="operator")
    fra.operators.add(other)
    api.force_authenticate(other)
    assert (
        api.post(f"/api/audits/{audit.pk}/scan/", {"tag": "PAR-A"}, format="json").status_code
        == 403
    )
    assert api.post(f"/api/audits/{audit.pk}/close/", {}, format="json").status_code == 403
    assert api.post(f"/api/audits/{audit.pk}/cancel/").status_code == 403
    assert not audit.scans.exists()


def test_close_records_sightings_and_moves_then_refuses_a_second_close(api, op, audit, floor):
    api.force_authenticate(op)
    for tag in ("PAR-A", "PAR-C"):
        api.post(f"/api/audits/{audit.pk}/scan/", {"tag": tag}, format="json")
    closed = api.post(f"/api/audits/{audit.pk}/close/", {"move": ["PAR-C"]}, format="json")
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert body["status"] == "closed" and body["counts"]["misplaced"] == 1
    assert body["misplaced"][0]["recorded_events"] == "moved, seen"
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 2
    again = api.post(f"/api/audits/{audit.pk}/close/", {}, format="json")
    assert again.status_code == 409 and "closed" in again.json()["detail"]
    late = api.post(f"/api/audits/{audit.pk}/scan/", {"tag": "PAR-B"}, format="json")
    assert late.status_code == 409
    asset = api.get(f"/api/assets/{floor['PAR-C'].pk}/").json()
    assert asset["last_seen_where"] == "PAR1, room Hall 1, rack R1"
    assert asset["last_seen_at"].startswith(str(audit.scans.last().scanned_at.year))
    assert asset["rack"] == "R1"


def test_a_refused_close_names_the_tag_and_records_nothing(api, op, audit, floor):
    api.force_authenticate(op)
    api.post(f"/api/audits/{audit.pk}/scan/", {"tag": "PAR-A"}, format="json")
    response = api.post(f"/api/audits/{audit.pk}/close/", {"move": ["PAR-A"]}, format="json")
    assert response.status_code == 400
    assert "nothing to move" in response.json()["PAR-A"][0]
    assert not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN


def test_audited_cannot_be_recorded_through_the_event_door(api, op, audit, floor):
    audits.scan(audit, "PAR-A", user=op)
    api.force_authenticate(op)
    response = api.post(
        f"/api/assets/{floor['PAR-A'].pk}/events/",
        {
            "kind": "audited",
            "occurred_at": "2026-01-01T10:00:00Z",
            "audit": audit.pk,
            "seen_site": "PAR1",
        },
        format="json",
    )
    assert response.status_code == 400 and "closing an audit" in str(response.json())


def test_the_asset_list_reads_last_seen_in_flat_queries(
    api, auditor_user, op, par, audit, floor, django_assert_max_num_queries
):
    for tag in ("PAR-A", "PAR-B"):
        audits.scan(audit, tag, user=op)
    audits.close(audit, user=op)
    api.force_authenticate(auditor_user)
    with django_assert_max_num_queries(4):
        rows = api.get("/api/assets/").json()["results"]
    seen = {row["asset_tag"]: row["last_seen_where"] for row in rows}
    assert seen == {
        "PAR-A": "PAR1, room Hall 1, rack R1",
        "PAR-B": "PAR1, room Hall 1, rack R1",
        "PAR-C": None,
        "FRA-F": None,
    }


def _effective_font_pt(ws) -> float:
    """The printed size of the default 11 pt text at the fit-to-width scale of landscape A4."""
    pixels = sum(ws.column_dimensions[c].width * 7 + 5 for c in "ABCDEFGHI")
    width_mm = pixels / 96 * 25.4
    printable_mm = 297 - (ws.page_margins.left + ws.page_margins.right) * 25.4
    return 11 * min(1.0, printable_mm / width_mm)


def test_the_report_lists_each_result_with_where_when_and_who(api, op, audit, floor):
    for tag in ("PAR-A", "PAR-C", "=1+1"):
        audits.scan(audit, tag, user=op)
    api.force_authenticate(f.user("reader", group="auditor"))
    response = api.get(
        f"/api/audits/{audit.pk}/report.xlsx/",
        HTTP_ACCEPT="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert response.status_code == 200, response.content[:200]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    ws = book["Audit"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:6] == ("Result", "Tag", "Model", "State", "Recorded location", "Seen location")
    assert rows[0][6] == "Seen at (Europe/Paris)" and rows[0][7] == "Seen by"
    by_tag = {row[1]: row for row in rows[1:]}
    assert by_tag["PAR-A"][0] == "Found" and by_tag["PAR-B"][0] == "Missing"
    assert by_tag["PAR-C"][:2] == ("Misplaced", "PAR-C")
    assert by_tag["PAR-C"][4] == "PAR1, room Hall 1, rack R2"
    assert by_tag["PAR-C"][5] == "PAR1, room Hall 1, rack R1"
    assert by_tag["PAR-C"][6].year >= 2026 and by_tag["PAR-C"][7] == "op"
    assert by_tag["PAR-A"][2] == "Acme L4"
    # A typed "=1+1" is kept as text, never a formula.
    assert by_tag["=1+1"][0] == "Unknown tag"
    assert ws.cell(row=[r[1] for r in rows].index("=1+1") + 1, column=2).data_type == "s"
    # Printed: landscape A4, one page wide, the header row on every page, text ≥ 7 pt.
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows == "$1:$1"
    assert _effective_font_pt(ws) >= 7
    about = dict(book["About"].iter_rows(values_only=True))
    assert about["Scope"] == "PAR1, room Hall 1, rack R1" and about["Missing"] == 1


def test_a_control_character_typed_in_a_room_does_not_fail_the_report(api, op, par, floor):
    """Found by schemathesis: a room typed with a backspace made the workbook a 500."""
    api.force_authenticate(op)
    made = api.post("/api/audits/", {"site": "PAR1", "room": "Hall\b 1"}, format="json")
    assert made.status_code == 201, made.content
    response = api.get(f"/api/audits/{made.json()['id']}/report.xlsx/")
    assert response.status_code == 200, response.content[:200]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert any("Hall\ufffd 1" in str(c) for row in book.worksheets[-1].values for c in row)


def test_the_reports_errors_are_json_even_to_a_client_asking_for_the_workbook(api, auditor_user):
    api.force_authenticate(auditor_user)
    response = api.get("/api/audits/0/report.xlsx/", {"format": "xlsx"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"tag": "x" * 300},
        {"tag": "\u200b\t"},
        {"tag": "PAR-A", "room": "Hall 2"},
        {"tag": ["PAR-A"]},
        {"tag": "PAR-A", "rack": None},
        {},
    ],
)
def test_a_scan_the_register_cannot_read_is_a_400_naming_the_field(api, op, audit, body):
    api.force_authenticate(op)
    response = api.post(f"/api/audits/{audit.pk}/scan/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) & {"tag", "room", "rack"}
    assert not audit.scans.exists()
