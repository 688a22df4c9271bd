"""Custody as an invariant of the whole ledger: each seam an independent probe found, tried through
the API and the admin, and the checker that replays every ledger (`check_ledger`)."""

import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from hardware.models import HardwareModel
from registry import invariants
from registry.importing import import_assets
from registry.lifecycle import State
from registry.models import Asset, LifecycleEvent
from registry.services import LifecycleError, record_event
from tests import factories as f
from tests.factories import SANITISE, at, record

pytestmark = pytest.mark.django_db

SALE = {"counterparty": "Broker", "price": "10", "currency": "EUR"}


def server(tag="SRV-1", site=None):
    return f.asset(tag, model=f.hardware_model_by_slug("dell-poweredge-c4140"), at_site=site)


def drive(tag="SSD-1", site=None):
    return f.asset(tag, model=f.hardware_model_by_slug("generic-ssd-960gb"), at_site=site)


def post(api, asset, kind, day, **details):
    body = {"kind": kind, "occurred_at": at(day).isoformat(), **details}
    return api.post(f"/api/assets/{asset.pk}/events/", body, format="json")


def record_page(client, asset, kind, day, **fields):
    local = timezone.localtime(at(day))
    moment = {"occurred_at_0": local.date().isoformat(), "occurred_at_1": local.strftime("%X")}
    url = reverse("admin:registry_asset_record_event", args=[asset.pk])
    return client.post(url, {"kind": kind, "_record": "1", **moment, **fields})


def assert_clean():
    assert invariants.check() == []


# --- same instant: the ledger's order, not the clock's -------------------------------------------


@pytest.fixture
def wiped_then_used(par):
    """Sanitised, then put in service and taken out again, all at the same instant."""
    ssd = drive(site=par)
    record(ssd, "sanitised", 1, **SANITISE)
    record(ssd, "commissioned", 1, workload="storage")
    record(ssd, "decommissioned", 1, reason="refresh")
    return ssd


def test_a_sanitisation_recorded_before_an_exposure_at_the_same_instant_does_not_cover_it(
    wiped_then_used,
):
    with pytest.raises(LifecycleError) as err:
        record(wiped_then_used, "sold", 2, **SALE)
    assert "sanitisation" in err.value.message_dict["kind"][0]
    record(wiped_then_used, "sanitised", 1, **SANITISE)  # after it, at that same instant
    record(wiped_then_used, "sold", 2, **SALE)
    assert_clean()


def test_the_same_instant_sale_through_the_api_is_a_400(api, op, wiped_then_used):
    api.force_authenticate(op)
    response = post(api, wiped_then_used, "sold", 2, **SALE)
    assert response.status_code == 400
    assert "SSD-1" in response.json()["kind"][0]


def test_the_same_instant_sale_through_the_admin_is_refused(admin_client, wiped_then_used):
    response = record_page(admin_client, wiped_then_used, "sold", 2, **SALE)
    assert response.status_code == 200
    assert "sanitisation" in response.content.decode()
    wiped_then_used.refresh_from_db()
    assert wiped_then_used.state == State.AWAITING_DISPOSITION


# --- lost, then corrected: every unit that leaves is checked --------------------------------------


@pytest.fixture
def lost_server_with_a_used_drive(par):
    srv, ssd = server(site=par), drive(site=par)
    record(ssd, "component-installed", 1, parent="SRV-1")
    record(srv, "commissioned", 2, workload="storage")
    record(srv, "decommissioned", 3, reason="refresh")
    record(srv, "sanitised", 4, **SANITISE)  # the server's, not the drive's
    lost = record(srv, "lost", 5, circumstances="not found at inventory")
    ssd.refresh_from_db()
    assert ssd.state == State.LOST and ssd.parent_id == srv.pk
    return srv, ssd, lost


@pytest.mark.parametrize("to_state", ["sold", "at-recycler"])
def test_a_correction_out_of_lost_checks_the_drive_inside(lost_server_with_a_used_drive, to_state):
    srv, _, lost = lost_server_with_a_used_drive
    with pytest.raises(LifecycleError) as err:
        record(srv, "correction", 6, corrects=lost.pk, reason="it was sold", to_state=to_state)
    assert "SSD-1" in err.value.message_dict["kind"][0]
    srv.refresh_from_db()
    assert srv.state == State.LOST
    assert_clean()


