"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks every signature, keeps the
order of arrival and drops repeated delivery ids, as a careful receiver would; the last test
kills a real Celery worker in the middle of a delivery."""

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from registry import importing, services, webhooks
from registry.models import WebhookDelivery, WebhookSubscription
from tests import factories as f
from tests.celery_worker import (
    _database_url,
    _reconfigure,
    point_app_at_test_broker,
    start_worker,
    wait_until_up,
)

SERVE = {"workload": "inference"}


class Receiver:
    """An HTTP endpoint that verifies each POST's signature and keeps what it accepted."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.arrivals: list[tuple[str, dict]] = []  # (delivery id, payload), every attempt
        self.bad_signatures = 0
        self.fail_next = 0  # answer this many requests with 503
        self.hold = threading.Event()  # set: the next request waits for `release`
        self.release = threading.Event()
        self.held = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = webhooks.sign(
                    receiver.secret, self.headers["X-Circulus-Timestamp"], body
                )
                if self.headers["X-Circulus-Signature"] != expected:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.arrivals.append((self.headers["X-Circulus-Delivery"], json.loads(body)))
                if receiver.hold.is_set():
                    receiver.hold.clear()
                    receiver.held.set()
                    receiver.release.wait(60)
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unique(self) -> list[tuple[str, dict]]:
        """What a receiver that drops repeated delivery ids keeps, in arrival order."""
        seen, kept = set(), []
        for delivery, body in self.arrivals:
            if delivery not in seen:
                seen.add(delivery)
                kept.append((delivery, body))
        return kept

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def subscribe(receiver, **fields) -> WebhookSubscription:
    subscription = WebhookSubscription.objects.create(
        name="floor", url=receiver.url, secret=webhooks.new_secret(), **fields
    )
    receiver.secret = subscription.secret
    return subscription


@pytest.fixture
def model(db):
    return f.hardware_model("acme-l4", name="L4", holds_data=False)


def kinds_by_asset(kept) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for _, body in kept:
        out.setdefault(body["asset"]["tag"], []).append(body["event"]["kind"])
    return out


def test_events_arrive_signed_in_ledger_order_with_state_before_and_after(receiver, par, model, op):
    subscribe(receiver)
    a = f.asset("A-1", model=model, at_site=par)
    b = f.asset("B-1", model=model, at_site=par)
    services.record_event(a, "commissioned", occurred_at=f.at(1), actor=op, details=SERVE)
    services.record_event(b, "commissioned", occurred_at=f.at(1), actor=op, details=SERVE)
    services.record_event(a, "decommissioned", occurred_at=f.at(2), details={"reason": "old"})
    webhooks.deliver_due()

    assert receiver.bad_signatures == 0
    assert kinds_by_asset(receiver.arrivals) == {
        "A-1": ["purchased", "commissioned", "decommissioned"],
        "B-1": ["purchased", "commissioned"],
    }
    last = receiver.arrivals[-1][1] if receiver.arrivals[-1][1]["asset"]["tag"] == "A-1" else None
    decommissioned = next(b for _, b in receiver.arrivals if b["event"]["kind"] == "decommissioned")
    assert decommissioned["state"] == {"before": "in-service", "after": "awaiting-disposition"}
    assert decommissioned["event"]["details"] == {"reason": "old"}
    assert last is None or last["asset"]["site"] == "PAR1"
    ids = [d for d, _ in receiver.arrivals]
    assert len(ids) == len(set(ids)) == WebhookDelivery.objects.count() == 5
    assert set(WebhookDelivery.objects.values_list("outcome", flat=True)) == {"delivered"}


def test_a_subscription_gets_only_the_kinds_sites_and_changes_it_names(receiver, par, fra, model):
    subscription = subscribe(receiver, kinds=["decommissioned"], to_state="awaiting-disposition")
    subscription.sites.add(par)
    here = f.asset("PAR-X", model=model, at_site=par)
    there = f.asset("FRA-X", model=model, at_site=fra)
    for unit in (here, there):
        services.record_event(unit, "commissioned", occurred_at=f.at(1), details=SERVE)
        services.record_event(unit, "decommissioned", occurred_at=f.at(2), details={"reason": "x"})
    webhooks.deliver_due()
    assert kinds_by_asset(receiver.arrivals) == {"PAR-X": ["decommissioned"]}


def test_a_refused_event_sends_nothing(receiver, par, model):
    subscribe(receiver)
    unit = f.asset("R-1", model=model, at_site=par)
    WebhookDelivery.objects.all().delete()
    with pytest.raises(services.LifecycleError):
        services.record_event(unit, "recycled", occurred_at=f.at(1))
    assert not WebhookDelivery.objects.exists()


