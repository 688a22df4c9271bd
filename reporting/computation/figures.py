"""The meters' figures over a period: monthly totals in canonical units, coverage, gaps and
counter resets, summed by one of two paths with the same interface (`raw`, `rollup`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection

from reporting import indicators as ind
from reporting.computation.raw import RawSource
from reporting.computation.rollup import RollupSource
from reporting.computation.sql import MICRO, aware, iso
from reporting.models import MeasurementPoint, MeterSetting, Register, ReportingPeriod

MAX_GAPS_LISTED = 50
# Where the figures are summed from: the daily rollups, or every raw reading (the reference).
SOURCES = {"rollups": RollupSource, "raw": RawSource}


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
        {"from": iso(begin), "to": iso(end), "missing_intervals": missing}
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


def time_frame(period: ReportingPeriod) -> tuple:
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
    path = SOURCES.get(source)
    if path is None:
        raise ValueError(f"unknown source {source!r}: rollups or raw")
    timelines = _timelines([m for _period, meters in items for m in meters])
    states = []  # (period, meters, bounds, figures)
    frames: dict[tuple, list[int]] = defaultdict(list)  # frame key -> indexes into states
    frame_bounds: dict[tuple, list[datetime]] = {}
    # A fleet's meters share a few shapes (validity, interval): their expected counts once.
    expected_of: dict[tuple, list[int]] = {}
    for period, meters in items:
        key = time_frame(period)
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
    sources: dict[tuple, RawSource | RollupSource] = {}
    with connection.cursor() as cursor:
        for key, indexes in frames.items():
            _key, period, _meters, bounds, _figures = states[indexes[0]]
            found_by = sources[key] = path(period, bounds)
            plain = [m for i in indexes for m in states[i][2] if len(timelines[m.pk]) == 1]
            for register, sums in (
                (Register.INTERVAL, found_by.interval_sums),
                (Register.CUMULATIVE, found_by.cumulative_sums),
            ):
                ids = [m.pk for m in plain if m.register == register]
                for at in range(0, len(ids), ID_CHUNK):
                    chunk = ids[at : at + ID_CHUNK]
                    for meter_id, *rest in sums(cursor, chunk):
                        found[(key, meter_id)].append(rest)
        results = []
        for key, period, meters, bounds, figures in states:
            found_by = sources[key]
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
                    rows += found_by.segment_sums(cursor, meter, timelines[meter.pk])
            _apply_rows(cursor, figures, rows, bounds, found_by)
            if period.fill_gaps:
                for fig in figures.values():
                    _fill(fig)
            results.append(list(figures.values()))
    return results


def _apply_rows(cursor, figures, rows, bounds, found_by) -> None:
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
        for meter_id, ts, before, after in found_by.resets(cursor, sorted(reset_meters)):
            figures[meter_id].resets.append(
                {
                    "at": iso(aware(ts)),
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
            _list_gaps(fig, found_by.gap_rows(cursor, meter, lower, upper), lower, upper)


def _fill(fig: MeterFigures) -> None:
    """Operator's choice: scale each month of an interval meter up to its expected intervals."""
    if fig.meter.register != Register.INTERVAL or fig.present >= fig.expected:
        return
    pairs = zip(fig.month_expected, fig.month_present, strict=True)
    for i, (expected, present) in enumerate(pairs):
        if 0 < present < expected:
            fig.monthly[i] = (fig.monthly[i] * expected / present).quantize(MICRO)
            fig.filled = True
