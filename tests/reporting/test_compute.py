"""The computation against small hand-worked fixtures (every expected number worked by hand)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from reporting.computation import compute_and_store, period_bounds
from reporting.models import (
    AggregateResult,
    FieldValue,
    PeriodStatus,
    RenewableInstrument,
    ReportingPeriod,
)
from reporting.services import transition
from reporting.tasks import queue_year
from tests.reporting.conftest import ingest, make_meter, make_site, series

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = datetime(2025, 3, 1, tzinfo=UTC)


def one_day(site, **fields):
    obj = ReportingPeriod(
        site=site,
        year=2025,
        start_date=date(2025, 3, 1),
        end_date=date(2025, 3, 1),
        partial_year=True,
        pdit_basis="installed",
        wue_category=2,
        **fields,
    )
    obj.full_clean()
    obj.save()
    return obj


@pytest.fixture
def worked_site(site):
    """One day, hourly meters. By hand:
    EIT = 24 × 10 = 240 kWh; EDC = 24 × 15 = 360 kWh (counter 1000 → 1360);
    WIN = 24 × 50 L = 1.2 m³; heat 24 × 3 = 72 kWh, 24 × 1 = 24 kWh of it cools the DC,
    so EREUSE = 48 kWh; GO 100 + PPA (200 − 50 GOs sold) = 250 kWh renewable.
    """
    for code, quantity, unit, register in (
        ("UPS-1", "eit-ups-output", "kWh", "interval"),
        ("MAIN", "edc-supply", "kWh", "cumulative"),
        ("WATER", "water-total", "L", "cumulative"),
        ("HEAT-OUT", "heat-export", "kWh", "interval"),
        ("HEAT-OWN", "heat-internal-reuse", "kWh", "interval"),
    ):
        make_meter(site, code, quantity, unit, register, interval_minutes=60)
    ingest(
        series("UPS-1", DAY + HOUR, 24, 10, step=HOUR)
        + series("MAIN", DAY, 25, 15, step=HOUR, cumulative_from=1000)
        + series("WATER", DAY, 25, 50, step=HOUR, cumulative_from=0)
        + series("HEAT-OUT", DAY + HOUR, 24, 3, step=HOUR)
        + series("HEAT-OWN", DAY + HOUR, 24, 1, step=HOUR)
        # outside the day: ignored
        + [("UPS-1", DAY, "999"), ("UPS-1", DAY + 25 * HOUR, "999")]
    )
    p = one_day(site)
    RenewableInstrument.objects.create(period=p, kind="go", volume_kwh=100)
    RenewableInstrument.objects.create(period=p, kind="ppa", volume_kwh=200, gos_not_owned_kwh=50)
    return p


def _value(result, symbol):
    value = result.inputs[symbol]["value"]
    return None if value is None else Decimal(value)


def test_on_site_generation_to_come_from_meters_none_of_which_exist_is_unknown_not_0(
    worked_site,
):
    # The instrument says "from the renewable-onsite meters", and the site has none: ERES-OS
    # is not 0 kWh measured, and ERES-TOT (GO + PPA + OS) and REF are unknown with it.
    RenewableInstrument.objects.create(period=worked_site, kind="onsite", volume_kwh=None)
    result = compute_and_store(worked_site)
    assert _value(result, "ERES-OS") is None and result.inputs["ERES-OS"]["quality"] == "missing"
    assert _value(result, "ERES-TOT") is None and result.indicators["REF"] is None
    assert _value(result, "ERES-GOO") == 100 and _value(result, "ERES-PPA") == 150


def test_a_meter_with_no_reading_in_the_period_makes_its_figure_unknown_not_0(worked_site):
    # A second water meter, installed and expected to read, sent nothing: WIN is not the first
    # meter's 1.2 m3 (the second counted as 0), nor 0 m3 and WUE 0; it is missing.
    make_meter(worked_site.site, "WATER-2", "water-total", "m3", "cumulative")
    make_meter(worked_site.site, "HEAT-OWN-2", "heat-internal-reuse", "kWh", "interval")
    result = compute_and_store(worked_site)
    assert _value(result, "WIN") is None and result.inputs["WIN"]["quality"] == "missing"
    assert result.indicators["WUE"] is None
    assert _value(result, "EREUSE") is None  # own cooling unknown: the reuse is too
    assert _value(result, "EDC") == 360  # the other figures stand
    assert "WATER-2" in {f["fields"][0] for f in result.findings}  # named, 0 of 24 intervals


def test_inputs_and_indicators_match_the_hand_worked_day(worked_site):
    result = compute_and_store(worked_site)
    assert _value(result, "EIT") == 240 and _value(result, "EDC") == 360
    assert _value(result, "WIN") == Decimal("1.2") and _value(result, "EREUSE") == 48
    assert _value(result, "ERES-TOT") == 250 and _value(result, "ERES-PPA") == 150
    ind = {k: Decimal(v) for k, v in result.indicators.items() if v and k != "size_class"}
    assert ind["PUE"] == Decimal("1.5")  # 360 / 240
    assert ind["WUE"] == Decimal("5")  # 1.2 m³ / 0.24 MWh
    assert ind["ERF"] == Decimal("0.1333333333")  # 48 / 360
    assert ind["REF"] == Decimal("0.6944444444")  # 250 / 360
    assert ind["ERE"] == Decimal("1.3")  # (360 − 48) / 240
    assert ind["CUE"] == Decimal("0.084")  # FR 0.056 kg/kWh × 1.5
    assert result.inputs["EDC"]["quality"] == "measured"
    assert result.coverage["UPS-1"] == {
        "quantity": "eit-ups-output",
        "register": "interval",
        "settings": [{"valid_from": None, "unit": "kWh", "multiplier": "1.000000"}],
        "expected": 24,
        "present": 24,
        "pct": "100.00",
        "gaps": [],
        "resets": [],
        "filled": False,
    }
    assert not result.errors


def test_missing_inputs_give_absent_indicators_never_zero(site):
    make_meter(site, "UPS-1", "eit-ups-output", interval_minutes=60)
    make_meter(site, "MAIN", "edc-supply", interval_minutes=60)
    make_meter(site, "HEAT-OUT", "heat-export", interval_minutes=60)
    ingest(
        series("UPS-1", DAY + HOUR, 24, 10, step=HOUR)
        + series("MAIN", DAY + HOUR, 24, 12, step=HOUR)
        + series("HEAT-OUT", DAY + HOUR, 24, 0, step=HOUR)
    )
    result = compute_and_store(one_day(site))
    assert result.indicators["WUE"] is None and result.indicators["REF"] is None
    assert result.inputs["WIN"]["quality"] == "missing"
    assert result.indicators["ERF"] == "0E-10" or Decimal(result.indicators["ERF"]) == 0
    assert Decimal(result.indicators["PUE"]) == Decimal("1.2")


def test_counter_reset_is_counted_from_zero_and_flagged(site):
    make_meter(site, "MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    values = [1000, 1010, 5, 15] + [15 + 10 * i for i in range(1, 22)]
    ingest([("MAIN", DAY + i * HOUR, v) for i, v in enumerate(values)])
    result = compute_and_store(one_day(site))
    # 10 + 5 (new counter from 0) + 10 + 21 × 10 = 235
    assert _value(result, "EDC") == 235
    (reset,) = result.coverage["MAIN"]["resets"]
    assert reset["at"] == "2025-03-01T02:00:00Z" and reset["before"] == "1010.000000"
    assert "meter-counter-reset" in {f["rule_id"] for f in result.warnings}


def test_gap_lowers_coverage_and_is_listed(site):
    make_meter(site, "UPS-1", "eit-ups-output", interval_minutes=60)
    rows = [r for r in series("UPS-1", DAY + HOUR, 24, 10, step=HOUR) if r[1].hour not in (5, 6, 7)]
    ingest(rows)
    p = one_day(site)
    result = compute_and_store(p)
    cov = result.coverage["UPS-1"]
    assert (cov["expected"], cov["present"], cov["pct"]) == (24, 21, "87.50")
    # intervals ending 05:00, 06:00, 07:00 are missing: no data from 04:00 to 07:00
    assert cov["gaps"] == [
        {"from": "2025-03-01T04:00:00Z", "to": "2025-03-01T07:00:00Z", "missing_intervals": 3}
    ]
    assert _value(result, "EIT") == 210
    assert result.inputs["EIT"]["coverage_pct"] == "87.50"
    assert "meter-coverage-below-100" in {f["rule_id"] for f in result.warnings}
    # Filling gaps is the operator's explicit choice; the figure becomes estimated.
    p.fill_gaps = True
    p.save()
    filled = compute_and_store(p)
    assert _value(filled, "EIT") == 240 and filled.inputs["EIT"]["quality"] == "estimated"


def test_missing_first_and_last_readings_are_gaps(site):
    make_meter(site, "MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    ingest(series("MAIN", DAY + 2 * HOUR, 20, 10, step=HOUR, cumulative_from=0))  # 02:00-21:00
    result = compute_and_store(one_day(site))
    cov = result.coverage["MAIN"]
    assert (cov["expected"], cov["present"]) == (24, 19)
    assert [g["missing_intervals"] for g in cov["gaps"]] == [2, 3]


def test_months_follow_the_site_time_zone(db):
    site = make_site("PAR9", time_zone="Europe/Paris")
    make_meter(site, "UPS-P", "eit-ups-output")
    # 23:00Z on 31 Jan is midnight in Paris: the interval it ends is still January.
    ingest([("UPS-P", "2025-01-31T23:00:00Z", "1"), ("UPS-P", "2025-01-31T23:15:00Z", "2")])
    p = ReportingPeriod.calendar_year(site, 2025)
    p.save()
    result = compute_and_store(p)
    jan, feb = result.monthly[0], result.monthly[1]
    assert (jan["month"], jan["EIT"], feb["EIT"]) == ("2025-01", "1.000000", "2.000000")
    bounds = period_bounds(p)
    assert bounds[0] == datetime(2024, 12, 31, 23, tzinfo=UTC) and len(bounds) == 13


def test_units_and_multiplier_are_applied(site):
    make_meter(site, "GEN", "edc-backup-generator", unit="MWh", interval_minutes=60)
    make_meter(site, "FUEL", "edc-fuel", unit="GJ", interval_minutes=60, multiplier=2)
    ingest([("GEN", DAY + HOUR, "0.5"), ("FUEL", DAY + HOUR, "3.6")])
    result = compute_and_store(one_day(site))
    # 0.5 MWh = 500 kWh; 3.6 GJ × 2 = 7.2 GJ = 2000 kWh
    assert _value(result, "EDC-BG") == 500 and _value(result, "EDC") == 2500


def test_rerun_gives_the_same_result(worked_site):
    first = compute_and_store(worked_site)
    content = (first.inputs, first.indicators, first.monthly, first.coverage, first.findings)
    again = compute_and_store(worked_site)
    assert (
        again.inputs,
        again.indicators,
        again.monthly,
        again.coverage,
        again.findings,
    ) == content
    assert again.fingerprint == first.fingerprint


def test_entered_values_omissions_and_pdit_segments(worked_site):
    FieldValue.objects.create(period=worked_site, symbol="SDC", value=1000, quality="estimated")
    FieldValue.objects.create(
        period=worked_site, symbol="WIN", quality="omitted", omission_reason="no meter yet"
    )
    worked_site.segments.create(first_day=date(2025, 3, 1), last_day=date(2025, 3, 1), power_kw=800)
    result = compute_and_store(worked_site)
    assert result.inputs["SDC"] == {
        "value": "1000.000000",
        "unit": "m2",
        "quality": "estimated",
        "source": "entered",
        "note": "",
        "confidential": False,
    }
    assert result.inputs["WIN"]["quality"] == "omitted" and result.indicators["WUE"] is None
    assert Decimal(result.inputs["PDIT"]["value"]) == 800 and result.indicators["size_class"] == "S"


def test_hard_error_blocks_validated(site):
    make_meter(site, "UPS-1", "eit-ups-output", interval_minutes=60)
    make_meter(site, "MAIN", "edc-supply", interval_minutes=60)
    ingest(
        series("UPS-1", DAY + HOUR, 24, 10, step=HOUR)
        + series("MAIN", DAY + HOUR, 24, 9, step=HOUR)
    )
    p = one_day(site)
    with pytest.raises(ValidationError, match="eit-above-edc"):
        transition(p, PeriodStatus.VALIDATED)
    p.refresh_from_db()
    assert p.status == PeriodStatus.DRAFT and p.result.errors  # the findings are kept


def test_draft_validated_submitted_and_frozen(worked_site):
    transition(worked_site, PeriodStatus.VALIDATED)
    with pytest.raises(ValidationError):
        transition(worked_site, PeriodStatus.VALIDATED)
    transition(worked_site, PeriodStatus.SUBMITTED)
    worked_site.refresh_from_db()
    assert worked_site.status == PeriodStatus.SUBMITTED
    assert worked_site.history.first().history_change_reason.startswith("submitted")
    from reporting.computation import PeriodFrozen

    with pytest.raises(PeriodFrozen):
        compute_and_store(worked_site)


def test_compute_year_fans_out_then_aggregates(db):
    for code, edc, eit in (("A1", 15, 10), ("B1", 30, 25), ("C1", 12, 10)):
        site = make_site(code)
        make_meter(site, f"{code}-UPS", "eit-ups-output", interval_minutes=60)
        make_meter(site, f"{code}-MAIN", "edc-supply", interval_minutes=60)
        ingest([(f"{code}-UPS", DAY, eit), (f"{code}-MAIN", DAY, edc)])
    run = queue_year(2025)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    eu = AggregateResult.objects.get(year=2025, scope="EU", group="all")
    # EDC-weighted PUE: (15×1.5 + 30×1.2 + 12×1.2) / 57 = 72.9 / 57 = 1.2789473684
    assert eu.n_sites == 3 and eu.total_edc_kwh == 57
    assert eu.averages["PUE"]["value"] == "1.2789473684"
    per_type = AggregateResult.objects.get(year=2025, scope="FR", group="type:colocation")
    assert per_type.averages["PUE"]["suppressed"] is False


def test_compute_kpis_command_runs_the_task_path(worked_site):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("compute_kpis", "--year", "2025", "--site", "TST1", stdout=out)
    assert "succeeded" in out.getvalue() and "PUE 1.5000000000" in out.getvalue()
    with pytest.raises(CommandError, match="unknown site"):
        call_command("compute_kpis", "--year", "2025", "--site", "NOPE")
