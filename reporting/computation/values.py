"""How a figure is kept in a result: decimal text (None stays None, never 0), indicators to
ten places."""

from __future__ import annotations

from decimal import Decimal

INDICATOR_PLACES = Decimal("1e-10")


def as_text(value) -> str | None:
    return None if value is None else str(value)


def as_number(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def to_places(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(INDICATOR_PLACES)
