"""Many periods computed together (`compute_many`, compute_year's batches) give exactly what
each period's own `compute` gives, in a number of queries that does not grow with the sites."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import tasks
from reporting.computation import compute, compute_and_store_many, compute_many
from reporting.models import (
    AggregateResult,
    FieldValue,
    MeterSetting,
    PeriodResult,
    PeriodStatus,
    RenewableInstrument,
    ReportingPeriod,
    TaskRun,
)
from reporting.tasks import queue_year
from tests.reporting.conftest import T0, ingest, make_meter, make_site, period, series
from tests.reporting.test_rollups import FRAMES, _readings, meter_plans

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _fleet_site(code, tz, country="FR", *, reset=False, gap=False, setting=False):
    """A site with an interval UPS meter, a cumulative main counter and a water counter."""
    site = make_site(code, country=country, time_zone=tz)
    make_meter(site, f"{code}-UPS", "eit-ups-output", interval_minutes=60)
    make_meter(site, f"{code}-MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    water = make_meter(site, f"{code}-W", "water-total", "L", "cumulative", interval_minutes=60)
    ups = series(f"{code}-UPS", T0 + HOUR, 72, 10, step=HOUR)
    if gap:
        ups = ups[:20] + ups[30:]
    main = series(f"{code}-MAIN", T0, 73, 15, step=HOUR, cumulative_from=1000)
    if reset:  # a meter replacement: the counter starts again near zero
        main = main[:40] + [(c, ts, Decimal(v) - 900) for c, ts, v in main[40:]]
    ingest(ups + main + series(f"{code}-W", T0, 73, 50, step=HOUR, cumulative_from=0))
    if setting:  # a new unit from the middle of a day on
        MeterSetting.objects.create(
            meter=water,
            valid_from=T0 + 30 * HOUR + timedelta(minutes=30),
            unit="m3",
            multiplier=Decimal("0.5"),
            reason="meter replaced",
        )
    return site


@pytest.fixture
def fleet(db):
    """Four sites that differ in every input the computation reads."""
    paris = _fleet_site("FLA", "Europe/Paris", reset=True)
    utc = _fleet_site("FLB", "UTC", gap=True, setting=True)
    kolkata = _fleet_site("FLC", "Asia/Kolkata", country="DE")
    plain = _fleet_site("FLD", "UTC")
    periods = [
        period(paris, pdit_basis="installed"),
        period(utc, fill_gaps=True),
        period(kolkata),
        period(plain),
    ]
    FieldValue.objects.create(period=periods[0], symbol="SDC", value=1000, quality="estimated")
    FieldValue.objects.create(
        period=periods[1], symbol="WIN", quality="omitted", omission_reason="no meter yet"
    )
    FieldValue.objects.create(period=periods[2], symbol="EIT", note="checked on site")
    RenewableInstrument.objects.create(period=periods[0], kind="go", volume_kwh=100)
    RenewableInstrument.objects.create(period=periods[2], kind="onsite")
    periods[1].segments.create(first_day=date(2025, 1, 1), last_day=date(2025, 6, 30), power_kw=80)
    # The previous year's figures of one site (the year-on-year validation check reads them).
    before = period(paris, year=2024)
    PeriodResult.objects.create(
        period=before,
        inputs={"EDC": {"value": "1"}, "EIT": {"value": "1"}},
        indicators={},
        monthly=[],
        coverage={},
        findings=[],
        code_version="test",
        fingerprint="x",
        computed_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return list(ReportingPeriod.objects.filter(year=2025).select_related("site"))


def test_many_periods_at_once_equal_each_period_alone_and_the_raw_readings(fleet):
    together = compute_many(fleet)
    assert together == [compute(p) for p in fleet]
    assert together == [compute(p, source="raw") for p in fleet]
    # the sites really differ: a reset, a gap filled, a setting change, an EnEfG finding
    by_site = {p.site.code: c for p, c in zip(fleet, together, strict=True)}
    assert by_site["FLA"]["coverage"]["FLA-MAIN"]["resets"]
    assert by_site["FLB"]["coverage"]["FLB-UPS"]["filled"]
    assert len(by_site["FLB"]["coverage"]["FLB-W"]["settings"]) == 2
    assert by_site["FLB"]["inputs"]["WIN"]["quality"] == "omitted"
    assert any(f.get("legal_ref") for f in by_site["FLC"]["findings"])
    assert by_site["FLA"]["inputs"]["SDC"]["source"] == "entered"
    # and in any order
    assert compute_many(fleet[::-1]) == together[::-1]


def test_two_years_of_one_site_in_one_batch(fleet):
    site = fleet[0].site
    ingest(series(f"{site.code}-UPS", T0 - 24 * HOUR, 24, 7, step=HOUR))  # the last day of 2024
    both = [ReportingPeriod.objects.get(site=site, year=year) for year in (2024, 2025)]
    assert compute_many(both) == [compute(p) for p in both]


def _counter_consumption(readings, start, end, tz) -> dict[str, Decimal]:
    """The rule, by hand: the difference of consecutive readings in [start, end] (a decrease
    counts the new reading from zero), in the local month of the earlier reading."""
    kept = [(ts, v) for _code, ts, v in sorted(readings, key=lambda r: r[1]) if start <= ts <= end]
    months: dict[str, Decimal] = defaultdict(Decimal)
    for (ts, before), (_ts, after) in zip(kept, kept[1:], strict=False):
        months[ts.astimezone(tz).strftime("%Y-%m")] += after - before if after >= before else after
    return months


def test_counter_edges_from_rollups_equal_the_raw_readings(db):
    """Counter day rows paired with the next day row: a decrease at the year's first instant
    (its earlier reading is outside the year: not counted), one inside the first day, one
    across a day without readings, a pause across a month end, one at the year's end instant."""
    tz = ZoneInfo("Europe/Paris")
    site = make_site("CEDGE", time_zone="Europe/Paris")
    make_meter(site, "CEDGE-MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    start = datetime(2025, 1, 1, tzinfo=tz)
    end = datetime(2026, 1, 1, tzinfo=tz)

    def hourly(first, count, value):
        return series("CEDGE-MAIN", first, count, 10, step=HOUR, cumulative_from=value)

    readings = (
        hourly(start - 3 * HOUR, 3, 5000)  # the last evening of 2024
        + hourly(start, 3, 100)  # 100 < 5020 at the first instant of the year
        + hourly(start + 3 * HOUR, 4 * 24 - 3, 5)  # a reset inside the first day
        + hourly(start + 5 * 24 * HOUR, 24, 50)  # 5 January without readings, then a reset
        + hourly(start + 6 * 24 * HOUR, 24, 900)  # 7 January, then 8 January without readings
        + hourly(start + 8 * 24 * HOUR, 2, 2000)
        + hourly(datetime(2025, 1, 29, tzinfo=tz), 2, 3000)  # then nothing until February
        + hourly(datetime(2025, 2, 1, tzinfo=tz), 2, 3100)
        + hourly(end - 2 * HOUR, 2, 4000)
        + hourly(end, 2, 3)  # a reset at the year's end instant, then a reading after it
    )
    ingest(readings)
    obj = period(site)
    rollup, raw = compute_many([obj])[0], compute(obj, source="raw")
    assert rollup == raw
    by_month = _counter_consumption(readings, start, end, tz)
    assert {m["month"]: Decimal(m["EDC"]) for m in rollup["monthly"] if m["EDC"] != "0"} == {
        month: total.quantize(Decimal("0.000001")) for month, total in by_month.items()
    }
    resets = [r["at"] for r in rollup["coverage"]["CEDGE-MAIN"]["resets"]]
    assert resets == [
        (start + 3 * HOUR).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        (start + 5 * 24 * HOUR).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    ]


def _count_queries(periods) -> int:
    with CaptureQueriesContext(connection) as queries:
        compute_many(periods)
    return len(queries)


def test_the_query_count_does_not_grow_with_the_sites(db, django_assert_max_num_queries):
    """Complete meters of a whole year: no gap, setting change or counter decrease to read raw
    (those few meters each cost their own query, as in `compute`)."""
    periods = []
    for n in range(12):
        site = make_site(f"QC{n:02d}", time_zone="UTC")
        make_meter(site, f"QC{n:02d}-UPS", "eit-ups-output", interval_minutes=60)
        make_meter(site, f"QC{n:02d}-MAIN", "edc-supply", "kWh", "cumulative", interval_minutes=60)
        ingest(
            series(f"QC{n:02d}-UPS", T0 + HOUR, 8760, 10, step=HOUR)
            + series(f"QC{n:02d}-MAIN", T0, 8761, 13, step=HOUR, cumulative_from=0)
        )
        periods.append(period(site))
    periods = list(ReportingPeriod.objects.filter(year=2025).select_related("site"))
    two = _count_queries(periods[:2])
    assert _count_queries(periods) == two  # 12 sites: as many queries as 2
    with django_assert_max_num_queries(two):
        compute_many(periods)


# --- the property: on random sites, together == alone == raw -----------------------------------


@st.composite
def fleets(draw):
    # few frames, so that sites often share one (and so one set-based query)
    frames = draw(st.lists(st.sampled_from(FRAMES[:3] + FRAMES[-1:]), min_size=2, max_size=4))
    return [
        (frame, draw(st.lists(meter_plans(), min_size=1, max_size=2)), draw(st.booleans()))
        for frame in frames
    ]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(fleets(), st.booleans())
def test_random_fleets_computed_together_equal_each_site_alone(sites, entered):
    with transaction.atomic():
        periods = []
        for s, ((tz, first, last), plans, fill_gaps) in enumerate(sites):
            site = make_site(f"RND{s}", time_zone=tz)
            obj = ReportingPeriod.objects.create(
                site=site,
                year=2025,
                start_date=first,
                end_date=last,
                partial_year=True,
                fill_gaps=fill_gaps,
            )
            start = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
            span = last - first + timedelta(days=3)
            rows = []
            for n, plan in enumerate(plans):
                meter = make_meter(
                    site,
                    f"R{s}M{n}",
                    ("eit-ups-output", "edc-supply")[n],
                    register=plan[0],
                    interval_minutes=plan[1],
                )
                if plan[4] is not None:
                    where, minute = plan[4]
                    MeterSetting.objects.create(
                        meter=meter,
                        valid_from=start
                        + (span * where) // timedelta(hours=1) * timedelta(hours=1)
                        + timedelta(minutes=minute),
                        unit="MWh",
                        multiplier=Decimal("2.5"),
                        reason="CT ratio changed",
                    )
                rows += _readings(meter.code, plan, start, span)
            if rows:
                assert ingest(rows).accepted
            if entered and s % 2:
                FieldValue.objects.create(
                    period=obj, symbol="SDC", value=10 * s, quality="measured"
                )
            periods.append(obj)
        periods = list(ReportingPeriod.objects.filter(site__code__startswith="RND"))
        together = compute_many(periods)
        assert together == [compute(p) for p in periods]
        assert together == [compute(p, source="raw") for p in periods]
        transaction.set_rollback(True)


# --- the task path: batches of sites, draft periods only ----------------------------------------


def test_compute_year_sends_batches_and_skips_frozen_periods(db, settings):
    settings.COMPUTE_YEAR_BATCH_SITES = 2
    for code in ("BA1", "BA2", "BA3"):
        site = make_site(code)
        make_meter(site, f"{code}-UPS", "eit-ups-output", interval_minutes=60)
        make_meter(site, f"{code}-MAIN", "edc-supply", interval_minutes=60)
        ingest(
            series(f"{code}-UPS", T0 + HOUR, 24, 10, step=HOUR)
            + series(f"{code}-MAIN", T0 + HOUR, 24, 13, step=HOUR)
        )
        period(site)
    frozen = ReportingPeriod.objects.get(site__code="BA3")
    ReportingPeriod.objects.filter(pk=frozen.pk).update(status=PeriodStatus.VALIDATED)
    signature = tasks.year_signature(2025)
    assert [len(t.args[0]) for t in signature.tasks] == [2]  # BA3 is not draft: not sent
    run = queue_year(2025)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["periods"] == 2
    assert not PeriodResult.objects.filter(period=frozen).exists()
    stored = {r.period.site.code: r for r in PeriodResult.objects.select_related("period__site")}
    assert set(stored) == {"BA1", "BA2"}
    for code, result in stored.items():
        alone = compute(ReportingPeriod.objects.get(site__code=code))
        assert result.inputs == alone["inputs"] and result.findings == alone["findings"]
    assert AggregateResult.objects.get(year=2025, scope="EU", group="all").n_sites == 2
    assert TaskRun.objects.filter(pk=run.pk, status="succeeded").exists()


def test_a_batch_skips_a_period_frozen_after_the_fan_out(db):
    site = make_site("BZ1")
    make_meter(site, "BZ1-UPS", "eit-ups-output", interval_minutes=60)
    ingest(series("BZ1-UPS", T0 + HOUR, 24, 10, step=HOUR))
    draft, frozen = period(site), period(make_site("BZ2"))
    ReportingPeriod.objects.filter(pk=frozen.pk).update(status=PeriodStatus.SUBMITTED)
    outcome = tasks.compute_periods([draft.pk, frozen.pk])
    assert outcome[0]["period"] == draft.pk and "indicators" in outcome[0]
    assert outcome[1] == {"period": frozen.pk, "skipped": outcome[1]["skipped"]}
    assert "frozen" in outcome[1]["skipped"]
    assert set(compute_and_store_many([draft.pk])) == {draft.pk}
