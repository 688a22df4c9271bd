"""Daily rollups: the computation from rollups equals the computation from raw readings, every
writer keeps them in step, and `rebuild_rollups` recomputes them."""

import io
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import rollups
from reporting.computation import compute
from reporting.ingest import csv_text, import_meters
from reporting.models import MeterSetting, Reading, ReadingDay, ReportingPeriod
from tests.reporting.conftest import T0, ingest, make_meter, make_site, period, series

pytestmark = pytest.mark.django_db

ROLLUP_FIELDS = (
    "meter_id",
    "day",
    "readings",
    "total_micro",
    "first_at",
    "first_value",
    "last_at",
    "last_value",
    "rise_micro",
    "decreases",
    "max_gap_s",
)


def stored_rollups() -> list[tuple]:
    return list(ReadingDay.objects.order_by("meter_id", "day").values_list(*ROLLUP_FIELDS))


def assert_rollups_match_a_rebuild(meter_ids) -> None:
    """Maintained incrementally, the rollups are what a rebuild from scratch gives."""
    maintained = stored_rollups()
    rollups.rebuild(meter_ids)
    assert stored_rollups() == maintained


# --- the property: rollups == raw ---------------------------------------------------------------

# (time zone, first day, last day): a spring-forward, a fall-back, a month boundary each;
# Lord Howe shifts by 30 minutes, Santiago changes at local midnight, Kolkata is +05:30.
FRAMES = [
    ("Europe/Paris", date(2025, 3, 29), date(2025, 4, 1)),
    ("Europe/Paris", date(2025, 10, 25), date(2025, 11, 1)),
    ("Australia/Lord_Howe", date(2025, 4, 4), date(2025, 4, 7)),
    ("America/Santiago", date(2025, 4, 4), date(2025, 4, 7)),
    ("America/Santiago", date(2025, 9, 5), date(2025, 9, 8)),
    ("Asia/Kolkata", date(2025, 5, 30), date(2025, 6, 2)),
    ("UTC", date(2025, 12, 30), date(2025, 12, 31)),
]


@st.composite
def meter_plans(draw):
    register = draw(st.sampled_from(["interval", "cumulative"]))
    minutes = draw(st.sampled_from([15, 30, 60]))
    # runs of consecutive readings: (where in the frame, how many); between them, gaps
    runs = draw(st.lists(st.tuples(st.floats(0, 1), st.integers(1, 400)), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**32))
    setting = draw(st.none() | st.tuples(st.floats(0, 1), st.sampled_from([0, 7, 15])))
    return register, minutes, runs, seed, setting


@st.composite
def scenarios(draw):
    frame = draw(st.sampled_from(FRAMES))
    plans = draw(st.lists(meter_plans(), min_size=1, max_size=3))
    files = draw(st.integers(1, 4))
    order = draw(st.none() | st.randoms(use_true_random=False))  # None: files in time order
    corrections = draw(
        st.lists(st.tuples(st.integers(0, 10**6), st.decimals(0, 9, places=2)), max_size=4)
    )
    fill_gaps = draw(st.booleans())
    # Blocks of a few lines: a day's rows are summed in parts that ingest must join.
    chunk = draw(st.sampled_from([5, 64, 50_000]))
    return frame, plans, files, order, corrections, fill_gaps, chunk


