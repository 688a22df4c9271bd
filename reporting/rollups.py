"""Daily rollups of readings (`ReadingDay`): one row per meter and local day, kept in step with
the readings by every writer, so that a period is computed from meters × days rows.

A rollup is always *recomputed from the readings* of its (meter, day), set-based in SQL, never
patched incrementally: a late correction, an out-of-order file or a rebuild all converge on the
same row. Day windows are computed in Python with `zoneinfo` (the very function the computation
uses for its month boundaries), so PostgreSQL and SQLite agree on them.

Writers: `StagedDays` for an ingest on PostgreSQL (same transaction): the days that held no
reading before the file are summed from the file's own rows as they are staged, only the others
are recomputed from the readings; `refresh_staged` after a write of staged rows (ingest on SQLite,
a restored archive); `refresh` for a range (the `rebuild_rollups` command, anything that wrote
readings some other way); `rebuild` for whole meters (a site's time zone changed: every day
boundary moved). Each holds its meters' locks (`lock_meters`) from just before it writes their
rollups to its commit, so two writers never write one meter's rollups at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.models.signals import post_save, pre_save

from registry.models import Site
from reporting.bulk_checks import COPY_HEADER, COPY_TRAILER, PG_EPOCH_US
from reporting.models import MeasurementPoint, Reading, ReadingDay, Register

DAYS = "reporting_rollup_days"  # temporary: the (meter, day) windows to recompute
PARTS = "reporting_rollup_parts"  # temporary: `StagedDays`' sums of the rows of each block
EPSILON = timedelta(microseconds=1)  # timestamps have microsecond resolution on both backends
# Every writer of a meter's rollups holds that meter's advisory lock (class, meter id) from just
# before it writes them to its commit (`lock_meters`).
METER_LOCK = 0x4D455452  # "METR"


# --- day windows (pure) ------------------------------------------------------------------------


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of local midnight starting `day` (as `computation.period_bounds`)."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def window(day: date, tz: ZoneInfo, interval: bool) -> tuple[datetime, datetime]:
    """[lo, hi) in UTC holding the readings of `day`. An interval reading belongs to the day its
    interval starts in (midnight < ts <= next midnight), a counter reading to the day of its
    instant (midnight <= ts < next midnight)."""
    lo, hi = midnight(day, tz), midnight(day + timedelta(days=1), tz)
    return (lo + EPSILON, hi + EPSILON) if interval else (lo, hi)


def local_day(ts: datetime, tz: ZoneInfo, interval: bool) -> date:
    """The day a reading at `ts` belongs to (see `window`)."""
    return (ts - EPSILON if interval else ts).astimezone(tz).date()


def days_between(first: date, last: date) -> Iterable[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


# --- SQL helpers -------------------------------------------------------------------------------


def micro(column: str) -> str:
    """A value in exact integer micro-units, as the reference computation sums them."""
    if connection.vendor == "postgresql":
        return f"({column} * 1000000)"
    return f"CAST(ROUND({column} * 1000000) AS INTEGER)"


def seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _d(value: date):
    return connection.ops.adapt_datefield_value(value)


def _meters(meter_ids) -> dict[int, tuple[ZoneInfo, bool]]:
    """meter id → (site time zone, interval register?)."""
    rows = MeasurementPoint.objects.filter(pk__in=list(meter_ids)).values_list(
        "pk", "site__time_zone", "register"
    )
    return {pk: (ZoneInfo(tz), reg == Register.INTERVAL) for pk, tz, reg in rows}


# --- writers -----------------------------------------------------------------------------------


def lock_meters(cursor, meter_ids) -> None:
    """Wait for every other writer of these meters' rollups to commit, and keep them waiting to
    this transaction's end (PostgreSQL; SQLite has one writer at a time).

    One statement, ids ascending (`unnest` yields them in array order): any two writers take
    their common meters in the same order, so they cannot deadlock on them. Holders wait for
    nothing else but their commit: they write no reading after it, and only they write rollups.
    The statements after it see every reading that those writers committed (READ COMMITTED: a
    fresh snapshot per statement)."""
    if connection.vendor != "postgresql":
        return
    cursor.execute(
        "SELECT COUNT(pg_advisory_xact_lock(%s, m)) FROM unnest(%s::integer[]) AS m",
        [METER_LOCK, sorted({int(m) for m in meter_ids})],
    )


def refresh_staged(cursor, staging: str) -> int:
    """Recompute the rollups of every (meter, local day) touched by the rows of the `staging`
    table (columns meter_id, ts): inserted, unchanged or replaced alike. Returns days written."""
    if connection.vendor == "postgresql":
        cursor.execute(f"SELECT DISTINCT meter_id, (ts AT TIME ZONE 'UTC')::date FROM {staging}")
    else:
        cursor.execute(f"SELECT DISTINCT meter_id, substr(ts, 1, 10) FROM {staging}")
    utc_days = cursor.fetchall()
    meters = _meters({m for m, _ in utc_days})
    wanted: set[tuple[int, date]] = set()
    for meter_id, utc_day in utc_days:
        if isinstance(utc_day, str):
            utc_day = date.fromisoformat(utc_day)
        tz, interval = meters[meter_id]
        start = datetime.combine(utc_day, time(), UTC)
        first = local_day(start, tz, interval)
        last = local_day(start + timedelta(days=1) - EPSILON, tz, interval)
        wanted.update((meter_id, d) for d in days_between(first, last))
    return _recompute(cursor, wanted, meters)


def refresh(meter_ids: Iterable[int], first_day: date, last_day: date) -> int:
    """Recompute the rollups of `meter_ids` for the local days first_day..last_day."""
    meters = _meters(meter_ids)
    wanted = {(m, d) for m in meters for d in days_between(first_day, last_day)}
    with transaction.atomic(), connection.cursor() as cursor:
        return _recompute(cursor, wanted, meters)


def rebuild(meter_ids: Iterable[int]) -> int:
    """Drop and recompute every rollup of `meter_ids` (their day boundaries changed)."""
    meters = _meters(meter_ids)
    written = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            lock_meters(cursor, meters)  # all at once, before any rollup goes
        ReadingDay.objects.filter(meter_id__in=list(meters)).delete()
        spans = (
            Reading.objects.filter(meter_id__in=list(meters))
            .values("meter_id")
            .annotate(first=Min("timestamp"), last=Max("timestamp"))
        )
        with connection.cursor() as cursor:
            for span in spans:
                tz, interval = meters[span["meter_id"]]
                days = days_between(
                    local_day(span["first"], tz, interval), local_day(span["last"], tz, interval)
                )
                wanted = {(span["meter_id"], d) for d in days}
                written += _recompute(cursor, wanted, meters)
    return written


def _recompute(cursor, wanted: set[tuple[int, date]], meters) -> int:
    """Delete the rollups of the `wanted` (meter, day) pairs and insert them again from the
    readings inside each day's window: one set-based statement for all of them."""
    if not wanted:
        return 0
    lock_meters(cursor, {m for m, _ in wanted})
    postgres = connection.vendor == "postgresql"
    cursor.execute(f"DROP TABLE IF EXISTS {DAYS}")
    if postgres:
        cursor.execute(
            f"CREATE TEMP TABLE {DAYS} (meter_id bigint, day date, lo timestamptz, hi timestamptz)"
        )
        with cursor.cursor.copy(f"COPY {DAYS} (meter_id, day, lo, hi) FROM STDIN") as copy:
            for meter_id, day in wanted:
                tz, interval = meters[meter_id]
                lo, hi = window(day, tz, interval)
                copy.write_row((meter_id, day, lo, hi))
        cursor.execute(f"ANALYZE {DAYS}")
    else:
        cursor.execute(f"CREATE TEMP TABLE {DAYS} (meter_id integer, day text, lo text, hi text)")
        rows = []
        for meter_id, day in wanted:
            tz, interval = meters[meter_id]
            lo, hi = window(day, tz, interval)
            rows.append((meter_id, _d(day), _dt(lo), _dt(hi)))
        cursor.executemany(f"INSERT INTO {DAYS} VALUES (%s, %s, %s, %s)", rows)
    _delete_days(cursor)
    written = _insert_from_readings(cursor)
    cursor.execute(f"DROP TABLE {DAYS}")
    return written


