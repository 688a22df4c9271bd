"""Pulls as jobs: a dead or garbled source fails alone, is retried with backoff, and never holds
up the others (with real Celery workers on the connectors queue)."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from circulus import queues
from connectors import pulls
from connectors.models import MeterFeed, Pull
from tests import celery_worker
from tests.connectors import servers
from tests.connectors.conftest import make_source
from tests.reporting.conftest import make_meter, make_site

TOTAL_ENERGY = "/redfish/v1/Chassis/1U/Sensors/TotalEnergy"


def _feed(source, code):
    meter = make_meter(source.site, code, "eit-pdu", register="cumulative")
    return MeterFeed.objects.create(
        source=source, meter=meter, sensor=TOTAL_ENERGY, sensor_unit="kWh"
    )


@pytest.mark.django_db
def test_a_dead_source_fails_alone_and_is_retried_with_growing_waits(
    django_capture_on_commit_callbacks, settings
):
    settings.CONNECTOR_MAX_ATTEMPTS = 3
    site = make_site("DC1", time_zone="UTC")
    with servers.dead_endpoint() as dead_url, servers.redfish_server(servers.MOCKUP) as good_url:
        dead = make_source(site, dead_url, name="dead-bmc", timeout_s=1)
        good = make_source(site, good_url, name="good-bmc")
        _feed(dead, "DC1-DEAD")
        _feed(good, "DC1-GOOD")
        with django_capture_on_commit_callbacks(execute=True):
            started = pulls.due()
        assert len(started) == 2
        by_source = {p.source.name: p for p in Pull.objects.select_related("source")}
        assert by_source["good-bmc"].state == "succeeded"
        assert by_source["good-bmc"].readings == 1
        failed = by_source["dead-bmc"]
        assert failed.state == "failed"
        assert "did not answer within 1 s" in failed.error
        waits = [failed.retry_at - failed.finished_at]

        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert pulls.due(now) == []  # not yet: the backoff runs, the good one is fresh
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                retried = pulls.due(failed.retry_at + dt.timedelta(seconds=1))
            assert [p.pk for p in retried] == [failed.pk]
            failed.refresh_from_db()
            assert failed.state == "failed"
            if failed.retry_at:
                waits.append(failed.retry_at - failed.finished_at)
        assert failed.attempts == 3
        assert failed.retry_at is None  # CONNECTOR_MAX_ATTEMPTS reached: an operator retries
        assert waits[1] > 3 * waits[0]


@pytest.mark.django_db
def test_a_source_answering_garbage_fails_with_a_sentence(pull_now):
    site = make_site("DC1", time_zone="UTC")
    with servers.Exporter() as exporter:
        exporter.text = "<html>login</html>"
        source = make_source(site, f"http://127.0.0.1:{exporter.port}", reads_inventory=True)
        pull = pull_now(source)
    assert pull.state == "failed"
    assert pull.error.startswith("http://127.0.0.1:")
    assert "answered something that is not JSON" in pull.error
    assert pull.retry_at is not None


@pytest.fixture
def two_connector_workers(django_db_setup, django_db_blocker):
    """Two real workers serving only the connectors queue (each runs one pull at a time)."""
    if not celery_worker._redis_reachable():
        pytest.skip("no Redis reachable: real-worker tests need one")
    with django_db_blocker.unblock():
        database_url = celery_worker._database_url()
    if database_url is None:
        pytest.skip("the workers share the test database only on PostgreSQL")
    prefix = f"circulus-test-conn-{int(time.time())}-"
    names = ["conn-a@%h", "conn-b@%h"]
    workers = [
        celery_worker.start_worker(prefix, database_url, [queues.CONNECTORS], hostname=name)
        for name in names
    ]
    saved = celery_worker.point_app_at_test_broker(prefix)
    try:
        for worker in workers:
            celery_worker.wait_until_up(worker)
        yield workers
    finally:
        for worker in workers:
            celery_worker.stop_worker(worker)
        celery_worker._reconfigure(**saved)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_dead_source_does_not_delay_the_others(two_connector_workers):
    site = make_site("DC1", time_zone="UTC")
    with servers.dead_endpoint() as dead_url, servers.redfish_server(servers.MOCKUP) as good_url:
        dead = make_source(site, dead_url, name="dead-bmc", timeout_s=20)
        good = make_source(site, good_url, name="good-bmc")
        _feed(dead, "DC1-DEAD")
        _feed(good, "DC1-GOOD")
        began = time.monotonic()
        pulls.due()  # the dead one first (sources in id order)
        deadline = began + 60
        while time.monotonic() < deadline:
            states = dict(Pull.objects.values_list("source__name", "state"))
            if states.get("good-bmc") in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - began
        assert states["good-bmc"] == "succeeded"
        assert states["dead-bmc"] in ("queued", "running")  # still waiting for its answer
        assert elapsed < 20
