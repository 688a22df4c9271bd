"""The demo site: a year of 15-minute readings with a gap and a counter reset, through the task."""

import io

import pytest

from reporting.computation import compute
from reporting.demo import load_demo_site, run_demo_kpis
from reporting.models import Reading

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