def _delete_days(cursor) -> None:
    table = ReadingDay._meta.db_table
    cursor.execute(
        f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {DAYS} w "
        f"WHERE w.meter_id = {table}.meter_id AND w.day = {table}.day)"
    )


def _insert_from_readings(cursor, where: str = "") -> int:
    """Insert the rollups of the days in `DAYS` (those matching `where`, about `w`) from the
    readings inside each day's window; the number written."""
    if connection.vendor == "postgresql":
        # The plan's estimated cost sets JIT compiling off for up to a second: not worth it for
        # a statement that runs once per file. The sort by day fits in memory, not on disk.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
    u = micro("r.value")
    cursor.execute(
        f"INSERT INTO {ReadingDay._meta.db_table} (meter_id, day, readings, total_micro, "
        "first_at, first_value, last_at, last_value, rise_micro, decreases, max_gap_s) "
        "SELECT meter_id, day, COUNT(*), SUM(u), MIN(ts), MAX(CASE WHEN prev_ts IS NULL "
        "THEN v END), MAX(ts), MAX(CASE WHEN next_ts IS NULL THEN v END), "
        "SUM(CASE WHEN prev_u IS NULL THEN 0 WHEN u >= prev_u THEN u - prev_u ELSE u END), "
        "SUM(CASE WHEN u < prev_u THEN 1 ELSE 0 END), "
        f"MAX({seconds_between('ts', 'prev_ts')}) "
        "FROM (SELECT w.meter_id, w.day, r.timestamp AS ts, r.value AS v, "
        f"{u} AS u, LAG({u}) OVER p AS prev_u, "
        "LAG(r.timestamp) OVER p AS prev_ts, LEAD(r.timestamp) OVER p AS next_ts "
        f"FROM {DAYS} w JOIN reporting_reading r ON r.meter_id = w.meter_id "
        f"AND r.timestamp >= w.lo AND r.timestamp < w.hi {where} "
        "WINDOW p AS (PARTITION BY w.meter_id, w.day ORDER BY r.timestamp)) x "
        "GROUP BY meter_id, day"
    )
    return cursor.rowcount


