"""Compute a reporting period from its meters: Annex II inputs, Annex III indicators, evidence.

The readings are aggregated in the database (one GROUP BY per register type, monthly buckets in
the site's time zone); Python only sees per-meter monthly totals. The formulas are those of the
pure module `reporting.indicators`.

Rules (docs/eu-reporting.md explains them for users):
- interval register: a reading is the consumption of the interval that *ends* at its timestamp;
  readings with start < timestamp <= end belong to the period, and to the month the interval
  starts in;
- cumulative register: consumption is the difference of consecutive readings in
  [start, end]; it belongs to the month of the earlier reading. A decrease is a counter reset
  or a meter replacement: the new reading is taken as the consumption since zero, and the reset
  is flagged (a warning on the period, listed under the meter's coverage);
- coverage per meter = present intervals / expected intervals; gaps are listed. When the
  operator sets `fill_gaps` on the period, interval meters are scaled month by month up to full
  coverage and the figures they feed become `estimated`.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from hardware.inference import load_grid_intensity
from reporting import enefg, rollups
from reporting import indicators as ind
from reporting.models import (
    AggregateResult,
    EnefgExemption,
    FieldValue,
    InstrumentKind,
    ManagementSystem,
    MeasurementPoint,
    MeterSetting,
    PeriodResult,
    PeriodStatus,
    PowerDemandSegment,
    Quality,
    Quantity,
    Reading,
    ReadingDay,
    Register,
    RenewableInstrument,
    ReportingPeriod,
    SiteProfile,
)

ENGINE_VERSION = "reporting-engine/1"
MAX_GAPS_LISTED = 50
MICRO = Decimal("0.000001")
INDICATOR_PLACES = Decimal("1e-10")

# Annex II symbol → the meter quantities that add up to it (§6.4).
METERED: dict[str, tuple[str, ...]] = {
    # II.1(d): every supply before the transfer switchgear, back-up generation and fuels
    "EDC": (Quantity.EDC_SUPPLY, Quantity.EDC_BACKUP_GENERATOR, Quantity.EDC_FUEL),
    "EDC-BG": (Quantity.EDC_BACKUP_GENERATOR,),  # II.1(d): measured separately
    "EIT": (Quantity.EIT_UPS_OUTPUT,),  # II.1(e): category 1, UPS output
    "WIN": (Quantity.WATER_TOTAL,),  # II.1(h)
    "WIN-POT": (Quantity.WATER_POTABLE,),  # II.1(i)
    "WIN-FRE": (Quantity.WATER_FRESH,),  # 2026 act: freshwater input, WUE's numerator
    # EnEfG Anlage 3 2(a) and 2(c): electricity balance and waste heat released, by medium
    "EGRID": (Quantity.GRID_PURCHASE,),
    "EFEED": (Quantity.GRID_FEED_IN,),
    "EOWN": (Quantity.OWN_GENERATION,),
    "EUPGRADE": (Quantity.HEAT_UPGRADE,),  # §11(2) S. 3: left out of the §11 PUE only
    "WH-AIR": (Quantity.HEAT_RELEASE_AIR,),
    "WH-WATER": (Quantity.HEAT_RELEASE_WATER,),
    "WH-GROUND": (Quantity.HEAT_RELEASE_GROUND,),
}
MONTHLY_SYMBOLS = ("EDC", "EIT", "WIN", "WIN-FRE", "EREUSE")


@dataclass
class MeterFigures:
    """One meter over the period, in canonical units (kWh or m³), multiplier applied."""

    meter: MeasurementPoint
    monthly: list[Decimal]
    expected: int
    present: int
    month_expected: list[int]
    month_present: list[int]
    resets: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    filled: bool = False
    timeline: list[tuple] = field(default_factory=list)  # the meter's settings_at()

    @property
    def total(self) -> Decimal:
        return sum(self.monthly, Decimal(0))

    @property
    def coverage_pct(self) -> Decimal:
        if not self.expected:
            return Decimal(100)
        return (Decimal(100) * min(self.present, self.expected) / self.expected).quantize(
            Decimal("0.01")
        )


# --- the period's time frame -------------------------------------------------------------------


def period_bounds(period: ReportingPeriod) -> list[datetime]:
    """UTC instants: period start, each local month start inside it, period end (exclusive)."""
    tz = ZoneInfo(period.site.time_zone)
    start = datetime.combine(period.start_date, time(), tz)
    end = datetime.combine(period.end_date + timedelta(days=1), time(), tz)
    bounds = [start]
    month = start.replace(day=1)
    while True:
        month = (month + timedelta(days=32)).replace(day=1)
        if month >= end:
            break
        bounds.append(month)
    bounds.append(end)
    return [b.astimezone(UTC) for b in bounds]


def month_labels(period: ReportingPeriod) -> list[str]:
    tz = ZoneInfo(period.site.time_zone)
    return [b.astimezone(tz).strftime("%Y-%m") for b in period_bounds(period)[:-1]]


# --- SQL aggregation ---------------------------------------------------------------------------


def _p(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _bucket(column: str, bounds: list[datetime], op: str) -> tuple[str, list]:
    """CASE expression giving the month index of `column` (0-based) against the boundaries."""
    inner = bounds[1:-1]
    if not inner:
        return "0", []
    whens = " ".join(f"WHEN {column} {op} %s THEN {i}" for i in range(len(inner)))
    return f"CASE {whens} ELSE {len(inner)} END", [_p(b) for b in inner]


def _micro(column: str) -> tuple[str, Decimal]:
    """Exact sums: NUMERIC on PostgreSQL; integer micro-units on SQLite (its decimals are REAL)."""
    if connection.vendor == "postgresql":
        return column, Decimal(1)
    return f"CAST(ROUND({column} * 1000000) AS INTEGER)", MICRO


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _in(ids) -> str:
    return ", ".join(["%s"] * len(ids))


def _to_decimal(value, scale: Decimal) -> Decimal:
    if value is None:
        return Decimal(0)
    return (Decimal(str(value)) * scale).quantize(MICRO)


def _interval_sums(cursor, ids, bounds):
    bucket, bucket_params = _bucket("timestamp", bounds, "<=")
    value, scale = _micro("value")
    cursor.execute(
        f"SELECT meter_id, {bucket} AS month, SUM({value}), COUNT(*) FROM reporting_reading "
        f"WHERE meter_id IN ({_in(ids)}) AND timestamp > %s AND timestamp <= %s "
        "GROUP BY meter_id, month",
        [*bucket_params, *ids, _p(bounds[0]), _p(bounds[-1])],
    )
    return [(m, month, _to_decimal(total, scale), n, 0) for m, month, total, n in cursor.fetchall()]


def _cumulative_sums(cursor, ids, bounds, since=None, upper=None):
    """`since`: the earliest reading read (default the period start); a setting interval passes
    the last reading before it, so the difference that straddles the change is counted once.
    `upper`: the last instant read (default the period end)."""
    bucket, bucket_params = _bucket("prev_ts", bounds, "<")
    value, scale = _micro("value")
    cursor.execute(
        f"SELECT meter_id, {bucket} AS month, "
        "SUM(CASE WHEN v >= prev_v THEN v - prev_v ELSE v END), COUNT(*), "
        "SUM(CASE WHEN v < prev_v THEN 1 ELSE 0 END) "
        f"FROM (SELECT meter_id, timestamp AS ts, {value} AS v, "
        "LAG(timestamp) OVER w AS prev_ts, LAG(" + value + ") OVER w AS prev_v "
        f"FROM reporting_reading WHERE meter_id IN ({_in(ids)}) "
        "AND timestamp >= %s AND timestamp <= %s "
        "WINDOW w AS (PARTITION BY meter_id ORDER BY timestamp)) x "
        "WHERE prev_ts IS NOT NULL GROUP BY meter_id, month",
        [*bucket_params, *ids, _p(since or bounds[0]), _p(upper or bounds[-1])],
    )
    return [
        (m, month, _to_decimal(total, scale), n, resets)
        for m, month, total, n, resets in cursor.fetchall()
    ]


def _resets(cursor, ids, bounds) -> list[tuple]:
    cursor.execute(
        "SELECT meter_id, ts, prev_value, value FROM (SELECT meter_id, timestamp AS ts, value, "
        "LAG(value) OVER (PARTITION BY meter_id ORDER BY timestamp) AS prev_value "
        f"FROM reporting_reading WHERE meter_id IN ({_in(ids)}) "
        "AND timestamp >= %s AND timestamp <= %s) x WHERE value < prev_value ORDER BY meter_id, ts",
        [*ids, _p(bounds[0]), _p(bounds[-1])],
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
        f"WHERE prev_ts IS NULL OR next_ts IS NULL OR {_seconds_between('ts', 'prev_ts')} > %s "
        "ORDER BY ts",
        [meter.pk, _p(lower), _p(upper), step + 0.5],
    )
    return [tuple(_aware(t) for t in row) for row in cursor.fetchall()]


def _aware(value):
    """SQLite hands back naive UTC datetimes (or text); PostgreSQL aware ones."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _slots(lower: datetime, upper: datetime, minutes: int) -> int:
    return max(0, int((upper - lower).total_seconds() // (minutes * 60)))


def _list_gaps(figures: MeterFigures, rows, lower, upper) -> None:
    """Spans without readings, with the intervals they miss (the count coverage uses).
    `rows`: the readings that start or end a gap, as `_gap_rows` gives them."""
    meter = figures.meter
    minutes = meter.interval_minutes
    step = timedelta(minutes=minutes)
    interval = meter.register == Register.INTERVAL
    spans = []  # (from, to, missing intervals)
    if not rows:
        spans.append((lower, upper, _slots(lower, upper, minutes)))
    else:
        first = rows[0][0]
        # An interval reading covers (ts - step, ts]; a counter reading is the instant ts.
        lead_end = first - step if interval else first
        spans.append((lower, lead_end, _slots(lower, lead_end, minutes)))
        for ts, prev_ts, _next in rows:
            if prev_ts is not None and ts - prev_ts > step:
                if interval:  # the intervals ending after prev_ts and before ts are missing
                    spans.append((prev_ts, ts - step, _slots(prev_ts, ts - step, minutes)))
                else:  # one difference spans the pause: energy complete, resolution lost
                    spans.append((prev_ts, ts, _slots(prev_ts, ts, minutes) - 1))
        last = rows[-1][0]
        spans.append((last, upper, _slots(last, upper, minutes)))
    listed = [
        {"from": _iso(begin), "to": _iso(end), "missing_intervals": missing}
        for begin, end, missing in spans
        if missing > 0
    ]
    figures.gaps = listed[:MAX_GAPS_LISTED]
    if len(listed) > MAX_GAPS_LISTED:
        figures.gaps.append({"more": len(listed) - MAX_GAPS_LISTED})


def meter_figures(
    period: ReportingPeriod, meters: list[MeasurementPoint], *, source: str = "rollups"
) -> list[MeterFigures]:
    """Per-meter monthly totals, coverage, gaps and resets over the period.

    `source="rollups"` (the default) reads the daily rollups (`ReadingDay`): meters × days rows,
    the raw readings only for the few days a setting change, a gap or a counter decrease falls
    inside. `source="raw"` reads every reading: the reference implementation the rollups are
    tested against (identical results), kept for checks and for a database whose rollups have
    not been built (`manage.py rebuild_rollups`)."""
    return meter_figures_many([(period, meters)], source=source)[0]


def _frame(period: ReportingPeriod) -> tuple:
    """What a period's month boundaries depend on: periods sharing it are summed together."""
    return (period.site.time_zone, period.start_date, period.end_date)


def _timelines(meters: list[MeasurementPoint]) -> dict[int, list[tuple]]:
    """Each meter's `settings_at()`, their setting intervals read in one query for all."""
    intervals = defaultdict(list)
    for setting in MeterSetting.objects.filter(meter_id__in={m.pk for m in meters}):
        intervals[setting.meter_id].append(setting)
    return {m.pk: m.settings_at(intervals[m.pk]) for m in meters}


def _month_expected(meter: MeasurementPoint, bounds: list[datetime]) -> list[int]:
    """The intervals expected from the meter in each month (within its validity)."""
    lower = max(bounds[0], meter.valid_from) if meter.valid_from else bounds[0]
    upper = min(bounds[-1], meter.valid_to) if meter.valid_to else bounds[-1]
    return [
        _slots(max(lower, bounds[i]), min(upper, bounds[i + 1]), meter.interval_minutes)
        for i in range(len(bounds) - 1)
    ]


ID_CHUNK = 2000  # meter ids per set-based query (well under SQLite's parameter limit)


def meter_figures_many(
    items: list[tuple[ReportingPeriod, list[MeasurementPoint]]], *, source: str = "rollups"
) -> list[list[MeterFigures]]:
    """`meter_figures` of many periods at once: the plain meters (no setting change) of every
    period sharing a time frame (time zone, first and last day) are summed by one query per
    register type, whatever the number of sites; the rare per-meter paths (setting changes,
    counter decreases, gaps) stay per period."""
    if source not in ("rollups", "raw"):
        raise ValueError(f"unknown source {source!r}: rollups or raw")
    raw = source == "raw"
    timelines = _timelines([m for _period, meters in items for m in meters])
    states = []  # (period, meters, bounds, figures)
    frames: dict[tuple, list[int]] = defaultdict(list)  # frame key -> indexes into states
    frame_bounds: dict[tuple, list[datetime]] = {}
    # A fleet's meters share a few shapes (validity, interval): their expected counts once.
    expected_of: dict[tuple, list[int]] = {}
    for period, meters in items:
        key = _frame(period)
        if key not in frame_bounds:
            frame_bounds[key] = period_bounds(period)
        bounds = frame_bounds[key]
        months = len(bounds) - 1
        figures: dict[int, MeterFigures] = {}
        for meter in meters:
            shape = (key, meter.valid_from, meter.valid_to, meter.interval_minutes)
            month_expected = expected_of.get(shape)
            if month_expected is None:
                month_expected = expected_of[shape] = _month_expected(meter, bounds)
            figures[meter.pk] = MeterFigures(
                meter=meter,
                monthly=[Decimal(0)] * months,
                expected=sum(month_expected),
                present=0,
                month_expected=list(month_expected),
                month_present=[0] * months,
                timeline=timelines[meter.pk],
            )
        frames[key].append(len(states))
        states.append((key, period, meters, bounds, figures))
    # (frame key, meter id) -> [(month, total, count, resets)]: a meter may be in two periods
    found: dict[tuple, list] = defaultdict(list)
    day_frames: dict[tuple, DayFrame | None] = {}
    with connection.cursor() as cursor:
        for key, indexes in frames.items():
            _key, period, _meters, bounds, _figures = states[indexes[0]]
            days = day_frames[key] = None if raw else DayFrame(period, bounds)
            plain = [m for i in indexes for m in states[i][2] if len(timelines[m.pk]) == 1]
            for register, sums in (
                (Register.INTERVAL, _interval_sums if raw else _rollup_interval_sums),
                (Register.CUMULATIVE, _cumulative_sums if raw else _rollup_cumulative_sums),
            ):
                ids = [m.pk for m in plain if m.register == register]
                for at in range(0, len(ids), ID_CHUNK):
                    chunk = ids[at : at + ID_CHUNK]
                    for meter_id, *rest in sums(cursor, chunk, bounds if raw else days):
                        found[(key, meter_id)].append(rest)
        results = []
        for key, period, meters, bounds, figures in states:
            days = day_frames[key]
            rows = []  # (meter_id, month, total, count, resets, unit, multiplier)
            for register in (Register.INTERVAL, Register.CUMULATIVE):
                for meter in meters:
                    if meter.register == register and len(timelines[meter.pk]) == 1:
                        rows += [
                            (meter.pk, *r, *timelines[meter.pk][0][1:])
                            for r in found[(key, meter.pk)]
                        ]
            for meter in meters:
                if len(timelines[meter.pk]) > 1:
                    if raw:
                        rows += _segment_sums(cursor, meter, timelines[meter.pk], bounds)
                    else:
                        rows += _rollup_segment_sums(cursor, meter, timelines[meter.pk], days)
            _apply_rows(cursor, figures, rows, bounds, days, raw)
            if period.fill_gaps:
                for fig in figures.values():
                    _fill(fig)
            results.append(list(figures.values()))
    return results


def _apply_rows(cursor, figures, rows, bounds, days, raw) -> None:
    """Add the summed rows to the meters' figures, then list resets and gaps."""
    reset_meters = set()
    for meter_id, month, total, count, resets, unit, multiplier in rows:
        fig = figures[meter_id]
        unit_total = total * multiplier
        canonical = "m3" if unit in ("L", "m3") else "kWh"
        fig.monthly[month] += ind.convert(unit_total, unit, canonical).quantize(MICRO)
        fig.month_present[month] += count
        fig.present += count
        if resets:
            reset_meters.add(meter_id)
    if reset_meters:
        listed = (
            _resets(cursor, sorted(reset_meters), bounds)
            if raw
            else _rollup_resets(cursor, sorted(reset_meters), days)
        )
        for meter_id, ts, before, after in listed:
            figures[meter_id].resets.append(
                {
                    "at": _iso(_aware(ts)),
                    "before": str(Decimal(str(before)).quantize(MICRO)),
                    "after": str(Decimal(str(after)).quantize(MICRO)),
                    "handling": "new reading counted as consumption since zero",
                }
            )
    for fig in figures.values():
        if fig.present < fig.expected:
            meter = fig.meter
            lower = max(bounds[0], meter.valid_from) if meter.valid_from else bounds[0]
            upper = min(bounds[-1], meter.valid_to) if meter.valid_to else bounds[-1]
            if raw:
                interval = meter.register == Register.INTERVAL
                gap_rows = _gap_rows(cursor, meter, lower, upper, strict_lower=interval)
            else:
                gap_rows = _rollup_gap_rows(cursor, meter, lower, upper, days)
            _list_gaps(fig, gap_rows, lower, upper)


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


# --- from the daily rollups --------------------------------------------------------------------
#
# The same figures as the raw functions above, from `ReadingDay` rows (reporting.rollups): a day
# holds whole intervals (interval meters: the day an interval starts in) or whole instants
# (counters), so a local month is a range of days. A counter difference between two days is
# rebuilt from the last reading of one and the first of the next; one inside a day is in its
# `rise_micro`. Where something happens *inside* a day that a day row cannot say (a setting
# change, a gap, a counter decrease), those days alone are read from the raw readings.


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
        f"FROM {ReadingDay._meta.db_table} WHERE meter_id IN ({_in(ids)}) "
        "AND day >= %s AND day <= %s GROUP BY meter_id, month",
        [*params, *ids, days.d(days.first), days.d(days.last)],
    )
    return [(m, month, _to_decimal(total, MICRO), n, 0) for m, month, total, n in cursor.fetchall()]


def _counter_days_sql(ids, days: DayFrame, columns: str) -> tuple[str, list]:
    """`columns` of the counters' day rows of the period, each row with the first reading of
    its meter's next day row: `next_at`, `next_value`, and `lv`, `nv` (the day's last and the
    next first value, in the units `_micro` sums). The difference between them belongs to the
    earlier day's month, so one pass in (meter, day) order pairs them: on PostgreSQL an index
    scan of the key, no sort, each day row read once (a column no caller reads is not
    computed). The day after the period counts only with a reading at the period's end
    instant (the raw range is start <= ts <= end)."""
    table = ReadingDay._meta.db_table
    last_v, _scale = _micro("last_value")
    first_v, _scale = _micro("first_value")
    sql = (
        f"SELECT {columns} FROM (SELECT meter_id, day, readings, rise_micro, decreases, "
        f"last_value, {last_v} AS lv, LEAD(first_at) OVER w AS next_at, "
        f"LEAD(first_value) OVER w AS next_value, LEAD({first_v}) OVER w AS nv FROM {table} "
        f"WHERE meter_id IN ({_in(ids)}) AND day >= %s AND day <= %s AND first_at <= %s "
        "WINDOW w AS (PARTITION BY meter_id ORDER BY day)) x WHERE day <= %s"
    )
    after = days.last + timedelta(days=1)
    return sql, [*ids, days.d(days.first), days.d(after), _p(days.bounds[-1]), days.d(days.last)]


def _rollup_cumulative_sums(cursor, ids, days: DayFrame):
    """Per meter and month: the differences inside its days (`rise_micro`, micro-units) plus
    those from each day to the next day row (`_micro` units), their count and decreases."""
    bucket, bucket_params = days.bucket("day")
    _column, scale = _micro("first_value")
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
        (m, month, _to_decimal(inside, MICRO) + _to_decimal(across, scale), n, resets)
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
            [meter.pk, *(_p(b) for w in windows for b in w)],
        )
        for ts, *rest in cursor.fetchall():
            ts = _aware(ts)
            found.append((rollups.local_day(ts, days.tz, interval), ts, *rest))
    return found


