"""The chain of custody, tried from every door: the API, the admin's record-event page and bulk
actions, the asset import (file, command, admin resource) and cascades from a parent.

Each test names the way around the rules it tries; each rule lives in registry/lifecycle.py and
registry/services.record_event, so every door meets it.
"""

import datetime as dt
import importlib
import io
import json

import pytest
import tablib
from django.apps import apps as global_apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from hardware.models import HardwareModel
from registry.importing import import_assets
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent
from registry.resources import AssetResource
from registry.services import LifecycleError, OutOfScope, record_event
from tests import factories as f
from tests.factories import SANITISE, at, record

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:registry_asset_changelist")
RECYCLE = {"recycler": "ReMetal", "certification": "r2v3", "consignment_ref": "C-1"}
SALE = {"counterparty": "Broker", "price": "10", "currency": "EUR"}


@pytest.fixture
def op_fra(fra):
    user = f.user("op-fra", group="operator", is_staff=True)
    fra.operators.add(user)
    return user


def server(tag="SRV-1", site=None):
    # The C4140 reference configuration has no disk: it holds data only through its drives.
    return f.asset(tag, model=f.hardware_model_by_slug("dell-poweredge-c4140"), at_site=site)


def drive(tag="SSD-1", site=None):
    return f.asset(tag, model=f.hardware_model_by_slug("generic-ssd-960gb"), at_site=site)


def refresh(*assets):
    for asset in assets:
        asset.refresh_from_db()


def events_url(asset):
    return f"/api/assets/{asset.pk}/events/"


def post(api, asset, kind, day, **details):
    body = {"kind": kind, "occurred_at": at(day).isoformat(), **details}
    return api.post(events_url(asset), body, format="json")


def split(moment):
    local = timezone.localtime(moment)
    return {"occurred_at_0": local.date().isoformat(), "occurred_at_1": local.strftime("%H:%M:%S")}


def record_page(client, asset, kind, day, **fields):
    url = reverse("admin:registry_asset_record_event", args=[asset.pk])
    return client.post(url, {"kind": kind, "_record": "1", **split(at(day)), **fields})


def kinds(asset):
    return list(asset.events.order_by("occurred_at", "id").values_list("kind", flat=True))


# --- a drive inside a server is exposed while the server runs ------------------------------------


@pytest.fixture
def drive_in_running_server(par):
    srv, ssd = server(site=par), drive(site=par)
    record(ssd, "component-installed", 1, parent="SRV-1")
    record(srv, "commissioned", 2, workload="storage")
    refresh(srv, ssd)
    assert ssd.state == State.IN_SERVICE  # a component follows its server into service
    return srv, ssd


def test_a_drive_inside_a_running_server_cannot_be_sold_on_its_own(drive_in_running_server):
    _, ssd = drive_in_running_server
    with pytest.raises(LifecycleError) as err:
        record(ssd, "sold", 3, **SALE)
    assert "in-service" in err.value.message_dict["kind"][0]
    ssd.refresh_from_db()
    assert ssd.state == State.IN_SERVICE and ssd.parent is not None


def test_the_same_sale_through_the_api_is_a_400(api, op, drive_in_running_server):
    _, ssd = drive_in_running_server
    api.force_authenticate(op)
    response = post(api, ssd, "sold", 3, **SALE)
    assert response.status_code == 400
    assert "in-service" in response.json()["kind"][0]
    assert kinds(ssd) == ["purchased", "component-installed", "commissioned"]


def test_the_same_sale_through_the_admin_page_is_refused(admin_client, drive_in_running_server):
    _, ssd = drive_in_running_server
    response = record_page(admin_client, ssd, "sold", 3, **SALE)
    assert response.status_code == 200  # the chooser again, with the reason
    assert "SSD-1 cannot take" in response.content.decode()
    ssd.refresh_from_db()
    assert ssd.state == State.IN_SERVICE