def test_the_correction_through_the_api_is_a_400(api, op, lost_server_with_a_used_drive):
    srv, _, lost = lost_server_with_a_used_drive
    api.force_authenticate(op)
    response = post(api, srv, "correction", 6, corrects=lost.pk, reason="x", to_state="sold")
    assert response.status_code == 400
    assert "SSD-1" in response.json()["kind"][0]


def test_the_correction_through_the_admin_is_refused(admin_client, lost_server_with_a_used_drive):
    srv, _, lost = lost_server_with_a_used_drive
    response = record_page(
        admin_client, srv, "correction", 6, corrects=lost.pk, reason="x", to_state="sold"
    )
    assert response.status_code == 200
    assert "SSD-1" in response.content.decode()
    srv.refresh_from_db()
    assert srv.state == State.LOST


# --- a ratchet turns one way ----------------------------------------------------------------------


def _flip(api, model, value):
    response = api.patch(f"/api/hardware-models/{model.pk}/", {"holds_data": value}, format="json")
    assert response.status_code == 200, response.json()


def test_holds_data_switched_on_then_off_leaves_every_unit_marked(api, op, par):
    gpu = f.asset("GPU-1", at_site=par)
    record(gpu, "commissioned", 1, workload="inference")
    record(gpu, "decommissioned", 2, reason="refresh")
    model = gpu.hardware_model
    assert not model.holds_data
    api.force_authenticate(f.user("curator", group="catalogue-editor"))
    _flip(api, model, True)
    _flip(api, model, False)
    gpu.refresh_from_db()
    assert gpu.data_bearing
    api.force_authenticate(op)
    response = post(api, gpu, "sold", 3, **SALE)
    assert response.status_code == 400 and "holds data" in response.json()["kind"][0]


def _last_change(asset):
    return Asset.history.filter(id=asset.pk).order_by("-history_date", "-history_id").first()


def test_the_ratchet_tells_the_auditor_why_the_flag_changed(api, par):
    gpu = f.asset("GPU-1", at_site=par)
    curator = f.user("curator", group="catalogue-editor")
    api.force_authenticate(curator)
    _flip(api, gpu.hardware_model, True)
    change = _last_change(gpu)
    assert change.data_bearing and change.history_type == "~"
    assert change.history_user == curator
    slug = gpu.hardware_model.slug
    assert change.history_change_reason.startswith(f"catalogue: '{slug}' now holds data")
    _flip(api, gpu.hardware_model, True)  # saved again: nothing more to say
    _flip(api, gpu.hardware_model, False)  # switched off: no unit changes
    assert _last_change(gpu) == change


def test_the_ratchet_through_the_catalogue_admin_shows_in_the_units_history(admin_client, par):
    from django.forms.models import model_to_dict

    gpu = f.asset("GPU-1", at_site=par)
    model = gpu.hardware_model
    data = {k: ("" if v is None else v) for k, v in model_to_dict(model).items()}
    data |= {
        "holds_data": "on",
        "specs": "{}",
        "figure_sources-TOTAL_FORMS": "0",
        "figure_sources-INITIAL_FORMS": "0",
    }
    data = {k: v for k, v in data.items() if v is not False}
    page = admin_client.post(reverse("admin:hardware_hardwaremodel_change", args=[model.pk]), data)
    assert page.status_code == 302, page.content.decode()[-3000:]
    gpu.refresh_from_db()
    assert gpu.data_bearing
    history = admin_client.get(reverse("admin:registry_asset_history", args=[gpu.pk]))
    assert "now holds data" in history.content.decode()


def test_the_ratchet_holds_through_the_admin(admin_client, par):
    gpu = f.asset("GPU-1", at_site=par)
    record(gpu, "commissioned", 1, workload="inference")
    record(gpu, "decommissioned", 2, reason="refresh")
    model = HardwareModel.objects.get(pk=gpu.hardware_model_id)
    model.holds_data = True
    model.save()
    model.holds_data = False
    model.save()
    fresh = f.asset("GPU-2", at_site=par)  # bought after: not marked
    assert not fresh.data_bearing
    response = record_page(admin_client, gpu, "sold", 3, **SALE)
    assert "holds data" in response.content.decode()
    gpu.refresh_from_db()
    assert gpu.state == State.AWAITING_DISPOSITION and gpu.data_bearing
    assert_clean()


