"""Physical audits: what the scans make of the register (found, missing, misplaced, unknown), and
what closing one records in the ledger: every event or none, through the one writer."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from registry import audits, services
from registry.lifecycle import EventKind, State
from registry.models import AuditStatus, LifecycleEvent
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def floor(par, fra):
    """PAR1 room Hall 1: two units in rack R1, one in R2; one unit at FRA1; one sold unit."""
    model = f.hardware_model("acme-l4", name="L4")
    units = {
        "A": f.asset("PAR-A", model=model, at_site=par, room="Hall 1", rack="R1"),
        "B": f.asset("PAR-B", model=model, at_site=par, room="Hall 1", rack="R1"),
        "C": f.asset("PAR-C", model=model, at_site=par, room="Hall 1", rack="R2"),
        "F": f.asset("FRA-F", model=model, at_site=fra, room="Hall 9", rack="R9"),
        "S": f.asset("PAR-S", model=model, at_site=par, room="Hall 1", rack="R1"),
    }
    services.record_event(
        units["S"],
        EventKind.SOLD,
        occurred_at=f.at(1),
        details={"counterparty": "Broker", "price": "10", "currency": "EUR"},
    )
    return units


def _tags(lines):
    return [line.tag for line in lines]


def test_scans_sort_units_into_found_missing_misplaced_and_unknown(op, par, floor):
    audit = audits.start(site=par, user=op, room="Hall 1", rack="R1")
    for tag in ("PAR-A", "PAR-A", "PAR-C", "FRA-F", "PAR-S", "NO-SUCH-1", "no-such-1"):
        audits.scan(audit, tag, user=op)
    sheet = audits.classify(audit, op)
    assert _tags(sheet.found) == ["PAR-A"]  # scanned twice: one unit seen
    assert _tags(sheet.missing) == ["PAR-B"]
    assert _tags(sheet.misplaced) == ["FRA-F", "PAR-C", "PAR-S"]
    assert _tags(sheet.unknown) == ["NO-SUCH-1"]
    assert sheet.counts() == {"found": 1, "missing": 1, "misplaced": 3, "unknown": 1}
    by_tag = {line.tag: line for line in sheet.misplaced}
    assert by_tag["PAR-C"].recorded == "PAR1, room Hall 1, rack R2"
    assert by_tag["PAR-C"].seen == "PAR1, room Hall 1, rack R1"
    assert by_tag["PAR-C"].movable
    assert not by_tag["FRA-F"].movable and "a site you do not operate" in by_tag["FRA-F"].note
    assert not by_tag["PAR-S"].movable and "sold" in by_tag["PAR-S"].note


def test_a_sold_unit_is_never_expected(op, par, floor):
    audit = audits.start(site=par, user=op)
    assert "PAR-S" not in [unit.asset_tag for unit in audits.expected(audit)]


def test_a_scan_names_a_narrower_place_never_another_one(op, par, floor):
    audit = audits.start(site=par, user=op, room="Hall 1")
    seen = audits.scan(audit, " PAR-C\r", user=op, rack="R1")
    assert (seen.tag, seen.room, seen.rack) == ("PAR-C", "Hall 1", "R1")
    assert _tags(audits.classify(audit, op).misplaced) == ["PAR-C"]
    with pytest.raises(audits.AuditError) as refused:
        audits.scan(audit, "PAR-A", user=op, room="Hall 2")
    assert "room" in refused.value.message_dict


def test_only_an_operator_of_the_site_audits_it(operator_user, par, fra, floor):
    fra.operators.add(operator_user)
    with pytest.raises(PermissionDenied):
        audits.start(site=par, user=operator_user)
    audit = audits.start(site=fra, user=operator_user)
    stranger = f.user("other", group="operator")
    par.operators.add(stranger)
    with pytest.raises(PermissionDenied):
        audits.scan(audit, "FRA-F", user=stranger)
    with pytest.raises(PermissionDenied):
        audits.close(audit, user=stranger)


def test_close_records_one_audited_event_per_unit_seen_and_the_confirmed_moves(op, par, floor):
    audit = audits.start(site=par, user=op, room="Hall 1", rack="R1")
    for tag in ("PAR-A", "PAR-C", "PAR-C", "PAR-S", "FRA-F", "GHOST"):
        audits.scan(audit, tag, user=op)
    audits.close(audit, user=op, move={"PAR-C"})
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED and audit.ended_by == op
    seen = LifecycleEvent.objects.filter(kind=EventKind.AUDITED).order_by("asset__asset_tag")
    where = {"audit": audit.pk, "seen_site": "PAR1", "seen_room": "Hall 1", "seen_rack": "R1"}
    assert [(e.asset.asset_tag, e.details) for e in seen] == [("PAR-A", where), ("PAR-C", where)]
    moved = LifecycleEvent.objects.get(kind=EventKind.MOVED)
    assert moved.asset.asset_tag == "PAR-C" and moved.details["rack"] == "R1"
    floor["C"].refresh_from_db()
    assert floor["C"].rack == "R1"
    # The sold unit is reported, not moved; the FRA1 unit is not this operator's to record.
    assert floor["S"].events.count() == 2
    assert not floor["F"].events.filter(kind=EventKind.AUDITED).exists()
    outcome = audits.classify(audit)
    assert {line.tag: line.recorded_events for line in outcome.misplaced} == {
        "FRA-F": "not recorded: at a site you do not operate",
        "PAR-C": "moved, seen",
        "PAR-S": "reported only",
    }
    assert _tags(outcome.unknown) == ["GHOST"]
    assert audits.last_seen(floor["A"]).where == "PAR1, room Hall 1, rack R1"
    assert audits.last_seen(floor["B"]) is None


def test_close_is_all_or_nothing_and_names_the_refused_tag(op, par, floor):
    audit = audits.start(site=par, user=op, room="Hall 1")
    audits.scan(audit, "PAR-A", user=op)
    audits.scan(audit, "PAR-B", user=op)
    audit.scans.update(scanned_at=f.at(2))
    # Something recorded on PAR-B after it was scanned: an event at the scan's time would lie
    # before it, which the ledger's time order refuses.
    services.record_event(
        floor["B"], EventKind.COMMISSIONED, occurred_at=f.at(3), details={"workload": "inference"}
    )
    before = LifecycleEvent.objects.count()
    with pytest.raises(audits.AuditError) as refused:
        audits.close(audit, user=op)
    assert list(refused.value.message_dict) == ["PAR-B"]
    assert "before the asset's last event" in refused.value.message_dict["PAR-B"][0]
    assert LifecycleEvent.objects.count() == before  # PAR-A's event was rolled back too
    audit.refresh_from_db()
    assert audit.status == AuditStatus.OPEN


def test_a_move_that_cannot_be_made_refuses_the_whole_close(op, par, floor):
    audit = audits.start(site=par, user=op, room="Hall 1", rack="R1")
    audits.scan(audit, "PAR-S", user=op)
    audits.scan(audit, "PAR-A", user=op)
    with pytest.raises(audits.AuditError) as refused:
        audits.close(audit, user=op, move={"PAR-S", "PAR-A"})
    assert set(refused.value.message_dict) == {"PAR-S", "PAR-A"}
    assert not LifecycleEvent.objects.filter(kind=EventKind.AUDITED).exists()


def test_audited_is_recorded_only_for_a_scan_of_an_open_audit(op, par, floor):
    audit = audits.start(site=par, user=op)
    details = {"audit": audit.pk, "seen_site": "PAR1"}
    with pytest.raises(services.LifecycleError, match="was not scanned"):
        services.record_event(floor["A"], EventKind.AUDITED, occurred_at=NOW, details=details)
    audits.scan(audit, "PAR-A", user=op)
    audits.cancel(audit, user=op)
    with pytest.raises(services.LifecycleError, match="cancelled"):
        services.record_event(floor["A"], EventKind.AUDITED, occurred_at=NOW, details=details)
    with pytest.raises(audits.AuditError):
        audits.scan(audit, "PAR-B", user=op)


def test_audited_is_never_offered_by_hand():
    from registry.lifecycle import allowed_kinds

    assert EventKind.AUDITED not in allowed_kinds(State.IN_STOCK)


def test_the_asset_list_reads_last_seen_without_a_query_per_row(op, par, floor):
    from registry.models import Asset

    audit = audits.start(site=par, user=op)
    audits.scan(audit, "PAR-A", user=op, room="Hall 1", rack="R1")
    audits.close(audit, user=op)
    rows = {a.asset_tag: a for a in audits.with_last_seen(Asset.objects.all())}
    seen = audits.last_seen(rows["PAR-A"])
    assert seen.audit == audit.pk and seen.where == "PAR1, room Hall 1, rack R1"
    assert audits.last_seen(rows["PAR-B"]) is None


def test_a_label_address_read_by_a_scanner_gives_its_tag():
    assert audits.clean_tag("https://circulus.example.org/a/PAR-GPU%2F7/\r\n") == "PAR-GPU/7"
    assert audits.clean_tag("\x02 PAR-A \x03") == "PAR-A"