# --- an ingest's days, summed from its own rows (PostgreSQL) ------------------------------------

DAY_US = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
LAST_ORDINAL = date.max.toordinal()
PG_EPOCH_DAYS = 10_957  # PostgreSQL counts binary dates from 2000-01-01
# Beyond this a value's millionths, or the difference of two of them, may leave 64 bits: such a
# block's days are recomputed from the readings (the bulk checks admit |value| < 9.2e12).
EXACT_LIMIT = 1 << 62
SPLIT = 24  # sums are taken as (x >> 24) and (x & 0xFFFFFF) apart: no 64-bit overflow
# PARTS as binary COPY: (column, SQL type, numpy type); every field fixed-width, none NULL.
PART_COLUMNS = (
    ("batch", "bigint", ">i8"),  # the `add` call
    ("meter_id", "bigint", ">i8"),
    ("day", "date", ">i4"),
    ("lo", "timestamptz", ">i8"),
    ("hi", "timestamptz", ">i8"),
    ("exact", "boolean", "u1"),
    ("readings", "bigint", ">i8"),
    ("total_hi", "bigint", ">i8"),
    ("total_lo", "bigint", ">i8"),
    ("first_at", "timestamptz", ">i8"),
    ("first_micro", "bigint", ">i8"),
    ("last_at", "timestamptz", ">i8"),
    ("last_micro", "bigint", ">i8"),
    ("rise_hi", "bigint", ">i8"),
    ("rise_lo", "bigint", ">i8"),
    ("decreases", "bigint", ">i8"),
    ("max_gap_s", "double precision", ">f8"),  # NaN: a single reading
)
PART_RECORD = np.dtype(
    [("fields", ">i2")]
    + [f for name, _, kind in PART_COLUMNS for f in ((f"{name}_len", ">i4"), (name, kind))]
)