def _rollup_segment_sums(cursor, meter, timeline, days: DayFrame) -> list[tuple]:
    """As `_segment_sums`: each setting interval (valid_from, next] on its own. Whole days lie
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
        day = _date(day)
        if day not in split:
            items.append((day, _aware(first_at), n, total, rise, decr, first_u, last_u))
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
                (meter.pk, month, _to_decimal(total, MICRO), count, resets, unit, multiplier)
            )
    return rows


def _rollup_resets(cursor, ids, days: DayFrame) -> list[tuple]:
    """As `_resets`: every counter decrease (meter_id, at, before, after) in the period."""
    sql, params = _counter_days_sql(ids, days, "meter_id, next_at, last_value, next_value")
    cursor.execute(f"{sql} AND nv < lv", params)
    found = [tuple(row) for row in cursor.fetchall()]
    cursor.execute(
        f"SELECT meter_id, day FROM {ReadingDay._meta.db_table} WHERE meter_id IN ({_in(ids)}) "
        "AND day >= %s AND day <= %s AND decreases > 0",
        [*ids, days.d(days.first), days.d(days.last)],
    )
    inside = defaultdict(list)
    for meter_id, day in cursor.fetchall():
        inside[meter_id].append(_date(day))
    for meter in MeasurementPoint.objects.filter(pk__in=list(inside)):
        readings = _raw_days(
            cursor, meter, sorted(inside[meter.pk]), days, "value, " + rollups.micro("value")
        )
        for (day, ts, value, u), (prev_day, _ts, prev_value, prev_u) in zip(
            readings[1:], readings, strict=False
        ):
            if day == prev_day and u < prev_u:
                found.append((meter.pk, ts, prev_value, value))
    return sorted(found, key=lambda r: (r[0], _aware(r[1])))


def _rollup_gap_rows(cursor, meter, lower, upper, days: DayFrame) -> list[tuple]:
    """As `_gap_rows`: the first and last reading in the range and each one after a pause
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
        day = _date(day)
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
            blocks.append((_aware(first_at), _aware(last_at)))
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


