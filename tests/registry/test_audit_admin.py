"""Audits in the admin: starting one, the scan page (a plain form post and the page's script),
closing with a confirmed move, a refusal shown by tag, the report, and the asset's last sighting."""

import io
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.urls import reverse

from registry import audits, services
from registry.lifecycle import EventKind
from registry.models import Audit, AuditStatus, LifecycleEvent
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(par):
    model = f.hardware_model("acme-l4", name="L4")
    return {
        tag: f.asset(tag, model=model, at_site=par, room="Hall 1", rack=rack)
        for tag, rack in (("PAR-A", "R1"), ("PAR-B", "R1"), ("PAR-C", "R2"))
    }


@pytest.fixture
def audit(op, par, floor):
    return audits.start(site=par, user=op, room="Hall 1", rack="R1")


def scan_url(audit):
    return reverse("admin:registry_audit_scan", args=[audit.pk])


def test_starting_an_audit_opens_its_scan_page(client, op, par, floor):
    client.force_login(op)
    response = client.post(
        reverse("admin:registry_audit_add"), {"site": par.pk, "room": "Hall 1", "rack": ""}
    )
    audit = Audit.objects.get()
    assert response.status_code == 302 and response["Location"] == scan_url(audit)
    assert (audit.started_by, audit.status, audit.room) == (op, AuditStatus.OPEN, "Hall 1")
    page = client.get(scan_url(audit)).content.decode()
    assert 'id="tag"' in page and "autofocus" in page
    assert "PAR-A" in page and "Missing" in page


def test_a_plain_form_post_scans_and_comes_back_to_the_page(client, op, audit):
    client.force_login(op)
    response = client.post(scan_url(audit), {"action": "scan", "tag": "PAR-C"}, follow=True)
    page = response.content.decode()
    assert "PAR-C: misplaced, recorded at PAR1, room Hall 1, rack R2" in page
    assert 'name="move" value="PAR-C"' in page


def test_the_page_script_gets_the_lists_and_counts_back(client, op, audit):
    client.force_login(op)
    response = client.post(scan_url(audit), {"tag": "PAR-A"}, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "PAR-A: found"
    assert body["counts"] == {"found": 1, "missing": 1, "misplaced": 0, "unknown": 0}
    assert "PAR-B" in body["lists"]
    again = client.post(scan_url(audit), {"tag": "PAR-A"}, headers={"X-Requested-With": "fetch"})
    assert again.json()["message"] == "PAR-A: found (seen again)"
    empty = client.post(scan_url(audit), {"tag": " "}, headers={"X-Requested-With": "fetch"})
    assert empty.status_code == 400 and empty.json()["problems"] == ["tag: scan or type a tag"]


def test_closing_records_the_sightings_and_the_ticked_move(client, op, audit, floor):
    client.force_login(op)
    for tag in ("PAR-A", "PAR-C"):
        client.post(scan_url(audit), {"tag": tag})
    response = client.post(scan_url(audit), {"action": "close", "move": ["PAR-C"]}, follow=True)
    assert "recorded as seen, 1 moved" in response.content.decode()
    floor["PAR-C"].refresh_from_db()
    assert floor["PAR-C"].rack == "R1"
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 2
    page = client.get(reverse("admin:registry_asset_change", args=[floor["PAR-A"].pk]))
    text = page.content.decode()
    assert "last seen" in text and "at PAR1, room Hall 1, rack R1" in text
    assert reverse("admin:registry_audit_change", args=[audit.pk]) in text


def test_a_refused_close_names_the_tag_and_records_nothing(client, op, audit, floor):
    client.force_login(op)
    client.post(scan_url(audit), {"tag": "PAR-A"})
    client.post(scan_url(audit), {"tag": "PAR-B"})
    audit.scans.update(scanned_at=f.at(2))
    services.record_event(
        floor["PAR-B"], EventKind.COMMISSIONED, occurred_at=f.at(3), details={"workload": "general"}
    )
    response = client.post(scan_url(audit), {"action": "close"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "PAR-B: is before the asset" in page
    assert not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN


def test_an_auditor_reads_the_lists_and_cannot_scan(client, auditor_user, audit):
    client.force_login(auditor_user)
    page = client.get(scan_url(audit)).content.decode()
    assert "PAR-A" in page and 'id="tag"' not in page and "close-form" not in page
    assert client.post(scan_url(audit), {"tag": "PAR-A"}).status_code == 403
    assert not audit.scans.exists()


def test_the_admin_close_action_closes_and_the_report_downloads(client, op, audit):
    client.force_login(op)
    client.post(scan_url(audit), {"tag": "PAR-A"})
    client.post(
        reverse("admin:registry_audit_changelist"),
        {"action": "close_audits", "_selected_action": [audit.pk]},
    )
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED
    response = client.get(reverse("admin:registry_audit_report", args=[audit.pk]))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["Audit"]
    assert [row[:2] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("Found", "PAR-A"),
        ("Missing", "PAR-B"),
    ]


def test_a_sighting_time_says_its_offset_from_utc(client, op, par, audit):
    """The scan page shows the site's clock, the admin's lists UTC: the page says which."""
    audits.scan(audit, "PAR-A", user=op)
    client.force_login(op)
    page = client.get(scan_url(audit)).content.decode()
    local = audit.scans.get().scanned_at.astimezone(ZoneInfo(par.time_zone))
    offset = local.isoformat(timespec="seconds")[19:]
    assert offset in ("+01:00", "+02:00")
    assert f"at {local:%H:%M} (UTC{offset}) by {op.username}" in page


def test_the_list_actions_say_for_each_audit_what_happened(client, op, par, audit):
    """Close and cancel from the list: one message an audit, a refusal with its reason."""
    client.force_login(op)
    client.post(scan_url(audit), {"tag": "PAR-A"})
    other = audits.start(site=par, user=op)
    changelist = reverse("admin:registry_audit_changelist")

    def said(action, *chosen):
        answer = client.post(
            changelist, {"action": action, "_selected_action": [a.pk for a in chosen]}, follow=True
        )
        return sorted(str(m) for m in answer.context["messages"] if str(m).startswith("Audit "))

    assert said("close_audits", audit) == [
        f"Audit {audit.pk} is closed. 1 unit recorded as seen, 0 moved."
    ]
    assert said("cancel_audits", other) == [f"Audit {other.pk} is cancelled."]
    refused = said("cancel_audits", audit)
    assert len(refused) == 1 and refused[0].startswith(f"Audit {audit.pk} was not cancelled: ")
