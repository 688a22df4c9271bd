"""Asset list API (`/api/assets/?state=…&site=…`) server time with many assets, vs the bare query.

Goal: median server time under 50 ms with 1,000,000 assets on PostgreSQL. Server time
is measured in-process (Django test client: routing, auth, filters, keyset pagination,
serialisation), so network and client overhead are excluded.
"""

import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from benchmarks.harness import vendor
from hardware.models import HardwareModel
from registry.lifecycle import State
from registry.models import Asset, Site

STATES = [State.IN_STOCK, State.IN_SERVICE, State.AWAITING_DISPOSITION, State.RECYCLED]


def populate(n: int) -> None:
    """n assets spread over 10 sites, all catalogue models and four states (no ledger rows:
    the list endpoint does not read them)."""
    sites = [
        Site.objects.get_or_create(
            code=f"B{i:02d}",
            defaults={"name": f"Bench {i}", "country": "FR", "time_zone": "Europe/Paris"},
        )[0].pk
        for i in range(10)
    ]
    models = list(HardwareModel.objects.values_list("pk", flat=True))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO registry_asset (asset_tag, serial_number, hardware_model_id, site_id,
                    room, rack, owner, currency, supplier, state, workload, notes, created_at,
                    updated_at, data_bearing)
                SELECT 'BA-' || g, 'S' || g, (%s::bigint[])[1 + g %% %s],
                       (%s::bigint[])[1 + (g / 7) %% %s], '', 'R' || (g %% 40), '', 'EUR', 'x',
                       (%s::text[])[1 + (g / 3) %% 4], '', '', now(), now(), false
                FROM generate_series(1, %s) AS g
                """,
                [models, len(models), sites, len(sites), [str(s) for s in STATES], n],
            )
            cursor.execute("ANALYZE registry_asset")
        return
    batch = []
    for g in range(1, n + 1):
        batch.append(
            Asset(
                asset_tag=f"BA-{g}",
                serial_number=f"S{g}",
                hardware_model_id=models[g % len(models)],
                site_id=sites[(g // 7) % len(sites)],
                rack=f"R{g % 40}",
                state=STATES[(g // 3) % 4],
            )
        )
        if len(batch) == 5000:
            Asset.objects.bulk_create(batch)
            batch = []
    Asset.objects.bulk_create(batch)


def clear() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE registry_asset CASCADE")
        else:
            Asset.objects.filter(asset_tag__startswith="BA-").delete()


def run(quick: bool) -> dict:
    n = 20_000 if quick else 1_000_000
    requests = 30 if quick else 200
    started = time.perf_counter()
    populate(n)
    populate_s = time.perf_counter() - started
    user, _ = get_user_model().objects.get_or_create(username="bench-auditor")
    user.groups.add(Group.objects.get(name="auditor"))
    client = APIClient()
    client.force_authenticate(user)

    queries = [{"state": STATES[i % 4], "site": f"B{i % 10:02d}"} for i in range(requests)]
    server, bare = [], []
    for params in queries:
        t0 = time.perf_counter()
        response = client.get("/api/assets/", params)
        server.append(time.perf_counter() - t0)
        assert response.status_code == 200 and len(response.json()["results"]) == 50
        t0 = time.perf_counter()
        list(
            Asset.objects.filter(state=params["state"], site__code=params["site"])
            .select_related("hardware_model", "site", "parent")
            .order_by("id")[:51]
        )
        bare.append(time.perf_counter() - t0)
    # A deep page: keyset pagination keeps it as cheap as the first.
    page = client.get("/api/assets/", {"state": STATES[0], "page_size": 500}).json()
    hops = 3 if quick else 20
    for _ in range(hops):
        page = client.get(page["next"]).json()
    page_depth = 500 * (hops + 1)
    deep_url = page["next"].replace("page_size=500", "page_size=50")
    t0 = time.perf_counter()
    client.get(deep_url)
    deep_ms = (time.perf_counter() - t0) * 1000
    clear()

    median_ms = statistics.median(server) * 1000
    p95_ms = statistics.quantiles(server, n=20)[-1] * 1000
    ratio = statistics.median(server) / statistics.median(bare)
    return {
        "assets": n,
        "median_ms": round(median_ms, 1),
        "p95_ms": round(p95_ms, 1),
        "ratio": round(ratio, 2),
        "goal_met": median_ms < 50,
        "lines": [
            f"{vendor()}: {n:,} assets (populated in {populate_s:.1f} s)",
            f"GET /api/assets/?state&site: median {median_ms:.1f} ms, p95 {p95_ms:.1f} ms "
            f"server time (goal < 50 ms median); ratio to the bare ORM query {ratio:.1f}x",
            f"a page of 50 deep in the list (after {page_depth:,} rows): {deep_ms:.1f} ms",
        ],
    }
