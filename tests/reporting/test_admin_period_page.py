"""The period page leads with the answer (indicators and checks, Compute and Export buttons) and
the long forms come after; the export list starts an export; the e-waste report has a page."""

import io
from datetime import timedelta

import openpyxl
import pytest
from django.urls import reverse

from reporting.computation import compute_and_store
from reporting.models import TaskRun
from reporting.presentation import shown_figure
from tests import factories
from tests.reporting.conftest import T0, ingest, make_meter, period, series


@pytest.fixture
def operator(site):
    user = factories.user("op", group="operator", is_staff=True)
    site.operators.add(user)
    return user


def test_the_answer_comes_before_the_forms(client, operator, site):
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply")
    ingest(series("UPS-1", T0 + timedelta(minutes=15), 4, 10))
    ingest(series("MAIN", T0 + timedelta(minutes=15), 4, 15))
    p = period(site)
    client.force_login(operator)
    url = reverse("admin:reporting_reportingperiod_change", args=[p.pk])
    page = client.get(url).content.decode()
    assert "Not computed yet: press Compute" in page
    compute_and_store(p)
    page = client.get(url).content.decode()
    summary = page.index('class="period-summary"')
    indicators = page.index('table class="indicators"')
    assert summary < indicators < page.index("Entered information")
    assert summary < page.index("Field dictionary")  # the long forms come after
    assert "Power usage effectiveness (PUE = EDC/EIT)" in page
    assert page.index("Checks") < page.index("Entered information")
    export = reverse("admin:exports_eu_workbook") + f"?year={p.year}&amp;sites={site.pk}"
    assert export in page
    response = client.post(reverse("admin:reporting_period_compute_now", args=[p.pk]))
    run = TaskRun.objects.filter(period=p).latest("created_at")
    assert response["Location"] == reverse("admin:reporting_period_compute", args=[p.pk, run.pk])


def test_an_auditor_reads_the_answer_but_cannot_compute(client, site):
    auditor = factories.user("aud", group="auditor", is_staff=True)
    p = period(site)
    client.force_login(auditor)
    page = client.get(reverse("admin:reporting_reportingperiod_change", args=[p.pk])).content
    assert b'class="compute"' not in page
    response = client.post(reverse("admin:reporting_period_compute_now", args=[p.pk]))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("value", "shown"),
    [("900.8219178082", "901"), ("12345.6", "12\u202f346"), ("1.3209", "1.32"),
     ("0.0123456", "0.0123"), (None, "—"), ("0", "0.00")],
)  # fmt: skip
def test_annex_ii_figures_are_rounded_for_reading(value, shown):
    assert shown_figure(value) == shown


def test_export_list_starts_exports_and_the_ewaste_report_downloads(client, operator, site):
    client.force_login(operator)
    page = client.get(reverse("admin:exports_exportjob_changelist")).content.decode()
    assert reverse("admin:exports_eu_workbook") in page and reverse("admin:exports_ewaste") in page
    assert "Start one with the buttons above" in page
    form = client.get(reverse("admin:exports_ewaste"), {"year": "2025"}).context["form"]
    assert form["year"].value() == "2025"
    response = client.post(reverse("admin:exports_ewaste"), {"year": "2025"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attach")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert "Routes" in book.sheetnames
