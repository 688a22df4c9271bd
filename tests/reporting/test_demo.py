"""The demo site: a year of 15-minute readings with a gap and a counter reset, through the task."""

import io

import pytest

from reporting.computation import compute
from reporting.demo import load_demo_site, run_demo_kpis
from reporting.demo_de import load_demo_site_de, run_demo_kpis_de
from reporting.models import AggregateResult, PeriodResult, Reading

pytestmark = pytest.mark.django_db


def test_demo_site_loads_idempotently_and_computes(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    site = load_demo_site(out)
    count = Reading.objects.count()
    load_demo_site(out)  # again: nothing changes
    assert Reading.objects.count() == count and "0 inserted" in out.getvalue()
    result = run_demo_kpis(out)
    printed = out.getvalue()
    assert site.code == "PAR1" and "PUE" in printed and "counter reset at" in printed
    ups = result.coverage["PAR1-UPS"]
    assert ups["expected"] == 35040 and ups["present"] == 35040 - 24  # 6 h gap on 10 June
    assert len(result.coverage["PAR1-MAIN"]["resets"]) == 1
    assert 1.2 < float(result.indicators["PUE"]) < 1.45
    assert not result.errors, result.errors
    # the demo wrote through ingest: its rollups give what the raw readings give
    assert compute(result.period) == compute(result.period, source="raw")


def test_the_german_demo_site_is_in_the_annex_iv_aggregates_the_workbook_prints(settings, tmp_path):
    """The demo computes BER1 after PAR1's task already aggregated the year: its workbook's
    H_Aggregates must count BER1 too, not the aggregates of the sites computed before it."""
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    load_demo_site_de(out)
    run_demo_kpis_de(out)
    computed = PeriodResult.objects.filter(period__year=2025)
    eu = AggregateResult.objects.get(year=2025, scope="EU", group="all")
    assert eu.n_sites == computed.count() >= 1
    assert AggregateResult.objects.filter(year=2025, scope="DE", group="all").exists()
