"""The operators' admin: lists, the record-event page, add asset, bulk actions, roles."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent
from tests import factories

CHANGELIST = reverse("admin:registry_asset_changelist")


def change_url(asset):
    return reverse("admin:registry_asset_change", args=[asset.pk])


def record_url(asset):
    return reverse("admin:registry_asset_record_event", args=[asset.pk])


def split(moment):
    local = timezone.localtime(moment)
    return {"occurred_at_0": local.date().isoformat(), "occurred_at_1": local.strftime("%H:%M:%S")}


@pytest.fixture
def gpu_model(db):
    return factories.hardware_model("acme-gpu-24")


@pytest.fixture
def par(db):
    return factories.site("PAR1")


@pytest.fixture
def fra(db):
    return factories.site("FRA1", time_zone="Europe/Berlin", country="DE")


@pytest.fixture
def operator(operator_user, par):
    par.operators.add(operator_user)
    return operator_user


def make(tag, model, site, state=State.IN_STOCK, **fields):
    return factories.asset(tag, model=model, at_site=site, state=state, **fields)


@pytest.fixture
def fleet(gpu_model, par, fra):
    today = timezone.localdate()
    return {
        "a": make("GPU-A", gpu_model, par, planned_eol=today - dt.timedelta(days=10)),
        "b": make("GPU-B", gpu_model, par, planned_eol=today + dt.timedelta(days=30)),
        "c": make("GPU-C", gpu_model, fra, serial_number="SER-C"),
    }


# --- lists ---------------------------------------------------------------------------------------


def test_changelist_renders_with_badges_and_filters(
    admin_client, fleet, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert "GPU-A" in body and "In stock" in body and "border-radius" in body
    for title in ("planned end of life", "Overdue", "Within 90 days", "Within 1 year"):
        assert title in body


@pytest.mark.parametrize(
    ("query", "tags"),
    [
        ({"eol": "overdue"}, {"GPU-A"}),
        ({"eol": "90d"}, {"GPU-B"}),
        ({"eol": "none"}, {"GPU-C"}),
        ({"q": "GPU-"}, {"GPU-A", "GPU-B", "GPU-C"}),
        ({"q": "SER"}, {"GPU-C"}),
        ({"state": "in-stock"}, {"GPU-A", "GPU-B", "GPU-C"}),
        ({"hardware_model__kind": "accelerator"}, {"GPU-A", "GPU-B", "GPU-C"}),
    ],
)
def test_changelist_filters_and_search(admin_client, fleet, query, tags):
    response = admin_client.get(CHANGELIST, query)
    assert response.status_code == 200
    assert {a.asset_tag for a in response.context["cl"].result_list} == tags


@pytest.mark.parametrize(
    ("term", "tag"), [("GPU-B", "GPU-B"), ("SER-C", "GPU-C"), (" SER-C ", "GPU-C")]
)
def test_an_exact_tag_or_serial_opens_the_unit(admin_client, fleet, term, tag):
    response = admin_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 302
    assert response["Location"] == change_url(fleet[tag[-1].lower()])


def test_site_filter(admin_client, fleet, fra):
    response = admin_client.get(CHANGELIST, {"site__id__exact": fra.pk})
    assert [a.asset_tag for a in response.context["cl"].result_list] == ["GPU-C"]


def test_change_page_shows_ledger_inline_and_record_link(admin_client, fleet):
    response = admin_client.get(change_url(fleet["a"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Record event" in body and "Purchased" in body
    inline = response.context["inline_admin_formsets"][0]
    assert inline.has_add_permission is False
    assert inline.has_change_permission is False
    assert inline.has_delete_permission is False


def test_ledger_rows_name_the_asset_by_its_tag_not_its_database_id(admin_client, fleet):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    one, many = fleet["b"], fleet["a"]
    for day, room in ((1, "B"), (2, "C"), (3, "D")):
        factories.record(many, EventKind.MOVED, day, room=room)
    admin_client.get(change_url(one))  # warm the content-type cache
    counts = []
    for asset in (one, many):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(change_url(asset))
        counts.append(len(queries))
        labels = [str(form.original) for form in response.context["inline_admin_formsets"][0]]
        assert labels and all(label.startswith(f"{asset.asset_tag}: ") for label in labels)
    assert counts[0] == counts[1], "a query per ledger row"


# --- record event --------------------------------------------------------------------------------


def test_record_event_offers_the_kinds_allowed_from_the_state(admin_client, fleet):
    response = admin_client.get(record_url(fleet["a"]))
    kinds = [value for value, _ in response.context["chooser"].fields["kind"].choices]
    assert EventKind.COMMISSIONED in kinds and EventKind.SANITISED in kinds
    assert EventKind.RECEIVED not in kinds and EventKind.PURCHASED not in kinds


def test_record_event_form_asks_exactly_for_the_details(admin_client, fleet):
    response = admin_client.get(record_url(fleet["a"]), {"kind": "sanitised"})
    form = response.context["form"]
    assert set(form.fields) == {
        "occurred_at",
        "method",
        "technique",
        "verification",
        "performed_by",
        "tool",
        "standard",
        "certificate_ref",
    }
    assert form.fields["method"].required and not form.fields["tool"].required
    # Nothing preselected: the operator chooses, by label.
    assert [c for c, _ in form.fields["method"].choices] == ["", "clear", "purge", "destroy"]


def test_commission_through_the_record_event_page(admin_client, fleet, admin_user):
    asset = fleet["a"]
    data = {
        "kind": "commissioned",
        "workload": "inference",
        "_record": "1",
        **split(timezone.now()),
    }

    response = admin_client.post(record_url(asset), data)

    assert response.status_code == 302 and response.url == change_url(asset)
    asset.refresh_from_db()
    assert asset.state == State.IN_SERVICE and asset.workload == "inference"
    event = asset.events.last()
    assert event.kind == EventKind.COMMISSIONED and event.actor == admin_user


def test_repaired_asks_where_it_leads(admin_client, fleet):
    asset = fleet["a"]
    factories.record(asset, "repair-started", 1, fault="fan")
    form = admin_client.get(record_url(asset), {"kind": "repaired"}).context["form"]
    assert [c for c, _ in form.fields["to_state"].choices] == ["in-service", "in-stock"]
    data = {"kind": "repaired", "to_state": "in-stock", "work_done": "fan", "_record": "1"}
    response = admin_client.post(record_url(asset), {**data, **split(timezone.now())})
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.state == State.IN_STOCK


def test_refusal_is_shown_on_the_field(admin_client, fleet):
    asset = fleet["a"]  # purchased at factories.T0
    before = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)
    data = {"kind": "commissioned", "workload": "training", "_record": "1", **split(before)}

    response = admin_client.post(record_url(asset), data)

    assert response.status_code == 200
    assert "is before the asset's last event" in " ".join(
        response.context["form"]["occurred_at"].errors
    )
    assert asset.events.count() == 1


def test_move_refusal_for_unknown_detail_shown_on_form(admin_client, fleet):
    asset = fleet["a"]
    response = admin_client.post(
        record_url(asset), {"kind": "moved", "_record": "1", **split(timezone.now())}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["site"]
    assert asset.events.count() == 1


def test_kind_not_allowed_from_state_goes_back_to_the_chooser(admin_client, fleet):
    response = admin_client.get(record_url(fleet["a"]), {"kind": "recycled"})
    assert response.context["chooser"] is not None


# --- add asset -----------------------------------------------------------------------------------


def add_data(gpu_model, site, tag="NEW-1", **overrides):
    now = timezone.now()
    data = {
        "asset_tag": tag,
        "serial_number": "SN-NEW",
        "hardware_model": gpu_model.pk,
        "site": site.pk,
        "room": "A",
        "rack": "R1",
        "position_u": "10",
        "owner": "",
        "supplier": "Acme",
        "price": "999.50",
        "currency": "eur",
        "purchase_date": now.date().isoformat(),
        "initial_state": "ordered",
        **split(now),
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_add_asset_records_the_purchased_event(client, operator, gpu_model, par):
    client.force_login(operator)
    response = client.post(reverse("admin:registry_asset_add"), add_data(gpu_model, par))
    assert response.status_code == 302, response.context["adminform"].form.errors
    asset = Asset.objects.get(asset_tag="NEW-1")
    assert asset.state == State.ORDERED and asset.currency == "EUR"
    assert str(asset.purchase_price) == "999.50"
    event = asset.events.get()
    assert event.kind == EventKind.PURCHASED and event.actor == operator
    assert event.details["supplier"] == "Acme"


def test_add_asset_refusal_shown_on_the_form(client, operator, gpu_model, par):
    client.force_login(operator)
    future = timezone.now() + dt.timedelta(days=3)
    response = client.post(
        reverse("admin:registry_asset_add"), add_data(gpu_model, par, **split(future))
    )
    assert response.status_code == 200
    assert "lies in the future" in str(response.context["adminform"].form.errors["occurred_at"])
    assert not Asset.objects.exists()


def test_add_asset_duplicate_tag_refused(admin_client, fleet, gpu_model, par):
    response = admin_client.post(
        reverse("admin:registry_asset_add"), add_data(gpu_model, par, tag="GPU-A")
    )
    assert response.status_code == 200
    assert "asset_tag" in response.context["adminform"].form.errors


def test_operator_cannot_add_at_another_site(client, operator, gpu_model, fra):
    client.force_login(operator)
    response = client.post(reverse("admin:registry_asset_add"), add_data(gpu_model, fra))
    assert response.status_code == 200
    assert "site" in response.context["adminform"].form.errors
    assert not Asset.objects.exists()


# --- bulk actions --------------------------------------------------------------------------------


def test_bulk_decommission_asks_reason_then_records_one_event_each(admin_client, fleet):
    ids = [fleet["a"].pk, fleet["b"].pk]
    first = admin_client.post(CHANGELIST, {"action": "decommission", "_selected_action": ids})
    assert first.status_code == 200 and "reason" in first.context["form"].fields

    response = admin_client.post(
        CHANGELIST,
        {
            "action": "decommission",
            "_selected_action": ids,
            "_apply": "1",
            "reason": "end of training cluster",
            **split(timezone.now()),
        },
        follow=True,
    )

    assert response.status_code == 200
    states = set(Asset.objects.filter(pk__in=ids).values_list("state", flat=True))
    assert states == {State.AWAITING_DISPOSITION}
    assert LifecycleEvent.objects.filter(kind=EventKind.DECOMMISSIONED).count() == 2


def test_bulk_action_reports_refusals_without_aborting_the_others(admin_client, fleet):
    factories.record(fleet["b"], "lost", 1, circumstances="fell off a truck")
    ids = [fleet["a"].pk, fleet["b"].pk]
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "reserve_for_reuse",
            "_selected_action": ids,
            "_apply": "1",
            "reserved_by": "inference team",
            "purpose": "serving a 7B model",
            **split(timezone.now()),
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("GPU-B: refused" in t and "not allowed from state lost" in t for t in texts)
    assert any("recorded for 1 asset" in t for t in texts)
    assert Asset.objects.get(pk=fleet["a"].pk).state == State.RESERVED


def test_bulk_move(admin_client, fleet, fra):
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "move",
            "_selected_action": [fleet["a"].pk],
            "_apply": "1",
            "site": "FRA1",
            "rack": "R9",
            **split(timezone.now()),
        },
        follow=True,
    )
    assert response.status_code == 200
    asset = Asset.objects.get(pk=fleet["a"].pk)
    assert asset.site == fra and asset.rack == "R9"


def test_bulk_move_by_operator_skips_assets_at_other_sites(client, operator, fleet):
    client.force_login(operator)
    response = client.post(
        CHANGELIST,
        {
            "action": "move",
            "_selected_action": [fleet["a"].pk, fleet["c"].pk],
            "_apply": "1",
            "rack": "R7",
            **split(timezone.now()),
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("GPU-C: you may not record" in t for t in texts)
    assert Asset.objects.get(pk=fleet["a"].pk).rack == "R7"
    assert Asset.objects.get(pk=fleet["c"].pk).rack == ""


# --- the ledger is read-only ---------------------------------------------------------------------


def test_ledger_admin_is_read_only_even_for_superusers(admin_client, fleet):
    event = fleet["a"].events.get()
    assert admin_client.get(reverse("admin:registry_lifecycleevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:registry_lifecycleevent_add")).status_code == 403
    url = reverse("admin:registry_lifecycleevent_change", args=[event.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert admin_client.post(url, {"kind": "lost"}).status_code == 403
    delete = reverse("admin:registry_lifecycleevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert LifecycleEvent.objects.filter(pk=event.pk, kind=EventKind.PURCHASED).exists()


def test_asset_history_cannot_be_reverted(admin_client, fleet):
    asset = fleet["a"]
    version = asset.history.first()
    url = reverse("admin:registry_asset_simple_history", args=[asset.pk, version.history_id])
    assert admin_client.post(url, {"asset_tag": "X"}).status_code == 403


# --- roles ---------------------------------------------------------------------------------------


def test_operator_sees_all_assets_but_changes_only_at_their_site(client, operator, fleet):
    client.force_login(operator)
    listed = client.get(CHANGELIST).context["cl"].result_list
    assert {a.asset_tag for a in listed} == {"GPU-A", "GPU-B", "GPU-C"}
    own = client.get(change_url(fleet["a"]))
    assert own.context["has_change_permission"] is True
    other = client.get(change_url(fleet["c"]))
    assert other.status_code == 200 and other.context["has_change_permission"] is False
    assert client.get(record_url(fleet["c"])).status_code == 403
    data = {"kind": "commissioned", "workload": "training", "_record": "1", **split(timezone.now())}
    assert client.post(record_url(fleet["c"]), data).status_code == 403
    assert Asset.objects.get(pk=fleet["c"].pk).state == State.IN_STOCK


def test_operator_can_record_at_their_site(client, operator, fleet):
    client.force_login(operator)
    data = {"kind": "commissioned", "workload": "training", "_record": "1", **split(timezone.now())}
    assert client.post(record_url(fleet["a"]), data).status_code == 302
    asset = Asset.objects.get(pk=fleet["a"].pk)
    assert (asset.state, asset.workload) == (State.IN_SERVICE, "training")
    assert asset.events.last().kind == "commissioned" and asset.events.last().actor == operator


def test_auditor_reads_everything_and_changes_nothing(client, auditor_user, fleet):
    client.force_login(auditor_user)
    assert client.get(CHANGELIST).status_code == 200
    page = client.get(change_url(fleet["a"]))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.get(reverse("admin:registry_lifecycleevent_changelist")).status_code == 200
    assert client.get(reverse("admin:registry_site_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:registry_asset_history", args=[fleet["a"].pk])).status_code == 200
    )
    assert client.get(reverse("admin:registry_asset_add")).status_code == 403
    assert client.get(record_url(fleet["a"])).status_code == 403
    response = client.post(
        CHANGELIST,
        {
            "action": "decommission",
            "_selected_action": [fleet["a"].pk],
            "_apply": "1",
            "reason": "x",
        },
    )
    assert Asset.objects.get(pk=fleet["a"].pk).state == State.IN_STOCK
    assert response.status_code in (200, 302)


def test_role_permissions_migration(roles):
    from django.contrib.auth.models import Group

    operator = set(
        Group.objects.get(name="operator").permissions.values_list("codename", flat=True)
    )
    assert {
        "view_asset",
        "add_asset",
        "change_asset",
        "view_site",
        "view_lifecycleevent",
    } <= operator
    assert "delete_asset" not in operator and "add_lifecycleevent" not in operator
    auditor = set(Group.objects.get(name="auditor").permissions.values_list("codename", flat=True))
    assert {"view_historicalasset", "view_historicalsite", "view_hardwaremodel"} <= auditor
    assert not {p for p in auditor if not p.startswith("view_")}


# --- import / export through the admin -----------------------------------------------------------


def test_admin_export_csv(admin_client, fleet):
    url = reverse("admin:registry_asset_export")
    response = admin_client.post(
        url,
        {
            "format": "0",
            "resource": "0",
            **{
                f"assetresource_{f}": "on" for f in ("asset_tag", "site", "state", "hardware_model")
            },
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "GPU-A" in text and "PAR1" in text and "acme-gpu-24" in text


# --- recovered metals ----------------------------------------------------------------------------


@pytest.fixture
def at_recycler(fleet, admin_user):
    from registry import services

    asset = fleet["a"]
    services.record_event(
        asset,
        EventKind.SENT_TO_RECYCLER,
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        actor=admin_user,
        details={"recycler": "Metals SA", "certification": "r2v3", "consignment_ref": "C-1"},
    )
    return asset


def recycled_data(**metals):
    return {
        "kind": "recycled",
        "_record": "1",
        **split(timezone.now()),
        "certificate_ref": "CERT-1",
        "weee_category": "6",
        "weighed_mass_kg": "1.2",
        **{f"recovered_g_{metal}": grams for metal, grams in metals.items()},
    }


def test_recovered_metals_are_one_number_field_per_metal(admin_client, at_recycler):
    from registry.lifecycle import METALS

    response = admin_client.get(record_url(at_recycler), {"kind": "recycled"})
    fields = response.context["form"].fields
    for metal in METALS:
        assert f"recovered_g_{metal}" in fields
        assert fields[f"recovered_g_{metal}"].label.endswith("(g)")
    assert "recovered_g" not in fields  # no JSON text box
    body = response.content.decode()
    assert 'type="number"' in body and "gold (Au)" in body


def test_recovered_metals_are_kept_after_a_form_error(admin_client, at_recycler):
    data = recycled_data(au="0.25", cu="120")
    data["certificate_ref"] = ""  # required: the page comes back with the error
    response = admin_client.post(record_url(at_recycler), data)
    assert response.status_code == 200
    assert response.context["form"].errors["certificate_ref"]
    body = response.content.decode()
    assert 'name="recovered_g_au" value="0.25"' in body
    assert 'name="recovered_g_cu" value="120"' in body
    assert at_recycler.events.filter(kind=EventKind.RECYCLED).count() == 0


def test_a_negative_metal_mass_is_refused(admin_client, at_recycler):
    response = admin_client.post(record_url(at_recycler), recycled_data(au="-1"))
    assert response.status_code == 200
    assert response.context["form"].errors["recovered_g_au"]
    assert at_recycler.events.filter(kind=EventKind.RECYCLED).count() == 0


def test_recovered_metals_reach_the_ledger_blanks_left_out(admin_client, at_recycler):
    response = admin_client.post(record_url(at_recycler), recycled_data(au="0.25", cu="120", ag=""))
    assert response.status_code == 302
    event = at_recycler.events.get(kind=EventKind.RECYCLED)
    assert event.details["recovered_g"] == {"au": "0.25", "cu": "120"}


def test_record_event_page_marks_required_fields_in_bold(admin_client, at_recycler):
    body = admin_client.get(record_url(at_recycler), {"kind": "recycled"}).content.decode()
    # forms.css makes label.required bold, as on every admin form.
    assert "admin/css/forms.css" in body
    assert 'class="required">Certificate ref' in body
    assert 'class="required">Recovered' not in body
