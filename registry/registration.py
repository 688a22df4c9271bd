"""The rules of a new asset, in one place: what `services.create_asset` and the bulk importer
(`registry.importing`) check and derive before they write an asset and its first ledger row.

No queries: the caller looks up the hardware model and the site (the importer once per file)
and passes what the rules need; `new_asset` answers with the values to store, or with every
refusal by field. What needs the stored rows (a tag or a serial already registered, the actor's
sites) stays with each writer: `full_clean` and `permissions` for one asset, one query per file
and `permissions` per site for the importer.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from circulus import bounds
from registry.lifecycle import LATEST_PLANNED, MOVES, EventKind, State, date_out_of_bounds
from registry.models import ZERO_MASS, Asset

_FIELDS = {f.name: f for f in Asset._meta.concrete_fields}
TEXT_LIMITS = {
    name: f.max_length
    for name, f in _FIELDS.items()
    if f.get_internal_type() == "CharField" and f.editable and name != "currency"
}
PLANNED_DATES = ("warranty_end", "support_end", "planned_eol")
MAX_POSITION_U = 32767  # PositiveSmallIntegerField on every backend
# The purchase's details that the asset keeps a copy of (`services._apply`), by detail name.
FROM_PURCHASE = {
    "supplier": "supplier",
    "price": "purchase_price",
    "currency": "currency",
    "purchase_date": "purchase_date",
}


@dataclass(frozen=True)
class NewAsset:
    """What a new asset stores: its own fields (the purchase's copies included, hardware model
    and site as given) and its first ledger row's state, moment and details."""

    fields: dict
    state: str
    occurred_at: dt.datetime
    details: dict


def new_asset(
    fields: dict,
    *,
    details: dict,
    to_state: str,
    occurred_at: dt.datetime | None,
    model_holds_data: bool,
    time_zone: str,
    first_kind: str = EventKind.PURCHASED,
    clock: "Clock | None" = None,
) -> tuple[NewAsset | None, dict[str, list[str]]]:
    """Check a new asset and derive what it stores: (the values, {}) or (None, refusals).

    `fields` are the Asset's own values by name, `details` the first ledger row's; refusals are
    keyed by those names (`to_state` and `occurred_at` for the row itself). A purchase's moment,
    when not given, is the start of the purchase day at the site (the ledger wants a moment, not
    a day: `Clock.purchase_moment`). `clock` is the moment the rules are applied at (now when
    not given; the importer reads it once per file).
    """
    clock = clock or Clock()
    errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    out = dict(fields)
    if not str(out.get("asset_tag") or "").strip():
        refuse("asset_tag", "required")
    for name, limit in TEXT_LIMITS.items():
        value = out.get(name)
        if value is not None and len(value) > limit:
            refuse(name, f"longer than {limit} characters")
    position = out.get("position_u")
    if position is not None and not 0 <= position <= MAX_POSITION_U:
        refuse("position_u", f"'{position}' is not a whole number of rack units")
    for name in PLANNED_DATES:
        if out.get(name) is not None and (problem := clock.planned_refusal(out[name])):
            refuse(name, problem)
    mass = out.get("measured_mass_kg")
    if mass is not None:
        mass = _decimal(mass, "measured_mass_kg", refuse)
        if mass is not None and mass == 0:
            refuse("measured_mass_kg", ZERO_MASS)
        elif mass is not None:
            out["measured_mass_kg"] = mass.quantize(Decimal("0.001"))  # "21.1250" is 21.125
    # As the ledger keeps it: from the model at purchase, or the operator says so; never cleared.
    out["data_bearing"] = bool(out.get("data_bearing")) or model_holds_data

    move = MOVES[first_kind]
    state = to_state or State.IN_STOCK
    if state not in move.targets:
        refuse("to_state", f"'{state}' is not a starting state ({' or '.join(move.targets)})")
    cleaned = dict(details)
    if first_kind == EventKind.PURCHASED:
        cleaned = _purchase(cleaned, refuse, clock)
        for detail, name in FROM_PURCHASE.items():
            if name not in errors and detail not in errors:
                out[name] = cleaned[detail] if detail != "price" else _money(cleaned[detail])
    if occurred_at is None:
        if first_kind != EventKind.PURCHASED:
            refuse("occurred_at", "required")
        elif "purchase_date" not in errors:  # refused already if missing or out of bounds
            occurred_at = clock.purchase_moment(out["purchase_date"], time_zone)
    elif timezone.is_naive(occurred_at):
        refuse("occurred_at", "needs a time zone (e.g. 2025-03-01T10:00:00+01:00)")
    elif problem := date_out_of_bounds(occurred_at):
        refuse("occurred_at", problem)
    if errors:
        return None, errors
    if first_kind == EventKind.PURCHASED:
        cleaned["purchase_date"] = cleaned["purchase_date"].isoformat()
    return NewAsset(out, state, occurred_at, cleaned), {}


