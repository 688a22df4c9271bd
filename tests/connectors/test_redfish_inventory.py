"""Redfish inventory: the DMTF's mockup BMC synced into the registry through a confirmed dry run."""

import pytest
from django.core.exceptions import ValidationError

from connectors import inventory
from connectors.models import ModelMapping
from hardware.models import HardwareKind
from registry.lifecycle import EventKind
from registry.models import Asset, LifecycleEvent
from tests import factories
from tests.connectors import servers
from tests.connectors.conftest import make_source, part_model, server_model

pytestmark = pytest.mark.django_db
H100 = "nvidia-h100-sxm5-80gb"


def actions(pull) -> dict[str, str]:
    return {u["serial"]: u["action"] for u in pull.diff["units"] if u["serial"]}


@pytest.fixture
def site():
    return factories.site("BMC1")


@pytest.fixture
def operator(site):
    user = factories.user("floor-op", group="operator", is_staff=True)
    site.operators.add(user)
    return user


def test_a_dry_run_then_a_confirmed_sync_creates_the_server_and_its_parts(site, operator, pull_now):
    server_model("3500", "Contoso")
    part_model("contoso-psu-440", HardwareKind.PSU, part_number="23456-133")
    with servers.redfish_server(servers.MOCKUP) as url:
        source = make_source(site, url, reads_inventory=True)
        pull = pull_now(source, operator)
        assert pull.state == "succeeded", pull.error
        # The dry run writes nothing.
        assert not Asset.objects.exists()
        assert actions(pull) == {"437XR1138R2": "new", "3488247": "new"}
        assert pull.diff["counts"]["no-serial"] > 0  # CPU, DIMMs and drives of this mockup
        inventory.apply(pull, operator)

        server = Asset.objects.get(serial_number="437XR1138R2")
        psu = Asset.objects.get(serial_number="3488247")
        assert psu.parent == server and server.site == site == psu.site
        ledger = LifecycleEvent.objects.filter(asset__in=[server, psu])
        assert {(e.asset.serial_number, e.kind) for e in ledger} == {
            ("437XR1138R2", EventKind.INVENTORIED),
            ("3488247", EventKind.INVENTORIED),
            ("3488247", EventKind.COMPONENT_INSTALLED),
        }
        actors = {e.actor.username for e in ledger}
        assert actors == {"inventory-sync"}
        found = [e.details for e in ledger if e.kind == EventKind.INVENTORIED]
        assert {(d["source"], d["confirmed_by"]) for d in found} == {
            (source.name, operator.username)
        }

        events = LifecycleEvent.objects.count()
        second = pull_now(source, operator)
        assert set(actions(second).values()) == {"unchanged"}
        assert inventory.apply(second, operator) == {"events": 0}
        assert LifecycleEvent.objects.count() == events


def test_unknown_models_are_reported_and_an_operator_mapping_resolves_them(
    site, operator, pull_now, tmp_path
):
    factories.hardware_model_by_slug(H100)
    tree = servers.gpu_server(tmp_path / "a", "SRV-A", [f"GPU-A{n}" for n in range(8)])
    with servers.redfish_server(tree) as url:
        source = make_source(site, url, reads_inventory=True)
        first = pull_now(source, operator)
        found = actions(first)
        assert found["SRV-A"] == "unknown-model"
        assert {found[f"GPU-A{n}"] for n in range(8)} == {"unknown-model"}

        ModelMapping.objects.create(
            part_kind=HardwareKind.ACCELERATOR,
            reported_part_number="699-2G520-0200-000",
            hardware_model=factories.hardware_model_by_slug(H100),
        )
        ModelMapping.objects.create(
            part_kind=HardwareKind.SERVER,
            reported_model="xe9680",
            hardware_model=server_model("PowerEdge XE9680", "Dell"),
        )
        second = pull_now(source, operator)
        found = actions(second)
        assert found["SRV-A"] == "new"
        assert {found[f"GPU-A{n}"] for n in range(8)} == {"new"}
        inventory.apply(second, operator)
    server = Asset.objects.get(serial_number="SRV-A")
    assert server.components.filter(hardware_model__slug=H100).count() == 8


def test_a_gpu_moved_between_two_servers_shows_as_a_move(site, operator, pull_now, tmp_path):
    ModelMapping.objects.create(
        part_kind=HardwareKind.ACCELERATOR,
        reported_model="NVIDIA H100 80GB HBM3",
        hardware_model=factories.hardware_model_by_slug(H100),
    )
    server_model("XE9680", "Dell")
    a = servers.gpu_server(tmp_path / "a", "SRV-A", [f"GPU-A{n}" for n in range(8)])
    b = servers.gpu_server(tmp_path / "b", "SRV-B", [f"GPU-B{n}" for n in range(8)])
    with servers.redfish_server(a) as url_a, servers.redfish_server(b) as url_b:
        bmc_a = make_source(site, url_a, name="bmc-a", reads_inventory=True)
        bmc_b = make_source(site, url_b, name="bmc-b", reads_inventory=True)
        inventory.apply(pull_now(bmc_a, operator), operator)
        inventory.apply(pull_now(bmc_b, operator), operator)

        # GPU-A0 is pulled from A and fitted into B.
        servers.set_gpus(a, [f"GPU-A{n}" for n in range(1, 8)])
        servers.set_gpus(b, [f"GPU-B{n}" for n in range(8)] + ["GPU-A0"])
        seen_by_a = pull_now(bmc_a, operator)
        assert [m["serial"] for m in seen_by_a.diff["missing"]] == ["GPU-A0"]

        seen_by_b = pull_now(bmc_b, operator)
        moved = [u for u in seen_by_b.diff["units"] if u["action"] == "moved"]
        assert [(u["serial"], u["from_parent"]) for u in moved] == [("GPU-A0", "RF-SRV-A")]
        inventory.apply(seen_by_b, operator)

        gpu = Asset.objects.get(serial_number="GPU-A0")
        assert gpu.parent.serial_number == "SRV-B"
        kinds = list(gpu.events.order_by("id").values_list("kind", flat=True))
        assert kinds[-2:] == [EventKind.COMPONENT_REMOVED, EventKind.COMPONENT_INSTALLED]
        # Missing units are reported, never retired or deleted.
        assert Asset.objects.filter(serial_number__startswith="GPU-").count() == 16
        again = pull_now(bmc_a, operator)
        assert not {"new", "moved"} & set(actions(again).values())
        assert again.diff["missing"] == []


def test_applying_is_refused_for_someone_who_does_not_operate_the_site(site, pull_now):
    server_model("3500", "Contoso")
    outsider = factories.user("elsewhere", group="operator", is_staff=True)
    factories.site("OTH1").operators.add(outsider)
    with servers.redfish_server(servers.MOCKUP) as url:
        pull = pull_now(make_source(site, url, reads_inventory=True))
    with pytest.raises(ValidationError, match="you do not operate BMC1"):
        inventory.apply(pull, outsider)
    assert not Asset.objects.exists()


def test_a_stale_dry_run_is_refused_and_nothing_is_written(site, operator, pull_now):
    server_model("3500", "Contoso")
    with servers.redfish_server(servers.MOCKUP) as url:
        source = make_source(site, url, reads_inventory=True)
        old = pull_now(source, operator)
        newer = pull_now(source, operator)
    with pytest.raises(ValidationError, match="newer dry run"):
        inventory.apply(old, operator)
    inventory.apply(newer, operator)
    with pytest.raises(ValidationError, match="already applied"):
        inventory.apply(newer, operator)
