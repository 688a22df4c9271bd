"""Warranty, support and end-of-life dates coming up: which assets, and one digest a day per
operator telling each expiry once per threshold (90, 60 and 30 days before, by default)."""

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from registry.labels import asset_address, model_name
from registry.lifecycle import IN_CUSTODY
from registry.models import Asset, ExpiryNotice

log = logging.getLogger(__name__)

# asset field → what its passing means
DATES = {
    ExpiryNotice.Kind.WARRANTY: "warranty_end",
    ExpiryNotice.Kind.SUPPORT: "support_end",
    ExpiryNotice.Kind.END_OF_LIFE: "planned_eol",
}


def expiring_filter(within_days: int, today: dt.date, kinds=None) -> Q:
    """Assets with a date of `kinds` (all three by default) from today to `within_days` ahead."""
    until = today + dt.timedelta(days=within_days)
    condition = Q()
    for kind in kinds or DATES:
        condition |= Q(**{f"{DATES[kind]}__range": (today, until)})
    return condition


def expiring(assets: QuerySet, within_days: int, today: dt.date | None = None, kinds=None):
    return assets.filter(expiring_filter(within_days, today or timezone.localdate(), kinds))


@dataclass(frozen=True)
class Due:
    asset: Asset
    kind: str
    due: dt.date
    days_left: int
    threshold: int


def thresholds() -> list[int]:
    return sorted(set(settings.EXPIRY_ALERT_DAYS))


def coming_up(today: dt.date) -> list[Due]:
    """Every expiry of a unit still in our custody within the widest threshold, each with the
    tightest threshold it has reached."""
    steps = thresholds()
    assets = (
        expiring(Asset.objects.filter(state__in=IN_CUSTODY), steps[-1], today)
        .select_related("hardware_model__manufacturer", "site")
        .order_by("site_id", "asset_tag")
    )
    found = []
    for asset in assets:
        for kind, field in DATES.items():
            due = getattr(asset, field)
            if due is None or not today <= due <= today + dt.timedelta(days=steps[-1]):
                continue
            days_left = (due - today).days
            threshold = min(step for step in steps if days_left <= step)
            found.append(Due(asset, kind, due, days_left, threshold))
    return found


def send_digests(today: dt.date | None = None) -> dict[str, int]:
    """One e-mail per operator with an address, listing what has reached a threshold at the
    sites they operate and that they were not yet told at that threshold. A notice is stored
    only with its digest sent: a mail server that refuses leaves it to be told tomorrow."""
    today = today or timezone.localdate()
    dues = coming_up(today)
    told = set(
        ExpiryNotice.objects.filter(
            asset_id__in={d.asset.pk for d in dues}, due__gte=today
        ).values_list("asset_id", "kind", "due", "threshold_days", "recipient_id")
    )
    operators = defaultdict(list)
    for user in (
        get_user_model()
        .objects.filter(is_active=True, operated_sites__isnull=False)
        .exclude(email="")
        .prefetch_related("operated_sites")
        .distinct()
    ):
        for site in user.operated_sites.all():
            operators[site.pk].append(user)
    outbox: dict = defaultdict(list)
    for item in dues:
        for user in operators.get(item.asset.site_id, []):
            key = (item.asset.pk, item.kind, item.due, item.threshold, user.pk)
            if key not in told:
                outbox[user].append(item)
    sent = failed = 0
    for user, items in outbox.items():
        try:
            with transaction.atomic():
                now = timezone.now()
                ExpiryNotice.objects.bulk_create(
                    ExpiryNotice(
                        asset=i.asset,
                        kind=i.kind,
                        due=i.due,
                        threshold_days=i.threshold,
                        recipient=user,
                        sent_at=now,
                    )
                    for i in items
                )
                digest(user, items, today).send(fail_silently=False)
        except Exception:  # one operator's refused mail must not stop the others'
            failed += 1
            log.exception("expiry digest to %s not sent; it is tried again tomorrow", user)
        else:
            sent += 1
    return {"digests": sent, "failed": failed, "notices": sum(map(len, outbox.values()))}


def digest(user, items: list[Due], today: dt.date) -> EmailMessage:
    count = len(items)
    subject = (
        f"Circulus: {count} warrant{'y' if count == 1 else 'ies'}, support contracts or "
        "planned ends of life coming up"
        if count > 1
        else f"Circulus: {ExpiryNotice.Kind(items[0].kind).label.lower()} for "
        f"{items[0].asset.asset_tag} in {_days(items[0].days_left)}"
    )
    lines = [
        f"Hello {user.get_full_name() or user.get_username()},",
        "",
        f"These dates at the sites you operate are coming up (as of {today:%-d %B %Y}):",
        "",
    ]
    for item in sorted(items, key=lambda i: (i.due, i.asset.asset_tag)):
        where = item.asset.site.code + (f", rack {item.asset.rack}" if item.asset.rack else "")
        lines.append(
            f"- {ExpiryNotice.Kind(item.kind).label} in {_days(item.days_left)}, on "
            f"{item.due:%-d %B %Y}: {item.asset.asset_tag} "
            f"({model_name(item.asset.hardware_model)}) at {where}. {asset_address(item.asset)}"
        )
    lines += [
        "",
        "Each date is told once at each of "
        + ", ".join(f"{step}" for step in reversed(thresholds()))
        + " days before it. Change a date on the asset's page and the new one is told afresh.",
    ]
    return EmailMessage(subject, "\n".join(lines), to=[user.email])


def _days(n: int) -> str:
    return "today" if n == 0 else f"{n} day{'s' if n != 1 else ''}"
