"""Writes to the registry. `record_event` is the one path by which an asset's life changes:
validation first, then one ledger row and the asset kept in step, in one transaction."""

import datetime as dt
import json
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from registry import permissions, registration
from registry.lifecycle import (
    FOLLOWS_PARENT,
    FOLLOWS_PARENT_STRICTLY,
    IN_CUSTODY,
    MAX_DETAIL_BYTES,
    METALS,
    MOVES,
    OUT_OF_CUSTODY,
    PREVIOUS,
    SAME,
    EventKind,
    SanitisationMethod,
    State,
    date_out_of_bounds,
    releases,
)
from registry.models import (
    Asset,
    Audit,
    AuditStatus,
    LifecycleEvent,
    SanitisationPolicy,
    Site,
)


class LifecycleError(ValidationError):
    """A refused event; `message_dict` names the field and the reason."""


class OutOfScope(LifecycleError):
    """Refused because the actor does not operate a site the event would touch."""


class InvariantBroken(LifecycleError):
    """Refused by the whole-ledger check after every rule above passed: a sequence no rule
    foresaw (the stateful test treats it as a finding)."""


def _refuse(field: str, message: str):
    raise LifecycleError({field: [message]})


def _check_scope(actor, kind: str, site: Site, field: str, what: str) -> None:
    """Every asset an event writes on, and every site it leads to, is one the actor may write at.
    No actor (a command, the demo, a migration) is the installation itself."""
    if actor is not None and not permissions.can_record(actor, kind, site):
        raise OutOfScope({field: [f"{what} is at {site.code}, a site you do not operate"]})


# --- details -----------------------------------------------------------------------------------


def _clean_details(kind: str, details: dict) -> dict:
    move = MOVES[kind]
    allowed = set(move.required) | set(move.optional)
    unknown = sorted(set(details) - allowed)
    if unknown:
        _refuse(unknown[0], f"not a detail of '{kind}' (allowed: {', '.join(sorted(allowed))})")
    cleaned = {}
    for name in move.required:
        if details.get(name) in (None, "", [], {}):
            _refuse(name, f"required for '{kind}'")
    for name, value in details.items():
        if value in (None, ""):
            continue
        if name in move.choices and value not in move.choices[name]:
            _refuse(name, f"'{value}' is not one of {', '.join(move.choices[name])}")
        if name in ("price", "weighed_mass_kg"):
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                _refuse(name, f"'{value}' is not a number")
            if not number.is_finite() or number < 0:
                _refuse(name, "must be a number ≥ 0")
            value = str(number)
        elif name == "purchase_date":
            try:
                day = dt.date.fromisoformat(str(value))
            except ValueError:
                _refuse(name, f"'{value}' is not a date (YYYY-MM-DD)")
            if problem := date_out_of_bounds(day):
                _refuse(name, problem)
            value = day.isoformat()
        elif name == "currency":
            if not (isinstance(value, str) and len(value) == 3 and value.isalpha()):
                _refuse(name, "an ISO 4217 code such as EUR")
            value = value.upper()
        elif name == "recovered_g":
            value = _clean_recovered(value)
        elif name == "audit":
            if not str(value).isdigit():
                _refuse(name, "an audit's number")
            value = int(value)
        elif name == "position_u":
            if not str(value).isdigit():
                _refuse(name, "a whole number of rack units")
            value = int(value)
        elif not isinstance(value, str | int | dict):
            _refuse(name, "must be text")
        size = len(json.dumps(value, ensure_ascii=False).encode())
        if size > MAX_DETAIL_BYTES:
            _refuse(name, f"{size} bytes; a detail is kept forever and may hold up to 10 kB")
        cleaned[name] = value
    return cleaned


def _clean_recovered(value) -> dict:
    if not isinstance(value, dict):
        _refuse("recovered_g", 'a mapping of metal to grams, e.g. {"au": 1.2}')
    out = {}
    for metal, grams in value.items():
        if metal not in METALS:
            _refuse("recovered_g", f"unknown metal '{metal}' (known: {', '.join(METALS)})")
        try:
            number = Decimal(str(grams))
        except InvalidOperation:
            _refuse("recovered_g", f"{metal}: '{grams}' is not a number")
        if not number.is_finite() or number < 0:
            _refuse("recovered_g", f"{metal}: must be ≥ 0 g")
        out[metal] = str(number)
    return out


# --- rules ---------------------------------------------------------------------------------------


def _last_event(asset: Asset) -> LifecycleEvent | None:
    return asset.events.order_by("-occurred_at", "-id").first()