class StagedDays:
    """The rollups of an ingest's days, summed from the file's rows as they are staged.

    A day that held no reading before the file holds exactly the file's rows of it once they are
    inserted, so its rollup is their sum: no need to read them back. Each staged block is sorted
    by meter, day and time (numpy) and summed per (meter, day) into `PARTS`; `write` joins a
    day's parts in time order. A day is recomputed from the readings instead (as `refresh` does)
    when its sum from the file might differ: it held readings before (`note_stored`: a late
    file, a correction, a re-run) or another writer wrote it meanwhile (`write`), the file
    repeats a reading, its parts from several blocks overlap in time, or a value is too large
    for 64-bit sums. Day windows are `window`'s, from
    `midnight` in Python, so both routes put a reading in the same day.
    """

    def __init__(self, cursor):
        self.cursor = cursor
        self.meters: dict[int, tuple[ZoneInfo, bool]] = {}
        self.batches = self.noted = 0  # parts of batches from `noted` on are not in DAYS yet
        cursor.execute("SET LOCAL jit = off")  # each statement here runs once or once a block
        cursor.execute(f"DROP TABLE IF EXISTS {PARTS}, {DAYS}")
        columns = ", ".join(f"{name} {sql}" for name, sql, _ in PART_COLUMNS)
        cursor.execute(f"CREATE TEMP TABLE {PARTS} ({columns}) ON COMMIT DROP")
        # The file's days; `exact` while the day's rollup can be the sum of the file's rows.
        cursor.execute(
            f"CREATE TEMP TABLE {DAYS} (meter_id bigint, day date, lo timestamptz, "
            "hi timestamptz, exact boolean, PRIMARY KEY (meter_id, day)) ON COMMIT DROP"
        )

    def add(self, meter_id: np.ndarray, ts_us: np.ndarray, micros: np.ndarray, exact=True):
        """Rows as staged: meter ids, instants (µs since 1970 UTC), values in millionths.
        `exact=False`: the values did not fit 64 bits (zeros given): recompute their days."""
        if not len(meter_id):
            return
        exact = exact and bool(np.abs(micros).max() < EXACT_LIMIT)
        day, lo, hi = self._days(meter_id, ts_us)
        order = np.lexsort((ts_us, day, meter_id))
        meter, day, lo, hi = meter_id[order], day[order], lo[order], hi[order]
        ts, u = ts_us[order], micros[order]
        first = np.ones(len(ts), bool)  # the first row of its (meter, day) in this block
        first[1:] = (meter[1:] != meter[:-1]) | (day[1:] != day[:-1])
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(ts)) - 1
        prev = np.roll(u, 1)
        # A counter's consumption between consecutive readings; a decrease counts from zero.
        rise = np.where(first, 0, np.where(u >= prev, u - prev, u))
        gaps = np.where(first, -1, ts - np.roll(ts, 1))
        gap = np.maximum.reduceat(gaps, starts)
        record = np.zeros(len(starts), PART_RECORD)
        record["fields"] = len(PART_COLUMNS)
        for name, _, kind in PART_COLUMNS:
            record[f"{name}_len"] = np.dtype(kind).itemsize
        record["batch"] = self.batches
        self.batches += 1
        record["meter_id"] = meter[starts]
        record["day"] = day[starts] - EPOCH_ORDINAL - PG_EPOCH_DAYS
        record["lo"] = lo[starts] - PG_EPOCH_US
        record["hi"] = hi[starts] - PG_EPOCH_US
        record["exact"] = exact
        record["readings"] = ends - starts + 1
        record["total_hi"], record["total_lo"] = _split_sums(u, starts)
        record["first_at"] = ts[starts] - PG_EPOCH_US
        record["first_micro"] = u[starts]
        record["last_at"] = ts[ends] - PG_EPOCH_US
        record["last_micro"] = u[ends]
        record["rise_hi"], record["rise_lo"] = _split_sums(rise, starts)
        record["decreases"] = np.add.reduceat((~first & (u < prev)).astype(np.int64), starts)
        record["max_gap_s"] = np.where(gap < 0, np.nan, gap / 1e6)
        with self.cursor.cursor.copy(f"COPY {PARTS} FROM STDIN (FORMAT binary)") as copy:
            copy.write(COPY_HEADER + record.tobytes() + COPY_TRAILER)

    def _days(self, meter_id: np.ndarray, ts_us: np.ndarray):
        """Each row's local day (ordinal) and that day's window [lo, hi) in µs."""
        ids, inverse = np.unique(meter_id, return_inverse=True)
        missing = [int(m) for m in ids if int(m) not in self.meters]
        if missing:
            self.meters.update(_meters(missing))
        zones = np.array([self.meters[int(m)][0].key for m in ids])[inverse]
        interval = np.array([self.meters[int(m)][1] for m in ids])[inverse]
        day, lo, hi = (np.empty(len(ts_us), np.int64) for _ in range(3))
        for zone in np.unique(zones):
            rows = zones == zone
            day[rows], lo[rows], hi[rows] = local_days(ts_us[rows], interval[rows], str(zone))
        return day, lo, hi

    def note_stored(self) -> None:
        """Before readings of the days added since the last call are written: note which of
        these days already hold readings (their rollups are recomputed from the readings)."""
        if self.noted == self.batches:
            return
        self.cursor.execute(
            f"INSERT INTO {DAYS} (meter_id, day, lo, hi, exact) SELECT meter_id, day, lo, hi, "
            "NOT EXISTS (SELECT 1 FROM reporting_reading r WHERE r.meter_id = g.meter_id "
            "AND r.timestamp >= g.lo AND r.timestamp < g.hi) "
            f"FROM (SELECT meter_id, day, MIN(lo) AS lo, MIN(hi) AS hi FROM {PARTS} "
            "WHERE batch >= %s GROUP BY meter_id, day) g "
            f"WHERE NOT EXISTS (SELECT 1 FROM {DAYS} d WHERE d.meter_id = g.meter_id "
            "AND d.day = g.day)",
            [self.noted],
        )
        self.noted = self.batches

    def write(self, *, repeats: bool) -> int:
        """After the file's readings are written: the rollups of its days; the number written.
        `repeats`: the file holds a reading twice (its parts would count it twice).

        Another ingest may have written readings of a day noted as new, not committed when it was
        noted. Every writer of readings writes the rollups of their days in its transaction,
        under its meters' locks: once this file holds them, a writer that committed such readings
        left a rollup of the day, and the day is recomputed from the readings; one that is still
        to commit finds this file's rollup in its turn and recomputes the day after it."""
        cursor = self.cursor
        cursor.execute(f"SELECT DISTINCT meter_id FROM {PARTS}")
        lock_meters(cursor, [m for (m,) in cursor.fetchall()])
        self.note_stored()
        cursor.execute(
            f"UPDATE {DAYS} w SET exact = false FROM {ReadingDay._meta.db_table} d "
            "WHERE w.exact AND d.meter_id = w.meter_id AND d.day = w.day"
        )
        if repeats:
            cursor.execute(f"UPDATE {DAYS} SET exact = false")
        cursor.execute(
            f"UPDATE {DAYS} w SET exact = false FROM {PARTS} p WHERE NOT p.exact "
            "AND w.meter_id = p.meter_id AND w.day = p.day"
        )
        # Parts of one day from several blocks join only if they follow each other in time.
        cursor.execute(
            f"UPDATE {DAYS} w SET exact = false FROM (SELECT meter_id, day, first_at, "
            "LAG(last_at) OVER (PARTITION BY meter_id, day ORDER BY first_at, last_at) AS prev "
            f"FROM {PARTS}) p WHERE p.first_at <= p.prev AND w.meter_id = p.meter_id "
            "AND w.day = p.day AND w.exact"
        )
        _delete_days(cursor)
        scale = f"{1 << SPLIT}::numeric"
        step = (
            "CASE WHEN prev_at IS NULL THEN 0 WHEN first_micro >= prev_micro "
            "THEN first_micro::numeric - prev_micro ELSE first_micro END"
        )
        cursor.execute(
            f"INSERT INTO {ReadingDay._meta.db_table} (meter_id, day, readings, total_micro, "
            "first_at, first_value, last_at, last_value, rise_micro, decreases, max_gap_s) "
            f"SELECT meter_id, day, SUM(readings), SUM(total_hi) * {scale} + SUM(total_lo), "
            "MIN(first_at), MAX(CASE WHEN prev_at IS NULL THEN first_micro END) * 0.000001, "
            "MAX(last_at), MAX(CASE WHEN next_at IS NULL THEN last_micro END) * 0.000001, "
            f"SUM(rise_hi) * {scale} + SUM(rise_lo) + SUM({step}), "
            "SUM(decreases) + SUM(CASE WHEN first_micro < prev_micro THEN 1 ELSE 0 END), "
            "GREATEST(MAX(NULLIF(max_gap_s, 'NaN')), "
            "MAX(EXTRACT(EPOCH FROM first_at - prev_at)::double precision)) "
            "FROM (SELECT p.*, LAG(last_at) OVER t AS prev_at, LAG(last_micro) OVER t AS "
            f"prev_micro, LEAD(first_at) OVER t AS next_at FROM {PARTS} p JOIN {DAYS} w "
            "USING (meter_id, day) WHERE w.exact "
            "WINDOW t AS (PARTITION BY p.meter_id, p.day ORDER BY p.first_at)) x "
            "GROUP BY meter_id, day"
        )
        written = cursor.rowcount
        written += _insert_from_readings(cursor, "WHERE NOT w.exact")
        cursor.execute(f"DROP TABLE {DAYS}")
        cursor.execute(f"DROP TABLE {PARTS}")
        return written


