"""Reuse candidates across many sites: a bounded number of queries, and on PostgreSQL a kept
answer that is never stale (whatever writes the registry: services, raw SQL, measured runs,
a transaction still open)."""

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from registry import reuse
from registry.models import Asset, ReuseMeasurement, Site
from registry.services import record_event
from tests import factories as f
from tests.registry import reuse_factories as rf

URL = "/api/reuse-candidates/"
QUERY = {"model": "llama-3-8b", "precision": "int8", "concurrency": 4, "engine": "vllm"}
SLUGS = ("nvidia-t4", "nvidia-a10")


def _measure(asset, tokens_per_s=50.0):
    return ReuseMeasurement.objects.create(
        asset=asset, site=asset.site, hardware_model=asset.hardware_model, llm="llama-3-8b",
        precision="int8", engine="vllm", n_devices=1, concurrency=4, context_tokens=8192,
        tokens_per_s=tokens_per_s, power_w=150, duration_s=600, measured_on=dt.date(2026, 11, 1),
    )  # fmt: skip


def _fleet(sites) -> None:
    """Two loose card models per site, one of them with a recorded run."""
    for s in sites:
        site = f.site(f"S{s:02d}")
        cards = [rf.gpu(f"{slug}-{s}", slug, site=site) for slug in SLUGS]
        _measure(cards[1])


@pytest.mark.django_db
def test_query_count_does_not_grow_with_sites(api, procurement_user,
                                              django_assert_max_num_queries):  # fmt: skip
    """PUE, grid, measured runs and sites are looked up once for all sites, never per site."""
    _fleet(range(2))
    api.force_authenticate(procurement_user)
    with CaptureQueriesContext(connection) as few:
        assert api.get(URL, QUERY).json()["count"] == 4
    _fleet(range(2, 40))
    # auth, catalogue, groups, sites, PUE, measured runs, tags (+ the counter on PostgreSQL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api.get(URL, {**QUERY, "page_size": 200}).json()
    assert body["count"] == 80
    rows = body["results"]
    assert {r["site"] for r in rows} == {f"S{s:02d}" for s in range(40)}
    assert {(r["hardware_model"], r["basis"]) for r in rows} == {
        ("nvidia-t4", "estimated"),
        ("nvidia-a10", "measured"),
    }
    assert all(len(r["assets"]) == 1 for r in rows)
    # ranked by the central value first, whatever the number of sites
    keys = [r["joules_per_token_facility"] for r in rows if r["supported"]]
    assert keys == sorted(keys)


# --- the kept answer on PostgreSQL -------------------------------------------------------------

pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the kept answer exists on PostgreSQL only"
)


def _find():
    query = reuse.ReuseQuery(model=reuse.llm_models()["llama-3-8b"], precision="int8",
                             concurrency=4, engine="vllm")  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        result = reuse.find_candidates(query)
    rows = reuse.page(result, 0, 100)
    aggregated = any("COUNT(" in q["sql"] for q in queries.captured_queries)
    return {(r["site"], r["hardware_model"]): r for r in rows}, aggregated


# A `sold` ledger row written in SQL: the asset's state is its ledger's (the database refuses any
# other), so raw SQL past every service appends the row before it updates the asset.
SOLD_ROW = (
    "INSERT INTO registry_lifecycleevent (asset_id, kind, occurred_at, recorded_at, "
    "state_before, state_after, details, site_id, sanitisation_method) "
    "SELECT id, 'sold', now(), now(), state, 'sold', '{}', site_id, '' "
    "FROM registry_asset WHERE asset_tag = %s"
)