def _readings(code, plan, start, span):
    """Readings of one meter over `span` from `start`: runs with a few dropped or off-grid
    readings, counter resets, one reading exactly at each run's local midnights by the grid."""
    register, minutes, runs, seed, _setting = plan
    rnd = random.Random(seed)
    slots = int(span / timedelta(minutes=minutes))
    found, counter = {}, Decimal(100)
    for where, length in runs:
        for slot in range(int(where * slots), min(slots, int(where * slots) + length)):
            if rnd.random() < 0.05:
                continue  # a missing reading
            ts = start + timedelta(minutes=minutes * slot)
            if rnd.random() < 0.03:
                ts += timedelta(minutes=7)  # off the grid
            value = Decimal(rnd.randint(0, 50_000)) / 1000
            if register == "cumulative":
                counter = value if rnd.random() < 0.02 else counter + value  # a reset
                value = counter
            found.setdefault(ts, value)
    return [(code, ts, value) for ts, value in found.items()]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_a_period_from_rollups_equals_the_period_from_raw_readings(scenario):
    (tz, first, last), plans, files, order, corrections, fill_gaps, chunk = scenario
    with transaction.atomic(), mock.patch.object(csv_text, "CHUNK_ROWS", chunk):
        site = make_site("PROP", time_zone=tz)
        obj = ReportingPeriod(
            site=site,
            year=2025,
            start_date=first,
            end_date=last,
            partial_year=True,
            fill_gaps=fill_gaps,
        )
        obj.save()
        # readings from a day before the period to a day after it
        start = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
        span = last - first + timedelta(days=3)
        rows = []
        meters = []
        for n, plan in enumerate(plans):
            quantity = ("eit-ups-output", "edc-supply", "water-total")[n]
            unit = "m3" if quantity == "water-total" else "kWh"
            meter = make_meter(
                site, f"P{n}", quantity, unit=unit, register=plan[0], interval_minutes=plan[1]
            )
            meters.append(meter)
            if plan[4] is not None:  # a setting change, often inside a day
                where, minute = plan[4]
                MeterSetting.objects.create(
                    meter=meter,
                    valid_from=start
                    + (span * where) // timedelta(hours=1) * timedelta(hours=1)
                    + timedelta(minutes=minute),
                    unit="L" if unit == "m3" else "MWh",
                    multiplier=Decimal("2.5"),
                    reason="CT ratio changed",
                )
            rows += _readings(meter.code, plan, start, span)
        if order is None:  # as a meter exports them: in time order, each file after the last
            rows.sort(key=lambda row: (row[1], row[0]))
            cuts = [len(rows) * k // files for k in range(files + 1)]
            parts = [rows[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        else:  # out-of-order files
            order.shuffle(rows)
            parts = [rows[k::files] for k in range(files)]
        for part in parts:
            report = ingest(part)
            assert report.accepted, report.errors.shown
        for position, value in corrections:  # late corrections
            if rows:
                code, ts, old = rows[position % len(rows)]
                ingest([(code, ts, Decimal(old) + value)], replace=True)
        assert compute(obj) == compute(obj, source="raw")
        assert_rollups_match_a_rebuild([m.pk for m in meters])
        transaction.set_rollback(True)


# (zone, first day, last day) beyond FRAMES: Samoa skipped 30 December 2011 altogether.
SKIPPED_DAY = ("Pacific/Apia", date(2011, 12, 28), date(2012, 1, 1))


def _us(moment: datetime) -> int:
    return (moment - rollups.EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize("interval", [True, False])
@pytest.mark.parametrize("zone, first, last", [*FRAMES, SKIPPED_DAY])
def test_the_day_of_a_reading_in_bulk_is_the_day_whose_window_holds_it(zone, first, last, interval):
    tz = ZoneInfo(zone)
    start, end = rollups.midnight(first, tz), rollups.midnight(last, tz)
    instants = [
        _us(start) + n * 300_000_000 for n in range(int((end - start).total_seconds()) // 300)
    ]
    for day in rollups.days_between(first, last):  # each midnight and a microsecond either side
        instants += [_us(rollups.midnight(day, tz)) + d for d in (-1, 0, 1)]
    ts_us = np.array(instants, np.int64)
    days, lo, hi = rollups.local_days(ts_us, np.full(len(ts_us), interval), zone)
    for ts, day, low, high in zip(ts_us, days, lo, hi, strict=True):
        window = rollups.window(date.fromordinal(int(day)), tz, interval)
        assert (int(low), int(high)) == (_us(window[0]), _us(window[1]))
        assert low <= ts < high


@pytest.mark.parametrize("chunk", [2, 7, 50_000])
def test_fresh_days_are_summed_from_the_file_and_days_with_readings_recomputed(monkeypatch, chunk):
    # One file: the rest of a day that already holds readings (and a correction in it), then
    # two new days, one of them the 23-hour day of the spring change with a counter reset.
    # Blocks of 2 lines hold one reading of each meter: every step of the counter, the reset
    # too, falls between two of a day's parts, which ingest sums apart and then joins.
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", chunk)
    site = make_site(time_zone="Europe/Paris")
    ups = make_meter(site, "UPS-1", "eit-ups-output")
    counter = make_meter(site, "MAIN", "edc-supply", register="cumulative")
    start = datetime(2025, 3, 28, 23, 0, tzinfo=UTC)  # local midnight starting 29 March
    end = datetime(2025, 3, 31, 22, 0, tzinfo=UTC)  # local midnight ending 31 March
    step = timedelta(minutes=15)
    stamps = [start + step * n for n in range((end - start) // step + 1)]
    reset = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)  # the counter starts again from 5
    rows = []
    for n, ts in enumerate(stamps):
        rows.append(("UPS-1", ts, "0.25"))
        rows.append(("MAIN", ts, Decimal(5 if ts >= reset else 100) + Decimal("0.5") * n))
    split = start + timedelta(hours=12)
    earlier = [row for row in rows if row[1] <= split]
    later = [row for row in rows if row[1] > split]
    assert ingest(earlier).accepted
    corrected = ("MAIN", earlier[5][1], Decimal(earlier[5][2]) + 1)
    recomputed = []
    insert_from_readings = rollups._insert_from_readings

    def spy(cursor, where=""):
        written = insert_from_readings(cursor, where)
        recomputed.append(written)
        return written

    monkeypatch.setattr(rollups, "_insert_from_readings", spy)
    report = ingest([corrected, *later], replace=True)
    assert report.accepted and (report.inserted, report.replaced) == (len(later), 1)
    days = {(row.meter_id, row.day): row for row in ReadingDay.objects.all()}
    ups_day = days[(ups.pk, date(2025, 3, 30))]
    assert ups_day.readings == 23 * 4 and ups_day.total_micro == 23 * 4 * 250_000
    assert days[(counter.pk, date(2025, 3, 30))].decreases == 1
    if connection.vendor == "postgresql":
        assert recomputed == [2]  # 29 March of each meter; the four new days from the file
    obj = ReportingPeriod(
        site=site,
        year=2025,
        start_date=date(2025, 3, 29),
        end_date=date(2025, 3, 31),
        partial_year=True,
    )
    obj.save()
    assert compute(obj) == compute(obj, source="raw")
    assert_rollups_match_a_rebuild([ups.pk, counter.pk])


# --- doors: every writer of readings keeps the rollups ------------------------------------------


def test_ingest_writes_the_rollups_of_each_local_day():
    site = make_site(time_zone="Europe/Paris")
    make_meter(site, "UPS-1", "eit-ups-output")
    # 23:00Z on 31 Dec is local midnight: that interval belongs to 31 Dec, the next to 1 Jan
    start = datetime(2024, 12, 31, 22, 0, tzinfo=UTC)
    assert ingest(series("UPS-1", start, 8, "2.5")).accepted
    days = {row.day: row for row in ReadingDay.objects.all()}
    assert sorted(days) == [date(2024, 12, 31), date(2025, 1, 1)]
    assert days[date(2024, 12, 31)].readings == 5  # 22:00 … 23:00Z
    assert days[date(2025, 1, 1)].readings == 3
    assert days[date(2025, 1, 1)].total_micro == 3 * 2_500_000


def test_a_replaced_reading_updates_its_day_and_a_rejected_file_changes_nothing():
    site = make_site()
    make_meter(site, "UPS-1", "eit-ups-output")
    assert ingest(series("UPS-1", T0 + timedelta(minutes=15), 4, "1")).accepted
    ingest([("UPS-1", T0 + timedelta(minutes=30), "5")], replace=True)
    assert ReadingDay.objects.get().total_micro == 8_000_000
    before = stored_rollups()
    assert not ingest([("UPS-1", T0 + timedelta(hours=2), "1"), ("NOPE", T0, "1")]).accepted
    assert stored_rollups() == before


def test_the_api_ingest_keeps_the_rollups(client, django_user_model):
    site = make_site()
    make_meter(site, "UPS-1", "eit-ups-output")
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    client.force_login(admin)
    body = "meter,timestamp,value\nUPS-1,2025-01-01T00:15:00Z,3\nUPS-1,2025-01-01T00:30:00Z,4\n"
    response = client.post("/api/readings/", body, content_type="text/csv")
    assert response.status_code in (200, 201, 202), response.content
    assert ReadingDay.objects.get().total_micro == 7_000_000


def test_the_ingest_command_keeps_the_rollups(tmp_path):
    site = make_site()
    make_meter(site, "UPS-1", "eit-ups-output")
    path = tmp_path / "r.csv"
    path.write_text("meter,timestamp,value\nUPS-1,2025-01-01T00:15:00Z,3\n")
    call_command("ingest_readings", str(path), stdout=io.StringIO())
    path.write_text("meter,timestamp,value\nUPS-1,2025-01-01T00:15:00Z,6\n")
    call_command("ingest_readings", str(path), "--replace", stdout=io.StringIO())
    assert ReadingDay.objects.get().total_micro == 6_000_000


def test_a_site_time_zone_change_moves_its_rollups():
    site = make_site(time_zone="UTC")
    meter = make_meter(site, "UPS-1", "eit-ups-output")
    assert ingest(series("UPS-1", T0, 8, "1")).accepted  # 00:00 … 01:45Z
    site.time_zone = "America/New_York"
    site.save()
    assert sorted(ReadingDay.objects.values_list("day", flat=True)) == [date(2024, 12, 31)]
    assert_rollups_match_a_rebuild([meter.pk])


def test_the_computation_from_rollups_needs_them_and_rebuild_restores_them():
    site = make_site()
    meter = make_meter(site, "UPS-1", "eit-ups-output")
    obj = period(site)
    assert ingest(series("UPS-1", T0 + timedelta(minutes=15), 96, "1")).accepted
    expected = compute(obj, source="raw")
    ReadingDay.objects.all().delete()  # readings written around ingest, rollups missing
    assert compute(obj) != expected
    out = io.StringIO()
    call_command("rebuild_rollups", "--meter", "UPS-1", stdout=out)
    assert "1 meter(s), every day: 1 day rollup(s) written" in out.getvalue()
    assert compute(obj) == expected
    Reading.objects.filter(meter=meter, timestamp__gt=T0 + timedelta(hours=12)).delete()
    call_command(
        "rebuild_rollups",
        "--site",
        site.code,
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-01",
        stdout=out,
    )
    assert compute(obj) == compute(obj, source="raw")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--meter", "NOPE"], "--meter: unknown meter 'NOPE'"),
        (["--site", "NOPE"], "--site: unknown site 'NOPE'"),
        (["--all", "--from", "2025-01-01"], "--from and --to go together"),
        (
            ["--all", "--from", "2025-13-01", "--to", "2025-12-31"],
            "--from: '2025-13-01' is not a day",
        ),
        (
            ["--all", "--from", "2025-02-01", "--to", "2025-01-01"],
            "--from 2025-02-01 is after --to",
        ),
    ],
)
def test_rebuild_rollups_refuses_bad_input_in_one_line(args, message):
    make_meter(make_site(), "UPS-1", "eit-ups-output")
    with pytest.raises(CommandError) as excinfo:
        call_command("rebuild_rollups", *args)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_rebuild_rollups_needs_a_scope():
    with pytest.raises(CommandError, match="one of the arguments --meter --site --all"):
        call_command("rebuild_rollups")


def test_a_meter_with_readings_stays_at_its_site(client, django_user_model):
    # Its readings are the site's history (periods, submitted ones included): moving the meter
    # would move them, and their local days, to another site. API and import_meters alike.
    here = make_site("TST1", time_zone="UTC")
    make_site("TST2", time_zone="Asia/Tokyo")
    meter = make_meter(here, "UPS-1", "eit-ups-output")
    assert ingest(series("UPS-1", T0 - timedelta(hours=12), 96, "1")).accepted
    kept = stored_rollups()
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    client.force_login(admin)
    response = client.patch(
        f"/api/measurement-points/{meter.pk}/", {"site": "TST2"}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "96 reading(s)" in str(response.json()["site"])
    report = import_meters(
        [
            "site,meter,quantity,unit,register,multiplier\n",
            "TST2,UPS-1,eit-ups-output,kWh,interval,1\n",
        ]
    )
    assert not report.accepted and report.errors.shown[0]["field"] == "site"
    meter.refresh_from_db()
    assert meter.site_id == here.pk and stored_rollups() == kept
    obj = period(here)
    assert compute(obj) == compute(obj, source="raw")
    # A meter without readings may still be moved (corrected): nothing to carry.
    spare = make_meter(here, "UPS-2", "eit-ups-output")
    response = client.patch(
        f"/api/measurement-points/{spare.pk}/", {"site": "TST2"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
