"""The rules of one readings row, checked in Python (the reference the bulk checks follow)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from circulus import bounds
from reporting.models import Register

QUANTUM = Decimal("0.000001")  # reporting_reading.value has 6 decimal places
LIMIT = Decimal(10) ** 14  # and 14 integer digits
MAX_OFFSET = timedelta(hours=14)  # the widest real UTC offset (Kiribati, UTC+14)


def check_row(line, code, ts_text, value_text, meters, allowed_site_ids):
    """The staged tuple (line, meter_id, timestamp, value), or the problems."""
    problems = []
    code, ts_text, value_text = code.strip(), ts_text.strip(), value_text.strip()
    meter = meters.get(code)
    if meter is None:
        problems.append({"line": line, "field": "meter", "reason": f"unknown meter {code!r}"})
    elif allowed_site_ids is not None and meter["site_id"] not in allowed_site_ids:
        reason = f"meter {code!r} is at a site you do not operate"
        problems.append({"line": line, "field": "meter", "reason": reason})
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        ts = None
        reason = f"{ts_text!r} is not an ISO 8601 timestamp"
        problems.append({"line": line, "field": "timestamp", "reason": reason})
    else:
        if ts.tzinfo is None or ts.utcoffset() is None:
            reason = f"{ts_text!r} has no UTC offset (e.g. +01:00 or Z)"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
            ts = None
        elif abs(ts.utcoffset()) > MAX_OFFSET:
            reason = f"{ts_text!r} has a UTC offset beyond ±14:00"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
            ts = None
        elif outside := bounds.instant_refusal(ts):  # before anything converts it
            problems.append({"line": line, "field": "timestamp", "reason": f"{ts_text} {outside}"})
            ts = None
        elif meter is not None and (
            (meter["valid_from"] and ts < meter["valid_from"])
            or (meter["valid_to"] and ts > meter["valid_to"])
        ):
            reason = f"{ts_text} is outside the validity of meter {code!r}"
            problems.append({"line": line, "field": "timestamp", "reason": reason})
    try:
        value = Decimal(value_text)
        if not value.is_finite() or "_" in value_text:
            raise InvalidOperation
    except InvalidOperation:
        value = None
        reason = f"{value_text!r} is not a number"
        problems.append({"line": line, "field": "value", "reason": reason})
    else:
        if abs(value) >= LIMIT:
            problems.append({"line": line, "field": "value", "reason": "too large (≥ 1e14)"})
        elif value < 0 and meter is not None and meter["register"] == Register.INTERVAL:
            reason = f"negative consumption {value_text} on interval meter {code!r}"
            problems.append({"line": line, "field": "value", "reason": reason})
    if problems:
        return problems
    quantized = value.quantize(QUANTUM)
    if abs(quantized) >= LIMIT:  # 99999999999999.9999999 rounds up to 1e14
        return [{"line": line, "field": "value", "reason": "too large (≥ 1e14)"}]
    return (line, meter["id"], ts, quantized)