def _exposures(events):
    """Ledger rows after which a unit may hold new data: it left service (data was written while
    it ran), was installed in or removed from another unit, or left a parent on its own."""
    return events.filter(
        (Q(state_before=State.IN_SERVICE) & ~Q(state_after=State.IN_SERVICE))
        | Q(kind__in=(EventKind.COMPONENT_INSTALLED, EventKind.COMPONENT_REMOVED))
        | Q(details__has_key="from_parent")
    )


def _data_exposure_end(asset: Asset) -> tuple[LifecycleEvent | None, bool]:
    """The ledger row after which the asset last could receive user data, and whether it still
    can (it, or a unit it is inside, is in service). (None, False): it never could.

    Its own service periods and installations, and, while it is installed, its parents' service
    periods. Rows are compared in the ledger's total order (time, then order of recording), so a
    sanitisation recorded before an exposure at the same instant does not cover it.
    """
    rows = [_exposures(asset.events).order_by("-occurred_at", "-id").first()]
    ongoing = asset.state == State.IN_SERVICE
    node = asset
    for _ in range(10):  # up the chain of parents
        if node.parent_id is None:
            break
        node = node.parent
        ongoing = ongoing or node.state == State.IN_SERVICE
        rows.append(
            node.events.filter(state_before=State.IN_SERVICE)
            .exclude(state_after=State.IN_SERVICE)
            .order_by("-occurred_at", "-id")
            .first()
        )
    rows = [r for r in rows if r is not None]
    return (max(rows, key=lambda r: (r.occurred_at, r.pk)) if rows else None), ongoing


def after(event: LifecycleEvent) -> Q:
    """Ledger rows recorded after `event` in the ledger's total order."""
    return Q(occurred_at__gt=event.occurred_at) | Q(occurred_at=event.occurred_at, id__gt=event.pk)


def _has_held_data(asset: Asset, depth: int = 0) -> bool:
    """The unit's own record, or that of any unit ever installed in it (at any depth): a flag an
    operator sets on a component after it was installed counts for its parents too."""
    if asset.holds_data:
        return True
    if depth >= 10:
        return False
    installed = LifecycleEvent.objects.filter(
        kind=EventKind.COMPONENT_INSTALLED, details__parent=asset.asset_tag
    ).values("asset_id")
    held = Asset.objects.filter(pk__in=installed).select_related("hardware_model")
    return any(_has_held_data(unit, depth + 1) for unit in held)


def required_policy(asset: Asset, since: LifecycleEvent) -> str:
    """The strictest sanitisation policy of any site where the unit held data: where it was
    when it first could receive data, every site it was at since, and where it is now."""
    first = _exposure_starts(asset.events).order_by("occurred_at", "id").first() or since
    sites = set(
        asset.events.filter(Q(pk=first.pk) | after(first)).values_list("site_id", flat=True)
    ) | {asset.site_id}
    policies = set(Site.objects.filter(pk__in=sites).values_list("sanitisation_policy", flat=True))
    return SanitisationPolicy.DESTROY if SanitisationPolicy.DESTROY in policies else policies.pop()


def _exposure_starts(events):
    """Ledger rows from which a unit may receive data: it entered service or was installed."""
    return events.filter(Q(state_after=State.IN_SERVICE) | Q(kind=EventKind.COMPONENT_INSTALLED))


def accepted_methods(policy: str) -> list[str]:
    if policy == SanitisationPolicy.DESTROY:
        return [SanitisationMethod.DESTROY]
    return [SanitisationMethod.PURGE, SanitisationMethod.DESTROY]


def _check_sanitised(asset: Asset, kind: str) -> None:
    """NIST SP 800-88: media leaving the organisation's control are purged or destroyed.

    A unit that holds or has held data (`Asset.data_bearing`, or its model says so) needs a
    passed `sanitised` event after the last moment it could receive data before it is released,
    whichever event releases it, by a method the strictest policy of any site where it held data
    accepts. A unit still in service (or inside one) cannot be released.
    """
    if not _has_held_data(asset):
        return
    asset.data_bearing = True  # kept with the event (found through a component's flag)
    since, ongoing = _data_exposure_end(asset)
    if ongoing:
        _refuse(
            "kind",
            f"'{asset.asset_tag}' holds data and is in service (or installed in a unit in "
            f"service): decommission and sanitise it before '{kind}'",
        )
    if since is None:
        return  # never in service, never installed: nothing was ever written to it
    policy = required_policy(asset, since)
    methods = accepted_methods(policy)
    ok = asset.events.filter(
        after(since),
        kind=EventKind.SANITISED,
        sanitisation_method__in=methods,
        details__verification="passed",
        corrections__isnull=True,  # a sanitisation someone corrected is no proof: record it anew
    ).exists()
    if not ok:
        _refuse(
            "kind",
            f"'{asset.asset_tag}' holds data: '{kind}' needs a passed sanitisation "
            f"({' or '.join(methods)}) recorded after its {since.kind} of "
            f"{since.occurred_at:%Y-%m-%d %H:%M} (strictest policy of the sites where it held "
            f"data: {policy})",
        )


