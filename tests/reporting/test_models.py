"""Model rules: Annex I profile, partial years, quality flags, meter units."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from reporting.models import FieldValue, MeasurementPoint, ReportingPeriod
from tests.reporting.conftest import make_site, period

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["N", "N+1", "N+2", "2N", "2N+1"])
def test_redundancy_notation_accepted(site, value):
    profile = site.reporting_profile
    profile.red_el_hv = value
    profile.full_clean()


@pytest.mark.parametrize("value", ["", "n+1", "N+", "2N-1", "N+0", "3", "NN"])
def test_redundancy_notation_refused(site, value):
    profile = site.reporting_profile
    profile.red_cool_room = value
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert "red_cool_room" in exc.value.message_dict


def test_nuts3_must_match_the_country(site):
    profile = site.reporting_profile
    profile.nuts3_code = "DE300"
    with pytest.raises(ValidationError, match="must start with FR"):
        profile.full_clean()
    profile.nuts3_code = "FR101"
    profile.full_clean()
    greek = make_site("ATH1", country="GR").reporting_profile
    greek.nuts3_code = "EL303"
    greek.full_clean()


def test_also_cohosting_only_for_colocation(site):
    profile = site.reporting_profile
    profile.dc_type, profile.also_cohosting = "enterprise", True
    with pytest.raises(ValidationError, match="colocation"):
        profile.full_clean()


def test_a_short_period_must_be_stated_partial(site):
    short = ReportingPeriod(
        site=site, year=2025, start_date=date(2025, 6, 1), end_date=date(2025, 12, 31)
    )
    with pytest.raises(ValidationError, match="partial year"):
        short.full_clean()
    short.partial_year = True
    short.full_clean()
    outside = ReportingPeriod(
        site=site,
        year=2025,
        start_date=date(2024, 6, 1),
        end_date=date(2025, 1, 31),
        partial_year=True,
    )
    with pytest.raises(ValidationError, match="within 2025"):
        outside.full_clean()


def test_omission_needs_its_art_3_2_reason(site):
    p = period(site)
    value = FieldValue(period=p, symbol="EDC", quality="omitted")
    with pytest.raises(ValidationError, match="reason"):
        value.full_clean()
    value.omission_reason = "meters installed in March"
    value.full_clean()
    value.value = 5
    with pytest.raises(ValidationError, match="no value"):
        value.full_clean()


def test_meter_units_match_the_quantity(site):
    water = MeasurementPoint(
        site=site, code="W", quantity="water-total", unit="kWh", register="interval"
    )
    with pytest.raises(ValidationError, match="L or m3"):
        water.full_clean()
    energy = MeasurementPoint(
        site=site, code="E", quantity="edc-supply", unit="m3", register="interval"
    )
    with pytest.raises(ValidationError, match="Wh, kWh"):
        energy.full_clean()
