"""reporting/permissions.py from the doors the matrix only opens: admin forms posted by an
operator of another site, the site choices offered, the task queue, the export retry."""

import pytest
from django.core.exceptions import PermissionDenied

from reporting import permissions as policy
from reporting.exports.models import ExportJob, ExportState
from reporting.models import MeasurementPoint, ReportingPeriod
from reporting.tasks import queue_compute
from tests import factories
from tests.reporting.conftest import make_site, period

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites():
    par, fra = make_site("PAR1"), make_site("FRA1", country="DE")
    meter = MeasurementPoint.objects.create(
        site=par, code="PAR1-MAIN", quantity="edc-supply", unit="kWh", register="interval"
    )
    fra_operator = factories.user("fra-op", group="operator", is_staff=True)
    fra.operators.add(fra_operator)
    return par, fra, meter, fra_operator


def _meter_form(meter, site, location="moved"):
    return {
        "site": site.pk,
        "code": meter.code,
        "quantity": meter.quantity,
        "unit": meter.unit,
        "register": meter.register,
        "multiplier": "1",
        "interval_minutes": "15",
        "location": location,
        "valid_from": "",
        "valid_to": "",
    }


def test_operator_of_fra1_cannot_change_or_move_a_par1_meter_in_the_admin(client, two_sites):
    par, fra, meter, fra_operator = two_sites
    client.force_login(fra_operator)
    url = f"/admin/reporting/measurementpoint/{meter.pk}/change/"
    response = client.post(url, _meter_form(meter, fra))
    assert response.status_code in (302, 403)
    meter.refresh_from_db()
    assert meter.site == par and meter.location != "moved"


def test_operator_cannot_move_their_own_meter_to_a_site_they_do_not_operate(client, two_sites):
    par, fra, meter, _ = two_sites
    par_operator = factories.user("par-op", group="operator", is_staff=True)
    par.operators.add(par_operator)
    client.force_login(par_operator)
    response = client.post(
        f"/admin/reporting/measurementpoint/{meter.pk}/change/", _meter_form(meter, fra)
    )
    assert response.status_code == 200  # the form again, with the error on `site`
    assert "site" in response.context["adminform"].form.errors
    meter.refresh_from_db()
    assert meter.site == par
    # the site choices offered are only the operator's own
    page = client.get("/admin/reporting/measurementpoint/add/")
    choices = {c for c, _ in page.context["adminform"].form.fields["site"].choices if c}
    assert {str(c) for c in choices} == {str(par.pk)}


def test_operator_of_fra1_cannot_add_a_period_or_edit_the_profile_of_par1(client, two_sites):
    par, fra, _, fra_operator = two_sites
    client.force_login(fra_operator)
    client.post(
        "/admin/reporting/reportingperiod/add/",
        {"site": par.pk, "year": 2031, "start_date": "2031-01-01", "end_date": "2031-12-31"},
    )
    assert not ReportingPeriod.objects.filter(site=par, year=2031).exists()
    profile = par.reporting_profile
    response = client.post(
        f"/admin/reporting/siteprofile/{profile.pk}/change/",
        {"site": par.pk, "owner_name": "Hijacked"},
    )
    assert response.status_code in (302, 403)
    profile.refresh_from_db()
    assert profile.owner_name != "Hijacked"


def test_the_task_queue_refuses_a_computation_for_another_site(two_sites):
    par, _, _, fra_operator = two_sites
    with pytest.raises(PermissionDenied):
        queue_compute(period(par), fra_operator)


def test_auditor_sees_but_does_not_retry_another_users_export(api, two_sites):
    _, _, _, fra_operator = two_sites
    auditor = factories.user("aud", group="auditor", is_staff=True)
    job = ExportJob.objects.create(
        kind="ewaste", params={"year": 2025}, requested_by=fra_operator, state=ExportState.FAILED
    )
    assert policy.can_see_export(auditor, job) and not policy.can_retry_export(auditor, job)
    api.force_authenticate(auditor)
    assert api.get(f"/api/exports/{job.pk}/").status_code == 200
    assert api.post(f"/api/exports/{job.pk}/retry/").status_code == 403
    job.refresh_from_db()
    assert job.state == ExportState.FAILED


def test_procurement_sees_no_reporting_data(api, two_sites):
    buyer = factories.user("buyer2", group="procurement", is_staff=True)
    api.force_authenticate(buyer)
    for url in ("/api/measurement-points/", "/api/readings/", "/api/periods/"):
        assert api.get(url).status_code == 403
