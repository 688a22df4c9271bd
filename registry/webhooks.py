"""Webhooks: each ledger event that a subscription matches is POSTed to its address, signed,
in the order recorded for each asset, under one delivery id however often it is retried.

The delivery rows are written in the transaction that writes the event (an outbox): an event
that commits is delivered, one that rolls back never is, whichever door recorded it. A worker
takes one due delivery at a time under a row lock and sends it while holding the lock; killed
mid-send, its transaction rolls back and the delivery is sent again, with the same id, by the
next sweep. A delivery waits while an earlier event of the same asset is still pending for the
same subscription, so a receiver sees each asset's events in order.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from registry.lifecycle import EventKind
from registry.models import LifecycleEvent, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Circulus-Signature"
TIMESTAMP_HEADER = "X-Circulus-Timestamp"
DELIVERY_HEADER = "X-Circulus-Delivery"
FIRST_RETRY_SECONDS = 30
LONGEST_WAIT_SECONDS = 3600
SEND_TIMEOUT_SECONDS = 10


def new_secret() -> str:
    return secrets.token_hex(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the HMAC-SHA256 of `<timestamp>.<body>` under the subscription's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def subscribed() -> bool:
    return WebhookSubscription.objects.filter(active=True).exists()


def _matches(subscription: WebhookSubscription, event: LifecycleEvent, sites: set[int]) -> bool:
    return (
        (not subscription.kinds or event.kind in subscription.kinds)
        and (not sites or event.site_id in sites)
        and (not subscription.from_state or event.state_before == subscription.from_state)
        and (not subscription.to_state or event.state_after == subscription.to_state)
    )


def queue(events) -> int:
    """Write a pending delivery for each (matching subscription, event); call inside the
    transaction that writes the events. Returns how many were written."""
    subscriptions = [
        (s, {site.pk for site in s.sites.all()})
        for s in WebhookSubscription.objects.filter(active=True).prefetch_related("sites")
    ]
    if not subscriptions:
        return 0
    now = timezone.now()
    rows = [
        WebhookDelivery(
            subscription=subscription, event=event, asset_id=event.asset_id, next_attempt_at=now
        )
        for event in events
        for subscription, sites in subscriptions
        if _matches(subscription, event, sites)
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        transaction.on_commit(send_soon)
    return len(rows)


def send_soon() -> None:
    from registry.tasks import deliver_webhooks

    try:
        deliver_webhooks.delay()
    except Exception:  # the broker is away: the periodic sweep sends them
        log.warning("webhook deliveries left to the next sweep: the broker did not take the task")


def payload(delivery: WebhookDelivery) -> dict:
    event, asset = delivery.event, delivery.asset
    return {
        "delivery": str(delivery.pk),
        "event": {
            "id": event.pk,
            "kind": event.kind,
            "kind_label": EventKind(event.kind).label,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": event.recorded_at.isoformat(),
            "actor": event.actor.get_username() if event.actor_id else None,
            "details": event.details,
            "corrects": event.corrects_id,
            "caused_by": event.caused_by_id,
        },
        "asset": {
            "id": asset.pk,
            "tag": asset.asset_tag,
            "serial_number": asset.serial_number,
            "hardware_model": asset.hardware_model.slug,
            "site": event.site.code,
        },
        "state": {"before": event.state_before or None, "after": event.state_after},
    }


def _due():
    earlier = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"),
        asset=OuterRef("asset"),
        outcome=WebhookDelivery.Outcome.PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    return (
        WebhookDelivery.objects.filter(
            outcome=WebhookDelivery.Outcome.PENDING,
            next_attempt_at__lte=timezone.now(),
            subscription__active=True,
        )
        .exclude(Exists(earlier))
        .order_by("event_id")
    )


def deliver_due(limit: int = 200) -> dict[str, int]:
    """Send up to `limit` due deliveries, one at a time, each under its row lock."""
    counts = {"delivered": 0, "retrying": 0, "gave_up": 0}
    for _ in range(limit):
        with transaction.atomic():
            delivery = (
                _due()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related(
                    "subscription", "event__actor", "event__site", "asset__hardware_model"
                )
                .first()
            )
            if delivery is None:
                break
            counts[_attempt(delivery)] += 1
    return counts


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer other than 2xx: retried later, never followed


_opener = urllib.request.build_opener(_NoRedirects)


def _attempt(delivery: WebhookDelivery) -> str:
    body = json.dumps(payload(delivery), sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        delivery.subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Circulus-Webhooks/1",
            DELIVERY_HEADER: str(delivery.pk),
            "X-Circulus-Event": delivery.event.kind,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(delivery.subscription.secret, timestamp, body),
        },
    )
    delivery.attempts += 1
    status, error = None, ""
    try:
        with _opener.open(request, timeout=SEND_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = f"could not be reached: {getattr(exc, 'reason', exc)}"
    delivery.last_status, delivery.last_error = status, error[:500]
    if status is not None and 200 <= status < 300:
        delivery.outcome, delivery.delivered_at = WebhookDelivery.Outcome.DELIVERED, timezone.now()
        result = "delivered"
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.outcome = WebhookDelivery.Outcome.GAVE_UP
        result = "gave_up"
        log.warning("webhook delivery %s given up after %s attempts: %s", delivery.pk,
                    delivery.attempts, error or status)  # fmt: skip
    else:
        wait = min(FIRST_RETRY_SECONDS * 2 ** (delivery.attempts - 1), LONGEST_WAIT_SECONDS)
        delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=wait)
        result = "retrying"
    delivery.save()
    return result


def retry(deliveries) -> int:
    """Send given-up (or waiting) deliveries again now, from a fresh count of attempts."""
    return deliveries.exclude(outcome=WebhookDelivery.Outcome.DELIVERED).update(
        outcome=WebhookDelivery.Outcome.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
