"""A close with more units seen than AUDIT_CLOSE_INLINE_MAX is recorded by a worker: the audit is
closing meanwhile (no scan, no second close, no cancel, at either door), then closed with exactly
what the inline close records, or open again with the reason and nothing written; a queue that
cannot be reached answers 503 and leaves the audit open. Celery runs eagerly here unless a test
holds the message back or points it at a broker that is not there."""

import time

import pytest
from django.db import transaction
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from registry import audits, services
from registry.lifecycle import EventKind
from registry.models import AuditStatus, LifecycleEvent
from registry.tasks import close_audit, reopen_lost_audit_closes
from tests import factories as f

pytestmark = pytest.mark.django_db


def _floor(par, fra):
    """PAR1 room Hall 1: PAR-A, PAR-B in rack R1, PAR-C in R2; FRA-F at FRA1."""
    model = f.hardware_model("acme-l4", name="L4")
    return {
        tag: f.asset(tag, model=model, at_site=site, room=room, rack=rack)
        for tag, site, room, rack in (
            ("PAR-A", par, "Hall 1", "R1"),
            ("PAR-B", par, "Hall 1", "R1"),
            ("PAR-C", par, "Hall 1", "R2"),
            ("FRA-F", fra, "Hall 9", "R9"),
        )
    }


def _scanned(par, op, tags=("PAR-A", "PAR-B", "PAR-C", "FRA-F", "GHOST")):
    audit = audits.start(site=par, user=op, room="Hall 1", rack="R1")
    for tag in tags:
        audits.scan(audit, tag, user=op)
    audit.scans.update(scanned_at=f.at(2))  # the same times in every run compared
    return audit


@pytest.fixture
def held(monkeypatch):
    """The close's message is accepted by the broker but no worker has run it yet."""
    sent = []
    monkeypatch.setattr(close_audit, "apply_async", lambda args, **kw: sent.append(args))
    return sent


def _what_the_close_wrote(settings, par, fra, op, inline_max):
    """Close the same audit of the same floor with the given threshold; what the ledger and the
    audit got, with the audit's and assets' ids taken out. Rolled back afterwards."""
    settings.AUDIT_CLOSE_INLINE_MAX = inline_max
    with transaction.atomic():
        _floor(par, fra)
        audit = _scanned(par, op)
        closed, queued = audits.request_close(audit, user=op, move={"PAR-C"})
        events = [
            (e.asset.asset_tag, e.kind, e.occurred_at, _without(audit.pk, e.details), e.actor_id)
            for e in LifecycleEvent.objects.filter(
                kind__in=(EventKind.AUDITED, EventKind.MOVED)
            ).order_by("id")
        ]
        outcome = {
            name: [{**row, "asset_id": "-"} for row in rows]
            for name, rows in closed.outcome.items()
        }
        written = (closed.status, closed.ended_by_id, events, outcome)
        transaction.set_rollback(True)
    return queued, written


def _without(audit_id: int, details: dict) -> dict:
    """The details with the audit's id taken out (ids differ between the two runs)."""
    out = {**details, "audit": "-"} if "audit" in details else dict(details)
    if "note" in out:
        out["note"] = out["note"].replace(f"audit {audit_id}", "audit -")
    return out


def test_a_close_above_the_threshold_records_exactly_what_the_inline_close_records(
    settings, par, fra, op
):
    inline_queued, inline = _what_the_close_wrote(settings, par, fra, op, inline_max=100)
    worker_queued, by_worker = _what_the_close_wrote(settings, par, fra, op, inline_max=3)
    assert (inline_queued, worker_queued) == (False, True)
    assert by_worker == inline
    status, ended_by, events, _ = by_worker
    assert status == AuditStatus.CLOSED and ended_by == op.pk
    assert [(tag, kind) for tag, kind, *_ in events] == [
        ("PAR-A", "audited"),
        ("PAR-B", "audited"),
        ("PAR-C", "moved"),
        ("PAR-C", "audited"),
    ]


def test_at_the_threshold_the_close_stays_in_the_request(settings, par, fra, op, held):
    _floor(par, fra)
    audit = _scanned(par, op)  # four registered units seen
    settings.AUDIT_CLOSE_INLINE_MAX = 4
    closed, queued = audits.request_close(audit, user=op)
    assert not queued and closed.status == AuditStatus.CLOSED and held == []


