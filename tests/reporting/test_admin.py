"""Admin: meters upload, the period page with inputs, flags, warnings and the monthly chart."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reporting.computation import compute_and_store
from reporting.models import PeriodStatus, Reading
from reporting.tasks import refresh_open_periods
from tests.reporting.conftest import T0, ingest, make_meter, period, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(user)
    return client


def test_readings_upload_form_ingests_and_reports_bad_lines(admin_client, site):
    make_meter(site, "UPS-1", "eit-ups-output")
    assert admin_client.get("/admin/reporting/measurementpoint/upload/").status_code == 200
    good = b"meter,timestamp,value\nUPS-1,2025-01-01T00:15:00Z,4\n"
    response = admin_client.post(
        "/admin/reporting/measurementpoint/upload/",
        {"file": SimpleUploadedFile("r.csv", good, "text/csv")},
    )
    assert b"1 inserted" in response.content and Reading.objects.count() == 1
    bad = b"meter,timestamp,value\nUPS-1,2025-01-01T00:30:00,4\n"
    response = admin_client.post(
        "/admin/reporting/measurementpoint/upload/",
        {"file": SimpleUploadedFile("r.csv", bad, "text/csv")},
    )
    assert b"rejected" in response.content and b"no UTC offset" in response.content


def test_meters_import_form(admin_client, site):
    body = b"site,meter,quantity,unit,register,multiplier\nTST1,M-9,edc-supply,kWh,interval,1\n"
    response = admin_client.post(
        "/admin/reporting/measurementpoint/import/",
        {"file": SimpleUploadedFile("m.csv", body, "text/csv")},
    )
    assert b"1 created" in response.content


def test_period_page_shows_inputs_flags_warnings_and_chart(admin_client, site):
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply")
    # Two months: PUE 1.5 in January, 1.2 in February (EDC per interval 15 then 12, EIT 10)
    ingest(series("UPS-1", T0 + timedelta(minutes=15), 4, 10))
    ingest(series("MAIN", T0 + timedelta(minutes=15), 4, 15))
    feb = T0 + timedelta(days=31, minutes=15)
    ingest(series("UPS-1", feb, 4, 10) + series("MAIN", feb, 4, 12))
    p = period(site)
    compute_and_store(p)
    page = admin_client.get(f"/admin/reporting/reportingperiod/{p.pk}/change/").content.decode()
    assert "<svg" in page and "<polyline" in page and "PUE: 1.20–1.50" in page
    assert "measured" in page and "meter-coverage-below-100" in page
    assert "8 of 35040 intervals" in page
    listing = admin_client.get("/admin/reporting/reportingperiod/")
    assert listing.status_code == 200


def test_admin_actions_use_the_services(admin_client, site):
    p = period(site)
    url = "/admin/reporting/reportingperiod/"
    admin_client.post(url, {"action": "compute", "_selected_action": [p.pk]})
    assert p.__class__.objects.get(pk=p.pk).result
    admin_client.post(url, {"action": "validate", "_selected_action": [p.pk]})
    p.refresh_from_db()
    assert p.status == PeriodStatus.VALIDATED


def test_nightly_refresh_recomputes_draft_periods_only(site, settings):
    assert (
        settings.CELERY_BEAT_SCHEDULE["reporting-refresh-open-periods"]["task"]
        == refresh_open_periods.name
    )
    draft, frozen = period(site, 2025), period(site, 2024)
    frozen.status = PeriodStatus.SUBMITTED
    frozen.save()
    refresh_open_periods.delay()
    draft.refresh_from_db()
    assert hasattr(draft, "result") and not hasattr(frozen, "result")


def test_compute_action_refuses_periods_at_sites_the_operator_does_not_run(client):
    from django.contrib.messages import get_messages

    from reporting.models import TaskRun
    from reporting.services import open_period
    from tests import factories as f

    own = f.site("PAR1")
    other = f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    period = open_period(other, 2025)
    operator = f.user("op-x", group="operator", is_staff=True)
    own.operators.add(operator)
    client.force_login(operator)
    response = client.post(
        "/admin/reporting/reportingperiod/",
        {"action": "compute", "_selected_action": [period.pk]},
        follow=True,
    )
    # Another site's period is outside the operator's list, so the action never reaches it.
    assert TaskRun.objects.filter(period=period).count() == 0
    assert not any("task" in str(m) for m in get_messages(response.wsgi_request))
