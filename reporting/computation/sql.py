"""How the computation talks to the database: parameters, month buckets, exact sums and times,
alike on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection

MICRO = Decimal("0.000001")


def param(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def month_bucket(column: str, bounds: list[datetime], op: str) -> tuple[str, list]:
    """CASE expression giving the month index of `column` (0-based) against the boundaries."""
    inner = bounds[1:-1]
    if not inner:
        return "0", []
    whens = " ".join(f"WHEN {column} {op} %s THEN {i}" for i in range(len(inner)))
    return f"CASE {whens} ELSE {len(inner)} END", [param(b) for b in inner]


def summable(column: str) -> tuple[str, Decimal]:
    """Exact sums: NUMERIC on PostgreSQL; integer micro-units on SQLite (its decimals are REAL)."""
    if connection.vendor == "postgresql":
        return column, Decimal(1)
    return f"CAST(ROUND({column} * 1000000) AS INTEGER)", MICRO


def seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def placeholders(ids) -> str:
    return ", ".join(["%s"] * len(ids))


def to_decimal(value, scale: Decimal) -> Decimal:
    if value is None:
        return Decimal(0)
    return (Decimal(str(value)) * scale).quantize(MICRO)


def aware(value):
    """SQLite hands back naive UTC datetimes (or text); PostgreSQL aware ones."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value
