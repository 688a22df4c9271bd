"""Assemblies in the admin: a server's page lists its parts; many parts go in (or come out) in one
go or not at all; the add page keeps the delivery for the next unit; ledger rows, history and
refusals read as words."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from hardware.models import HardwareKind
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent
from registry.words import describe, plain_words
from tests import factories
from tests.registry.test_admin import add_data, change_url, record_url, split


@pytest.fixture
def models(db):
    return {
        "server": factories.hardware_model(
            "acme-srv", kind=HardwareKind.SERVER, weee_category="", mass_kg=20, memory_gb=None
        ),
        "gpu": factories.hardware_model("acme-gpu-24"),
        "ssd": factories.hardware_model(
            "acme-ssd", kind=HardwareKind.SSD, weee_category="", memory_gb=None
        ),
    }


@pytest.fixture
def rack(models, op, par):
    """A server and 12 loose parts at PAR1, as a delivery arrives."""
    srv = factories.asset("NU-SRV-01", model=models["server"], at_site=par)
    gpus = [factories.asset(f"NU-GPU-{i:02}", model=models["gpu"], at_site=par) for i in range(8)]
    ssds = [factories.asset(f"NU-SSD-{i:02}", model=models["ssd"], at_site=par) for i in range(4)]
    return srv, gpus + ssds


def install_url(asset):
    return reverse("admin:registry_asset_install_parts", args=[asset.pk])


def remove_url(asset):
    return reverse("admin:registry_asset_remove_parts", args=[asset.pk])


def test_install_many_parts_at_once_and_see_them_on_the_server(client, op, rack):
    srv, parts = rack
    client.force_login(op)
    lines = [f"{p.asset_tag}  {n}" for n, p in enumerate(parts[:8], 1)]
    lines += ["", *(f"{p.asset_tag}" for p in parts[8:])]  # a blank line from the scanner
    response = client.post(
        install_url(srv), {"parts": "\n".join(lines), **split(timezone.now())}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(change_url(srv))
    srv.refresh_from_db()
    assert set(srv.components.values_list("asset_tag", flat=True)) == {p.asset_tag for p in parts}
    assert LifecycleEvent.objects.filter(kind=EventKind.COMPONENT_INSTALLED).count() == 12
    shown = {row["asset"].asset_tag: row["slot"] for row in response.context["parts"]}
    assert shown[parts[0].asset_tag] == "1" and shown[parts[8].asset_tag] == ""
    page = response.content.decode()
    assert "Parts installed (12)" in page and "acme-ssd" in page


def test_one_bad_line_installs_nothing_and_names_the_line(client, op, rack, fra, models):
    srv, parts = rack
    elsewhere = factories.asset("FRA-GPU", model=models["gpu"], at_site=fra)
    client.force_login(op)
    text = "\n".join([parts[0].asset_tag, "NOPE-1", parts[1].asset_tag, parts[0].asset_tag])
    response = client.post(install_url(srv), {"parts": text, **split(timezone.now())})
    errors = response.context["form"].errors["parts"]
    assert "Line 2: no asset is tagged NOPE-1." in errors
    assert f"Line 4: {parts[0].asset_tag} is already on line 1." in errors
    # Known tags the writer refuses: named by line, with the reason; nothing is written.
    text = "\n".join([parts[0].asset_tag, elsewhere.asset_tag])
    response = client.post(install_url(srv), {"parts": text, **split(timezone.now())})
    (error,) = response.context["form"].errors["parts"]
    assert error.startswith("Line 2: FRA-GPU:") and "FRA1" in error
    assert not Asset.objects.filter(parent__isnull=False).exists()
    assert not LifecycleEvent.objects.filter(kind=EventKind.COMPONENT_INSTALLED).exists()


def test_remove_parts_together(client, op, rack):
    srv, parts = rack
    client.force_login(op)
    client.post(install_url(srv), {"parts": "\n".join(p.asset_tag for p in parts[:3]),
                                   **split(timezone.now() - dt.timedelta(minutes=5))})  # fmt: skip
    response = client.get(remove_url(srv), {"tag": parts[1].asset_tag})
    assert response.context["form"].initial["parts"] == [parts[1]]
    response = client.post(
        remove_url(srv),
        {"parts": [parts[0].pk, parts[1].pk], **split(timezone.now()), "note": "swap"},
    )
    assert response.status_code == 302
    assert list(srv.components.values_list("asset_tag", flat=True)) == [parts[2].asset_tag]
    removed = LifecycleEvent.objects.get(asset=parts[0], kind=EventKind.COMPONENT_REMOVED)
    assert describe(removed.kind, removed.details) == "Removed from NU-SRV-01. Swap."
    history = client.get(reverse("admin:registry_asset_history", args=[parts[0].pk]))
    page = history.content.decode()
    assert "removed from NU-SRV-01" in page and "installed in NU-SRV-01" in page
    assert "Deleted asset" not in page and "pk=None" not in page


def test_install_is_offered_where_it_makes_sense(client, op, rack):
    srv, parts = rack
    client.force_login(op)

    def kinds(asset):
        form = client.get(record_url(asset)).context["chooser"]
        return [k for k, _ in form.fields["kind"].choices]

    assert EventKind.COMPONENT_INSTALLED not in kinds(srv)  # nothing here holds a server
    assert EventKind.COMPONENT_INSTALLED in kinds(parts[0])
    assert EventKind.COMPONENT_REMOVED not in kinds(parts[0])
    form = client.get(record_url(parts[0]), {"kind": EventKind.COMPONENT_INSTALLED}).context["form"]
    assert [str(a) for a in form.fields["parent"].queryset] == ["NU-SRV-01"]
    assert "Install parts" in client.get(change_url(srv)).content.decode()
    assert "Install parts" not in client.get(change_url(parts[0])).content.decode()


def test_save_and_add_another_keeps_the_delivery(client, op, models, par):
    client.force_login(op)
    data = add_data(models["gpu"], par, purchase_date="2026-01-15", _addanother="1")
    del data["occurred_at_0"], data["occurred_at_1"]
    response = client.post(reverse("admin:registry_asset_add"), data)
    kept = parse_qs(urlsplit(response["Location"]).query)
    assert kept["hardware_model"] == [str(models["gpu"].pk)] and kept["site"] == [str(par.pk)]
    assert kept["supplier"] == ["Acme"] and kept["purchase_date"] == ["2026-01-15"]
    assert "asset_tag" not in kept and "serial_number" not in kept
    form = client.get(response["Location"]).context["adminform"].form
    assert form["supplier"].value() == "Acme" and form["hardware_model"].value() == str(
        models["gpu"].pk
    )
    # The `purchased` row is dated by the purchase date, not the day it was typed in.
    event = Asset.objects.get(asset_tag="NEW-1").events.get()
    assert timezone.localtime(event.occurred_at, par_zone(par)).date() == dt.date(2026, 1, 15)


def par_zone(site):
    import zoneinfo

    return zoneinfo.ZoneInfo(site.time_zone)


def test_ledger_and_forms_speak_in_words(client, op, rack, models):
    srv, parts = rack
    client.force_login(op)
    form = client.get(record_url(srv), {"kind": EventKind.COMMISSIONED}).context["form"]
    assert form.fields["workload"].choices[0] == ("", "—")  # nothing preselected
    assert ("inference", "Inference") in form.fields["workload"].choices
    # The WEEE category follows the kind of hardware when the catalogue has none.
    factories.record(srv, EventKind.SENT_TO_RECYCLER, 1, recycler="R", certification="r2v3",
                     consignment_ref="C-1")  # fmt: skip
    form = client.get(record_url(srv), {"kind": EventKind.RECYCLED}).context["form"]
    assert form.fields["weee_category"].initial == "4"
    assert dict(form.fields["weee_category"].choices)["6"].startswith("6 – small IT")
    assert describe(EventKind.RECYCLED, {"recovered_g": {"cu": "2100", "au": "0.020"}}) == (
        "Recovered Au 0.02 g, Cu 2100 g."
    )
    page = client.get(change_url(srv)).content.decode()
    assert "Sent to R (certification: R2v3), consignment C-1." in page
    assert "NU-SRV-01: sent to recycler on" in page  # the row's caption, not its codes
    assert "r2v3" not in page.replace("R2v3", "")
    assert plain_words("'recycled' is not allowed from state 'in-service'") == (
        "“Recycled” is not allowed from state in service"
    )
    assert State.IN_SERVICE.label.lower() in plain_words("from in-service")