@pg_only
@pytest.mark.django_db(transaction=True)
def test_kept_answer_follows_every_write():
    _fleet(range(3))
    first, aggregated = _find()
    assert aggregated and first[("S00", "nvidia-t4")]["assets_available"] == 1
    again, aggregated = _find()
    assert again == first and not aggregated  # kept: no aggregate over the assets

    rf.gpu("nvidia-t4-extra", "nvidia-t4", site=Site.objects.get(code="S00"))  # a service
    rows, aggregated = _find()
    assert aggregated and rows[("S00", "nvidia-t4")]["assets_available"] == 2

    with connection.cursor() as cur:  # raw SQL, past every service (a ledger row first: the
        # asset's state is its ledger's, the database refuses any other)
        cur.execute(SOLD_ROW, ["nvidia-t4-1"])
        cur.execute("UPDATE registry_asset SET state = 'sold' WHERE asset_tag = 'nvidia-t4-1'")
    rows, _ = _find()
    assert ("S01", "nvidia-t4") not in rows

    t4 = Asset.objects.get(asset_tag="nvidia-t4-2")
    record_event(t4, "reserved-for-reuse", occurred_at=f.at(30),
                 details={"reserved_by": "x", "purpose": "y"})  # fmt: skip
    rows, _ = _find()
    assert ("S02", "nvidia-t4") not in rows

    run = _measure(Asset.objects.get(asset_tag="nvidia-t4-0"), tokens_per_s=77)
    rows, _ = _find()
    assert rows[("S00", "nvidia-t4")]["basis"] == "measured"
    assert rows[("S00", "nvidia-t4")]["measurement_id"] == run.id

    Site.objects.filter(code="S00").update(code="S00X")
    rows, _ = _find()
    assert ("S00X", "nvidia-t4") in rows and ("S00", "nvidia-t4") not in rows


@pg_only
@pytest.mark.django_db(transaction=True)
def test_an_open_writer_is_never_kept():
    """A read while a transaction that wrote assets is open sees the committed table and keeps
    nothing: once the writer commits, the next read sees its change."""
    _fleet(range(1))
    before, _ = _find()
    assert before[("S00", "nvidia-a10")]["assets_available"] == 1
    written, release, done = threading.Event(), threading.Event(), threading.Event()

    def writer():
        try:
            other = connections.create_connection("default")
            other.set_autocommit(False)
            with other.cursor() as cur:
                cur.execute(SOLD_ROW, ["nvidia-a10-0"])  # the ledger row first
                cur.execute("UPDATE registry_asset SET state = 'sold' "
                            "WHERE asset_tag = 'nvidia-a10-0'")  # fmt: skip
            written.set()
            release.wait(timeout=30)
            other.commit()
            other.close()
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(timeout=30)
    during, aggregated = _find()
    assert aggregated and during[("S00", "nvidia-a10")]["assets_available"] == 1
    release.set()
    assert done.wait(timeout=30)
    thread.join()
    after, aggregated = _find()
    assert aggregated and ("S00", "nvidia-a10") not in after


@pytest.mark.django_db
@pytest.mark.parametrize("n_sites", [3, 25])  # a filtered read, and every site's read
def test_each_site_gets_its_latest_computed_pue(api, procurement_user, n_sites):
    from django.utils import timezone

    from reporting.models import PeriodResult, ReportingPeriod

    _fleet(range(n_sites))
    for year, pue in ((2024, 1.61), (2025, 1.42)):  # the latest year wins
        period = ReportingPeriod.objects.create(
            site=Site.objects.get(code="S01"), year=year, start_date=dt.date(year, 1, 1),
            end_date=dt.date(year, 12, 31),
        )  # fmt: skip
        PeriodResult.objects.create(
            period=period, inputs={}, indicators={"PUE": pue}, monthly=[], coverage={},
            findings=[], code_version="t", fingerprint="x" * 64, computed_at=timezone.now(),
        )  # fmt: skip
    api.force_authenticate(procurement_user)
    body = api.get(URL, {**QUERY, "page_size": 200}).json()
    pue = {r["site"]: r["pue"] for r in body["results"]}
    assert pue.pop("S01") == 1.42
    assert set(pue.values()) == {float(reuse.DEFAULT_PUE)}
    # In user words: which period the PUE is from, and that it is not validated yet.
    source = body["assumptions"]["pue"]["source"]
    assert "S01: PUE of the 2025 reporting period (draft, not yet validated)" in source
    assert "latest_site_pue" not in source