def test_a_closing_audit_refuses_scans_a_second_close_and_cancel_at_both_doors(
    settings, api, client, par, fra, op, held
):
    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    api.force_authenticate(op)
    answer = api.post(f"/api/audits/{audit.pk}/close/", {"move": ["PAR-C"]}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "closing" and held == [[audit.pk]]
    audit.refresh_from_db()
    assert audit.close_moves == ["PAR-C"] and audit.close_requested_by == op
    for step in ("scan", "close", "cancel"):
        refused = api.post(f"/api/audits/{audit.pk}/{step}/", {"tag": "PAR-A"}, format="json")
        assert refused.status_code == 409, (step, refused.content)
        assert "closing" in refused.json()["detail"]
    with pytest.raises(audits.AuditError):
        audits.scan(audit, "PAR-A", user=op)
    client.force_login(op)
    page = reverse("admin:registry_audit_scan", args=[audit.pk])
    for action in ("scan", "close", "cancel"):
        refused = client.post(page, {"action": action, "tag": "PAR-A"})
        assert refused.status_code == 409, action
        assert "being closed by a worker" in refused.content.decode()
    closing_page = client.get(page).content.decode()
    assert "A worker is recording what was seen" in closing_page
    assert '<meta http-equiv="refresh" content="5">' in closing_page  # looks again by itself
    assert (
        audit.scans.count() == 5
        and not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()
    )
    # The worker takes the message: closed, with the move ticked; a redelivery does nothing.
    assert close_audit(audit.pk) == {"audit": audit.pk, "closed": True}
    assert close_audit(audit.pk) == {"audit": audit.pk, "closed": False}
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED and audit.close_moves == []
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 3
    assert 'http-equiv="refresh"' not in client.get(page).content.decode()
    assert LifecycleEvent.objects.filter(kind=EventKind.MOVED).count() == 1


def test_a_move_that_cannot_be_made_is_refused_before_queueing(settings, api, par, fra, op, held):
    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    api.force_authenticate(op)
    refused = api.post(f"/api/audits/{audit.pk}/close/", {"move": ["FRA-F"]}, format="json")
    assert refused.status_code == 400 and list(refused.json()) == ["FRA-F"]
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN and held == []


def test_a_ledger_refusal_in_the_worker_writes_nothing_and_reopens_with_the_tag(
    settings, api, par, fra, op
):
    units = _floor(par, fra)
    audit = _scanned(par, op)
    # Recorded on PAR-B after its scan: the ledger refuses an event dated before it.
    services.record_event(
        units["PAR-B"],
        EventKind.COMMISSIONED,
        occurred_at=f.at(3),
        details={"workload": "inference"},
    )
    before = LifecycleEvent.objects.count()
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    api.force_authenticate(op)
    answer = api.post(f"/api/audits/{audit.pk}/close/", {"move": ["PAR-C"]}, format="json")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "open"
    assert body["close_failure"].startswith("PAR-B: ") and "last event" in body["close_failure"]
    assert LifecycleEvent.objects.count() == before  # PAR-A's and PAR-C's events rolled back
    units["PAR-C"].refresh_from_db()
    assert units["PAR-C"].rack == "R2"
    audit.refresh_from_db()
    assert audit.close_requested_by is None and audit.close_moves == []
    assert (
        api.post(f"/api/audits/{audit.pk}/scan/", {"tag": "PAR-A"}, format="json").status_code
        == 201
    )


def test_a_failing_worker_writes_nothing_and_reopens_the_audit_saying_so(
    settings, client, par, fra, op, monkeypatch
):
    _floor(par, fra)
    audit = _scanned(par, op)
    real, calls = services.record_event, []

    def breaks_on_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "record_event", breaks_on_the_third)
    before = LifecycleEvent.objects.count()
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    client.force_login(op)
    page = reverse("admin:registry_audit_scan", args=[audit.pk])
    answer = client.post(page, {"action": "close", "move": ["PAR-C"]}, follow=True)
    assert "was not closed, nothing was recorded" in answer.content.decode()
    assert len(calls) == 3 and LifecycleEvent.objects.count() == before
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN and audit.close_failure == audits.FAILED
    assert "The last close recorded nothing" in client.get(page).content.decode()
    # Put right, it closes; the reason goes.
    monkeypatch.setattr(services, "record_event", real)
    client.post(page, {"action": "close", "move": ["PAR-C"]})
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED and audit.close_failure == ""


