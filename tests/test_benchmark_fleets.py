"""The benchmarks' fleets are fleets the product could have made: every asset registered through
the bulk importer with its `purchased` row, every later state reached through the ledger's
writer, and the ledger's rules (`check_ledger`) hold over the whole fleet."""

from collections import Counter

import pytest
from django.db import connection

from benchmarks import bench_assets_api, bench_export_assets, bench_reuse_api, fleet
from hardware.services import load_catalogue
from registry import invariants
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent


@pytest.fixture
def catalogue(db):
    load_catalogue()


def _every_asset_starts_with_its_purchase() -> None:
    first = {}
    for asset_id, kind in LifecycleEvent.objects.order_by(
        "asset_id", "occurred_at", "id"
    ).values_list("asset_id", "kind"):
        first.setdefault(asset_id, kind)
    assert len(first) == Asset.objects.count()
    assert set(first.values()) == {EventKind.PURCHASED}


def test_the_asset_list_fleet_has_its_ledgers(catalogue):
    bench_assets_api.populate(60)

    _every_asset_starts_with_its_purchase()
    assert invariants.check() == []
    states = Counter(Asset.objects.values_list("state", flat=True))
    assert states == Counter(bench_assets_api.STATES[(g // 3) % 4] for g in range(1, 61))
    recycled = Asset.objects.filter(state=State.RECYCLED).first()
    assert list(recycled.events.values_list("kind", flat=True)) == [
        EventKind.PURCHASED,
        EventKind.SENT_TO_RECYCLER,
        EventKind.RECYCLED,
    ]
    assert recycled.events.last().site_id == recycled.site_id

    bench_assets_api.clear()
    assert not Asset.objects.exists() and not LifecycleEvent.objects.exists()


def test_the_export_fleet_is_in_service_with_its_ledgers(catalogue):
    bench_export_assets._generate(30)

    assert set(Asset.objects.values_list("state", "workload")) == {(State.IN_SERVICE, "training")}
    assert LifecycleEvent.objects.filter(kind=EventKind.COMMISSIONED).count() == 30
    assert invariants.check() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the reuse benchmark is PostgreSQL's")
def test_every_reuse_fleet_shape_has_its_ledgers(catalogue):
    for shape, (populate, _) in bench_reuse_api.SHAPES.items():
        sizes = populate(1000 if shape == "gpus-in-servers" else 400)

        assert sizes["assets"] == Asset.objects.count() >= 400, shape
        _every_asset_starts_with_its_purchase()
        assert fleet.check() == [], shape
        for server in Asset.objects.filter(asset_tag__startswith="BS-"):
            parts = list(server.components.all())
            assert len(parts) == 8
            # A component is in service exactly when its server is (the writer takes it along).
            in_service = server.state == State.IN_SERVICE
            assert {p.state == State.IN_SERVICE for p in parts} == {in_service}
        bench_reuse_api.clear()