class Clock:
    """The moment the rules are applied at, and the bounds that follow from it."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)
        self.floor = bounds.time_floor()
        self.earliest = bounds.earliest()
        self.zones: dict[str, zoneinfo.ZoneInfo] = {}

    def past_refusal(self, day: dt.date) -> str | None:
        """`lifecycle.date_out_of_bounds(day)` at this moment: from the floor to today."""
        return None if self.floor <= day <= self.today else bounds.date_refusal(day, self.today)

    def planned_refusal(self, day: dt.date) -> str | None:
        """`lifecycle.date_out_of_bounds(day, planned=True)`: a date that may lie ahead."""
        if self.floor <= day <= LATEST_PLANNED:
            return None
        return date_out_of_bounds(day, planned=True)

    def purchase_moment(self, day: dt.date, time_zone: str) -> dt.datetime:
        """The start of `day` at a site in `time_zone`, within the ledger's bounds: not ahead of
        now (today, west of UTC), not before the floor's first instant (its first day, east of
        UTC)."""
        zone = self.zones.get(time_zone) or self.zones.setdefault(
            time_zone, zoneinfo.ZoneInfo(time_zone)
        )
        start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        return min(max(start, self.earliest), self.now)


def _purchase(details: dict, refuse, clock: Clock) -> dict:
    """The `purchased` row's details checked, typed for the asset (the date as a date)."""
    for name in MOVES[EventKind.PURCHASED].required:
        if details.get(name) in (None, ""):
            refuse(name, "required")
    supplier = details.get("supplier")
    if supplier not in (None, "") and len(supplier) > TEXT_LIMITS["supplier"]:
        refuse("supplier", f"longer than {TEXT_LIMITS['supplier']} characters")
    if details.get("price") not in (None, ""):
        # Kept in the ledger as given ("1234.5"); the asset keeps it to the cent.
        price = _decimal(details["price"], "price", refuse, field="purchase_price")
        if price is not None:
            details["price"] = str(price)
    currency = details.get("currency")
    if currency not in (None, ""):
        code = currency if isinstance(currency, str) else ""
        if not (len(code) == 3 and code.isascii() and code.isalpha()):
            refuse("currency", f"'{currency}' is not an ISO 4217 code such as EUR")
        else:
            details["currency"] = currency.upper()
    day = details.get("purchase_date")
    if day not in (None, ""):
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day)
            except ValueError:
                refuse("purchase_date", f"'{day}' is not a date (YYYY-MM-DD)")
                return details
        if isinstance(day, dt.datetime):
            day = day.date()
        if problem := clock.past_refusal(day):
            refuse("purchase_date", problem)
        details["purchase_date"] = day
    return details


def _decimal(value, name: str, refuse, *, field: str | None = None) -> Decimal | None:
    """`value` as a Decimal that the asset's field `field` (default `name`) can hold exactly."""
    column = _FIELDS[field or name]
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        refuse(name, f"'{value}' is not a number")
        return None
    if not number.is_finite() or number < 0:
        refuse(name, "must be a number ≥ 0")
        return None
    places = column.decimal_places
    if (
        -number.as_tuple().exponent > places
        and number.quantize(Decimal(1).scaleb(-places)) != number
    ):
        refuse(name, f"more than {places} decimal places")
        return None
    if number >= 10 ** (column.max_digits - places):
        refuse(name, "too large")
        return None
    return number


def _money(price: str) -> Decimal:
    return Decimal(price).quantize(Decimal("0.01"))