def test_a_drive_that_followed_its_server_out_of_service_needs_its_own_sanitisation(
    drive_in_running_server,
):
    srv, ssd = drive_in_running_server
    record(srv, "decommissioned", 50, reason="refresh")
    ssd.refresh_from_db()
    assert ssd.state == State.AWAITING_DISPOSITION
    with pytest.raises(LifecycleError):
        record(ssd, "donated", 51, counterparty="School")
    record(srv, "sanitised", 51, **SANITISE)  # the server's, not the drive's
    with pytest.raises(LifecycleError):
        record(ssd, "donated", 52, counterparty="School")
    record(ssd, "sanitised", 53, **SANITISE)
    donated = record(ssd, "donated", 54, counterparty="School")
    ssd.refresh_from_db()
    assert ssd.state == State.DONATED and ssd.parent is None
    assert donated.details["from_parent"] == "SRV-1"


# --- correction honours to_state through the same checks ----------------------------------------


@pytest.fixture
def ssd_in_service(par):
    ssd = drive(site=par)
    record(ssd, "commissioned", 1, workload="storage")
    return ssd


def test_correction_to_sold_through_the_api_is_refused_not_ignored(api, op, ssd_in_service):
    api.force_authenticate(op)
    first = ssd_in_service.events.first().pk
    response = post(
        api, ssd_in_service, "correction", 2, corrects=first, reason="x", to_state="sold"
    )
    assert response.status_code == 400
    assert "in service" in response.json()["kind"][0]
    ssd_in_service.refresh_from_db()
    assert ssd_in_service.state == State.IN_SERVICE
    assert ssd_in_service.events.count() == 2


def test_correction_to_sold_through_the_admin_page_is_refused(admin_client, ssd_in_service):
    first = ssd_in_service.events.first().pk
    response = record_page(
        admin_client, ssd_in_service, "correction", 2, corrects=first, reason="x", to_state="sold"
    )
    assert response.status_code == 200
    assert "in service" in response.content.decode()
    ssd_in_service.refresh_from_db()
    assert ssd_in_service.state == State.IN_SERVICE


