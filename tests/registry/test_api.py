import pytest

from registry.lifecycle import State
from registry.models import IdempotencyKey, LifecycleEvent
from tests import factories as f
from tests.factories import SANITISE, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpu(par):
    return f.asset("GPU-1", at_site=par)


NEW = {
    "asset_tag": "GPU-100",
    "serial_number": "SN100",
    "hardware_model": "nvidia-a100-sxm4-40gb",
    "site": "PAR1",
    "rack": "R1",
    "occurred_at": "2024-03-01T10:00:00+01:00",
    "state": "in-stock",
    "supplier": "Acme",
    "price": "9000.00",
    "currency": "EUR",
    "purchase_date": "2024-03-01",
}


def test_anonymous_gets_nothing(api, gpu):
    for url in (
        "/api/sites/",
        "/api/assets/",
        f"/api/assets/{gpu.pk}/events/",
        "/api/lifecycle-events/",
        "/api/circularity/?year=2024",
    ):
        assert api.get(url).status_code in (401, 403), url


def test_operator_creates_an_asset_at_their_site(api, op, par):
    f.hardware_model_by_slug("nvidia-a100-sxm4-40gb")
    api.force_authenticate(op)
    response = api.post("/api/assets/", NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "in-stock" and body["site"] == "PAR1"
    assert LifecycleEvent.objects.get(asset__asset_tag="GPU-100").kind == "purchased"


def test_operator_cannot_create_at_another_site(api, op, fra):
    f.hardware_model_by_slug("nvidia-a100-sxm4-40gb")
    api.force_authenticate(op)
    assert api.post("/api/assets/", NEW | {"site": "FRA1"}, format="json").status_code == 403


def test_bad_asset_input_gets_field_errors(api, op, par):
    f.hardware_model_by_slug("nvidia-a100-sxm4-40gb")
    api.force_authenticate(op)
    for change, field in (
        ({"hardware_model": "nope"}, "hardware_model"),
        ({"price": "-3"}, "price"),
        ({"site": "XX"}, "site"),
        ({"state": "recycled"}, "state"),
        ({"currency": "EURO"}, "currency"),
    ):
        response = api.post("/api/assets/", NEW | change, format="json")
        assert response.status_code == 400 and field in response.json(), (change, response.json())
    assert not LifecycleEvent.objects.exists()


def test_operator_records_events_and_reads_the_ledger(api, op, gpu):
    api.force_authenticate(op)
    url = f"/api/assets/{gpu.pk}/events/"
    response = api.post(
        url,
        {"kind": "commissioned", "occurred_at": "2024-02-01T09:00:00Z", "workload": "training"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["state_after"] == "in-service"
    ledger = api.get(url).json()
    assert [e["kind"] for e in ledger] == ["purchased", "commissioned"]
    assert ledger[1]["actor"] == op.username


def test_refused_event_is_a_400_naming_the_field(api, op, gpu):
    api.force_authenticate(op)
    url = f"/api/assets/{gpu.pk}/events/"
    response = api.post(
        url, {"kind": "commissioned", "occurred_at": "2024-02-01T09:00:00Z"}, format="json"
    )
    assert response.status_code == 400 and "workload" in response.json()
    response = api.post(
        url, {"kind": "recycled", "occurred_at": "2024-02-01T09:00:00Z"}, format="json"
    )
    assert response.status_code == 400 and "kind" in response.json()
    response = api.post(
        url,
        {"kind": "commissioned", "occurred_at": "2024-02-01T09:00:00", "workload": "training"},
        format="json",
    )
    assert response.status_code == 400 and "occurred_at" in response.json()


def test_idempotency_key_records_nothing_twice(api, op, gpu):
    api.force_authenticate(op)
    url = f"/api/assets/{gpu.pk}/events/"
    body = {"kind": "commissioned", "occurred_at": "2024-02-01T09:00:00Z", "workload": "training"}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert gpu.events.count() == 2
    other = api.post(url, body | {"workload": "general"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert IdempotencyKey.objects.count() == 1


def test_idempotent_asset_creation(api, op, par):
    f.hardware_model_by_slug("nvidia-a100-sxm4-40gb")
    api.force_authenticate(op)
    for _ in range(2):
        assert (
            api.post("/api/assets/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="new-1").status_code
            == 201
        )
    assert LifecycleEvent.objects.filter(kind="purchased").count() == 1


def test_operator_cannot_record_at_another_site(api, op, fra):
    other = f.asset("GPU-F", at_site=fra)
    api.force_authenticate(op)
    response = api.post(
        f"/api/assets/{other.pk}/events/",
        {"kind": "commissioned", "occurred_at": "2024-02-01T09:00:00Z", "workload": "training"},
        format="json",
    )
    assert response.status_code == 403


def test_procurement_reads_and_reserves_but_nothing_else(api, procurement_user, gpu):
    api.force_authenticate(procurement_user)
    url = f"/api/assets/{gpu.pk}/events/"
    assert api.get("/api/assets/").status_code == 200
    reserve = {
        "kind": "reserved-for-reuse",
        "occurred_at": "2024-02-01T09:00:00Z",
        "reserved_by": "buyer",
        "purpose": "Llama 8B",
    }
    assert api.post(url, reserve, format="json").status_code == 201
    gpu.refresh_from_db()
    assert gpu.state == State.RESERVED
    assert gpu.events.last().details["reserved_by"] == "buyer"
    commission = {
        "kind": "commissioned",
        "occurred_at": "2024-02-02T09:00:00Z",
        "workload": "inference",
    }
    assert api.post(url, commission, format="json").status_code == 403
    assert api.patch(f"/api/assets/{gpu.pk}/", {"owner": "me"}, format="json").status_code == 403


def test_auditor_reads_everything_and_changes_nothing(api, auditor_user, gpu):
    api.force_authenticate(auditor_user)
    assert api.get("/api/lifecycle-events/").status_code == 200
    assert api.get(f"/api/assets/{gpu.pk}/events/").status_code == 200
    assert (
        api.post(
            f"/api/assets/{gpu.pk}/events/",
            {"kind": "lost", "occurred_at": "2024-02-01T09:00:00Z", "circumstances": "x"},
            format="json",
        ).status_code
        == 403
    )
    assert (
        api.post(
            "/api/sites/",
            {"code": "AMS1", "name": "A", "country": "NL", "time_zone": "Europe/Amsterdam"},
        ).status_code
        == 403
    )
    assert api.delete(f"/api/assets/{gpu.pk}/").status_code in (403, 405)


def test_user_without_a_role_is_refused(api, gpu):
    api.force_authenticate(f.user("nobody"))
    assert api.get("/api/assets/").status_code == 403


def test_state_cannot_be_patched_directly(api, op, gpu):
    api.force_authenticate(op)
    response = api.patch(
        f"/api/assets/{gpu.pk}/", {"state": "recycled", "owner": "t1"}, format="json"
    )
    assert response.status_code == 200
    gpu.refresh_from_db()
    assert gpu.state == State.IN_STOCK and gpu.owner == "t1"


def test_asset_list_filters_and_cursor_pages(api, auditor_user, par, fra):
    for i in range(7):
        f.asset(f"P-{i}", at_site=par)
    f.asset("F-0", at_site=fra)
    drive = f.asset("D-0", at_site=par, model=f.hardware_model_by_slug("generic-ssd-960gb"))
    record(drive, "commissioned", 1, workload="storage")
    api.force_authenticate(auditor_user)
    page = api.get("/api/assets/", {"site": "PAR1", "state": "in-stock", "page_size": 5}).json()
    assert len(page["results"]) == 5 and page["next"]
    rest = api.get(page["next"]).json()
    tags = {a["asset_tag"] for a in page["results"] + rest["results"]}
    assert tags == {f"P-{i}" for i in range(7)}
    assert {a["asset_tag"] for a in api.get("/api/assets/", {"kind": "ssd"}).json()["results"]} == {
        "D-0"
    }
    big = api.get("/api/assets/", {"memory_gb_min": 40}).json()["results"]
    assert len(big) == 8


def test_asset_list_query_count_is_flat(api, auditor_user, par, django_assert_max_num_queries):
    for i in range(20):
        f.asset(f"P-{i}", at_site=par)
    api.force_authenticate(auditor_user)
    with django_assert_max_num_queries(4):
        assert api.get("/api/assets/").status_code == 200


def test_circularity_endpoint(api, auditor_user, par):
    gpu = f.asset("GPU-1", at_site=par)
    record(gpu, "commissioned", 1, workload="training")
    record(gpu, "redeployed", 100, to_workload="inference", note="7B model")
    record(gpu, "decommissioned", 200, reason="eol")
    record(gpu, "sent-to-recycler", 201, recycler="R", certification="r2v3", consignment_ref="C")
    record(
        gpu,
        "recycled",
        210,
        certificate_ref="COR-7",
        weee_category="6",
        weighed_mass_kg="1.5",
        recovered_g={"au": "0.25"},
    )
    api.force_authenticate(auditor_user)
    body = api.get("/api/circularity/", {"year": 2024, "site": "PAR1"}).json()
    assert body["routes"]["reused-internally"]["6"]["units"] == 1
    assert body["routes"]["recycled"]["6"]["mass_kg"] == 1.5
    assert body["ede"]["value"] == 1.0
    assert body["recovered_metals_g"]["au"]["reported_g"] == 0.25
    assert body["certificates"] == ["COR-7"]
    # A100 SXM4 40 GB: one comparable estimate (Boavizta 319.3 kg), so low = central = high.
    assert body["embodied_kgco2e_kept_in_use"] == 319.3
    assert body["embodied_kgco2e_kept_in_use_low"] == body["embodied_kgco2e_kept_in_use_high"]
    assert api.get("/api/circularity/").status_code == 400
    assert api.get("/api/circularity/", {"year": 2024, "site": "NOPE"}).status_code == 400


def test_sanitise_then_sell_through_the_api(api, op, par):
    drive = f.asset("D-1", at_site=par, model=f.hardware_model_by_slug("generic-ssd-960gb"))
    record(drive, "commissioned", 1, workload="storage")
    record(drive, "decommissioned", 2, reason="eol")
    api.force_authenticate(op)
    url = f"/api/assets/{drive.pk}/events/"
    sell = {
        "kind": "sold",
        "occurred_at": "2024-02-01T09:00:00Z",
        "counterparty": "B",
        "price": "5",
        "currency": "EUR",
    }
    refused = api.post(url, sell, format="json")
    assert refused.status_code == 400 and "holds data" in refused.json()["kind"][0]
    sanitise = {"kind": "sanitised", "occurred_at": "2024-01-31T09:00:00Z"} | SANITISE
    assert api.post(url, sanitise, format="json").status_code == 201
    assert api.post(url, sell, format="json").status_code == 201
    drive.refresh_from_db()
    assert drive.state == State.SOLD


def test_auditor_reads_the_change_history_with_before_and_after(api, op, auditor_user, gpu):
    api.force_authenticate(op)
    assert (
        api.patch(f"/api/assets/{gpu.pk}/", {"owner": "tenant-b"}, format="json").status_code == 200
    )
    api.force_authenticate(auditor_user)
    history = api.get(f"/api/assets/{gpu.pk}/history/").json()
    latest = history[0]
    assert latest["user"] == op.username and latest["type"] == "changed"
    assert {"field": "owner", "before": "", "after": "tenant-b"} in latest["changes"]
    assert history[-1]["type"] == "created"
    api.force_authenticate(None)
    assert api.get(f"/api/assets/{gpu.pk}/history/").status_code in (401, 403)


def test_admin_export_of_selected_assets_keeps_to_the_operators_sites(client, op, par, fra):
    mine, theirs = f.asset("MINE-1", at_site=par), f.asset("THEIRS-1", at_site=fra)
    client.force_login(op)
    response = client.post(
        "/admin/registry/asset/",
        {"action": "export_selected_csv", "_selected_action": [mine.pk, theirs.pk]},
    )
    body = b"".join(response.streaming_content).decode()
    assert "MINE-1" in body and "THEIRS-1" not in body