def _date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _fill(fig: MeterFigures) -> None:
    """Operator's choice: scale each month of an interval meter up to its expected intervals."""
    if fig.meter.register != Register.INTERVAL or fig.present >= fig.expected:
        return
    pairs = zip(fig.month_expected, fig.month_present, strict=True)
    for i, (expected, present) in enumerate(pairs):
        if 0 < present < expected:
            fig.monthly[i] = (fig.monthly[i] * expected / present).quantize(MICRO)
            fig.filled = True


# --- the computation ---------------------------------------------------------------------------


def _dec(value) -> str | None:
    return None if value is None else str(value)


def _num(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def compute(period: ReportingPeriod, *, source: str = "rollups") -> dict:
    """The period's result content (inputs, indicators, monthly series, coverage, findings).
    `source`: where the meters' figures come from (see `meter_figures`)."""
    return compute_many([period], source=source)[0]


def compute_many(periods: list[ReportingPeriod], *, source: str = "rollups") -> list[dict]:
    """`compute` of many periods (e.g. a fleet's year) in a number of queries that does not grow
    with the number of sites: meters, settings, rollups, entered values, instruments, PDIT
    segments, the previous year's figures and the sites' profiles are each read once for all
    periods; the per-period math is then the same as `compute`'s, period by period."""
    periods = list(periods)
    if not periods:
        return []
    prefetch_related_objects(periods, "site")  # no-op when the caller selected it
    site_ids = {p.site_id for p in periods}
    period_ids = [p.pk for p in periods]
    # Read into local maps, not cached on the caller's objects: a later compute sees new rows.
    instruments_of: dict[int, list] = defaultdict(list)
    for inst in RenewableInstrument.objects.filter(period__in=period_ids):
        instruments_of[inst.period_id].append(inst)
    segments_of: dict[int, list] = defaultdict(list)
    for segment in PowerDemandSegment.objects.filter(period__in=period_ids):
        segments_of[segment.period_id].append(segment)
    profiles = {p.site_id: p for p in SiteProfile.objects.filter(site_id__in=site_ids)}
    # EnEfG (German sites): exemptions per period, management systems per site
    exemptions_of: dict[int, list] = defaultdict(list)
    systems_of: dict[int, list] = defaultdict(list)
    if any(p.site.country == "DE" for p in periods):
        for exemption in EnefgExemption.objects.filter(period__in=period_ids):
            exemptions_of[exemption.period_id].append(exemption.as_rule())
        for system in ManagementSystem.objects.filter(site_id__in=site_ids):
            systems_of[system.site_id].append(system.as_rule())
    meters_of: dict[int, list[MeasurementPoint]] = defaultdict(list)
    for meter in MeasurementPoint.objects.filter(site_id__in=site_ids).order_by("code"):
        meters_of[meter.site_id].append(meter)
    entered_of: dict[int, dict[str, FieldValue]] = defaultdict(dict)
    for fv in FieldValue.objects.filter(period__in=period_ids).order_by("period", "symbol"):
        entered_of[fv.period_id][fv.symbol] = fv
    previous_of: dict[tuple[int, int], dict] = {}
    for site_id, year, inputs in PeriodResult.objects.filter(
        period__site_id__in=site_ids, period__year__in={p.year - 1 for p in periods}
    ).values_list("period__site_id", "period__year", "inputs"):
        previous_of.setdefault((site_id, year), inputs)
    intensities = load_grid_intensity()
    all_figures = meter_figures_many([(p, meters_of[p.site_id]) for p in periods], source=source)
    labels: dict[tuple, list[str]] = {}  # per time frame: a fleet's periods share one
    for period in periods:
        if _frame(period) not in labels:
            labels[_frame(period)] = month_labels(period)
    return [
        _compute_one(
            period,
            labels[_frame(period)],
            figures,
            entered_of[period.pk],
            instruments_of[period.pk],
            segments_of[period.pk],
            previous_of.get((period.site_id, period.year - 1)),
            profiles.get(period.site_id),
            intensities,
            (exemptions_of[period.pk], systems_of[period.site_id]),
        )
        for period, figures in zip(periods, all_figures, strict=True)
    ]


def _compute_one(
    period, months, figures, entered, instruments, segments, previous, profile, intensities, de
) -> dict:
    """One period's content from its loaded inputs (no queries); `months`: its month labels;
    `de`: the period's EnEfG exemptions and its site's management systems."""
    site = period.site
    by_quantity: dict[str, list[MeterFigures]] = defaultdict(list)
    for fig in figures:
        by_quantity[fig.meter.quantity].append(fig)
    inputs: dict[str, dict] = {}
    monthly: dict[str, list[Decimal] | None] = {}

    def metered(quantities) -> tuple[Decimal | None, list[Decimal], list[MeterFigures]] | None:
        """None without a meter; a total of None when a meter expected to read in the period
        has no reading in it: its share is unknown, and the figure with it (never 0)."""
        figs = [f for q in quantities for f in by_quantity.get(q, [])]
        if not figs:
            return None
        if any(f.expected and not f.present for f in figs):
            return None, [], figs
        series = [sum((f.monthly[i] for f in figs), Decimal(0)) for i in range(len(months))]
        return sum(series, Decimal(0)), series, figs

    def from_meters(symbol, total, series, figs, unit, **extra):
        quality = Quality.ESTIMATED if any(f.filled for f in figs) else Quality.MEASURED
        inputs[symbol] = {
            "value": _dec(total),
            "unit": unit,
            "quality": quality,
            "source": "meters",
            "meters": [f.meter.code for f in figs],
            "coverage_pct": _dec(min(f.coverage_pct for f in figs)),
            **extra,
        }
        monthly[symbol] = series

    eit_quantities = (Quantity.EIT_UPS_OUTPUT,)
    eit_method = "ups-output (category 1)"
    if not by_quantity.get(Quantity.EIT_UPS_OUTPUT) and by_quantity.get(Quantity.EIT_PDU):
        eit_quantities, eit_method = (Quantity.EIT_PDU,), "pdu"  # II.1(e): no UPS
    for symbol, quantities in METERED.items():
        quantities = eit_quantities if symbol == "EIT" else quantities
        found = metered(quantities)
        if found and found[0] is not None:
            unit = "m3" if symbol.startswith("WIN") else "kWh"
            extra = {"method": eit_method} if symbol == "EIT" else {}
            from_meters(symbol, *found, unit, **extra)

    findings: list[dict] = []
    heat = metered((Quantity.HEAT_EXPORT,))
    own = metered((Quantity.HEAT_INTERNAL_REUSE,))
    if heat and heat[0] is not None and not (own and own[0] is None):
        zero = (Decimal(0), [Decimal(0)] * len(months))
        own_total, own_series = (own[0], own[1]) if own else zero
        try:
            total = ind.ereuse(heat[0], own_total)  # II.1(j): boundary heat minus own cooling
            series = [h - o for h, o in zip(heat[1], own_series, strict=True)]
            from_meters("EREUSE", total, series, heat[2] + (own[2] if own else []), "kWh")
        except ValueError as exc:
            findings.append(_finding("ereuse-negative", "error", ("EREUSE",), str(exc)))

    _renewables(instruments, metered((Quantity.RENEWABLE_ONSITE,)), inputs)
    _pdit(period, segments, inputs)

    # Entered values and flags: an explicit omission or "missing" wins over anything else;
    # an entered value is used where nothing was metered or derived.
    for symbol, fv in entered.items():
        flags = {"note": fv.note, "confidential": fv.confidential}
        if fv.measured_by:
            flags["measured_by"] = fv.measured_by
        if fv.quality in (Quality.OMITTED, Quality.MISSING):
            inputs[symbol] = {
                "value": None,
                "unit": ind.ALL_SYMBOLS[symbol][1],
                "quality": fv.quality,
                "source": "entered",
                "omission_reason": fv.omission_reason,
                **flags,
            }
            monthly.pop(symbol, None)
        elif symbol in inputs:
            inputs[symbol].update(flags)
        elif fv.value is not None:
            inputs[symbol] = {
                "value": _dec(fv.value),
                "unit": ind.ALL_SYMBOLS[symbol][1],
                "quality": fv.quality,
                "source": "entered",
                **flags,
            }
    for symbol, (_ref, unit) in reported_fields(period).items():
        inputs.setdefault(
            symbol,
            {"value": None, "unit": unit, "quality": Quality.MISSING, "source": None},
        )
        inputs[symbol].setdefault("note", "")
        inputs[symbol].setdefault("confidential", False)

    values = {s: _num(i["value"]) for s, i in inputs.items()}
    values = {s: values.get(s) for s in ind.ALL_SYMBOLS}
    indicators = _indicators(values, site.country, period.schema, intensities)
    findings += _validate(period, values, entered, figures, previous)
    if site.country == "DE":
        # EnEfG §11(2) S. 3, beside the EU PUE (which keeps the upgrading electricity)
        pue_11 = enefg.pue_11(values["EDC"], values["EIT"], values["EUPGRADE"])
        upgrade, edc = values["EUPGRADE"], values["EDC"]
        if upgrade is not None and edc is not None and upgrade > edc:
            pue_11 = None  # part of EDC cannot exceed it: the §11 PUE is unknown, not negative
            findings.append(
                _finding(
                    "eupgrade-above-edc",
                    "warning",
                    ("EUPGRADE", "EDC"),
                    "Electricity for upgrading waste heat exceeds EDC, of which it is a part: "
                    "the §11 PUE is left blank.",
                )
            )
        indicators["PUE-11"] = _dec(_q(pue_11))
        findings += _enefg(period, values, indicators, profile, *de)
    coverage = {
        fig.meter.code: {
            "quantity": fig.meter.quantity,
            "register": fig.meter.register,
            "settings": [
                {"valid_from": _iso(start) if start else None, "unit": unit, "multiplier": str(m)}
                for start, unit, m in fig.timeline
            ],
            "expected": fig.expected,
            "present": fig.present,
            "pct": str(fig.coverage_pct),
            "gaps": fig.gaps,
            "resets": fig.resets,
            "filled": fig.filled,
        }
        for fig in figures
    }
    series = []
    water = ind.wue_water_symbol(period.schema)
    for i, label in enumerate(months):
        row = {s: (monthly[s][i] if monthly.get(s) else None) for s in MONTHLY_SYMBOLS}
        series.append(
            {
                "month": label,
                **{s: _dec(v) for s, v in row.items()},
                "PUE": _dec(_q(ind.pue(row["EDC"], row["EIT"]))),
                "WUE": _dec(_q(ind.wue(row[water], row["EIT"]))),
                "ERF": _dec(_q(ind.erf(row["EREUSE"], row["EDC"]))),
            }
        )
    return {
        "inputs": inputs,
        "indicators": indicators,
        "monthly": series,
        "coverage": coverage,
        "findings": findings,
        "code_version": ENGINE_VERSION,
    }


def reported_fields(period: ReportingPeriod) -> dict[str, tuple[str, str]]:
    """The period's field dictionary, plus the EnEfG fields for a site in Germany."""
    fields = ind.field_dictionary(period.schema)
    if period.site.country == "DE":
        fields.update(ind.SYMBOLS_DE)
    return fields


def _enefg(period, values, indicators, profile, exemptions, systems) -> list[dict]:
    """EnEfG §3 Nr. 24, §§11-13 compliance findings (never errors: they do not block
    validation)."""
    start = (
        date(profile.operation_start_year, profile.operation_start_month, 1) if profile else None
    )
    checks = enefg.check(
        on=period.end_date,
        first=period.start_date,
        operation_start=start,
        pue=_num(indicators["PUE"]),
        pue_without_upgrade=_num(indicators["PUE-11"]),
        erf=_num(indicators["ERF"]),
        renewable_share=enefg.renewable_electricity_share(
            values["ERES-TOT"], values["EGRID"], values["EOWN"], values["EFEED"]
        ),
        non_redundant_kw=values["PNR"],
        public_owner=profile.public_owner if profile else None,
        exemptions=exemptions,
        systems=systems,
    )
    return [
        {
            **_finding(c.rule_id, c.severity, c.fields, c.message),
            "legal_ref": c.legal_ref,
            "applies_from": c.applies_from.isoformat(),
        }
        for c in checks
    ]


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(INDICATOR_PLACES)


def _renewables(instruments, onsite_meters, inputs) -> None:
    if not instruments and not onsite_meters:
        return
    onsite_total = onsite_meters[0] if onsite_meters else None
    items = []
    for inst in instruments:
        volume = inst.volume_kwh
        if volume is None:  # on-site generation taken from the renewable-onsite meters
            volume = onsite_total  # None without such meters, or one unread: unknown, not 0
        items.append(
            ind.Instrument(inst.kind, volume, inst.retired_by_this_dc, inst.gos_not_owned_kwh)
        )
    if onsite_meters and not any(i.kind == InstrumentKind.ONSITE for i in instruments):
        items.append(ind.Instrument("onsite", onsite_total))  # GOs assumed owned and retired
    source = "instruments" + (" + meters" if onsite_meters else "")
    for symbol, value in ind.renewables(items).items():
        if value is None:
            continue  # unknown: missing, unless a value is entered for it
        inputs[symbol] = {
            "value": _dec(value),
            "unit": "kWh",
            "quality": Quality.MEASURED,
            "source": source,
        }


def _pdit(period, segments, inputs) -> None:
    segments = [(s.first_day, s.last_day, s.power_kw) for s in segments]
    if segments:
        value = ind.weighted_pdit(segments)  # II.1(a): time-weighted average
        inputs["PDIT"] = {
            "value": _dec(_q(value)),
            "unit": "kW",
            "quality": Quality.MEASURED,
            "source": "segments",
            "basis": period.pdit_basis,
        }


def _indicators(values: dict, country: str, schema: str, intensities: dict) -> dict:
    pue = ind.pue(values["EDC"], values["EIT"])
    water = ind.wue_water_symbol(schema)
    cef = intensities.get(country)
    cef_decimal = None if cef is None else Decimal(str(cef))
    return {
        "PUE": _dec(_q(pue)),
        "WUE": _dec(_q(ind.wue(values[water], values["EIT"]))),
        "ERF": _dec(_q(ind.erf(values["EREUSE"], values["EDC"]))),
        "REF": _dec(_q(ind.ref(values["ERES-TOT"], values["EDC"]))),
        "CUE": _dec(_q(ind.cue(pue, cef_decimal))),
        "CUE_CEF_KG_PER_KWH": _dec(cef_decimal),
        "ERE": _dec(_q(ind.ere(values["EDC"], values["EIT"], values["EREUSE"]))),
        "CER": _dec(_q(ind.cer(values["CER-HEAT"], values["CER-COOL"]))),
        "size_class": ind.size_class(values["PDIT"]),
    }


def _finding(rule, severity, fields, message) -> dict:
    return {"rule_id": rule, "severity": severity, "fields": list(fields), "message": message}


def _validate(period, values, entered, figures, previous) -> list[dict]:
    """§10.1 checks; `previous`: the inputs of the site's result of the year before, if any."""
    context = ind.Context(
        pdit_basis=period.pdit_basis or None,
        wue_category=period.wue_category,
        partial_year=period.partial_year,
        period_start=period.start_date,
        period_end=period.end_date,
        cserv_coverage_pct=period.cserv_scr_coverage_pct,
        cstor_coverage_pct=period.cstor_scr_coverage_pct,
        previous={s: _num(previous[s]["value"]) for s in ("EDC", "EIT") if previous},
        notes={s: fv.note for s, fv in entered.items() if fv.note.strip()},
    )
    found = [
        _finding(f.rule_id, f.severity, f.fields, f.message) for f in ind.validate(values, context)
    ]
    for fig in figures:
        code = fig.meter.code
        if fig.present < fig.expected:
            message = (
                f"meter {code}: {fig.present} of {fig.expected} intervals "
                f"({fig.coverage_pct}%), {len(fig.gaps)} gap(s)"
                + ("; gaps filled by scaling (estimated)" if fig.filled else "")
            )
            found.append(_finding("meter-coverage-below-100", "warning", (code,), message))
        if fig.resets:
            message = f"meter {code}: {len(fig.resets)} counter reset(s) or replacement(s)"
            found.append(_finding("meter-counter-reset", "warning", (code,), message))
    for symbol, fv in entered.items():
        # FieldValue.clean asks this of every new entry; a row stored before (an upgraded
        # database) is named here, so it cannot be reported as measured without its basis.
        if fv.quality == Quality.MEASURED and not fv.measured_by.strip():
            message = (
                f"{symbol} is entered as measured but names no instrument or document: name "
                "it, or state the value estimated or allocated"
            )
            found.append(_finding("measured-without-instrument", "error", (symbol,), message))
    return found


def _fingerprint(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def compute_and_store(period: ReportingPeriod) -> PeriodResult:
    """Compute a draft period and store its result (validated and submitted ones are frozen)."""
    period = ReportingPeriod.objects.select_related("site").get(pk=period.pk)
    if period.status != PeriodStatus.DRAFT:
        raise PeriodFrozen(f"{period} is {period.status}: its result is frozen")
    content = compute(period)
    with transaction.atomic():
        result, _ = PeriodResult.objects.update_or_create(
            period=period,
            defaults={
                **content,
                "fingerprint": _fingerprint(content),
                "computed_at": timezone.now(),
            },
        )
    return result


def compute_and_store_many(period_ids: list[int]) -> dict[int, PeriodResult | PeriodFrozen]:
    """`compute_and_store` of many periods, computed together (`compute_many`): each id maps to
    its stored result, or to the PeriodFrozen it was skipped with (only drafts are computed)."""
    periods = list(ReportingPeriod.objects.select_related("site").filter(pk__in=period_ids))
    found = {p.pk: p for p in periods}
    outcome: dict[int, PeriodResult | PeriodFrozen] = {}
    drafts = []
    for pk in period_ids:
        period = found.get(pk)
        if period is None:
            raise ReportingPeriod.DoesNotExist(f"reporting period {pk} does not exist")
        if period.status != PeriodStatus.DRAFT:
            outcome[pk] = PeriodFrozen(f"{period} is {period.status}: its result is frozen")
        else:
            drafts.append(period)
    contents = compute_many(drafts)
    for period, content in zip(drafts, contents, strict=True):
        with transaction.atomic():
            # Re-checked under a row lock: a period validated meanwhile keeps its frozen result.
            status = (
                ReportingPeriod.objects.select_for_update()
                .filter(pk=period.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status != PeriodStatus.DRAFT:
                outcome[period.pk] = PeriodFrozen(f"{period} is {status}: its result is frozen")
                continue
            outcome[period.pk], _ = PeriodResult.objects.update_or_create(
                period=period,
                defaults={
                    **content,
                    "fingerprint": _fingerprint(content),
                    "computed_at": timezone.now(),
                },
            )
    return {pk: outcome[pk] for pk in period_ids}  # in the order asked


class PeriodFrozen(Exception):
    """Only draft periods are (re)computed."""


# --- Annex IV ----------------------------------------------------------------------------------


def _micro_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(MICRO)


def aggregate_year(year: int) -> list[AggregateResult]:
    """Annex IV aggregates of `year` from the stored period results: EU and per Member State."""
    results = PeriodResult.objects.filter(period__year=year).select_related(
        "period__site__reporting_profile"
    )
    by_scope: dict[str, list[ind.Site]] = defaultdict(list)
    for result in results:
        site = result.period.site
        profile = getattr(site, "reporting_profile", None)
        values = {s: _num(v["value"]) for s, v in result.inputs.items()}
        dc = ind.Site(
            dc_type=profile.dc_type if profile else "unknown",
            pdit_kw=values.get("PDIT"),
            edc_kwh=values.get("EDC"),
            eit_kwh=values.get("EIT"),
            win_m3=values.get("WIN"),
            ereuse_kwh=values.get("EREUSE"),
            eres_tot_kwh=values.get("ERES-TOT"),
        )
        by_scope["EU"].append(dc)
        by_scope[site.country].append(dc)
    now = timezone.now()
    rows = []
    for scope, sites in sorted(by_scope.items()):
        for group, agg in ind.annex_iv(sites).items():
            rows.append(
                AggregateResult(
                    year=year,
                    scope=scope,
                    group=group,
                    n_sites=agg.n_sites,
                    total_pdit_kw=_micro_or_none(agg.total_pdit_kw),
                    total_edc_kwh=_micro_or_none(agg.total_edc_kwh),
                    total_win_m3=_micro_or_none(agg.total_win_m3),
                    averages={
                        kpi: {
                            "value": _dec(_q(a.value)),
                            "n_sites": a.n_sites,
                            "suppressed": a.suppressed,
                            "reason": a.reason,
                        }
                        for kpi, a in agg.averages.items()
                    },
                    computed_at=now,
                )
            )
    with transaction.atomic():
        AggregateResult.objects.filter(year=year).delete()
        AggregateResult.objects.bulk_create(rows)
    return rows
