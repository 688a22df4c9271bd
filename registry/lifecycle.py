"""The asset lifecycle as data: states, event kinds, and the one table of allowed moves.

Each event kind names the states it may start from, where it leads, and the details it needs.
`registry.services.record_event` is the only writer; it reads this table and nothing else.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import models
from django.utils import timezone

from circulus import bounds


class State(models.TextChoices):
    ORDERED = "ordered", "Ordered"
    IN_STOCK = "in-stock", "In stock"
    IN_SERVICE = "in-service", "In service"
    IN_REPAIR = "in-repair", "In repair"
    AWAITING_DISPOSITION = "awaiting-disposition", "Awaiting disposition"
    RESERVED = "reserved", "Reserved for reuse"
    AT_REFURBISHER = "at-refurbisher", "At refurbisher"
    SOLD = "sold", "Sold"
    DONATED = "donated", "Donated"
    RETURNED = "returned", "Returned"
    AT_RECYCLER = "at-recycler", "At recycler"
    RECYCLED = "recycled", "Recycled"
    LOST = "lost", "Lost"


class EventKind(models.TextChoices):
    PURCHASED = "purchased", "Purchased"
    INVENTORIED = "inventoried", "Found by an inventory sync"
    RECEIVED = "received", "Received"
    COMMISSIONED = "commissioned", "Commissioned"
    REDEPLOYED = "redeployed", "Redeployed"
    MOVED = "moved", "Moved"
    AUDITED = "audited", "Seen in an audit"
    COMPONENT_INSTALLED = "component-installed", "Component installed"
    COMPONENT_REMOVED = "component-removed", "Component removed"
    REPAIR_STARTED = "repair-started", "Repair started"
    REPAIRED = "repaired", "Repaired"
    DECOMMISSIONED = "decommissioned", "Decommissioned"
    RESERVED_FOR_REUSE = "reserved-for-reuse", "Reserved for reuse"
    RESERVATION_RELEASED = "reservation-released", "Reservation released"
    SENT_TO_REFURBISHER = "sent-to-refurbisher", "Sent to refurbisher"
    REFURBISHED = "refurbished", "Refurbished"
    SANITISED = "sanitised", "Sanitised"
    SOLD = "sold", "Sold"
    DONATED = "donated", "Donated"
    RETURNED = "returned", "Returned"
    SENT_TO_RECYCLER = "sent-to-recycler", "Sent to recycler"
    RECYCLED = "recycled", "Recycled"
    LOST = "lost", "Lost"
    CORRECTION = "correction", "Correction"


class Workload(models.TextChoices):
    TRAINING = "training", "Training"
    INFERENCE = "inference", "Inference"
    STORAGE = "storage", "Storage"
    GENERAL = "general", "General compute"
    NETWORK = "network", "Network"
    OTHER = "other", "Other"


class SanitisationMethod(models.TextChoices):
    # NIST SP 800-88: clear (logical, reuse inside the organisation), purge (infeasible recovery
    # with lab techniques; media leaving control), destroy (media can no longer store data).
    CLEAR = "clear", "Clear"
    PURGE = "purge", "Purge"
    DESTROY = "destroy", "Destroy"


class RecyclerCertification(models.TextChoices):
    R2V3 = "r2v3", "R2v3"
    E_STEWARDS = "e-stewards", "e-Stewards"
    WEEELABEX = "weeelabex", "WEEELABEX"
    OTHER = "other", "Other"
    NONE = "none", "None"


CERTIFIED_RECYCLERS = {
    RecyclerCertification.R2V3,
    RecyclerCertification.E_STEWARDS,
    RecyclerCertification.WEEELABEX,
}
METALS = ("au", "ag", "pd", "cu", "co", "ta", "nd", "al", "steel", "plastics")

# States in which the organisation still holds the asset.
IN_CUSTODY = frozenset(
    {
        State.ORDERED,
        State.IN_STOCK,
        State.IN_SERVICE,
        State.IN_REPAIR,
        State.AWAITING_DISPOSITION,
        State.RESERVED,
        State.AT_REFURBISHER,
    }
)
FINAL = frozenset({State.SOLD, State.DONATED, State.RETURNED, State.RECYCLED, State.LOST})
# States in which someone else holds the asset: reaching one from any other state is a release
# from custody, and a unit that holds or has held data is released only after a verified purge
# or destruction (NIST SP 800-88), whatever the event: sold, donated, returned, sent to a
# recycler, recycled, a correction, or a component following its parent.
RELEASED = frozenset({State.SOLD, State.DONATED, State.RETURNED, State.AT_RECYCLER, State.RECYCLED})
OUT_OF_CUSTODY = RELEASED | {State.LOST}
ON_SITE = IN_CUSTODY - {State.ORDERED, State.AT_REFURBISHER}

SAME = "same"  # the event leaves the state as it was
PREVIOUS = "previous"  # back to the state before the reservation


@dataclass(frozen=True)
class Move:
    """One row of the table: from which states, to which, and the details it requires."""

    sources: frozenset  # states it may start from; empty = a new asset (no ledger yet)
    targets: tuple  # one target, or several among which `to_state` chooses
    required: tuple = ()
    optional: tuple = ()
    choices: dict = field(default_factory=dict)  # detail -> allowed values


_ANY_ON_SITE = ON_SITE
_HELD = IN_CUSTODY

MOVES: dict[str, Move] = {
    EventKind.PURCHASED: Move(
        frozenset(),
        (State.ORDERED, State.IN_STOCK),
        required=("supplier", "price", "currency", "purchase_date"),
        optional=("order_ref",),
    ),
    # A unit a machine reports (a BMC's inventory) that the ledger did not know: registered
    # without a purchase record, which an operator may add later as a correction's details.
    EventKind.INVENTORIED: Move(
        frozenset(), (State.IN_STOCK,), required=("source",), optional=("note", "confirmed_by")
    ),
    EventKind.RECEIVED: Move(frozenset({State.ORDERED}), (State.IN_STOCK,), optional=("note",)),
    EventKind.COMMISSIONED: Move(
        frozenset({State.IN_STOCK, State.RESERVED, State.AWAITING_DISPOSITION}),
        (State.IN_SERVICE,),
        required=("workload",),
        optional=("note",),
        choices={"workload": Workload.values},
    ),
    EventKind.REDEPLOYED: Move(
        frozenset({State.IN_SERVICE}),
        (State.IN_SERVICE,),
        required=("to_workload", "note"),
        optional=("from_workload",),
        choices={"to_workload": Workload.values, "from_workload": Workload.values},
    ),
    EventKind.MOVED: Move(
        _HELD - {State.ORDERED}, (SAME,), optional=("site", "room", "rack", "position_u", "note")
    ),
    # Seen on the floor by a physical audit, and where: recorded when the audit is closed
    # (registry.audits), for a unit scanned in it; a unit out of custody seen is reported only.
    EventKind.AUDITED: Move(
        _ANY_ON_SITE,
        (SAME,),
        required=("audit", "seen_site"),
        optional=("seen_room", "seen_rack"),
    ),
    EventKind.COMPONENT_INSTALLED: Move(
        _ANY_ON_SITE, (SAME,), required=("parent",), optional=("slot", "note")
    ),
    EventKind.COMPONENT_REMOVED: Move(_ANY_ON_SITE, (SAME,), optional=("note",)),
    EventKind.REPAIR_STARTED: Move(
        frozenset({State.IN_SERVICE, State.IN_STOCK}),
        (State.IN_REPAIR,),
        required=("fault",),
        optional=("ticket_ref",),
    ),
    EventKind.REPAIRED: Move(
        frozenset({State.IN_REPAIR}),
        (State.IN_SERVICE, State.IN_STOCK),
        required=("work_done",),
        optional=("ticket_ref",),
    ),
    EventKind.DECOMMISSIONED: Move(
        frozenset({State.IN_SERVICE, State.IN_STOCK, State.IN_REPAIR}),
        (State.AWAITING_DISPOSITION,),
        required=("reason",),
    ),
    EventKind.RESERVED_FOR_REUSE: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION, State.IN_SERVICE}),
        (State.RESERVED,),
        required=("reserved_by", "purpose"),
        optional=("request_ref",),
    ),
    EventKind.RESERVATION_RELEASED: Move(
        frozenset({State.RESERVED}), (PREVIOUS,), optional=("reason",)
    ),
    EventKind.SENT_TO_REFURBISHER: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION}),
        (State.AT_REFURBISHER,),
        required=("refurbisher",),
        optional=("consignment_ref",),
    ),
    EventKind.REFURBISHED: Move(
        frozenset({State.AT_REFURBISHER}),
        (State.IN_STOCK,),
        required=("grade", "work_done"),
        choices={"grade": ["A", "B", "C"]},
    ),
    EventKind.SANITISED: Move(
        _HELD - {State.ORDERED},
        (SAME,),
        required=("method", "technique", "verification", "performed_by"),
        optional=("tool", "standard", "certificate_ref"),
        choices={
            "method": SanitisationMethod.values,
            "verification": ["passed", "failed"],
            "standard": ["nist-800-88-r1", "nist-800-88-r2", "ieee-2883", "other"],
        },
    ),
    EventKind.SOLD: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION, State.RESERVED}),
        (State.SOLD,),
        required=("counterparty", "price", "currency"),
        optional=("document_ref",),
    ),
    EventKind.DONATED: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION, State.RESERVED}),
        (State.DONATED,),
        required=("counterparty",),
        optional=("document_ref",),
    ),
    EventKind.RETURNED: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION, State.IN_REPAIR}),
        (State.RETURNED,),
        required=("counterparty",),
        optional=("document_ref", "price"),
    ),
    EventKind.SENT_TO_RECYCLER: Move(
        frozenset({State.IN_STOCK, State.AWAITING_DISPOSITION}),
        (State.AT_RECYCLER,),
        required=("recycler", "certification", "consignment_ref"),
        choices={"certification": RecyclerCertification.values},
    ),
    EventKind.RECYCLED: Move(
        frozenset({State.AT_RECYCLER}),
        (State.RECYCLED,),
        required=("certificate_ref", "weee_category", "weighed_mass_kg"),
        optional=("recovered_g",),
        choices={"weee_category": ["4", "6"]},
    ),
    EventKind.LOST: Move(_HELD, (State.LOST,), required=("circumstances",)),
    EventKind.CORRECTION: Move(
        frozenset(State.values),
        (SAME,),
        required=("corrects", "reason"),
        # `to_state` is where the correction leads (any state, through the same checks as any
        # move); it is the writer's `to_state` argument, accepted beside the details too.
        optional=("to_state", "details"),
    ),
}

# Kinds a component takes along with its parent (unless removed first). To the recycler (and
# when lost) every installed component must follow, each through its own checks; decommissioning
# takes along those that can follow. Any other way out of custody (sold, donated, returned, a
# correction) needs the components removed first: no unit stays "in custody" inside one that left.
FOLLOWS_PARENT = (
    EventKind.SENT_TO_RECYCLER,
    EventKind.RECYCLED,
    EventKind.LOST,
    EventKind.DECOMMISSIONED,
)
FOLLOWS_PARENT_STRICTLY = (EventKind.SENT_TO_RECYCLER, EventKind.RECYCLED, EventKind.LOST)
# Which kinds of hardware (catalogue kinds) usually go into which: what the admin offers as a
# parent for `component-installed` and where it shows "Install parts". The writer does not refuse
# other pairs (an odd assembly is still recorded as it is).
_PARTS = frozenset({"accelerator", "cpu", "memory", "ssd", "hdd", "psu", "other"})
HOLDS_PARTS = {
    "chassis": _PARTS | {"server", "switch"},
    "server": _PARTS,
    "switch": frozenset({"psu", "other"}),
    "other": _PARTS,
}
DECIMAL_DETAILS = {"price", "weighed_mass_kg"}
DATE_DETAILS = {"purchase_date"}
# A ledger row is kept forever: one detail (a note, a nested mapping) stays under 10 kB.
MAX_DETAIL_BYTES = 10_000


# Time has bounds: no date the registry keeps (an event, a purchase, any date a user types) lies
# before the input floor (circulus.bounds: 1990-01-01 unless INPUT_TIME_FLOOR says later);
# past dates lie no later than now, planned ones (a warranty's or support's end, an end of
# life) no later than this ceiling. PostgreSQL keeps timestamps back to 4713 BC, which Python
# cannot read: the database refuses a new row before 1990-01-01 too.
LATEST_PLANNED = dt.date(2100, 12, 31)


def date_out_of_bounds(value, *, planned: bool = False) -> str | None:
    """Why a date or an aware moment lies outside the registry's bounds, or None if it does not.

    An event's moment may not lie ahead at all (no clock skew: an event dated ahead would hold
    back every later one on its asset)."""
    if isinstance(value, dt.datetime):
        if value < bounds.earliest():
            return bounds.instant_refusal(value)
        now = timezone.now()
        if value > now:
            return f"lies in the future (it is now {now.isoformat(timespec='seconds')})"
        return None
    if not planned:
        return bounds.date_refusal(value, timezone.localdate())
    if value < bounds.time_floor():
        return bounds.date_refusal(value)
    if value > LATEST_PLANNED:
        return f"lies after {LATEST_PLANNED.isoformat()}, the latest planned date kept"
    return None


def releases(state_before: str | None, state_after: str) -> bool:
    """Whether a move hands the asset to someone else (the sanitisation gate applies)."""
    return state_after in RELEASED and state_before not in RELEASED


# Kinds only a process of the registry records (closing an audit records `audited`): never
# offered on the record-event page, refused by the API's event door.
NOT_BY_HAND = frozenset({EventKind.AUDITED})


def allowed_kinds(state: str | None) -> list[str]:
    """Event kinds that may be recorded by hand for an asset in `state` (None: a new asset)."""
    if state is None:
        return [k for k, m in MOVES.items() if not m.sources]
    return [
        k
        for k, m in MOVES.items()
        if state in m.sources and k != EventKind.CORRECTION and k not in NOT_BY_HAND
    ] + [EventKind.CORRECTION]
