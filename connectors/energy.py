"""Energy counters into meters, through the readings ingest (same checks as a file).

A counter is stored as read, converted exactly (Decimal) to the meter's unit, in a cumulative
register: the computation then finds counter resets and gaps as for any meter. Prometheus is read
on the meter's interval from the last stored reading on (the first pull goes back
CONNECTOR_BACKFILL_HOURS); Redfish and SNMP give the counter now, stored in the current interval
slot of the meter once (a second pull in the same slot leaves the first reading).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext

from django.conf import settings
from django.utils import timezone

from connectors.clients import SourceError, prometheus, redfish, snmp
from connectors.models import MeterFeed, SourceKind
from reporting.models import Reading

# Joules per unit: every conversion is a ratio of these, computed in Decimal.
JOULES = {
    "mJ": Decimal("0.001"),
    "J": Decimal(1),
    "Wh": Decimal(3600),
    "hWh": Decimal(360_000),
    "kWh": Decimal(3_600_000),
    "MWh": Decimal(3_600_000_000),
    "GJ": Decimal(1_000_000_000),
}
QUANTUM = Decimal("0.000001")  # a stored reading has 6 decimal places


class Rejected(Exception):
    """The ingest refused the readings (a closed meter, a value out of range): not retried."""

    public = True


def to_meter_unit(value: Decimal, sensor_unit: str, meter_unit: str) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return (value * JOULES[sensor_unit] / JOULES[meter_unit]).quantize(QUANTUM)


def _slot(moment: dt.datetime, minutes: int) -> dt.datetime:
    seconds = minutes * 60
    epoch = int(moment.timestamp()) // seconds * seconds
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _record(feed: MeterFeed, moment: dt.datetime, value: Decimal) -> dict:
    return {
        "meter": feed.meter.code,
        "timestamp": moment.isoformat(),
        "value": str(to_meter_unit(value, feed.sensor_unit, feed.meter.unit)),
    }


def _now() -> dt.datetime:
    return timezone.now()


def readings(source, client, feeds, log) -> list[dict]:
    """The new readings of every feed of `source`, as ingest records."""
    now = _now()
    records = []
    for feed in feeds:
        minutes = feed.meter.interval_minutes
        last = (
            Reading.objects.filter(meter=feed.meter).order_by("-timestamp")
            .values_list("timestamp", flat=True).first()
        )  # fmt: skip
        if source.kind == SourceKind.PROMETHEUS:
            found = _prometheus(client, feed, last, now)
        else:
            slot = _slot(now, minutes)
            if last is not None and last >= slot:
                log(f"{feed.meter.code}: this interval already has its reading")
                continue
            if source.kind == SourceKind.REDFISH:
                found = [(slot, redfish.energy_kwh(client, feed.sensor))]
            else:
                value = snmp.get_counter(
                    source.endpoint,
                    feed.sensor,
                    credentials=snmp.Credentials.from_stored(source.credentials()),
                    timeout=source.timeout_s,
                )
                found = [(slot, value)]
        log(f"{feed.meter.code}: {len(found)} reading(s)")
        records += [_record(feed, moment, value) for moment, value in found]
    return records


def _prometheus(client, feed: MeterFeed, last, now: dt.datetime) -> list[tuple]:
    step = feed.meter.interval_minutes * 60
    end = _slot(now, feed.meter.interval_minutes)
    start = (
        last + dt.timedelta(seconds=step)
        if last is not None
        else end - dt.timedelta(hours=settings.CONNECTOR_BACKFILL_HOURS)
    )
    out = []
    while start <= end:
        chunk_end = min(end, start + dt.timedelta(seconds=step * (prometheus.MAX_POINTS - 1)))
        series = client.range(feed.sensor, start, chunk_end, step)
        if len(series) > 1:
            raise SourceError(
                f"{feed.meter.code}: the expression gives {len(series)} series; a feed reads "
                "one (add labels to the selector, or sum())"
            )
        if series:
            out += series[0][1]
        start = chunk_end + dt.timedelta(seconds=step)
    return out
