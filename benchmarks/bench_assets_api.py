"""Asset list API (`/api/assets/?state=…&site=…`) server time with many assets, vs the bare query.

Goal: median server time under 50 ms with 1,000,000 assets on PostgreSQL. Server time
is measured in-process (Django test client: routing, auth, filters, keyset pagination,
serialisation), so network and client overhead are excluded.
"""

import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from benchmarks import fleet
from benchmarks.harness import vendor
from hardware.models import HardwareModel
from registry.lifecycle import State
from registry.models import Asset, Site

STATES = [State.IN_STOCK, State.IN_SERVICE, State.AWAITING_DISPOSITION, State.RECYCLED]


def populate(n: int) -> None:
    """n assets spread over 10 sites, all catalogue models and four states, made through the
    product's writers with their ledgers (benchmarks/fleet.py)."""
    codes = [f"B{i:02d}" for i in range(10)]
    for code in codes:
        Site.objects.get_or_create(
            code=code,
            defaults={"name": f"Bench {code}", "country": "FR", "time_zone": "Europe/Paris"},
        )
    models = list(HardwareModel.objects.order_by("pk").values_list("slug", flat=True))
    fleet.register(
        {
            "asset_tag": f"BA-{g}",
            "serial_number": f"S{g}",
            "hardware_model": models[g % len(models)],
            "site": codes[(g // 7) % len(codes)],
            "rack": f"R{g % 40}",
        }
        for g in range(1, n + 1)
    )
    fleet.live({f"BA-{g}": STATES[(g // 3) % 4] for g in range(1, n + 1)})
    fleet.analyse()


def clear() -> None:
    fleet.wipe()


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