def test_correction_to_state_through_the_api_is_honoured(api, op, ssd_in_service):
    api.force_authenticate(op)
    commissioned = ssd_in_service.events.last().pk
    response = post(
        api,
        ssd_in_service,
        "correction",
        2,
        corrects=commissioned,
        reason="never installed",
        to_state="in-stock",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["state_after"] == "in-stock"
    ssd_in_service.refresh_from_db()
    assert ssd_in_service.state == State.IN_STOCK


def test_admin_and_api_corrections_write_the_same_row(api, op, admin_client, par):
    a, b = drive("SSD-A", site=par), drive("SSD-B", site=par)
    for unit in (a, b):
        record(unit, "commissioned", 1, workload="storage")
    api.force_authenticate(op)
    body = {"reason": "never installed", "to_state": "in-stock"}
    assert post(api, a, "correction", 2, corrects=a.events.last().pk, **body).status_code == 201
    record_page(admin_client, b, "correction", 2, corrects=b.events.last().pk, **body)
    rows = [u.events.last() for u in (a, b)]
    assert [(r.state_after, sorted(r.details)) for r in rows] == [
        (State.IN_STOCK, ["corrects", "reason"])
    ] * 2


def test_correction_out_of_custody_needs_sanitisation_like_any_release(par):
    ssd = drive(site=par)
    record(ssd, "commissioned", 1, workload="storage")
    record(ssd, "decommissioned", 2, reason="worn")
    first = ssd.events.first().pk
    with pytest.raises(LifecycleError):
        record(ssd, "correction", 3, corrects=first, reason="it was sold", to_state="sold")
    record(ssd, "sanitised", 4, **SANITISE)
    record(ssd, "correction", 5, corrects=first, reason="it was sold", to_state="sold")
    ssd.refresh_from_db()
    assert ssd.state == State.SOLD


def test_to_state_given_twice_differently_is_refused(ssd_in_service):
    with pytest.raises(LifecycleError) as err:
        record_event(
            ssd_in_service,
            "correction",
            occurred_at=at(2),
            to_state="in-stock",
            details={
                "corrects": ssd_in_service.events.first().pk,
                "reason": "x",
                "to_state": "lost",
            },
        )
    assert "to_state" in err.value.message_dict


# --- components: each on its own history; none left inside a unit that left ---------------------


def test_an_unsanitised_drive_cannot_ride_a_sanitised_server_to_the_recycler(par):
    srv, ssd = server(site=par), drive(site=par)
    record(srv, "commissioned", 1, workload="general")
    record(ssd, "commissioned", 1, workload="storage")  # used elsewhere first
    record(srv, "decommissioned", 10, reason="refresh")
    record(srv, "sanitised", 11, **SANITISE)
    record(ssd, "decommissioned", 12, reason="pulled")
    record(ssd, "component-installed", 13, parent="SRV-1")
    with pytest.raises(LifecycleError) as err:
        record(srv, "sent-to-recycler", 14, **RECYCLE)
    message = err.value.message_dict["kind"][0]
    assert "SSD-1" in message and "sanitisation" in message
    refresh(srv, ssd)
    assert srv.state == ssd.state == State.AWAITING_DISPOSITION

    record(ssd, "sanitised", 15, **SANITISE)
    sent = record(srv, "sent-to-recycler", 16, **RECYCLE)
    ssd.refresh_from_db()
    assert ssd.state == State.AT_RECYCLER and ssd.events.last().caused_by == sent


def test_a_sold_server_does_not_leave_its_drive_in_custody_inside_it(par):
    srv, ssd = server(site=par), drive(site=par)
    record(ssd, "component-installed", 1, parent="SRV-1")
    record(srv, "decommissioned", 2, reason="refresh")
    record(srv, "sanitised", 3, **SANITISE)
    record(ssd, "sanitised", 3, **SANITISE)
    with pytest.raises(LifecycleError) as err:
        record(srv, "sold", 4, **SALE)
    assert "SSD-1" in err.value.message_dict["kind"][0]
    record(ssd, "component-removed", 5)
    record(srv, "sold", 6, **SALE)
    refresh(srv, ssd)
    assert srv.state == State.SOLD
    assert ssd.parent is None and ssd.state == State.AWAITING_DISPOSITION
    assert not Asset.objects.filter(parent__state__in=[State.SOLD], state=ssd.state).exists()


def test_a_lost_server_takes_its_components_along(par):
    srv, gpu = server(site=par), f.asset("GPU-1", at_site=par)
    record(gpu, "component-installed", 1, parent="SRV-1")
    lost = record(srv, "lost", 2, circumstances="truck stolen")
    gpu.refresh_from_db()
    assert gpu.state == State.LOST and gpu.events.last().caused_by == lost


def test_a_server_that_ever_held_a_drive_stays_data_bearing(par):
    srv, ssd = server(site=par), drive(site=par)
    assert not srv.data_bearing
    record(ssd, "component-installed", 1, parent="SRV-1")
    record(srv, "commissioned", 2, workload="storage")
    record(srv, "decommissioned", 3, reason="refresh")
    record(ssd, "component-removed", 4)
    srv.refresh_from_db()
    assert srv.data_bearing
    with pytest.raises(LifecycleError):
        record(srv, "sent-to-recycler", 5, **RECYCLE)


# --- data exposure is the unit's, not today's catalogue's ---------------------------------------


def _used_drive(par, tag="SSD-1"):
    ssd = drive(tag, site=par)
    record(ssd, "commissioned", 1, workload="storage")
    record(ssd, "decommissioned", 2, reason="worn")
    return ssd


def test_a_catalogue_edit_does_not_switch_the_gate_off(par):
    ssd = _used_drive(par)
    HardwareModel.objects.filter(slug="generic-ssd-960gb").update(holds_data=False)
    ssd.refresh_from_db()
    assert ssd.data_bearing and ssd.holds_data
    with pytest.raises(LifecycleError):
        record(ssd, "sold", 3, **SALE)


def test_a_catalogue_edit_through_the_api_does_not_switch_the_gate_off(api, op, par):
    ssd = _used_drive(par)
    api.force_authenticate(f.user("curator", group="catalogue-editor"))  # a catalogue editor
    model = HardwareModel.objects.get(slug="generic-ssd-960gb")
    response = api.patch(f"/api/hardware-models/{model.pk}/", {"holds_data": False}, format="json")
    model.refresh_from_db()
    assert response.status_code == 200 and not model.holds_data
    api.force_authenticate(op)
    response = post(api, ssd, "sold", 3, **SALE)
    assert response.status_code == 400 and "holds data" in response.json()["kind"][0]


def test_the_data_flag_is_never_cleared_through_the_api(api, op, par):
    gpu = f.asset("GPU-1", at_site=par)
    api.force_authenticate(op)
    assert not gpu.data_bearing
    response = api.patch(f"/api/assets/{gpu.pk}/", {"data_bearing": True}, format="json")
    assert response.status_code == 200 and response.json()["data_bearing"] is True
    response = api.patch(f"/api/assets/{gpu.pk}/", {"data_bearing": False}, format="json")
    assert response.status_code == 400 and "data_bearing" in response.json()
    gpu.refresh_from_db()
    assert gpu.data_bearing


def test_the_database_refuses_to_clear_the_data_flag(par):
    ssd = drive(site=par)
    with pytest.raises(DatabaseError), transaction.atomic():
        Asset.objects.filter(pk=ssd.pk).update(data_bearing=False)
    ssd.refresh_from_db()
    assert ssd.data_bearing


def test_the_admin_shows_the_set_flag_read_only(admin_client, par):
    ssd = drive(site=par)
    url = reverse("admin:registry_asset_change", args=[ssd.pk])
    page = admin_client.get(url)
    assert "data_bearing" in page.context["adminform"].readonly_fields
    assert "data_bearing" not in page.context["adminform"].form.fields


def test_imported_drives_hold_data_and_an_operator_may_say_so_of_any_unit(tmp_path, par):
    path = tmp_path / "assets.csv"
    header = "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier,"
    path.write_text(
        header
        + "data_bearing\n"
        + "SSD-1,generic-ssd-960gb,PAR1,2024-01-10,100,EUR,Acme,\n"
        + "GPU-1,nvidia-t4,PAR1,2024-01-10,100,EUR,Acme,yes\n"
        + "GPU-2,nvidia-t4,PAR1,2024-01-10,100,EUR,Acme,no\n"
    )
    report = import_assets(path)
    assert report.ok, report.errors
    flags = dict(Asset.objects.values_list("asset_tag", "data_bearing"))
    assert flags == {"SSD-1": True, "GPU-1": True, "GPU-2": False}
    assert Asset.history.filter(asset_tag="SSD-1", data_bearing=True).exists()


def test_the_import_command_records_exposure_a_catalogue_edit_cannot_undo(tmp_path, par):
    path = tmp_path / "assets.csv"
    path.write_text(
        "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier\n"
        "SSD-1,generic-ssd-960gb,PAR1,2024-01-10,100,EUR,Acme\n"
    )
    call_command("import_assets", str(path), stdout=io.StringIO())
    HardwareModel.objects.filter(slug="generic-ssd-960gb").update(holds_data=False)
    ssd = Asset.objects.get(asset_tag="SSD-1")
    record(ssd, "commissioned", 1, workload="storage")
    record(ssd, "decommissioned", 2, reason="worn")
    with pytest.raises(LifecycleError):
        record(ssd, "sold", 3, **SALE)


def _admin_import(client, csv_text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("assets.csv", csv_text.encode(), content_type="text/csv")
    preview = client.post(reverse("admin:registry_asset_import"), {"import_file": upload})
    report = preview.context["report"]
    if report.ok:
        token = preview.context["token"]
        client.post(reverse("admin:registry_asset_import"), {"_confirm": "1", "token": token})
    return report


def test_an_admin_import_cannot_clear_the_flag(par, admin_client):
    drive(site=par)
    export = AssetResource().export()
    assert export.headers[-1] == "data_bearing"
    rows = [list(r) for r in export]
    rows[0][-1] = "0"
    edited = tablib.Dataset(*rows, headers=export.headers)
    report = _admin_import(admin_client, edited.export("csv"))
    assert not report.ok  # a registered unit is changed through events, never by a file
    assert Asset.objects.get(asset_tag="SSD-1").data_bearing
    with pytest.raises(NotImplementedError):
        AssetResource().import_data(edited, dry_run=False)
    assert Asset.objects.get(asset_tag="SSD-1").data_bearing


def test_an_admin_import_records_the_flag_of_new_units(par, admin_client):
    report = _admin_import(
        admin_client,
        "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier,state,"
        "data_bearing\nGPU-9,nvidia-t4,PAR1,2024-01-10,100,EUR,Acme,in-stock,1\n",
    )
    assert report.ok, report.errors
    assert Asset.objects.get(asset_tag="GPU-9").data_bearing


def test_the_migration_backfills_exposure_from_the_catalogue_and_the_ledger(par):
    srv, gpu = server(site=par), f.asset("GPU-9", at_site=par)
    record(gpu, "component-installed", 1, parent="SRV-1")
    assert not srv.data_bearing and not gpu.data_bearing
    # As the rows stood before the field: the model holds data, nothing on the units says so.
    HardwareModel.objects.filter(pk=gpu.hardware_model_id).update(holds_data=True)
    migration = importlib.import_module("registry.migrations.0004_asset_data_bearing")
    migration.backfill(global_apps, connection.schema_editor())
    refresh(srv, gpu)
    assert gpu.data_bearing and srv.data_bearing


# --- site scope on every event -------------------------------------------------------------------


def test_an_operator_cannot_move_a_unit_to_a_site_they_do_not_operate(api, op, par, fra):
    gpu = f.asset("GPU-1", at_site=par)
    api.force_authenticate(op)
    response = post(api, gpu, "moved", 1, site="FRA1")
    assert response.status_code == 403 and "FRA1" in response.json()["detail"]
    gpu.refresh_from_db()
    assert gpu.site == par and gpu.events.count() == 1
    fra.operators.add(op)
    api.force_authenticate(type(op).objects.get(pk=op.pk))  # sites are cached per request user
    assert post(api, gpu, "moved", 2, site="FRA1").status_code == 201


def test_the_admin_bulk_move_keeps_to_the_destinations_the_operator_operates(client, op, par, fra):
    gpu = f.asset("GPU-1", at_site=par)
    client.force_login(op)
    response = client.post(
        CHANGELIST,
        {
            "action": "move",
            "_selected_action": [gpu.pk],
            "_apply": "1",
            "site": "FRA1",
            **split(timezone.now()),
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("GPU-1: refused" in t and "FRA1" in t for t in texts)
    gpu.refresh_from_db()
    assert gpu.site == par


def test_an_operator_cannot_install_into_a_unit_at_another_site(api, op, par, fra):
    gpu = f.asset("GPU-1", at_site=par)
    server("SRV-B", site=fra)
    api.force_authenticate(op)
    response = post(api, gpu, "component-installed", 1, parent="SRV-B")
    assert response.status_code == 403 and "SRV-B" in response.json()["detail"]
    gpu.refresh_from_db()
    assert gpu.parent is None


@pytest.fixture
def gpu_of_a_in_server_of_b(par, fra):
    """GPU-A of PAR1 installed into FRA1's server (by the installation, no actor); `left_at_a`
    then makes it a row from before a part went to its server's site, still stored at PAR1: a
    cascade must not write on it for an operator of FRA1 only."""
    srv, gpu = server("SRV-B", site=fra), f.asset("GPU-A", at_site=par)
    record(gpu, "component-installed", 1, parent="SRV-B")
    return srv, gpu


def left_at_a(gpu, par):
    f.forge_asset_row(gpu, site=par)


def test_a_cascade_does_not_write_on_another_sites_unit(api, op_fra, par, gpu_of_a_in_server_of_b):
    srv, gpu = gpu_of_a_in_server_of_b
    left_at_a(gpu, par)
    api.force_authenticate(op_fra)
    response = post(api, srv, "decommissioned", 2, reason="refresh")
    assert response.status_code == 403 and "GPU-A" in response.json()["detail"]
    refresh(srv, gpu)
    assert srv.state == gpu.state == State.IN_STOCK
    assert kinds(gpu) == ["purchased", "component-installed"]


def test_a_cascade_to_the_recycler_is_refused_naming_the_unit(op_fra, par, gpu_of_a_in_server_of_b):
    srv, gpu = gpu_of_a_in_server_of_b
    record(srv, "decommissioned", 2, reason="refresh")  # the installation's own record
    left_at_a(gpu, par)
    with pytest.raises(OutOfScope) as err:
        record_event(srv, "sent-to-recycler", occurred_at=at(3), actor=op_fra, details=RECYCLE)
    assert "GPU-A" in err.value.message_dict["kind"][0]
    refresh(srv, gpu)
    assert gpu.state == State.AWAITING_DISPOSITION and srv.state == State.AWAITING_DISPOSITION


def test_the_admin_bulk_decommission_names_the_refused_component(
    client, op_fra, par, gpu_of_a_in_server_of_b
):
    srv, gpu = gpu_of_a_in_server_of_b
    left_at_a(gpu, par)
    client.force_login(op_fra)
    response = client.post(
        CHANGELIST,
        {
            "action": "decommission",
            "_selected_action": [srv.pk],
            "_apply": "1",
            "reason": "refresh",
            **split(timezone.now()),
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("SRV-B: refused" in t and "GPU-A" in t for t in texts)
    refresh(srv, gpu)
    assert srv.state == gpu.state == State.IN_STOCK


def test_a_part_installed_in_another_sites_server_is_that_sites(op_fra, par, fra):
    """Installed into FRA1's server, GPU-A is at FRA1: FRA1's operator takes it along."""
    srv, gpu = server("SRV-B", site=fra), f.asset("GPU-A", at_site=par)
    record(gpu, "component-installed", 1, parent="SRV-B")
    gpu.refresh_from_db()
    assert gpu.site == fra
    record_event(srv, "decommissioned", occurred_at=at(2), actor=op_fra, details={"reason": "r"})
    gpu.refresh_from_db()
    assert gpu.state == State.AWAITING_DISPOSITION


# --- sane ledger input ----------------------------------------------------------------------------


def test_an_event_dated_ahead_is_refused_and_locks_nothing(api, op, par):
    gpu = f.asset("GPU-1", at_site=par)
    api.force_authenticate(op)
    ahead = (timezone.now() + dt.timedelta(minutes=2)).isoformat()
    response = api.post(
        events_url(gpu), {"kind": "moved", "occurred_at": ahead, "rack": "R2"}, format="json"
    )
    assert response.status_code == 400 and "future" in response.json()["occurred_at"][0]
    now = timezone.now().isoformat()
    response = api.post(
        events_url(gpu), {"kind": "moved", "occurred_at": now, "rack": "R3"}, format="json"
    )
    assert response.status_code == 201


def test_a_huge_note_is_a_clear_400_and_stores_nothing(api, op, par):
    gpu = f.asset("GPU-1", at_site=par)
    api.force_authenticate(op)
    response = post(api, gpu, "moved", 1, rack="R1", note="x" * 2_000_000)
    assert response.status_code == 400 and "note" in response.json()
    response = post(api, gpu, "moved", 1, rack="R1", note="x" * 10_001)
    assert response.status_code == 400
    assert "10 kB" in response.json()["note"][0]
    assert post(api, gpu, "moved", 1, rack="R1", note="x" * 9_000).status_code == 201
    assert gpu.events.count() == 2


def test_nested_correction_details_are_capped_too(par):
    gpu = f.asset("GPU-1", at_site=par)
    blob = {"k": "y" * 10_000}
    with pytest.raises(LifecycleError) as err:
        record(gpu, "correction", 1, corrects=gpu.events.first().pk, reason="r", details=blob)
    assert "details" in err.value.message_dict
    assert len(json.dumps(blob)) > 10_000
    assert LifecycleEvent.objects.filter(asset=gpu).count() == 1


def test_an_operator_flag_set_on_a_unit_makes_it_gated(par):
    gpu = f.asset("GPU-1", at_site=par, data_bearing=True)
    record(gpu, "commissioned", 1, workload="inference")
    record(gpu, "decommissioned", 2, reason="r")
    with pytest.raises(LifecycleError):
        record(gpu, "sold", 3, **SALE)
    assert EventKind.SOLD not in kinds(gpu)