def _check_seen(asset: Asset, details: dict) -> None:
    """`audited` stands for a scan: the unit was scanned in that audit, which is still open or
    being closed by a worker (it is recorded as the audit closes), at the audit's site."""
    audit = Audit.objects.select_related("site").filter(pk=details["audit"]).first()
    if audit is None:
        _refuse("audit", f"there is no audit {details['audit']}")
    if audit.status not in (AuditStatus.OPEN, AuditStatus.CLOSING):
        _refuse("audit", f"audit {audit.pk} is {audit.get_status_display().lower()}")
    if not audit.scans.filter(asset=asset).exists():
        _refuse("audit", f"'{asset.asset_tag}' was not scanned in audit {audit.pk}")
    if details["seen_site"] != audit.site.code:
        _refuse("seen_site", f"audit {audit.pk} counts {audit.site.code}")


def _check_left_in_order(component: Asset, occurred_at: dt.datetime) -> None:
    """A unit leaving its parent cannot be dated before an event its parents (at any depth)
    recorded while it was inside: a removal dated before the server ran would end the drive's
    exposure before the data was written."""
    installed = (
        component.events.filter(kind=EventKind.COMPONENT_INSTALLED)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    ancestors, node = [], component
    for _ in range(10):
        if node.parent_id is None:
            break
        node = node.parent
        ancestors.append(node.pk)
    later = (
        LifecycleEvent.objects.filter(asset_id__in=ancestors, id__gt=installed or 0)
        .select_related("asset")
        .order_by("-occurred_at", "-id")
        .first()
    )
    if later is not None and occurred_at < later.occurred_at:
        _refuse(
            "occurred_at",
            f"'{component.asset_tag}' was inside '{later.asset.asset_tag}' when "
            f"'{later.kind}' was recorded on it at {later.occurred_at.isoformat()}: "
            "it cannot have left before then",
        )


def _check_time(asset: Asset, occurred_at: dt.datetime, last: LifecycleEvent | None) -> None:
    if timezone.is_naive(occurred_at):
        _refuse("occurred_at", "needs a time zone (e.g. 2025-03-01T10:00:00+01:00)")
    # No tolerance ahead: an event dated ahead would hold back every later one on this asset.
    problem = date_out_of_bounds(occurred_at)
    if problem:
        _refuse("occurred_at", problem)
    if last is not None and occurred_at < last.occurred_at:
        _refuse(
            "occurred_at",
            f"is before the asset's last event ({last.kind} at {last.occurred_at.isoformat()}); "
            "the ledger is kept in time order",
        )


def _target(asset: Asset, kind: str, to_state: str | None, details: dict) -> str:
    move = MOVES[kind]
    if kind == EventKind.CORRECTION:
        if to_state and to_state not in State.values:
            _refuse("to_state", f"'{to_state}' is not a state")
        return to_state or asset.state
    (first, *rest) = move.targets
    if rest:
        if to_state not in move.targets:
            _refuse("to_state", f"'{kind}' leads to one of: {', '.join(move.targets)}")
        return to_state
    if to_state not in (None, "") and to_state != (asset.state if first == SAME else first):
        _refuse("to_state", f"'{kind}' does not lead to '{to_state}'")
    if first == SAME:
        return asset.state
    if first == PREVIOUS:
        reservation = asset.events.filter(kind=EventKind.RESERVED_FOR_REUSE).last()
        return reservation.state_before if reservation else State.IN_STOCK
    return first


# --- the writers ---------------------------------------------------------------------------------


@transaction.atomic
def create_asset(
    *,
    occurred_at: dt.datetime | None = None,
    actor=None,
    to_state: str = State.IN_STOCK,
    details: dict | None = None,
    first_kind: str = EventKind.PURCHASED,
    **fields,
) -> Asset:
    """Register a new asset with its first ledger row: `purchased`, or `inventoried` for a unit
    an inventory sync found. The rules of a new asset are `registration.new_asset`'s, which the
    bulk importer applies too; a purchase without a moment is dated at the start of its purchase
    day at the site."""
    if first_kind not in (EventKind.PURCHASED, EventKind.INVENTORIED):
        _refuse("kind", f"a new asset starts with 'purchased' or 'inventoried', not '{first_kind}'")
    given = Asset(**fields)  # the hardware model and site, given as objects or as ids
    model = given.hardware_model if given.hardware_model_id else None
    site = given.site if given.site_id else None
    new, errors = registration.new_asset(
        fields,
        details=details or {},
        to_state=to_state,
        occurred_at=occurred_at,
        model_holds_data=bool(model and model.holds_data),
        time_zone=site.time_zone if site else timezone.get_current_timezone_name(),
        first_kind=first_kind,
    )
    if errors:
        raise LifecycleError(errors)
    asset = Asset(state=State.ORDERED, **new.fields)
    asset.full_clean(exclude=["state"])
    asset._change_reason = "registered"
    asset._history_user = actor
    asset.save()
    record_event(
        asset,
        first_kind,
        occurred_at=new.occurred_at,
        actor=actor,
        to_state=new.state,
        details=new.details,
    )
    asset.refresh_from_db()
    return asset


@transaction.atomic
def record_event(
    asset: Asset,
    kind: str,
    *,
    occurred_at: dt.datetime,
    actor=None,
    to_state: str | None = None,
    details: dict | None = None,
    _caused_by: LifecycleEvent | None = None,
) -> LifecycleEvent:
    """Validate and append one event; keep the asset's state (and location, parent …) in step.

    Rows are locked parent before component, in one order everywhere (a cascade locks its
    components after their parent; an installation or removal locks the parent first), and
    only the asset rows: two concurrent events on one assembly are serialised, and the second
    sees the first one's result (e.g. a second reservation finds the asset reserved).
    """
    if kind not in MOVES:
        _refuse("kind", f"'{kind}' is not an event kind")
    _lock_parent_first(asset, kind, details)
    asset = (
        Asset.objects.select_for_update(of=("self",))
        .select_related("site", "hardware_model")
        .get(pk=asset.pk)
    )
    move = MOVES[kind]
    last = _last_event(asset)
    if last is None and move.sources:
        _refuse("kind", f"a new asset starts with 'purchased' or 'inventoried', not '{kind}'")
    if last is not None and not move.sources:
        _refuse("kind", f"'{asset.asset_tag}' is already registered")
    if move.sources and asset.state not in move.sources:
        _refuse(
            "kind",
            f"'{kind}' is not allowed from state '{asset.state}' "
            f"(allowed from: {', '.join(sorted(move.sources))})",
        )
    _check_scope(actor, kind, asset.site, "kind", f"'{asset.asset_tag}'")
    details = dict(details or {})
    if kind == EventKind.CORRECTION and "to_state" in details:
        # The admin form sends it among the details, the API beside them: one meaning.
        given = details.pop("to_state") or None
        if to_state and given and given != to_state:
            _refuse("to_state", f"given twice, as '{to_state}' and '{given}'")
        to_state = to_state or given
    details = _clean_details(kind, details)
    if kind == EventKind.AUDITED:
        _check_seen(asset, details)
    weighed = details.get("weighed_mass_kg")
    if kind == EventKind.RECYCLED and _caused_by is None and weighed and not Decimal(weighed):
        # Only a component inside its parent's consignment adds 0 kg; a unit on its own weighs
        # something, and the route figures would count 0 t for it (blank is never 0).
        _refuse("weighed_mass_kg", "a consignment weighs more than 0 kg (see its certificate)")
    _check_time(asset, occurred_at, last)
    state_after = _assembly_target(asset, kind, _target(asset, kind, to_state, details), details)
    _check_follows_parent(asset, kind, state_after, _caused_by)
    _check_moves_with_parent(asset, kind, details, _caused_by)
    if kind == EventKind.COMPONENT_REMOVED or _parted(asset, state_after):
        _check_left_in_order(asset, occurred_at)
    if asset.hardware_model.holds_data:
        asset.data_bearing = True  # the unit remembers, whatever the catalogue says later
    if releases(asset.state if last else None, state_after):
        _check_sanitised(asset, kind)
        # Every unit inside leaves with it (a correction out of `lost` included): each one is
        # checked on its own history.
        for component in _descendants(asset):
            _check_sanitised(component, kind)
    if state_after in OUT_OF_CUSTODY and asset.state not in OUT_OF_CUSTODY:
        _check_components_leave(asset, kind)

    corrects = None
    if kind == EventKind.CORRECTION:
        corrects = asset.events.filter(pk=details["corrects"]).first()
        if corrects is None:
            _refuse("corrects", f"event {details['corrects']} is not in this asset's ledger")
        details["corrects"] = corrects.pk
    _apply(asset, kind, details, state_after, actor)

    event = LifecycleEvent(
        asset=asset,
        kind=kind,
        occurred_at=occurred_at,
        actor=actor,
        state_before=asset.state if last else "",
        state_after=state_after,
        details=details,
        corrects=corrects,
        caused_by=_caused_by,
        site=asset.site,
        sanitisation_method=details.get("method", "") if kind == EventKind.SANITISED else "",
        data_bearing=asset.data_bearing,
    )
    event.save()
    asset.state = state_after
    # The asset's change history names the ledger row behind the change and who recorded it.
    asset._change_reason = (
        f"ledger event {event.pk}: {kind} ({event.state_before or '—'} → {state_after})"
    )
    asset._history_user = actor
    asset.save()
    if kind == EventKind.COMPONENT_INSTALLED and asset.holds_data:
        _mark_data_bearing(asset.parent, event, actor)

    if kind in FOLLOWS_PARENT:
        refused = []
        for component in _locked_components(asset):
            if kind not in FOLLOWS_PARENT_STRICTLY and component.state not in move.sources:
                continue
            try:  # each component in its own savepoint, so every refusal can be named
                record_event(
                    component,
                    kind,
                    occurred_at=occurred_at,
                    actor=actor,
                    details=_component_details(kind, details, component),
                    _caused_by=event,
                )
            except LifecycleError as exc:
                refused.append((component.asset_tag, exc))
        _refuse_components(asset, refused)
    elif (event.state_before == State.IN_SERVICE) != (state_after == State.IN_SERVICE) or (
        event.state_before in OUT_OF_CUSTODY and state_after in IN_CUSTODY
    ):
        _components_follow(asset, event, actor)
    if kind == EventKind.MOVED or "from_site" in details:  # moved, or installed elsewhere
        _components_move(asset, event, actor)
    if _caused_by is None:
        _check_invariants(asset)
    return event


def _lock_parent_first(asset: Asset, kind: str, details: dict | None) -> None:
    """An installation or removal locks the parent before the component, as a cascade does."""
    if kind == EventKind.COMPONENT_INSTALLED:
        tag = (details or {}).get("parent")
        parent = Asset.objects.filter(asset_tag=tag).values_list("pk", flat=True) if tag else []
    elif kind == EventKind.COMPONENT_REMOVED or asset.parent_id:
        parent = Asset.objects.filter(pk=asset.pk).values_list("parent_id", flat=True)
    else:
        return
    ids = [pk for pk in parent if pk is not None and pk != asset.pk]
    if ids:
        list(Asset.objects.select_for_update(of=("self",)).filter(pk__in=ids).values("pk"))


def _locked_components(asset: Asset) -> list[Asset]:
    """The units installed in `asset`, locked (after it), as they are once the locks are held."""
    return list(
        Asset.objects.select_for_update(of=("self",)).filter(parent=asset).order_by("asset_tag")
    )


def _descendants(asset: Asset) -> list[Asset]:
    found, frontier = [], [asset.pk]
    for _ in range(10):
        level = list(
            Asset.objects.filter(parent_id__in=frontier).select_related("site", "hardware_model")
        )
        if not level:
            break
        found += level
        frontier = [unit.pk for unit in level]
    return found


def _refuse_components(asset: Asset, refused: list) -> None:
    if not refused:
        return
    error = OutOfScope if all(isinstance(e, OutOfScope) for _, e in refused) else None
    message = (
        f"'{asset.asset_tag}' cannot take its components along: "
        + "; ".join(f"{tag}: {' '.join(_reasons(exc))}" for tag, exc in refused)
        + " (remove them first, or settle each one)"
    )
    raise (error or LifecycleError)({"kind": [message]})


# --- assemblies: a component's operating state is its parent's ---------------------------------


def _assembly_target(asset: Asset, kind: str, state_after: str, details: dict) -> str:
    """Installed into a unit in service, a component is in service; removed from it, or put in
    a unit that is not in service, it is in stock."""
    if kind == EventKind.COMPONENT_INSTALLED:
        parent = Asset.objects.filter(asset_tag=details.get("parent")).first()
        if parent is not None and parent.state == State.IN_SERVICE:
            if asset.state not in MOVES[EventKind.COMMISSIONED].sources | {State.IN_SERVICE}:
                _refuse(
                    "parent",
                    f"'{parent.asset_tag}' is in service and '{asset.asset_tag}' is "
                    f"{asset.state}: it cannot go into service with it",
                )
            return State.IN_SERVICE
        if asset.state == State.IN_SERVICE:
            return State.IN_STOCK
    if kind == EventKind.COMPONENT_REMOVED and asset.state == State.IN_SERVICE:
        return State.IN_STOCK
    return state_after


def _check_follows_parent(asset, kind: str, state_after: str, caused_by) -> None:
    """Inside a unit, a component goes into or out of service only with its parent (or by being
    removed): a part of a server in service can be neither reserved nor sold on its own."""
    if asset.parent_id is None or caused_by is not None:
        return
    if kind in (EventKind.COMPONENT_INSTALLED, EventKind.COMPONENT_REMOVED):
        return
    if state_after in OUT_OF_CUSTODY or (asset.state == State.IN_SERVICE) == (
        state_after == State.IN_SERVICE
    ):
        return
    parent = asset.parent
    _refuse(
        "kind",
        f"'{asset.asset_tag}' is installed in '{parent.asset_tag}', which is "
        f"{State(parent.state).label.lower()}: a component is in service exactly when its "
        f"parent is; record '{kind}' on '{parent.asset_tag}', or remove the component first",
    )


def _check_moves_with_parent(asset: Asset, kind: str, details: dict, caused_by) -> None:
    """Inside a unit, a component is where its parent is: it changes site only with it."""
    if kind != EventKind.MOVED or asset.parent_id is None or caused_by is not None:
        return
    parent = asset.parent
    if details.get("site") and details["site"] != parent.site.code:
        _refuse(
            "site",
            f"'{asset.asset_tag}' is installed in '{parent.asset_tag}', at {parent.site.code}: "
            f"a component is where its parent is; move '{parent.asset_tag}', or remove the "
            "component first",
        )


def _components_move(parent: Asset, event: LifecycleEvent, actor) -> None:
    """The parent moved (or was installed in a unit at another site): each unit installed in it
    goes along (to its site, and the room and rack a move names), with a `moved` row of its own
    that names the parent's (`caused_by`). A new position in the rack alone moves no part."""
    where = {"site": parent.site.code}
    if event.kind == EventKind.MOVED:
        where |= {
            name: event.details[name]
            for name in ("room", "rack")
            if event.details.get(name) not in (None, "")
        }
    refused = []
    for component in _locked_components(parent):
        here = {"site": component.site.code, "room": component.room, "rack": component.rack}
        if all(here[name] == value for name, value in where.items()):
            continue
        try:
            record_event(
                component,
                EventKind.MOVED,
                occurred_at=event.occurred_at,
                actor=actor,
                details={**where, "note": f"follows '{parent.asset_tag}' (moved)"},
                _caused_by=event,
            )
        except LifecycleError as exc:
            refused.append((component.asset_tag, exc))
    _refuse_components(parent, refused)


def _components_follow(parent: Asset, event: LifecycleEvent, actor) -> None:
    """The parent went into or out of service, or came back into custody (found again): each
    component goes with it, by the parent's own kind of event where that fits the component,
    else by the plain one (a component lost with it is found with it)."""
    refused = []
    for component in _locked_components(parent):
        if component.state == event.state_after:
            continue
        if component.state in OUT_OF_CUSTODY:
            if event.state_after not in IN_CUSTODY:
                continue
        elif (component.state == State.IN_SERVICE) == (event.state_after == State.IN_SERVICE):
            continue
        kind, to_state, details = _following_move(component, parent, event)
        try:
            record_event(
                component,
                kind,
                occurred_at=event.occurred_at,
                actor=actor,
                to_state=to_state,
                details=details,
                _caused_by=event,
            )
        except LifecycleError as exc:
            refused.append((component.asset_tag, exc))
    _refuse_components(parent, refused)


def _following_move(component: Asset, parent: Asset, event: LifecycleEvent):
    """(kind, to_state, details) taking `component` to its parent's new state."""
    target = event.state_after
    move = MOVES[event.kind]
    if event.kind != EventKind.CORRECTION and component.state in move.sources:
        fixed = [t for t in move.targets if t not in (SAME, PREVIOUS)]
        if target in fixed:
            details = {k: v for k, v in event.details.items() if k in move.required + move.optional}
            return event.kind, (target if len(move.targets) > 1 else None), details
    because = f"follows '{parent.asset_tag}' ({event.kind})"
    if target == State.IN_SERVICE and component.state in MOVES[EventKind.COMMISSIONED].sources:
        workload = parent.workload or "general"
        return EventKind.COMMISSIONED, None, {"workload": workload, "note": because}
    if (
        target == State.AWAITING_DISPOSITION
        and component.state in MOVES[EventKind.DECOMMISSIONED].sources
    ):
        return EventKind.DECOMMISSIONED, None, {"reason": because}
    last = _last_event(component)
    return EventKind.CORRECTION, target, {"corrects": last.pk, "reason": because}


def _check_invariants(asset: Asset) -> None:
    """The whole-ledger rules, on every unit this event touched: the last line of defence, so a
    sequence no rule above foresaw is refused rather than written."""
    from registry import invariants

    units = {asset.pk, *(unit.pk for unit in _descendants(asset))}
    node = asset
    for _ in range(10):
        if node.parent_id is None:
            break
        units.add(node.parent_id)
        node = node.parent
    findings = invariants.check(Asset.objects.filter(pk__in=units))
    if findings:
        raise InvariantBroken({"kind": ["; ".join(str(finding) for finding in findings)]})


def _reasons(exc: LifecycleError) -> list[str]:
    return [m for messages in exc.message_dict.values() for m in messages]


def _check_components_leave(asset: Asset, kind: str) -> None:
    """A unit leaving custody takes its components along only on the kinds they follow (each
    then through its own checks); otherwise they are removed first."""
    if kind in FOLLOWS_PARENT_STRICTLY:
        return
    tags = list(asset.components.order_by("asset_tag").values_list("asset_tag", flat=True))
    if tags:
        _refuse(
            "kind",
            f"'{asset.asset_tag}' still holds {', '.join(tags)}: record 'component-removed' "
            f"for each before '{kind}' (no component stays in custody inside a unit that left)",
        )


def _component_details(kind: str, details: dict, component: Asset) -> dict:
    if kind != EventKind.RECYCLED:
        return dict(details)
    # The weighed mass and recovered metals belong to the parent's consignment as a whole.
    return {
        "certificate_ref": details["certificate_ref"],
        "weee_category": details["weee_category"],
        "weighed_mass_kg": "0",
    }


def _apply(asset: Asset, kind: str, details: dict, state_after: str, actor) -> None:
    """Keep the asset's own fields in step with the event (and check the sites it reaches)."""
    if kind == EventKind.PURCHASED:
        for detail, field in registration.FROM_PURCHASE.items():
            if details.get(detail) not in (None, ""):
                value = details[detail]
                if field == "purchase_date":
                    value = dt.date.fromisoformat(value)
                setattr(asset, field, value)
    elif kind == EventKind.COMMISSIONED:
        asset.workload = details["workload"]
    elif kind == EventKind.REDEPLOYED:
        details.setdefault("from_workload", asset.workload)
        asset.workload = details["to_workload"]
    elif kind == EventKind.MOVED:
        if not any(
            details.get(k) not in (None, "") for k in ("site", "room", "rack", "position_u")
        ):
            _refuse("site", "a move names a new site, room, rack or position")
        if details.get("site"):
            site = Site.objects.filter(code=details["site"]).first()
            if site is None:
                _refuse("site", f"no site with code '{details['site']}'")
            _check_scope(actor, kind, site, "site", "the destination")
            details["from_site"] = asset.site.code
            asset.site = site
        for field in ("room", "rack", "position_u"):
            if field in details:
                setattr(asset, field, details[field])
    elif kind == EventKind.COMPONENT_INSTALLED:
        parent = Asset.objects.filter(asset_tag=details["parent"]).first()
        if parent is None:
            _refuse("parent", f"no asset tagged '{details['parent']}'")
        _check_scope(actor, kind, parent.site, "parent", f"'{parent.asset_tag}'")
        if parent.pk == asset.pk or _is_descendant(parent, asset):
            _refuse("parent", "an asset cannot be installed in itself or its own component")
        if parent.state not in (
            State.IN_STOCK,
            State.IN_SERVICE,
            State.IN_REPAIR,
            State.RESERVED,
            State.AWAITING_DISPOSITION,
        ):
            _refuse("parent", f"'{parent.asset_tag}' is {parent.state}")
        if asset.parent_id:
            _refuse("parent", f"already installed in '{asset.parent}': remove it first")
        asset.parent = parent
        if asset.site_id != parent.site_id:  # a component is where its parent is
            details["from_site"] = asset.site.code
            asset.site = parent.site
    elif kind == EventKind.COMPONENT_REMOVED:
        if asset.parent_id is None:
            _refuse("kind", f"'{asset.asset_tag}' is not installed in anything")
        details["from_parent"] = asset.parent.asset_tag
        asset.parent = None
    if _parted(asset, state_after):
        details["from_parent"] = asset.parent.asset_tag
        asset.parent = None
    if state_after in OUT_OF_CUSTODY:
        asset.workload = ""
    if state_after != State.IN_SERVICE:
        asset.workload = "" if kind != EventKind.CORRECTION else asset.workload


def _parted(asset: Asset, state_after: str) -> bool:
    """Whether the move parts a unit from its parent without a removal: it left custody on its
    own (its parent stays), or it comes back into custody while its parent is out (found again
    after both were lost): no unit is in custody inside one that is not, or the reverse."""
    if asset.parent_id is None or asset.state == state_after:
        return False
    return (state_after in OUT_OF_CUSTODY) != (asset.parent.state in OUT_OF_CUSTODY)


def _mark_data_bearing(unit: Asset, event: LifecycleEvent, actor) -> None:
    """A unit that ever held a data-bearing component has held data (and so its parents); its
    change history names the ledger row that caused it and who recorded it."""
    for _ in range(10):
        if not unit.data_bearing:
            unit.data_bearing = True
            unit._change_reason = (
                f"ledger event {event.pk}: {event.kind} of data-bearing {event.asset.asset_tag}"
            )
            unit._history_user = actor
            unit.save(update_fields=["data_bearing", "updated_at"])
        if unit.parent_id is None:
            return
        unit = unit.parent


def note_catalogue_ratchet(model, unit_ids: list[int]) -> None:
    """A catalogue editor switched `model`'s `holds_data` on and the database marked its units
    data-bearing (migration 0012's trigger): each unit's change history gets a row naming the
    model and the editor, so an auditor sees why the flag changed."""
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(model, "_history_user", None) or getattr(request, "user", None)
    units = list(Asset.objects.filter(pk__in=unit_ids, data_bearing=True))
    Asset.history.bulk_history_create(
        units,
        update=True,
        default_user=user if user is not None and user.is_authenticated else None,
        # The history keeps 100 characters of a reason.
        default_change_reason=f"catalogue: '{model.slug}' now holds data"[:100],
    )


def _is_descendant(candidate: Asset, ancestor: Asset) -> bool:
    node = candidate
    for _ in range(10):
        if node.parent_id is None:
            return False
        if node.parent_id == ancestor.pk:
            return True
        node = node.parent
    return True


def derived_state(asset: Asset) -> str | None:
    """The state the ledger says the asset is in (the asset row keeps a copy in step)."""
    last = _last_event(asset)
    return last.state_after if last else None


# --- assemblies ----------------------------------------------------------------------------------


@transaction.atomic
def install_components(
    parent: Asset,
    parts: list[tuple[Asset, str]],
    *,
    occurred_at: dt.datetime,
    actor=None,
    note: str = "",
) -> list[LifecycleEvent]:
    """Install several units (each with its slot, or "") into `parent`: every `component-installed`
    event is recorded, or none. A refusal names each unit that cannot go in and why."""
    return _each_or_none(
        parts,
        lambda unit, slot: record_event(
            unit,
            EventKind.COMPONENT_INSTALLED,
            occurred_at=occurred_at,
            actor=actor,
            details={"parent": parent.asset_tag, "slot": slot, "note": note},
        ),
    )


@transaction.atomic
def remove_components(
    parts: list[Asset], *, occurred_at: dt.datetime, actor=None, note: str = ""
) -> list[LifecycleEvent]:
    """Take several units out of whatever holds them: every `component-removed`, or none."""
    return _each_or_none(
        [(unit, "") for unit in parts],
        lambda unit, _: record_event(
            unit,
            EventKind.COMPONENT_REMOVED,
            occurred_at=occurred_at,
            actor=actor,
            details={"note": note},
        ),
    )


def _each_or_none(items, write) -> list[LifecycleEvent]:
    """Write each item in its own savepoint so every refusal can be named, then roll all back if
    any was refused: `LifecycleError({asset_tag: [reasons]})`."""
    events, refused = [], {}
    for unit, extra in items:
        try:
            with transaction.atomic():
                events.append(write(unit, extra))
        except LifecycleError as exc:
            refused[unit.asset_tag] = _reasons(exc)
    if refused:
        raise LifecycleError(refused)
    return events
