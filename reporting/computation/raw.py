"""The reference path: the meters' figures summed from every raw reading.

Kept for checks (the rollup path is tested against it: identical results) and for a database
whose rollups have not been built (`manage.py rebuild_rollups`)."""

from __future__ import annotations

from datetime import datetime

from reporting.computation.sql import (
    aware,
    month_bucket,
    param,
    placeholders,
    seconds_between,
    summable,
    to_decimal,
)
from reporting.models import MeasurementPoint, Reading, Register, ReportingPeriod


def _interval_sums(cursor, ids, bounds):
    bucket, bucket_params = month_bucket("timestamp", bounds, "<=")
    value, scale = summable("value")
    cursor.execute(
        f"SELECT meter_id, {bucket} AS month, SUM({value}), COUNT(*) FROM reporting_reading "
        f"WHERE meter_id IN ({placeholders(ids)}) AND timestamp > %s AND timestamp <= %s "
        "GROUP BY meter_id, month",
        [*bucket_params, *ids, param(bounds[0]), param(bounds[-1])],
    )
    return [(m, month, to_decimal(total, scale), n, 0) for m, month, total, n in cursor.fetchall()]


def _cumulative_sums(cursor, ids, bounds, since=None, upper=None):
    """`since`: the earliest reading read (default the period start); a setting interval passes
    the last reading before it, so the difference that straddles the change is counted once.
    `upper`: the last instant read (default the period end)."""
    bucket, bucket_params = month_bucket("prev_ts", bounds, "<")
    value, scale = summable("value")
    cursor.execute(
        f"SELECT meter_id, {bucket} AS month, "
        "SUM(CASE WHEN v >= prev_v THEN v - prev_v ELSE v END), COUNT(*), "
        "SUM(CASE WHEN v < prev_v THEN 1 ELSE 0 END) "
        f"FROM (SELECT meter_id, timestamp AS ts, {value} AS v, "
        "LAG(timestamp) OVER w AS prev_ts, LAG(" + value + ") OVER w AS prev_v "
        f"FROM reporting_reading WHERE meter_id IN ({placeholders(ids)}) "
        "AND timestamp >= %s AND timestamp <= %s "
        "WINDOW w AS (PARTITION BY meter_id ORDER BY timestamp)) x "
        "WHERE prev_ts IS NOT NULL GROUP BY meter_id, month",
        [*bucket_params, *ids, param(since or bounds[0]), param(upper or bounds[-1])],
    )
    return [
        (m, month, to_decimal(total, scale), n, resets)
        for m, month, total, n, resets in cursor.fetchall()
    ]


def _resets(cursor, ids, bounds) -> list[tuple]:
    cursor.execute(
        "SELECT meter_id, ts, prev_value, value FROM (SELECT meter_id, timestamp AS ts, value, "
        "LAG(value) OVER (PARTITION BY meter_id ORDER BY timestamp) AS prev_value "
        f"FROM reporting_reading WHERE meter_id IN ({placeholders(ids)}) "
        "AND timestamp >= %s AND timestamp <= %s) x WHERE value < prev_value ORDER BY meter_id, ts",
        [*ids, param(bounds[0]), param(bounds[-1])],
    )
    return cursor.fetchall()


def _gap_rows(cursor, meter: MeasurementPoint, lower, upper, strict_lower: bool):
    """Readings that start or end a gap: the first, the last, and any after a long pause."""
    step = meter.interval_minutes * 60
    op = ">" if strict_lower else ">="
    cursor.execute(
        "SELECT ts, prev_ts, next_ts FROM (SELECT timestamp AS ts, "
        "LAG(timestamp) OVER (ORDER BY timestamp) AS prev_ts, "
        "LEAD(timestamp) OVER (ORDER BY timestamp) AS next_ts FROM reporting_reading "
        f"WHERE meter_id = %s AND timestamp {op} %s AND timestamp <= %s) x "
        f"WHERE prev_ts IS NULL OR next_ts IS NULL OR {seconds_between('ts', 'prev_ts')} > %s "
        "ORDER BY ts",
        [meter.pk, param(lower), param(upper), step + 0.5],
    )
    return [tuple(aware(t) for t in row) for row in cursor.fetchall()]


def _segment_sums(cursor, meter: MeasurementPoint, timeline, bounds) -> list[tuple]:
    """Monthly sums of a meter whose settings changed: each setting interval (valid_from, next]
    summed on its own and tagged with its unit and multiplier, months indexed as the period's."""
    rows = []
    inner = bounds[1:-1]
    for i, (start, unit, multiplier) in enumerate(timeline):
        end = timeline[i + 1][0] if i + 1 < len(timeline) else None
        lo = max(bounds[0], start) if start else bounds[0]
        hi = min(bounds[-1], end) if end else bounds[-1]
        if lo >= hi:
            continue
        offset = sum(1 for b in inner if b <= lo)
        segment = [lo, *(b for b in inner if lo < b < hi), hi]
        if meter.register == Register.INTERVAL:
            found = [
                (meter_id, offset + month, *rest)
                for meter_id, month, *rest in _interval_sums(cursor, [meter.pk], segment)
            ]
        else:
            since = None
            if start and start > bounds[0]:
                since = (
                    Reading.objects.filter(meter=meter, timestamp__lte=lo, timestamp__gte=bounds[0])
                    .order_by("-timestamp")
                    .values_list("timestamp", flat=True)
                    .first()
                ) or lo
            # The difference belongs to the month of its earlier reading, even when that
            # reading lies before the setting change: months are the period's.
            found = _cumulative_sums(cursor, [meter.pk], bounds, since=since, upper=hi)
        rows += [
            (meter_id, month, total, n, resets, unit, multiplier)
            for meter_id, month, total, n, resets in found
        ]
    return rows


class RawSource:
    """The figures of one time frame (`bounds`: the period's UTC month boundaries) from every
    raw reading. Its methods are those of `rollup.RollupSource`, with identical results:

    - `interval_sums(cursor, ids)`, `cumulative_sums(cursor, ids)`: per plain meter and month,
      (meter_id, month, total, count, resets);
    - `segment_sums(cursor, meter, timeline)`: the same per setting interval of a meter whose
      settings changed, each row tagged with its unit and multiplier;
    - `resets(cursor, ids)`: every counter decrease (meter_id, at, before, after);
    - `gap_rows(cursor, meter, lower, upper)`: the readings that start or end a gap.
    """

    def __init__(self, period: ReportingPeriod, bounds: list[datetime]):
        self.bounds = bounds

    def interval_sums(self, cursor, ids) -> list[tuple]:
        return _interval_sums(cursor, ids, self.bounds)

    def cumulative_sums(self, cursor, ids) -> list[tuple]:
        return _cumulative_sums(cursor, ids, self.bounds)

    def segment_sums(self, cursor, meter, timeline) -> list[tuple]:
        return _segment_sums(cursor, meter, timeline, self.bounds)

    def resets(self, cursor, ids) -> list[tuple]:
        return _resets(cursor, ids, self.bounds)

    def gap_rows(self, cursor, meter, lower, upper) -> list[tuple]:
        interval = meter.register == Register.INTERVAL
        return _gap_rows(cursor, meter, lower, upper, strict_lower=interval)
