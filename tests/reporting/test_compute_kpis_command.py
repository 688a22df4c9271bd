"""`compute_kpis` prints what it computed as the period page shows it: each figure with its unit."""

import io
import re

import pytest
from django.core.management import call_command

from reporting.demo_de import load_demo_site_de
from reporting.models import PeriodResult
from reporting.presentation import INDICATORS

pytestmark = pytest.mark.django_db


def test_each_printed_indicator_carries_its_unit_and_a_name_not_a_storage_key(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    load_demo_site_de(io.StringIO())
    out = io.StringIO()
    call_command("compute_kpis", "--year", "2025", "--site", "BER1", stdout=out)
    line = next(row for row in out.getvalue().splitlines() if row.startswith("BER1 2025"))
    stored = PeriodResult.objects.get(period__site__code="BER1", period__year=2025).indicators
    with_unit = [(k, unit) for k, (_, unit, _) in INDICATORS.items() if unit and stored.get(k)]
    assert with_unit
    for key, unit in with_unit:
        assert re.search(rf"{re.escape(str(stored[key]))} {re.escape(unit)}\b", line), key
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b|size_class", line), line


def test_every_stored_indicator_has_a_name_on_the_period_page(settings, tmp_path):
    from reporting.computation import compute_and_store
    from reporting.models import ReportingPeriod

    settings.VAR_DIR = tmp_path
    site = load_demo_site_de(io.StringIO())  # German: the EnEfG CER is computed too
    result = compute_and_store(ReportingPeriod.objects.get(site=site, year=2025))
    assert set(result.indicators) <= set(INDICATORS), set(result.indicators) - set(INDICATORS)
