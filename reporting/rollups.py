"""Daily rollups of readings (`ReadingDay`): one row per meter and local day, kept in step with
the readings by every writer, so that a period is computed from meters × days rows.

A rollup is always *recomputed from the readings* of its (meter, day), set-based in SQL, never
patched incrementally: a late correction, an out-of-order file or a rebuild all converge on the
same row. Day windows are computed in Python with `zoneinfo` (the very function the computation
uses for its month boundaries), so PostgreSQL and SQLite agree on them.

Writers: `refresh_staged` after an ingest wrote its staged rows (same transaction); `refresh`
for a range (the `rebuild_rollups` command, anything that wrote readings some other way);
`rebuild` for whole meters (a site's time zone changed: every day boundary moved).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.models.signals import post_save, pre_save

from registry.models import Site
from reporting.models import MeasurementPoint, Reading, ReadingDay, Register

DAYS = "reporting_rollup_days"  # temporary: the (meter, day) windows to recompute
EPSILON = timedelta(microseconds=1)  # timestamps have microsecond resolution on both backends


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
        # The plan's estimated cost sets JIT compiling off for up to a second: not worth it for
        # a statement that runs once per file.
        cursor.execute("SET LOCAL jit = off")
    else:
        cursor.execute(f"CREATE TEMP TABLE {DAYS} (meter_id integer, day text, lo text, hi text)")
        rows = []
        for meter_id, day in wanted:
            tz, interval = meters[meter_id]
            lo, hi = window(day, tz, interval)
            rows.append((meter_id, _d(day), _dt(lo), _dt(hi)))
        cursor.executemany(f"INSERT INTO {DAYS} VALUES (%s, %s, %s, %s)", rows)
    table = ReadingDay._meta.db_table
    cursor.execute(
        f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {DAYS} w "
        f"WHERE w.meter_id = {table}.meter_id AND w.day = {table}.day)"
    )
    u = micro("r.value")
    cursor.execute(
        f"INSERT INTO {table} (meter_id, day, readings, total_micro, first_at, first_value, "
        "last_at, last_value, rise_micro, decreases, max_gap_s) "
        "SELECT meter_id, day, COUNT(*), SUM(u), MIN(ts), MAX(CASE WHEN prev_ts IS NULL "
        "THEN v END), MAX(ts), MAX(CASE WHEN next_ts IS NULL THEN v END), "
        "SUM(CASE WHEN prev_u IS NULL THEN 0 WHEN u >= prev_u THEN u - prev_u ELSE u END), "
        "SUM(CASE WHEN u < prev_u THEN 1 ELSE 0 END), "
        f"MAX({seconds_between('ts', 'prev_ts')}) "
        "FROM (SELECT w.meter_id, w.day, r.timestamp AS ts, r.value AS v, "
        f"{u} AS u, LAG({u}) OVER p AS prev_u, "
        "LAG(r.timestamp) OVER p AS prev_ts, LEAD(r.timestamp) OVER p AS next_ts "
        f"FROM {DAYS} w JOIN reporting_reading r ON r.meter_id = w.meter_id "
        "AND r.timestamp >= w.lo AND r.timestamp < w.hi "
        "WINDOW p AS (PARTITION BY w.meter_id, w.day ORDER BY r.timestamp)) x "
        "GROUP BY meter_id, day"
    )
    written = cursor.rowcount
    cursor.execute(f"DROP TABLE {DAYS}")
    return written


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
