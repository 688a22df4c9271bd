"""The rollup path, the default: the meters' figures from the daily rollups (`ReadingDay`).

The same figures as the reference path (`raw`), from `ReadingDay` rows (reporting.rollups): a day
holds whole intervals (interval meters: the day an interval starts in) or whole instants
(counters), so a local month is a range of days. A counter difference between two days is
rebuilt from the last reading of one and the first of the next; one inside a day is in its
`rise_micro`. Where something happens *inside* a day that a day row cannot say (a setting
change, a gap, a counter decrease), those days alone are read from the raw readings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection

from reporting import rollups
from reporting.computation.sql import (
    MICRO,
    as_date,
    aware,
    param,
    placeholders,
    summable,
    to_decimal,
)
from reporting.models import MeasurementPoint, ReadingDay, Register, ReportingPeriod


@dataclass
class DayFrame:
    """The period as local days: the first and last day, month starts, the day windows."""

    period: ReportingPeriod
    bounds: list[datetime]

    def __post_init__(self):
        self.tz = ZoneInfo(self.period.site.time_zone)
        self.first = self.period.start_date
        self.last = self.period.end_date
        self.month_starts = [b.astimezone(self.tz).date() for b in self.bounds[1:-1]]

    def month(self, day: date) -> int:
        return sum(1 for m in self.month_starts if m <= day)

    def bucket(self, column: str) -> tuple[str, list]:
        if not self.month_starts:
            return "0", []
        whens = " ".join(f"WHEN {column} < %s THEN {i}" for i in range(len(self.month_starts)))
        params = [connection.ops.adapt_datefield_value(d) for d in self.month_starts]
        return f"CASE {whens} ELSE {len(self.month_starts)} END", params

    def d(self, day: date):
        return connection.ops.adapt_datefield_value(day)


def _rollup_interval_sums(cursor, ids, days: DayFrame):
    bucket, params = days.bucket("day")
    cursor.execute(
        f"SELECT meter_id, {bucket} AS month, SUM(total_micro), SUM(readings) "
        f"FROM {ReadingDay._meta.db_table} WHERE meter_id IN ({placeholders(ids)}) "
        "AND day >= %s AND day <= %s GROUP BY meter_id, month",
        [*params, *ids, days.d(days.first), days.d(days.last)],
    )
    return [(m, month, to_decimal(total, MICRO), n, 0) for m, month, total, n in cursor.fetchall()]


def _counter_days_sql(ids, days: DayFrame, columns: str) -> tuple[str, list]:
    """`columns` of the counters' day rows of the period, each row with the first reading of
    its meter's next day row: `next_at`, `next_value`, and `lv`, `nv` (the day's last and the
    next first value, in the units `summable` sums). The difference between them belongs to the
    earlier day's month, so one pass in (meter, day) order pairs them: on PostgreSQL an index
    scan of the key, no sort, each day row read once (a column no caller reads is not
    computed). The day after the period counts only with a reading at the period's end
    instant (the raw range is start <= ts <= end)."""
    table = ReadingDay._meta.db_table
    last_v, _scale = summable("last_value")
    first_v, _scale = summable("first_value")
    sql = (
        f"SELECT {columns} FROM (SELECT meter_id, day, readings, rise_micro, decreases, "
        f"last_value, {last_v} AS lv, LEAD(first_at) OVER w AS next_at, "
        f"LEAD(first_value) OVER w AS next_value, LEAD({first_v}) OVER w AS nv FROM {table} "
        f"WHERE meter_id IN ({placeholders(ids)}) AND day >= %s AND day <= %s AND first_at <= %s "
        "WINDOW w AS (PARTITION BY meter_id ORDER BY day)) x WHERE day <= %s"
    )
    after = days.last + timedelta(days=1)
    return sql, [*ids, days.d(days.first), days.d(after), param(days.bounds[-1]), days.d(days.last)]


def _rollup_cumulative_sums(cursor, ids, days: DayFrame):
    """Per meter and month: the differences inside its days (`rise_micro`, micro-units) plus
    those from each day to the next day row (`summable` units), their count and decreases."""
    bucket, bucket_params = days.bucket("day")
    _column, scale = summable("first_value")
    sql, params = _counter_days_sql(
        ids,
        days,
        f"meter_id, {bucket} AS month, SUM(rise_micro), "
        "SUM(CASE WHEN nv >= lv THEN nv - lv ELSE nv END), "
        "SUM(readings) - COUNT(*) + COUNT(nv), "
        "SUM(decreases) + SUM(CASE WHEN nv < lv THEN 1 ELSE 0 END)",
    )
    cursor.execute(
        f"{sql} GROUP BY meter_id, month HAVING SUM(readings) - COUNT(*) + COUNT(nv) > 0",
        [*bucket_params, *params],
    )
    return [
        (m, month, to_decimal(inside, MICRO) + to_decimal(across, scale), n, resets)
        for m, month, inside, across, n, resets in cursor.fetchall()
    ]


def _raw_days(cursor, meter, day_list, days: DayFrame, columns: str) -> list[tuple]:
    """The raw readings of a few days of one meter, in time order: (day, timestamp, …)."""
    interval = meter.register == Register.INTERVAL
    found = []
    for chunk_start in range(0, len(day_list), 100):
        chunk = day_list[chunk_start : chunk_start + 100]
        windows = [rollups.window(d, days.tz, interval) for d in chunk]
        where = " OR ".join(["(timestamp >= %s AND timestamp < %s)"] * len(chunk))
        cursor.execute(
            f"SELECT timestamp, {columns} FROM reporting_reading "
            f"WHERE meter_id = %s AND ({where}) ORDER BY timestamp",
            [meter.pk, *(param(b) for w in windows for b in w)],
        )
        for ts, *rest in cursor.fetchall():
            ts = aware(ts)
            found.append((rollups.local_day(ts, days.tz, interval), ts, *rest))
    return found


def _rollup_segment_sums(cursor, meter, timeline, days: DayFrame) -> list[tuple]:
    """As `raw._segment_sums`: each setting interval (valid_from, next] on its own. Whole days lie
    in one setting interval; a day a valid_from falls inside is read raw and split there."""
    interval = meter.register == Register.INTERVAL
    starts = [start for start, _unit, _m in timeline[1:]]
    split = set()
    for start in starts:
        day = rollups.local_day(start, days.tz, interval)
        if not interval or rollups.window(day, days.tz, interval)[1] - rollups.EPSILON != start:
            split.add(day)
    last = days.last + timedelta(days=0 if interval else 1)
    cursor.execute(
        "SELECT day, readings, total_micro, first_at, last_at, rise_micro, decreases, "
        f"{rollups.micro('first_value')}, {rollups.micro('last_value')} "
        f"FROM {ReadingDay._meta.db_table} WHERE meter_id = %s AND day >= %s AND day <= %s "
        "ORDER BY day",
        [meter.pk, days.d(days.first), days.d(last)],
    )
    items = []  # (day, first_at, readings, total, rise, decreases, first_u, last_u)
    for day, n, total, first_at, _last_at, rise, decr, first_u, last_u in cursor.fetchall():
        day = as_date(day)
        if day not in split:
            items.append((day, aware(first_at), n, total, rise, decr, first_u, last_u))
    raw_split = sorted(d for d in split if days.first <= d <= last)
    u = rollups.micro("value")
    for day, ts, value_u in _raw_days(cursor, meter, raw_split, days, u):
        items.append((day, ts, 1, value_u, 0, 0, value_u, value_u))
    items.sort(key=lambda item: item[1])
    end = days.bounds[-1]
    sums: dict[tuple[int, int], list] = defaultdict(lambda: [0, 0, 0])  # total, count, resets

    def segment(ts) -> int:
        return sum(1 for s in starts if s < ts)

    previous = None
    for day, first_at, n, total, rise, decr, first_u, last_u in items:
        if day > days.last and (interval or first_at > end):
            break
        acc = sums[(segment(first_at), days.month(day))]
        if interval:
            acc[0] += int(total)
            acc[1] += n
            continue
        if previous is not None:
            pair = sums[(segment(first_at), days.month(previous[0]))]
            pv, fv = int(previous[1]), int(first_u)
            pair[0] += fv - pv if fv >= pv else fv
            pair[1] += 1
            pair[2] += 1 if fv < pv else 0
        if day <= days.last:
            acc[0] += int(rise)
            acc[1] += n - 1
            acc[2] += decr
        previous = (day, last_u)
    rows = []
    for (seg, month), (total, count, resets) in sorted(sums.items()):
        if count:
            _start, unit, multiplier = timeline[seg]
            rows.append(
                (meter.pk, month, to_decimal(total, MICRO), count, resets, unit, multiplier)
            )
    return rows


def _rollup_resets(cursor, ids, days: DayFrame) -> list[tuple]:
    """As `raw._resets`: every counter decrease (meter_id, at, before, after) in the period."""
    sql, params = _counter_days_sql(ids, days, "meter_id, next_at, last_value, next_value")
    cursor.execute(f"{sql} AND nv < lv", params)
    found = [tuple(row) for row in cursor.fetchall()]
    cursor.execute(
        f"SELECT meter_id, day FROM {ReadingDay._meta.db_table} "
        f"WHERE meter_id IN ({placeholders(ids)}) AND day >= %s AND day <= %s AND decreases > 0",
        [*ids, days.d(days.first), days.d(days.last)],
    )
    inside = defaultdict(list)
    for meter_id, day in cursor.fetchall():
        inside[meter_id].append(as_date(day))
    for meter in MeasurementPoint.objects.filter(pk__in=list(inside)):
        readings = _raw_days(
            cursor, meter, sorted(inside[meter.pk]), days, "value, " + rollups.micro("value")
        )
        for (day, ts, value, u), (prev_day, _ts, prev_value, prev_u) in zip(
            readings[1:], readings, strict=False
        ):
            if day == prev_day and u < prev_u:
                found.append((meter.pk, ts, prev_value, value))
    return sorted(found, key=lambda r: (r[0], aware(r[1])))


def _rollup_gap_rows(cursor, meter, lower, upper, days: DayFrame) -> list[tuple]:
    """As `raw._gap_rows`: the first and last reading in the range and each one after a pause
    longer than the interval (+0.5 s). Whole days without such a pause are two instants
    (first_at, last_at); the days that have one, or that the range cuts, are read raw."""
    interval = meter.register == Register.INTERVAL
    threshold = meter.interval_minutes * 60 + 0.5
    first_day = rollups.local_day(lower, days.tz, interval) - timedelta(days=1)
    last_day = rollups.local_day(upper, days.tz, interval) + timedelta(days=1)
    cursor.execute(
        f"SELECT day, first_at, last_at, max_gap_s FROM {ReadingDay._meta.db_table} "
        "WHERE meter_id = %s AND day >= %s AND day <= %s ORDER BY day",
        [meter.pk, days.d(first_day), days.d(last_day)],
    )
    blocks = []  # (first, last) of whole days, or (ts, ts) of a raw reading
    raw = []
    for day, first_at, last_at, max_gap in cursor.fetchall():
        day = as_date(day)
        lo, hi = rollups.window(day, days.tz, interval)
        if interval:  # the window (lo - ε, hi - ε] against the range (lower, upper]
            outside = hi - rollups.EPSILON <= lower or lo - rollups.EPSILON >= upper
            inside = lo - rollups.EPSILON >= lower and hi - rollups.EPSILON <= upper
        else:  # [lo, hi) against [lower, upper]
            outside = hi <= lower or lo > upper
            inside = lo >= lower and hi <= upper
        if outside:
            continue
        if inside and (max_gap is None or max_gap <= threshold - 0.001):
            blocks.append((aware(first_at), aware(last_at)))
        else:
            raw.append(day)
    for _day, ts, _one in _raw_days(cursor, meter, raw, days, "1"):
        in_range = (ts > lower if interval else ts >= lower) and ts <= upper
        if in_range:
            blocks.append((ts, ts))
    blocks.sort()
    rows, previous = [], None
    for first, last in blocks:
        if previous is None or (first - previous).total_seconds() > threshold:
            rows.append((first, previous, None))
        previous = last
    if rows and rows[-1][0] != previous:
        rows.append((previous, previous, None))  # the last reading (its pause is short)
    return rows


class RollupSource:
    """The figures of one time frame (a period's local days) from the daily rollups."""

    def __init__(self, period: ReportingPeriod, bounds: list[datetime]):
        self.days = DayFrame(period, bounds)

    def interval_sums(self, cursor, ids) -> list[tuple]:
        return _rollup_interval_sums(cursor, ids, self.days)

    def cumulative_sums(self, cursor, ids) -> list[tuple]:
        return _rollup_cumulative_sums(cursor, ids, self.days)

    def segment_sums(self, cursor, meter, timeline) -> list[tuple]:
        return _rollup_segment_sums(cursor, meter, timeline, self.days)

    def resets(self, cursor, ids) -> list[tuple]:
        return _rollup_resets(cursor, ids, self.days)

    def gap_rows(self, cursor, meter, lower, upper) -> list[tuple]:
        return _rollup_gap_rows(cursor, meter, lower, upper, self.days)