# --- the policy travels with the unit ------------------------------------------------------------


@pytest.fixture
def purged_then_moved(par, fra):
    fra.sanitisation_policy = "destroy"
    fra.save()
    ssd = drive(site=fra)
    record(ssd, "commissioned", 1, workload="storage")
    record(ssd, "decommissioned", 2, reason="refresh")
    record(ssd, "sanitised", 3, **SANITISE)  # a purge: the destroy site's policy is not met
    record(ssd, "moved", 4, site="PAR1")
    return ssd


def test_the_strictest_policy_where_it_held_data_is_the_one_its_release_meets(purged_then_moved):
    with pytest.raises(LifecycleError) as err:
        record(purged_then_moved, "sold", 5, **SALE)
    assert "destroy" in err.value.message_dict["kind"][0]
    record(purged_then_moved, "sanitised", 6, **(SANITISE | {"method": "destroy"}))
    record(
        purged_then_moved,
        "sent-to-recycler",
        7,
        recycler="R",
        certification="r2v3",
        consignment_ref="C",
    )
    assert_clean()


def test_the_travelled_policy_through_the_api(api, purged_then_moved, par, fra):
    user = f.user("op2", group="operator", is_staff=True)
    par.operators.add(user)
    api.force_authenticate(user)
    response = post(api, purged_then_moved, "sold", 5, **SALE)
    assert response.status_code == 400 and "destroy" in response.json()["kind"][0]


def test_the_travelled_policy_through_the_admin(admin_client, purged_then_moved):
    response = record_page(admin_client, purged_then_moved, "sold", 5, **SALE)
    assert "destroy" in response.content.decode()
    purged_then_moved.refresh_from_db()
    assert purged_then_moved.state == State.AWAITING_DISPOSITION


# --- time has bounds ---------------------------------------------------------------------------


def test_an_import_dated_before_the_floor_is_refused_naming_the_field(tmp_path, par):
    path = tmp_path / "assets.csv"
    path.write_text(
        "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier\n"
        "SSD-1,generic-ssd-960gb,PAR1,0001-01-01,100,EUR,Acme\n"
    )
    report = import_assets(path)
    assert not report.ok
    assert any("purchase_date" in str(e) and "1990" in str(e) for e in report.errors)
    assert not Asset.objects.exists()


def test_the_api_refuses_dates_before_the_floor_naming_the_field(api, op, par):
    api.force_authenticate(op)
    body = {
        "asset_tag": "GPU-1",
        "hardware_model": "nvidia-t4",
        "site": "PAR1",
        "occurred_at": "0001-01-01T00:00:00Z",
        "state": "in-stock",
        "supplier": "Acme",
        "price": "1",
        "currency": "EUR",
        "purchase_date": "0001-01-01",
    }
    response = api.post("/api/assets/", body, format="json")
    assert response.status_code == 400
    assert "1990" in str(response.json())
    gpu = f.asset("GPU-2", at_site=par)
    assert post(api, gpu, "commissioned", -(365 * 40), workload="inference").status_code == 400
    response = api.patch(f"/api/assets/{gpu.pk}/", {"warranty_end": "1900-01-01"}, format="json")
    assert response.status_code == 400 and "warranty_end" in response.json()
    assert api.get("/api/lifecycle-events/").status_code == 200
    assert api.get("/api/assets/").status_code == 200


def test_the_admin_refuses_dates_before_the_floor(admin_client, par):
    gpu = f.asset("GPU-1", at_site=par)
    response = record_page(admin_client, gpu, "commissioned", -(365 * 40), workload="inference")
    assert "1990" in response.content.decode()
    assert gpu.events.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own bound")
def test_no_door_can_store_a_row_before_the_floor(par):
    gpu = f.asset("GPU-1", at_site=par)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_lifecycleevent (asset_id, kind, occurred_at, recorded_at, "
            "state_before, state_after, details, site_id, sanitisation_method) VALUES "
            "(%s, 'moved', '0001-01-01 00:00:00+00 BC', now(), 'in-stock', 'in-stock', '{}', "
            "%s, '')",
            [gpu.pk, par.pk],
        )


# --- the state is the ledger's -----------------------------------------------------------------