def test_the_admin_list_action_queues_a_large_close(settings, client, par, fra, op, held):
    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    client.force_login(op)
    answer = client.post(
        reverse("admin:registry_audit_changelist"),
        {"action": "close_audits", "_selected_action": [audit.pk]},
        follow=True,
    )
    assert "a worker is recording them" in answer.content.decode()
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSING and held == [[audit.pk]]


def test_a_close_the_queue_cannot_take_is_a_503_and_the_audit_stays_open(
    settings, api, client, par, fra, op, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(close_audit, "apply_async", unreachable)
    api.force_authenticate(op)
    answer = api.post(f"/api/audits/{audit.pk}/close/", {}, format="json")
    assert answer.status_code == 503 and int(answer["Retry-After"]) > 0
    assert "task queue" in answer.json()["detail"]
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN and audit.close_failure == audits.NOT_QUEUED
    client.force_login(op)
    page = client.post(reverse("admin:registry_audit_scan", args=[audit.pk]), {"action": "close"})
    assert page.status_code == 503 and "task queue cannot be reached" in page.content.decode()
    assert not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()
    assert (
        api.post(f"/api/audits/{audit.pk}/scan/", {"tag": "PAR-A"}, format="json").status_code
        == 201
    )


@pytest.mark.django_db(transaction=True)
def test_a_large_close_answers_503_at_once_when_the_broker_is_down(settings, api, broker_down):
    par, fra = f.site("PAR1"), f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    op = f.user("op", group="operator")
    par.operators.add(op)
    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    api.force_authenticate(op)
    started = time.monotonic()
    answer = api.post(f"/api/audits/{audit.pk}/close/", {}, format="json")
    assert time.monotonic() - started < 10, "the request waited on the broker"
    assert answer.status_code == 503 and "task queue" in answer.json()["detail"]
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN and audit.close_failure == audits.NOT_QUEUED


def test_a_close_no_worker_finished_is_reopened_by_the_beat(settings, par, fra, op, held):
    import datetime as dt

    from django.utils import timezone

    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    audits.request_close(audit, user=op)
    assert reopen_lost_audit_closes() == {"reopened": 0}
    audit.__class__.objects.filter(pk=audit.pk).update(
        close_requested_at=timezone.now() - dt.timedelta(seconds=settings.JOB_MAX_SECONDS + 1)
    )
    assert reopen_lost_audit_closes() == {"reopened": 1}
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN and audit.close_failure == audits.LOST
    assert close_audit(audit.pk) == {"audit": audit.pk, "closed": False}  # a late message
    assert not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()
    assert "registry.reopen_lost_audit_closes" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_the_schema_says_a_queued_close_answers_202():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/audits/{id}/close/"]["post"]["responses"]
    assert {"200", "202", "400", "409", "503"} <= set(responses)
    assert "closing" in responses["202"]["description"]


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_large_close_runs_on_a_real_worker(settings, celery_worker_process):
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL (SQLite: in memory)")
    par, fra = f.site("PAR1"), f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    op = f.user("op", group="operator")
    par.operators.add(op)
    _floor(par, fra)
    audit = _scanned(par, op)
    settings.AUDIT_CLOSE_INLINE_MAX = 1
    closing, queued = audits.request_close(audit, user=op, move={"PAR-C"})
    assert queued and closing.status in (AuditStatus.CLOSING, AuditStatus.CLOSED)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        audit.refresh_from_db()
        if audit.status != AuditStatus.CLOSING:
            break
        time.sleep(0.2)
    assert audit.status == AuditStatus.CLOSED, audit.close_failure
    assert audit.ended_by == op
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 3
    assert LifecycleEvent.objects.filter(kind=EventKind.MOVED).count() == 1
