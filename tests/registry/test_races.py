"""Concurrent requests settled by the database: a conflict is a 409 or a replay, never a 500.

Real PostgreSQL connections, one per thread (SQLite serialises writers, so there is no race).
"""

import threading
import time
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from registry.models import Asset, IdempotencyKey, LifecycleEvent
from registry.services import record_event
from tests import factories as f
from tests.factories import at

pytestmark = pytest.mark.django_db(transaction=True)


def _body(slug: str, serial: str = "SN-RACE") -> dict:
    return {
        "asset_tag": "RACE-1",
        "serial_number": serial,
        "hardware_model": slug,
        "site": "PAR1",
        "occurred_at": "2024-03-01T10:00:00+01:00",
        "state": "in-stock",
        "supplier": "Acme",
        "price": "9000.00",
        "currency": "EUR",
        "purchase_date": "2024-03-01",
    }


def _concurrently(n: int, request, each: int = 1) -> list:
    """`n` threads released together, each sending `each` requests back to back (one database
    connection per thread: PostgreSQL's default max_connections is 100)."""
    barrier, outcomes, lock = threading.Barrier(n), [], threading.Lock()

    def run():
        try:
            barrier.wait(timeout=60)
            for _ in range(each):
                response = request()
                with lock:
                    outcomes.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(outcomes) == n * each
    return outcomes