@pytest.mark.parametrize("column", ["state", "site_id", "parent_id", "data_bearing"])
def test_a_forged_update_of_the_projection_fails(par, fra, column):
    """PostgreSQL and SQLite alike: raw SQL past every service is refused by the database."""
    srv, ssd = server(site=par), drive(site=par)
    value = {
        "state": "'sold'",
        "site_id": str(fra.pk),
        "parent_id": str(srv.pk),
        "data_bearing": "false",
    }[column]
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE registry_asset SET {column} = {value} WHERE id = %s", [ssd.pk])
    rule = {"parent_id": "asset_parent_from_ledger", "data_bearing": "asset_data_bearing_ratchet"}
    assert _refused_by(err.value) == rule.get(column, "asset_state_from_ledger")
    ssd.refresh_from_db()
    assert ssd.state == State.IN_STOCK and ssd.site == par and ssd.parent is None
    assert ssd.data_bearing


def _refused_by(error) -> str:
    """The rule the database named: PostgreSQL's constraint, SQLite's message prefix."""
    if connection.vendor == "postgresql":
        return error.__cause__.diag.constraint_name
    return str(error).split(":")[0]


def test_a_forged_parent_is_refused_even_when_a_ledger_row_names_another(par):
    srv, other, ssd = server(site=par), server("SRV-2", site=par), drive(site=par)
    record(ssd, "component-installed", 1, parent="SRV-1")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_asset SET parent_id = %s WHERE id = %s", [other.pk, ssd.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_asset SET parent_id = NULL WHERE id = %s", [ssd.pk])
    ssd.refresh_from_db()
    assert ssd.parent == srv
    record(ssd, "component-removed", 2)  # the writer still writes
    ssd.refresh_from_db()
    assert ssd.parent is None
    assert_clean()


def test_marking_a_unit_data_bearing_stays_open_to_an_operator(par):
    """Setting the flag only tightens custody: the admin and the API let an operator do it."""
    gpu = f.asset("GPU-1", at_site=par)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_asset SET data_bearing = true WHERE id = %s", [gpu.pk])
    gpu.refresh_from_db()
    assert gpu.data_bearing


def _forge(asset, **values):
    with transaction.atomic():
        f.forge_asset_row(asset, **values)


def test_check_ledger_reports_a_forged_state_and_exits_non_zero(par):
    gpu = f.asset("GPU-1", at_site=par)
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "0 finding(s)" in out.getvalue()
    _forge(gpu, state=State.SOLD)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command("check_ledger", stdout=out, stderr=err)
    assert exit_code.value.code == 1
    (line,) = out.getvalue().splitlines()
    assert line.startswith("GPU-1: projection:") and "'sold'" in line


def test_check_ledger_names_an_unknown_tag(par):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="NOPE"):
        call_command("check_ledger", "NOPE")


# --- assemblies: a component's state follows its parent ---------------------------------------


@pytest.fixture
def gpus_serving(par):
    srv = f.asset("SRV-1", model=f.hardware_model_by_slug("nvidia-dgx-a100"), at_site=par)
    gpus = []
    for i in range(2):
        gpu = f.asset(f"GPU-{i}", at_site=par)
        record(gpu, "component-installed", 1, parent="SRV-1")
        gpus.append(gpu)
    record(srv, "commissioned", 2, workload="inference")
    for gpu in gpus:
        gpu.refresh_from_db()
    return srv, gpus


def test_components_follow_their_server_into_and_out_of_service(gpus_serving):
    srv, gpus = gpus_serving
    assert {g.state for g in gpus} == {State.IN_SERVICE}
    assert {g.workload for g in gpus} == {"inference"}
    record(srv, "decommissioned", 3, reason="refresh")
    assert set(Asset.objects.filter(parent=srv).values_list("state", flat=True)) == {
        State.AWAITING_DISPOSITION
    }
    assert_clean()


def test_a_part_installed_in_a_running_server_is_in_service_and_removed_is_in_stock(gpus_serving):
    srv, _ = gpus_serving
    late = f.asset("GPU-9", at_site=srv.site)
    record(late, "component-installed", 3, parent="SRV-1")
    late.refresh_from_db()
    assert late.state == State.IN_SERVICE
    record(late, "component-removed", 4)
    late.refresh_from_db()
    assert late.state == State.IN_STOCK and late.parent is None
    assert_clean()


