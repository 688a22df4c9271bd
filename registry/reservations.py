"""Service: reserve reuse candidates for a named request, and release them.

Both write through `services.record_event`, one asset at a time (each locks its row), and report
per-asset outcomes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from registry import permissions
from registry.lifecycle import EventKind, State
from registry.models import Asset
from registry.services import LifecycleError, record_event


@dataclass(frozen=True)
class Outcome:
    """What happened to one asset of a reservation or release request."""

    asset: str
    asset_id: int | None
    status: str  # "reserved" | "released" | "refused" | "forbidden" | "not-found"
    state: str | None = None
    errors: dict | None = None
    event_id: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _lookup(asset_ids: Iterable[int] = (), asset_tags: Iterable[str] = ()):
    ids, tags = list(dict.fromkeys(asset_ids)), list(dict.fromkeys(asset_tags))
    found = Asset.objects.select_related("site").filter(Q(id__in=ids) | Q(asset_tag__in=tags))
    by_id = {a.id: a for a in found}
    by_tag = {a.asset_tag: a for a in by_id.values()}
    wanted = [(str(i), by_id.get(i)) for i in ids] + [(t, by_tag.get(t)) for t in tags]
    return wanted


def _act(kind, wanted, *, actor, details, occurred_at, ok_status) -> list[Outcome]:
    outcomes = []
    for label, asset in wanted:  # one ledger write per asset: each locks its own row
        if asset is None:
            outcomes.append(Outcome(label, None, "not-found", errors={"asset": ["no such asset"]}))
            continue
        if actor is not None and not permissions.can_record(actor, kind, asset.site):
            outcomes.append(
                Outcome(
                    asset.asset_tag,
                    asset.id,
                    "forbidden",
                    asset.state,
                    {"asset": [f"you may not record '{kind}' at site {asset.site.code}"]},
                )
            )
            continue
        try:
            event = record_event(asset, kind, occurred_at=occurred_at, actor=actor, details=details)
        except LifecycleError as exc:
            asset.refresh_from_db(fields=["state"])
            outcomes.append(
                Outcome(asset.asset_tag, asset.id, "refused", asset.state, exc.message_dict)
            )
            continue
        outcomes.append(
            Outcome(asset.asset_tag, asset.id, ok_status, event.state_after, event_id=event.id)
        )
    return outcomes


def reserve_for_request(
    *,
    request_name: str,
    purpose: str,
    actor=None,
    requester: str | None = None,
    asset_ids: Iterable[int] = (),
    asset_tags: Iterable[str] = (),
    occurred_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Reserve each asset for a named request; per-asset outcomes, never all-or-nothing.

    Two concurrent reservations of one asset serialise on its row lock in record_event: the
    second finds it `reserved` and is refused ('reserved-for-reuse' is not allowed from there).
    """
    reserved_by = requester or (actor.get_username() if actor is not None else "")
    details = {"reserved_by": reserved_by, "purpose": purpose, "request_ref": request_name}
    return _act(
        EventKind.RESERVED_FOR_REUSE,
        _lookup(asset_ids, asset_tags),
        actor=actor,
        details=details,
        occurred_at=occurred_at or timezone.now(),
        ok_status="reserved",
    )


def release_reservation(
    *,
    actor=None,
    asset_ids: Iterable[int] = (),
    asset_tags: Iterable[str] = (),
    request_name: str | None = None,
    reason: str = "",
    occurred_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Release reservations (back to the state before them), by asset or by request name."""
    wanted = _lookup(asset_ids, asset_tags)
    if request_name:
        held = (
            Asset.objects.select_related("site")
            .filter(
                state=State.RESERVED,
                events__kind=EventKind.RESERVED_FOR_REUSE,
                events__details__request_ref=request_name,
            )
            .distinct()
            .order_by("id")
        )
        seen = {a.id for _, a in wanted if a is not None}
        wanted += [(a.asset_tag, a) for a in held if a.id not in seen]
    return _act(
        EventKind.RESERVATION_RELEASED,
        wanted,
        actor=actor,
        details={"reason": reason} if reason else {},
        occurred_at=occurred_at or timezone.now(),
        ok_status="released",
    )