def local_days(ts_us: np.ndarray, interval: np.ndarray, zone: str):
    """The local day (ordinal) of readings at `ts_us` (µs since 1970 UTC; `interval`: bool per
    reading) in `zone`, and its `window` [lo, hi) in µs: vectorised, from `midnight`."""
    # An interval reading belongs to the day its interval starts in: (midnight, next midnight].
    shifted = ts_us - interval
    utc_days = np.unique(shifted // DAY_US) + EPOCH_ORDINAL
    # The local day is within two of the UTC day: the midnights of those days and of the next
    # ones, in time order (a day the zone skipped has an empty window: its two ends are equal).
    days = np.unique((utc_days[:, None] + np.arange(-2, 4)).ravel())
    days = days[(days >= 1) & (days <= LAST_ORDINAL)]  # the days Python can name
    starts = np.array([midnight_us(zone, int(d)) for d in days], np.int64)
    if (np.diff(starts) < 0).any():
        raise ValueError(f"local midnights of {zone} out of order")
    at = np.searchsorted(starts, shifted, side="right") - 1  # the last midnight at or before
    return days[at], starts[at] + interval, starts[at + 1] + interval


@lru_cache(maxsize=1 << 16)
def midnight_us(zone: str, ordinal: int) -> int:
    """`midnight` of a day (ordinal) in `zone`, µs since 1970 UTC."""
    return (midnight(date.fromordinal(ordinal), ZoneInfo(zone)) - EPOCH) // EPSILON


def _split_sums(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group sums of int64 `values` as (high, low): sum = high × 2**SPLIT + low, exactly
    (each part's sum stays far inside 64 bits for any block size below 2**24 rows)."""
    return (
        np.add.reduceat(values >> SPLIT, starts),
        np.add.reduceat(values & ((1 << SPLIT) - 1), starts),
    )


# --- a site's time zone moves every day boundary -----------------------------------------------


def _remember_time_zone(sender, instance: Site, **kwargs) -> None:
    instance._stored_time_zone = (
        Site.objects.filter(pk=instance.pk).values_list("time_zone", flat=True).first()
        if instance.pk
        else None
    )


def _rebuild_on_time_zone_change(sender, instance: Site, created: bool, **kwargs) -> None:
    before = getattr(instance, "_stored_time_zone", None)
    if created or before is None or before == instance.time_zone:
        return
    # In the saving transaction: a rollback of the save rolls the rebuild back with it.
    rebuild(MeasurementPoint.objects.filter(site=instance).values_list("pk", flat=True))


def _remember_meter_zone(sender, instance: MeasurementPoint, **kwargs) -> None:
    instance._stored_zone = (
        MeasurementPoint.objects.filter(pk=instance.pk)
        .values_list("site__time_zone", "register")
        .first()
        if instance.pk
        else None
    )


def _rebuild_on_meter_move(sender, instance: MeasurementPoint, created: bool, **kwargs) -> None:
    """A meter moved to a site in another time zone (its site is writable through the API and
    the admin): its readings' local days are the new site's."""
    before = getattr(instance, "_stored_zone", None)
    if created or before is None:
        return
    now = (
        Site.objects.values_list("time_zone", flat=True).get(pk=instance.site_id),
        instance.register,
    )
    if now != tuple(before):
        rebuild([instance.pk])


def site_time_zone_problems(site: Site) -> dict[str, str]:
    """A site's time zone may not change while readings of its meters are archived: the
    rebuild would drop their rollups, the only figures of them left (`registry.SITE_CHECKS`)."""
    if site.pk is None:
        return {}
    stored = Site.objects.filter(pk=site.pk).values_list("time_zone", flat=True).first()
    if stored is None or stored == site.time_zone:
        return {}
    from reporting.models import archived_message, archived_readings

    meters = MeasurementPoint.objects.filter(site_id=site.pk).values_list("pk", flat=True)
    count = archived_readings(meters)
    if not count:
        return {}
    return {"time_zone": archived_message(count, "changing the time zone")}


def connect_signals() -> None:
    """Every door that saves a Site (admin, API, import_sites) or a meter (admin, API,
    import_meters) goes through save()."""
    pre_save.connect(_remember_time_zone, sender=Site, dispatch_uid="rollups-tz-before")
    post_save.connect(_rebuild_on_time_zone_change, sender=Site, dispatch_uid="rollups-tz-after")
    pre_save.connect(
        _remember_meter_zone, sender=MeasurementPoint, dispatch_uid="rollups-meter-before"
    )
    post_save.connect(
        _rebuild_on_meter_move, sender=MeasurementPoint, dispatch_uid="rollups-meter-after"
    )