def test_parts_of_a_running_server_are_not_reuse_candidates(api, procurement_user, gpus_serving):
    api.force_authenticate(procurement_user)

    def tags(**extra):
        query = {"site": "PAR1", "context": 8192, "model": "llama-3-8b", "precision": "int8"}
        response = api.get("/api/reuse-candidates/", query | extra)
        assert response.status_code == 200, response.json()
        return {a["asset_tag"] for row in response.json()["results"] for a in row["assets"]}

    assert not tags() & {"GPU-0", "GPU-1"}
    assert {"GPU-0", "GPU-1"} <= tags(include_in_service="true")


def test_reserving_a_part_of_a_running_server_is_refused_with_the_reason(
    api, procurement_user, gpus_serving
):
    _, gpus = gpus_serving
    api.force_authenticate(procurement_user)
    response = api.post(
        "/api/reuse-requests/",
        {"request_name": "R-1", "asset_tags": ["GPU-0"], "purpose": "inference"},
        format="json",
    )
    (outcome,) = response.json()["results"]
    assert outcome["status"] == "refused"
    reason = str(outcome["errors"])
    assert "SRV-1" in reason and "in service" in reason
    gpus[0].refresh_from_db()
    assert gpus[0].state == State.IN_SERVICE


def test_reserving_a_part_of_a_running_server_in_the_admin_is_refused(admin_client, gpus_serving):
    _, gpus = gpus_serving
    response = record_page(
        admin_client, gpus[0], "reserved-for-reuse", 3, reserved_by="buyer", purpose="inference"
    )
    assert "SRV-1" in response.content.decode()
    gpus[0].refresh_from_db()
    assert gpus[0].state == State.IN_SERVICE


def test_a_component_cannot_leave_service_on_its_own(gpus_serving):
    _, gpus = gpus_serving
    with pytest.raises(LifecycleError) as err:
        record_event(gpus[0], "decommissioned", occurred_at=at(3), details={"reason": "x"})
    assert "SRV-1" in err.value.message_dict["kind"][0]


def test_the_server_in_repair_takes_its_parts_and_brings_them_back(gpus_serving):
    srv, gpus = gpus_serving
    record(srv, "repair-started", 3, fault="PSU")
    assert set(Asset.objects.filter(parent=srv).values_list("state", flat=True)) == {
        State.IN_REPAIR
    }
    record_event(
        srv, "repaired", occurred_at=at(4), to_state="in-service", details={"work_done": "PSU"}
    )
    assert set(Asset.objects.filter(parent=srv).values_list("state", flat=True)) == {
        State.IN_SERVICE
    }
    assert LifecycleEvent.objects.filter(caused_by__asset=srv).count() == 6  # 3 moves × 2 parts
    assert_clean()


def test_the_demo_fleet_holds_every_invariant():
    from registry.demo import load_demo_fleet

    load_demo_fleet(io.StringIO())
    assert_clean()
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "0 finding(s)" in out.getvalue()
    gpu = Asset.objects.get(asset_tag="GPU-0001")
    assert gpu.events.filter(kind="commissioned", caused_by__isnull=False).exists()


def test_a_server_found_again_brings_the_parts_lost_with_it_back(par):
    srv, ssd = server(site=par), drive(site=par)
    record(ssd, "component-installed", 1, parent="SRV-1")
    lost = record(srv, "lost", 2, circumstances="not found at inventory")
    record(srv, "correction", 3, corrects=lost.pk, reason="found in the cage", to_state="in-stock")
    ssd.refresh_from_db()
    assert ssd.state == State.IN_STOCK and ssd.parent_id == srv.pk
    assert ssd.events.last().caused_by.asset == srv
    assert_clean()


def test_a_part_recorded_in_stock_inside_a_running_server_is_no_candidate_either(
    api, procurement_user, gpus_serving
):
    """Rows from before parts followed their server: in stock, inside a server in service."""
    _, gpus = gpus_serving
    with transaction.atomic():
        for gpu in gpus:
            _forge(gpu, state=State.IN_STOCK)
    assert {f.rule for f in invariants.check()} == {"projection", "assembly"}
    api.force_authenticate(procurement_user)
    query = {"site": "PAR1", "context": 8192, "model": "llama-3-8b", "precision": "int8"}
    rows = api.get("/api/reuse-candidates/", query).json()["results"]
    assert not {a["asset_tag"] for row in rows for a in row["assets"]} & {"GPU-0", "GPU-1"}