@pytest.fixture
def setup(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    site = f.site("PAR1")
    user = f.user("racer", group="operator")
    site.operators.add(user)
    return user, f.hardware_model().slug


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_concurrent_creates_of_one_tag_answer_201_once_and_409_otherwise(setup):
    user, slug = setup
    # Each request its own serial number: only the tag collides.
    outcomes = _concurrently(
        20,
        lambda: _client(user).post(
            "/api/assets/", _body(slug, f"SN-{uuid.uuid4().hex[:8]}"), format="json"
        ),
    )
    codes = sorted(r.status_code for r in outcomes)
    assert codes.count(201) == 1, codes
    assert set(codes) <= {201, 400, 409}, codes  # 400: validation saw the committed row
    for response in outcomes:
        if response.status_code != 201:
            assert "asset_tag" in response.json(), response.json()
    assert Asset.objects.filter(asset_tag="RACE-1").count() == 1
    assert LifecycleEvent.objects.filter(asset__asset_tag="RACE-1").count() == 1


def test_idempotency_key_replays_under_200_concurrent_retries(setup):
    user, slug = setup

    def retry():
        return _client(user).post(
            "/api/assets/", _body(slug), format="json", HTTP_IDEMPOTENCY_KEY="race-key"
        )

    outcomes = _concurrently(25, retry, each=8)  # 200 retries, 25 at a time
    codes = sorted({r.status_code for r in outcomes})
    assert codes == [201], codes
    first = [r for r in outcomes if not r.has_header("Idempotent-Replayed")]
    assert len(first) == 1
    assert all(r.json() == first[0].json() for r in outcomes)
    assert Asset.objects.filter(asset_tag="RACE-1").count() == 1
    assert IdempotencyKey.objects.filter(user=user, key="race-key").count() == 1


def test_installing_into_a_server_being_sold_is_never_a_500(setup):
    """Racing `component-installed` against the parent's `sold`: one wins, the other is refused
    (400 with the reason, or 409 when the database settled it), and the ledger holds."""
    from registry import invariants

    user, slug = setup
    server_model = f.hardware_model_by_slug("dell-poweredge-c4140")
    codes = []
    for round_ in range(24):  # the probe saw 13 deadlocks in 24 runs
        srv = f.asset(f"SRV-{round_}", model=server_model)
        gpu = f.asset(f"GPU-{round_}", model=f.hardware_model(f"{slug}-{round_}"))
        record_event(srv, "decommissioned", occurred_at=at(1), details={"reason": "refresh"})
        bodies = [
            (gpu, {"kind": "component-installed", "parent": srv.asset_tag}),
            (srv, {"kind": "sold", "counterparty": "Broker", "price": "1", "currency": "EUR"}),
        ]
        turn = iter(bodies)
        lock = threading.Lock()

        def send(turn=turn, lock=lock):
            with lock:
                asset, body = next(turn)
            body = body | {"occurred_at": at(2).isoformat()}
            return _client(user).post(f"/api/assets/{asset.pk}/events/", body, format="json")

        outcomes = _concurrently(2, send)
        codes += [r.status_code for r in outcomes]
        assert {r.status_code for r in outcomes} <= {201, 400, 409}, [r.json() for r in outcomes]
        for response in outcomes:
            if response.status_code != 201:
                assert response.json(), response
    assert invariants.check() == []
    assert 500 not in codes


def _deadlocked(client_call, first, second):
    """Force a real deadlock: another connection locks `first` (a unit the request locks second),
    waits until the request is blocked on it, then asks for `second` (which the request holds).
    The request's connection looks for deadlocks after 200 ms, the other's after a minute, so
    PostgreSQL breaks the tie by rolling the request back (`40P01`). Returns its response."""
    from django.db import connections

    held, done = threading.Event(), threading.Event()
    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '200ms'")
        cursor.execute("SELECT pg_backend_pid()")
        (victim,) = cursor.fetchone()
    errors = []

    def other():
        rival = connections.create_connection("default")
        try:
            rival.set_autocommit(False)
            with rival.cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '60s'")
                cursor.execute("SELECT 1 FROM registry_asset WHERE id = %s FOR UPDATE", [first])
                held.set()
                for _ in range(300):  # until the request waits on our lock (≤ 30 s)
                    cursor.execute(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [victim]
                    )
                    if cursor.fetchone() == ("Lock",):
                        break
                    time.sleep(0.1)
                else:
                    errors.append("the request never waited on the lock")
                cursor.execute("SELECT 1 FROM registry_asset WHERE id = %s FOR UPDATE", [second])
            rival.rollback()
        except Exception as exc:  # noqa: BLE001 (reported by the test, not lost in a thread)
            errors.append(exc)
        finally:
            rival.close()
            done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert held.wait(timeout=30)
    try:
        response = client_call()
    finally:
        assert done.wait(timeout=90)
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET deadlock_timeout")
    assert not errors, errors
    return response


@pytest.fixture
def server_and_gpu(setup):
    user, slug = setup
    srv = f.asset("SRV-1", model=f.hardware_model_by_slug("dell-poweredge-c4140"))
    gpu = f.asset("GPU-1", model=f.hardware_model(f"{slug}-x"))
    return user, srv, gpu


def test_a_forced_deadlock_is_a_409_through_the_api_and_nothing_is_written(server_and_gpu):
    from registry import invariants

    user, srv, gpu = server_and_gpu
    body = {"kind": "component-installed", "parent": "SRV-1", "occurred_at": at(2).isoformat()}
    response = _deadlocked(
        lambda: _client(user).post(f"/api/assets/{gpu.pk}/events/", body, format="json"),
        first=gpu.pk,  # the installation locks the server, then the GPU
        second=srv.pk,
    )
    assert response.status_code == 409, response.content
    assert "nothing was written" in response.json()["detail"]
    gpu.refresh_from_db()
    assert gpu.parent is None and gpu.events.count() == 1
    assert invariants.check() == []


def test_a_forced_deadlock_is_a_message_in_the_admin_and_nothing_is_written(server_and_gpu):
    from django.test import Client
    from django.urls import reverse

    from registry import invariants

    _, srv, gpu = server_and_gpu
    admin = f.user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    moment = {"occurred_at_0": "2024-01-12", "occurred_at_1": "10:00:00"}
    url = reverse("admin:registry_asset_record_event", args=[gpu.pk])
    form = {"kind": "component-installed", "_record": "1", "parent": "SRV-1", **moment}
    page = _deadlocked(lambda: client.post(url, form), first=gpu.pk, second=srv.pk)
    assert page.status_code == 200
    assert "nothing was written" in page.content.decode()
    gpu.refresh_from_db()
    assert gpu.parent is None and gpu.events.count() == 1
    assert invariants.check() == []