def test_a_failed_send_is_retried_later_under_the_same_id_and_holds_back_later_events(
    receiver, par, model
):
    subscribe(receiver)
    unit = f.asset("T-1", model=model, at_site=par)
    services.record_event(unit, "commissioned", occurred_at=f.at(1), details=SERVE)
    receiver.fail_next = 1
    assert webhooks.deliver_due() == {"delivered": 0, "retrying": 1, "gave_up": 0}
    first = WebhookDelivery.objects.get(event__kind="purchased")
    assert first.last_status == 503 and "503" in first.last_error
    assert first.next_attempt_at > timezone.now() + dt.timedelta(seconds=25)
    # The commissioning waits behind the purchase, though it is due.
    assert webhooks.deliver_due() == {"delivered": 0, "retrying": 0, "gave_up": 0}

    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    assert webhooks.deliver_due()["delivered"] == 2
    ids = [d for d, _ in receiver.arrivals]
    assert ids[0] == ids[1] == str(first.pk)  # the retry carries the same id
    assert [b["event"]["kind"] for _, b in receiver.unique()] == ["purchased", "commissioned"]


def test_an_unreachable_address_is_given_up_after_the_last_attempt(par, model, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    WebhookSubscription.objects.create(
        name="gone", url=f"http://127.0.0.1:{closed}/", secret=webhooks.new_secret()
    )
    f.asset("G-1", model=model, at_site=par)
    assert webhooks.deliver_due()["retrying"] == 1
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert webhooks.deliver_due()["gave_up"] == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "gave-up" and "could not be reached" in delivery.last_error
    assert webhooks.retry(WebhookDelivery.objects.all()) == 1


def test_the_bulk_import_queues_its_purchases(receiver, par, model, operator_user, tmp_path):
    subscribe(receiver, kinds=["purchased"])
    par.operators.add(operator_user)
    source = tmp_path / "assets.csv"
    source.write_text(
        "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier\n"
        "IMP-1,acme-l4,PAR1,2025-01-02,900,EUR,Acme\nIMP-2,acme-l4,PAR1,2025-01-03,900,EUR,Acme\n"
    )
    report = importing.import_assets(source, actor=operator_user)
    assert not report.errors, report.errors
    webhooks.deliver_due()
    assert kinds_by_asset(receiver.arrivals) == {"IMP-1": ["purchased"], "IMP-2": ["purchased"]}


def test_admin_shows_a_new_secret_once_and_never_again(admin_client, receiver):
    response = admin_client.post(
        "/admin/registry/webhooksubscription/add/",
        {"name": "floor", "url": receiver.url, "active": "on", "kinds": ["sold"]},
        follow=True,
    )
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.content.decode()
    page = admin_client.get(f"/admin/registry/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret not in page.content.decode()
    listing = admin_client.get("/admin/registry/webhooksubscription/")
    assert subscription.secret not in listing.content.decode()
    assert "sold" in listing.content.decode().lower()


# --- a real worker, killed in the middle of a delivery -------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_it_to_be_sent_again_same_id_same_order(
    celery_worker_process, receiver
):
    if not celery_worker_process.shares_db:
        pytest.skip("the worker shares the test database only on PostgreSQL")
    prefix = f"circulus-hook-{uuid.uuid4().hex[:8]}-"
    saved = point_app_at_test_broker(prefix)
    site = f.site("HOK1")
    model = f.hardware_model("acme-hook", name="Hook", holds_data=False)
    subscribe(receiver)
    receiver.hold.set()  # the first request is held until the worker is dead
    hostname = f"hook-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    worker = start_worker(prefix, _database_url(), hostname=hostname)
    try:
        wait_until_up(worker, hostname)
        unit = f.asset("HOOK-1", model=model, at_site=site)  # sends the purchase at once
        services.record_event(unit, "commissioned", occurred_at=f.at(1), details=SERVE)
        assert receiver.held.wait(60), "the worker never sent the first delivery"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        receiver.release.set()
        pending = WebhookDelivery.objects.filter(outcome="pending").count()
        assert pending == 2  # the killed send rolled back: nothing was marked delivered

        worker = start_worker(prefix, _database_url(), hostname=hostname)
        wait_until_up(worker, hostname)
        from registry.tasks import deliver_webhooks

        deliver_webhooks.delay()
        deadline = time.monotonic() + 60
        while WebhookDelivery.objects.filter(outcome="pending").exists():
            assert time.monotonic() < deadline, "the deliveries were not sent again"
            time.sleep(0.25)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        _reconfigure(**saved)

    ids = [d for d, _ in receiver.arrivals]
    purchase = str(WebhookDelivery.objects.get(event__kind="purchased").pk)
    assert ids.count(purchase) == 2  # sent, killed, sent again: the same id both times
    assert [b["event"]["kind"] for _, b in receiver.unique()] == ["purchased", "commissioned"]
    assert receiver.bad_signatures == 0