# --- assemblies: a component is where its parent is -------------------------------------------


@pytest.fixture
def racked(par, fra):
    """A server at PAR1 holding a drive and a GPU (the site FRA1 waits for it)."""
    srv = server(site=par)
    parts = [drive(site=par), f.asset("GPU-1", at_site=par)]
    for part in parts:
        record(part, "component-installed", 1, parent="SRV-1")
    return srv, parts


def _sites(parts) -> set:
    return set(Asset.objects.filter(pk__in=[p.pk for p in parts]).values_list("site__code", "rack"))


def test_moving_a_server_moves_its_parts(racked):
    srv, parts = racked
    move = record(srv, "moved", 2, site="FRA1", rack="R9")
    assert _sites(parts) == {("FRA1", "R9")}
    followed = LifecycleEvent.objects.filter(caused_by=move, kind="moved")
    assert followed.count() == 2
    assert {e.details["from_site"] for e in followed} == {"PAR1"}
    assert {e.site.code for e in followed} == {"FRA1"}
    assert_clean()


def test_a_new_position_in_the_rack_leaves_the_parts_alone(racked):
    srv, parts = racked
    move = record(srv, "moved", 2, position_u=12)
    assert not LifecycleEvent.objects.filter(caused_by=move).exists()
    assert _sites(parts) == {("PAR1", "")}
    assert_clean()


def test_moving_a_server_through_the_api_moves_its_parts(api, op, fra, racked):
    srv, parts = racked
    fra.operators.add(op)
    api.force_authenticate(op)
    response = post(api, srv, "moved", 2, site="FRA1")
    assert response.status_code == 201, response.json()
    assert _sites(parts) == {("FRA1", "")}
    assert_clean()


def test_moving_a_server_in_the_admin_moves_its_parts(admin_client, racked):
    srv, parts = racked
    response = record_page(admin_client, srv, "moved", 2, site="FRA1")
    assert response.status_code == 302, response.content.decode()[-2000:]
    srv.refresh_from_db()
    assert srv.site.code == "FRA1"
    assert _sites(parts) == {("FRA1", "")}
    assert_clean()


def test_a_part_does_not_change_site_without_its_server(api, op, fra, racked):
    _, parts = racked
    with pytest.raises(LifecycleError) as err:
        record(parts[0], "moved", 2, site="FRA1")
    assert "SRV-1" in err.value.message_dict["site"][0]
    fra.operators.add(op)
    api.force_authenticate(op)
    response = post(api, parts[1], "moved", 2, site="FRA1")
    assert response.status_code == 400 and "SRV-1" in response.json()["site"][0]
    assert _sites(parts) == {("PAR1", "")}


def test_a_part_installed_in_a_server_elsewhere_goes_to_its_site(par, fra):
    srv = server(site=fra)
    gpu = f.asset("GPU-1", at_site=par)
    installed = record(gpu, "component-installed", 1, parent=srv.asset_tag)
    gpu.refresh_from_db()
    assert gpu.site == fra and installed.site == fra
    assert installed.details["from_site"] == "PAR1"
    record(srv, "commissioned", 2, workload="inference")
    assert_clean()


def test_check_ledger_finds_a_part_left_at_another_site(racked, fra):
    _, parts = racked
    with transaction.atomic():
        _forge(parts[1], site=fra)
    findings = [str(x) for x in invariants.check() if x.rule == "assembly"]
    assert findings == [
        "GPU-1: assembly: is at FRA1 inside 'SRV-1', which is at PAR1: a component is where "
        "its parent is"
    ]


def test_a_unit_installed_elsewhere_takes_its_own_parts_to_that_site(par, fra):
    """A drive carrier holding a drive, installed into a server at another site: the drive goes
    to that site too (each level a row of its own)."""
    server("SRV-B", site=fra)
    carrier = f.asset("CAR-1", at_site=par)
    ssd = drive(site=par)
    record(ssd, "component-installed", 1, parent="CAR-1")
    installed = record(carrier, "component-installed", 2, parent="SRV-B")
    ssd.refresh_from_db()
    assert ssd.site == fra and ssd.parent == carrier
    assert ssd.events.last().caused_by == installed
    assert_clean()
