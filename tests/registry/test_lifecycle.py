"""The ledger rules of registry/lifecycle.py and registry/services.py, one test per rule."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from registry.lifecycle import MOVES, EventKind, State
from registry.models import LifecycleEvent, SanitisationPolicy
from registry.services import LifecycleError, derived_state, record_event
from tests import factories as f
from tests.factories import SANITISE, at, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpu(db):
    return f.asset("GPU-1")


@pytest.fixture
def drive(db):
    return f.asset("SSD-1", model=f.hardware_model_by_slug("generic-ssd-3840gb"))


def _error(exc_info) -> dict:
    return exc_info.value.message_dict


def test_a_new_asset_starts_with_a_purchased_event(gpu):
    (event,) = gpu.events.all()
    assert event.kind == EventKind.PURCHASED and event.state_after == State.IN_STOCK
    assert gpu.state == State.IN_STOCK and gpu.supplier == "Acme" and gpu.currency == "EUR"


def test_full_life_of_a_training_gpu_redeployed_then_recycled(gpu):
    record(gpu, "commissioned", 1, workload="training")
    record(gpu, "redeployed", 400, to_workload="inference", note="serving a 7B model")
    gpu.refresh_from_db()
    assert gpu.workload == "inference"
    assert gpu.events.last().details["from_workload"] == "training"
    record(gpu, "decommissioned", 900, reason="end of life")
    record(
        gpu,
        "sent-to-recycler",
        901,
        recycler="ReMetal",
        certification="r2v3",
        consignment_ref="C-9",
    )
    record(
        gpu,
        "recycled",
        930,
        certificate_ref="COR-1",
        weee_category="6",
        weighed_mass_kg="1.5",
        recovered_g={"au": "0.3", "cu": "120"},
    )
    gpu.refresh_from_db()
    assert gpu.state == State.RECYCLED == derived_state(gpu)
    kinds = list(gpu.events.values_list("kind", flat=True))
    assert kinds == [
        "purchased",
        "commissioned",
        "redeployed",
        "decommissioned",
        "sent-to-recycler",
        "recycled",
    ]


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        ("redeployed", {"to_workload": "inference", "note": "x"}),  # not in service
        ("received", {}),  # not ordered
        ("recycled", {"certificate_ref": "c", "weee_category": "6", "weighed_mass_kg": "1"}),
        ("refurbished", {"grade": "A", "work_done": "x"}),
        ("reservation-released", {}),
    ],
)
def test_moves_the_table_does_not_allow_are_refused(gpu, kind, details):
    with pytest.raises(LifecycleError) as err:
        record(gpu, kind, 1, **details)
    assert "not allowed from state 'in-stock'" in _error(err)["kind"][0]
    assert gpu.events.count() == 1


def test_every_move_in_the_table_names_real_states():
    for kind, move in MOVES.items():
        assert kind in EventKind.values
        assert set(move.sources) <= set(State.values)
        assert all(t in State.values or t in ("same", "previous") for t in move.targets)


def test_required_details_are_enforced(gpu):
    with pytest.raises(LifecycleError) as err:
        record(gpu, "commissioned", 1)
    assert _error(err) == {"workload": ["required for 'commissioned'"]}


def test_unknown_details_and_bad_choices_are_refused(gpu):
    with pytest.raises(LifecycleError) as err:
        record(gpu, "commissioned", 1, workload="mining")
    assert "workload" in _error(err)
    with pytest.raises(LifecycleError) as err:
        record(gpu, "commissioned", 1, workload="training", colour="red")
    assert "colour" in _error(err)


def test_an_event_dated_before_the_last_one_is_refused(gpu):
    record(gpu, "commissioned", 5, workload="training")
    with pytest.raises(LifecycleError) as err:
        record(gpu, "decommissioned", 4, reason="oops")
    assert "before the asset's last event" in _error(err)["occurred_at"][0]


def test_naive_and_future_times_are_refused(gpu):
    import datetime as dt

    with pytest.raises(LifecycleError):
        record_event(
            gpu,
            "commissioned",
            occurred_at=dt.datetime(2024, 2, 1),
            details={"workload": "general"},
        )
    with pytest.raises(LifecycleError):
        record_event(
            gpu,
            "commissioned",
            occurred_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
            details={"workload": "general"},
        )


def test_ledger_rows_cannot_be_edited_or_deleted(gpu):
    event = gpu.events.get()
    event.details = {"tampered": True}
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        LifecycleEvent.objects.filter(pk=event.pk).update(kind="lost")
    with pytest.raises(PermissionError):
        LifecycleEvent.objects.all().delete()


def test_the_database_itself_refuses_ledger_edits(gpu):
    """Even raw SQL (a superuser in dbshell) cannot change history."""
    table = LifecycleEvent._meta.db_table
    for sql in (f"UPDATE {table} SET kind = 'lost'", f"DELETE FROM {table}"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert gpu.events.get().kind == "purchased"


def test_a_correction_points_at_the_row_it_corrects(gpu):
    wrong = record(gpu, "commissioned", 1, workload="training")
    fix = record(
        gpu,
        "correction",
        2,
        corrects=wrong.pk,
        reason="it never left the shelf",
        to_state="in-stock",
    )
    gpu.refresh_from_db()
    assert fix.corrects == wrong and gpu.state == State.IN_STOCK
    other = f.asset("GPU-2")
    with pytest.raises(LifecycleError) as err:
        record(other, "correction", 3, corrects=wrong.pk, reason="x")
    assert "corrects" in _error(err)


def test_data_bearing_asset_cannot_leave_without_sanitisation(drive):
    record(drive, "commissioned", 1, workload="storage")
    record(drive, "decommissioned", 100, reason="worn")
    with pytest.raises(LifecycleError) as err:
        record(drive, "sold", 101, counterparty="Broker", price="10", currency="EUR")
    assert "holds data" in _error(err)["kind"][0]
    with pytest.raises(LifecycleError):
        record(
            drive, "sent-to-recycler", 101, recycler="R", certification="r2v3", consignment_ref="C"
        )


def test_sanitisation_before_the_last_service_period_does_not_count(drive):
    record(drive, "sanitised", 1, **SANITISE)
    record(drive, "commissioned", 2, workload="storage")
    record(drive, "decommissioned", 100, reason="worn")
    with pytest.raises(LifecycleError):
        record(drive, "donated", 101, counterparty="School")
    record(drive, "sanitised", 102, **SANITISE)
    record(drive, "donated", 103, counterparty="School")
    drive.refresh_from_db()
    assert drive.state == State.DONATED


def test_clear_or_failed_sanitisation_is_not_enough_to_leave_custody(drive):
    record(drive, "commissioned", 1, workload="storage")
    record(drive, "decommissioned", 2, reason="worn")
    record(drive, "sanitised", 3, **(SANITISE | {"method": "clear"}))
    record(drive, "sanitised", 4, **(SANITISE | {"verification": "failed"}))
    with pytest.raises(LifecycleError):
        record(drive, "sold", 5, counterparty="B", price="1", currency="EUR")


def test_destroy_is_required_where_the_site_policy_says_so(drive):
    drive.site.sanitisation_policy = SanitisationPolicy.DESTROY
    drive.site.save()
    record(drive, "commissioned", 1, workload="storage")
    record(drive, "decommissioned", 2, reason="worn")
    record(drive, "sanitised", 3, **SANITISE)  # purge
    with pytest.raises(LifecycleError) as err:
        record(
            drive, "sent-to-recycler", 4, recycler="R", certification="r2v3", consignment_ref="C"
        )
    assert "destroy" in _error(err)["kind"][0]
    record(drive, "sanitised", 5, **(SANITISE | {"method": "destroy"}))
    record(drive, "sent-to-recycler", 6, recycler="R", certification="r2v3", consignment_ref="C")


def test_a_server_holding_a_drive_needs_sanitisation(gpu):
    server = f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-c4140"))
    assert not server.holds_data  # the C4140 reference configuration has no disk
    drive = f.asset("SSD-9", model=f.hardware_model_by_slug("generic-ssd-960gb"))
    record(drive, "component-installed", 1, parent="SRV-1")
    record(server, "commissioned", 2, workload="general")
    record(server, "decommissioned", 50, reason="refresh")
    with pytest.raises(LifecycleError):
        record(
            server, "sent-to-recycler", 51, recycler="R", certification="r2v3", consignment_ref="C"
        )


def test_a_drive_pulled_from_a_server_needs_sanitisation_on_its_own(db):
    f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-r740"))
    drive = f.asset("SSD-9", model=f.hardware_model_by_slug("generic-ssd-960gb"))
    record(drive, "component-installed", 1, parent="SRV-1")
    record(drive, "component-removed", 40)
    with pytest.raises(LifecycleError):
        record(drive, "sold", 41, counterparty="B", price="1", currency="EUR")


def test_a_component_follows_its_parent_to_the_recycler(db):
    server = f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-c4140"))
    gpu = f.asset("GPU-7")
    loose = f.asset("GPU-8")
    record(gpu, "component-installed", 1, parent="SRV-1")
    record(loose, "component-installed", 1, parent="SRV-1")
    record(loose, "component-removed", 2)
    record(server, "decommissioned", 3, reason="refresh")
    sent = record(
        server,
        "sent-to-recycler",
        4,
        recycler="R",
        certification="e-stewards",
        consignment_ref="C-1",
    )
    gpu.refresh_from_db()
    loose.refresh_from_db()
    assert gpu.state == State.AT_RECYCLER
    assert gpu.events.last().caused_by == sent
    assert loose.state == State.IN_STOCK
    record(server, "recycled", 10, certificate_ref="COR", weee_category="4", weighed_mass_kg="23.4")
    gpu.refresh_from_db()
    assert gpu.state == State.RECYCLED


def test_component_cannot_be_installed_in_itself_or_twice(db):
    a, b = f.asset("A-1"), f.asset("B-1")
    with pytest.raises(LifecycleError):
        record(a, "component-installed", 1, parent="A-1")
    record(a, "component-installed", 1, parent="B-1")
    with pytest.raises(LifecycleError):
        record(b, "component-installed", 2, parent="A-1")  # a cycle
    with pytest.raises(LifecycleError):
        record(a, "component-installed", 2, parent="B-1")  # already installed


def test_reservation_release_returns_to_the_previous_state(gpu):
    record(gpu, "commissioned", 1, workload="training")
    record(gpu, "decommissioned", 2, reason="retired from training")
    record(gpu, "reserved-for-reuse", 3, reserved_by="procurement", purpose="7B chatbot")
    with pytest.raises(LifecycleError):
        record(gpu, "reserved-for-reuse", 4, reserved_by="other team", purpose="x")
    record(gpu, "reservation-released", 5)
    gpu.refresh_from_db()
    assert gpu.state == State.AWAITING_DISPOSITION
    record(gpu, "reserved-for-reuse", 6, reserved_by="procurement", purpose="7B chatbot")
    record(gpu, "commissioned", 7, workload="inference")
    gpu.refresh_from_db()
    assert (gpu.state, gpu.workload) == (State.IN_SERVICE, "inference")


def test_moved_changes_site_and_location(gpu):
    f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    record(gpu, "moved", 1, site="FRA1", rack="R12", position_u="20")
    gpu.refresh_from_db()
    assert (gpu.site.code, gpu.rack, gpu.position_u) == ("FRA1", "R12", 20)
    assert gpu.events.last().details["from_site"] == "PAR1"
    with pytest.raises(LifecycleError):
        record(gpu, "moved", 2, site="NOPE")
    with pytest.raises(LifecycleError):
        record(gpu, "moved", 2)


def test_recycled_details_are_validated(gpu):
    record(gpu, "sent-to-recycler", 1, recycler="R", certification="r2v3", consignment_ref="C")
    for bad in (
        {"weighed_mass_kg": "-1"},
        {"weee_category": "9"},
        {"recovered_g": {"unobtainium": 1}},
        {"recovered_g": {"au": -1}},
    ):
        details = {"certificate_ref": "c", "weee_category": "6", "weighed_mass_kg": "1"} | bad
        with pytest.raises(LifecycleError):
            record(gpu, "recycled", 2, **details)


def test_state_always_equals_the_ledger(gpu):
    for day, (kind, details) in enumerate(
        [
            ("commissioned", {"workload": "general"}),
            ("repair-started", {"fault": "fan"}),
            ("repaired", {"work_done": "fan swapped"}),
        ],
        start=1,
    ):
        if kind == "repaired":
            record_event(gpu, kind, occurred_at=at(day), to_state="in-service", details=details)
        else:
            record(gpu, kind, day, **details)
        gpu.refresh_from_db()
        assert gpu.state == derived_state(gpu)


def test_changes_to_assets_are_kept_in_history(gpu):
    gpu.owner = "tenant-a"
    gpu.save()
    assert gpu.history.count() >= 2
    assert gpu.history.first().owner == "tenant-a"


def test_decommissioning_a_server_takes_along_the_components_that_can_follow(db):
    server = f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-c4140"))
    running, spare = f.asset("GPU-R"), f.asset("GPU-S")
    for part in (running, spare):
        record(part, "component-installed", 1, parent="SRV-1")
    record(server, "commissioned", 2, workload="training")  # both parts follow it into service
    record(spare, "lost", 3, circumstances="not found at audit")
    record(server, "decommissioned", 4, reason="refresh")
    running.refresh_from_db()
    spare.refresh_from_db()
    assert running.state == State.AWAITING_DISPOSITION
    assert spare.state == State.LOST and spare.parent is None  # a lost part left the server
