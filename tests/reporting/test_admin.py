"""Admin: meters upload, the period page with inputs, flags, warnings and the monthly chart."""

import csv
import html
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hardware import grid_intensity
from reporting import label
from reporting.computation import compute_and_store
from reporting.models import PeriodStatus, Reading
from reporting.presentation import cue_factor_basis
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
    assert "<svg" in page and "<polyline" in page
    # PUE on its own panel and axis (ticks 1.2 … 1.5), energy as bars; no WUE meter, no panel.
    assert 'aria-label="monthly PUE"' in page and 'aria-label="monthly EDC and EIT"' in page
    assert 'aria-label="monthly WUE"' not in page
    assert '<text class="tick"' in page and ">1.5</text>" in page and ">Feb</text>" in page
    assert "measured" in page and "meter-coverage-below-100" in page
    assert "8 of 35040 intervals" in page
    listing = admin_client.get("/admin/reporting/reportingperiod/")
    assert listing.status_code == 200


def test_admin_actions_use_the_services(admin_client, site):
    p = period(site)
    url = "/admin/reporting/reportingperiod/"
    response = admin_client.post(url, {"action": "compute", "_selected_action": [p.pk]})
    assert p.__class__.objects.get(pk=p.pk).result
    assert f"/admin/reporting/reportingperiod/{p.pk}/compute/" in response["Location"]
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


def _computed(site, ups=3, main=4):
    """A period of `site` computed from two meters' readings (`ups`, `main` a reading): the
    stored result."""
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply")
    ingest(series("UPS-1", T0 + timedelta(minutes=15), 4, ups))
    ingest(series("MAIN", T0 + timedelta(minutes=15), 4, main))
    return compute_and_store(period(site))


def _computed_period(site):
    return _computed(site).period


def test_indicators_are_named_rounded_as_exported_and_unrounded_on_hover(admin_client, site):
    p = _computed_period(site)
    raw = p.result.indicators["PUE"]  # 4/3: many decimals stored
    page = admin_client.get(f"/admin/reporting/reportingperiod/{p.pk}/change/").content.decode()
    assert "Power usage effectiveness (PUE = EDC/EIT)" in page
    assert f'title="unrounded: {raw}">1.33</td>' in page
    assert "Size category (Annex IV)" in page
    assert "CUE_CEF_KG_PER_KWH" not in page and ">size_class<" not in page


def test_compute_shows_progress_then_the_result(admin_client, site):
    from reporting.models import TaskRun

    p = _computed_period(site)
    url = "/admin/reporting/reportingperiod/"
    response = admin_client.post(url, {"action": "compute", "_selected_action": [p.pk]})
    run = TaskRun.objects.get(period=p)
    assert response["Location"] == f"/admin/reporting/reportingperiod/{p.pk}/compute/{run.pk}/"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and 'data-finished="true"' in page
    assert f'data-status-url="/api/tasks/{run.pk}/"' in page
    assert "Power usage effectiveness" in page and "1.33" in page
    assert "task-progress.js" in page


def test_a_pending_computation_shows_its_state_and_polls(admin_client, site):
    from reporting.models import JobStatus, TaskRun

    p = period(site)
    user = admin_client.get("/").wsgi_request.user
    run = TaskRun.objects.create(name="reporting.compute_period", period=p, requested_by=user)
    page = admin_client.get(f"/admin/reporting/reportingperiod/{p.pk}/compute/{run.pk}/")
    assert run.status == JobStatus.PENDING
    body = page.content.decode()
    assert 'data-finished="false"' in body and "Pending" in body and "updates itself" in body


def test_someone_elses_computation_is_not_shown(client, site, django_user_model):
    from reporting.models import TaskRun
    from tests import factories as f

    p = period(site)
    owner = django_user_model.objects.create_superuser("boss", "b@example.org", "pw")
    run = TaskRun.objects.create(name="reporting.compute_period", period=p, requested_by=owner)
    auditor = f.user("aud-x", group="auditor", is_staff=True)
    client.force_login(auditor)
    page = client.get(f"/admin/reporting/reportingperiod/{p.pk}/compute/{run.pk}/")
    assert page.status_code == 403
    other = period(site, 2024)
    client.force_login(owner)
    assert (
        client.get(f"/admin/reporting/reportingperiod/{other.pk}/compute/{run.pk}/").status_code
        == 404
    )


def test_each_chart_panel_has_its_own_axis():
    from reporting.charts import monthly_svg, nice_ticks

    monthly = [
        {"month": "2025-01", "PUE": "1.2", "WUE": "0.10", "EDC": "360000", "EIT": "300000"},
        {"month": "2025-02", "PUE": "1.5", "WUE": "0.35", "EDC": "450000", "EIT": "300000"},
        {"month": "2025-03", "PUE": None, "WUE": "0.20", "EDC": None, "EIT": None},
    ]
    svg = monthly_svg(monthly)
    panels = svg.split('<div class="period-panel">')[1:]
    assert [p.count("<svg") for p in panels] == [1, 1, 1]
    pue, wue, energy = panels
    assert ">1.5</text>" in pue and ">0.35</text>" not in pue
    assert ">0.35</text>" in wue or ">0.4</text>" in wue
    assert "m3/MWh" in wue and "MWh" in energy and "<rect" in energy
    assert "<polyline" in pue and pue.count("<circle") == 2  # March has no PUE: no point
    ticks = nice_ticks(1.2, 1.5)
    assert ticks[0] <= 1.2 and ticks[-1] >= 1.5 and len(ticks) <= 8


def test_a_meters_readings_page_lists_filters_and_pages_in_site_time(client, operator_user):
    from tests.reporting.conftest import make_site

    paris = make_site("PAGE1", time_zone="Europe/Paris")
    paris.operators.add(operator_user)
    meter = make_meter(paris, "PAGE1-UPS", "eit-ups-output", interval_minutes=60)
    # 150 hourly readings from 2025-01-31T20:00Z (21:00 in Paris).
    ingest(
        series("PAGE1-UPS", T0 + timedelta(days=30, hours=20), 150, "1.5", step=timedelta(hours=1))
    )
    client.force_login(operator_user)
    url = f"/admin/reporting/measurementpoint/{meter.pk}/readings/"
    change = client.get(f"/admin/reporting/measurementpoint/{meter.pk}/change/")
    assert url.encode() in change.content

    first = client.get(url)
    assert first.status_code == 200 and b"(150 readings)" in first.content
    assert b"2025-01-31 21:00:00 +0100" in first.content  # site time, offset shown
    second = client.get(url, {"page": 2})
    assert second.content.count(b"<td>1.500000</td>") == 50

    # 1 Feb, Paris: from 2025-01-31T23:00Z to 2025-02-01T23:00Z, both ends in local time.
    day = client.get(url, {"start": "2025-02-01", "end": "2025-02-01"})
    assert b"(24 readings)" in day.content and b"2025-02-01 00:00:00 +0100" in day.content

    bad = client.get(url, {"start": "2025-02-30"})
    assert bad.status_code == 200 and b"Enter a valid date" in bad.content
    assert b"(0 readings)" in bad.content
    reversed_range = client.get(url, {"start": "2025-02-02", "end": "2025-02-01"})
    assert b"after" in reversed_range.content and b"(0 readings)" in reversed_range.content


def test_a_meters_readings_page_follows_the_site_scope(client, operator_user, procurement_user):
    from tests.reporting.conftest import make_site

    other = make_meter(make_site("ELSE1"), "ELSE1-UPS", "eit-ups-output")
    url = f"/admin/reporting/measurementpoint/{other.pk}/readings/"
    client.force_login(operator_user)  # operates no site: another site's meter is not found
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    procurement_user.is_staff = True
    procurement_user.save()
    client.force_login(procurement_user)  # no reporting role at all
    assert client.get(url).status_code == 403


@pytest.fixture
def computed(site):
    return _computed(site, ups=10, main=15)


def test_period_page_cites_the_grid_factor_used_for_cue(admin_client, computed):
    """The factor is the catalogue's figure for the site's country; the page names its source."""
    country = computed.period.site.country
    with open(grid_intensity.PATH, newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["country"] == country)
    url = f"/admin/reporting/reportingperiod/{computed.period.pk}/change/"
    page = html.unescape(admin_client.get(url).content.decode())
    assert computed.indicators["CUE_CEF_KG_PER_KWH"] not in (None, "")
    assert f"{country} {row['year']}" in page
    assert row["source"] in page and row["url"] in page
    # Named for the reader, not by its path in the repository.
    assert "the catalogue's grid-intensity table" in page and "grid_intensity.csv" not in page


def test_period_page_lists_the_label_notes_once(admin_client, computed):
    url = f"/admin/reporting/reportingperiod/{computed.period.pk}/change/"
    page = html.unescape(admin_client.get(url).content.decode())
    preview = label.for_period(
        computed.period,
        None,
        {s: i["value"] and Decimal(i["value"]) for s, i in computed.inputs.items()},
        {k: Decimal(computed.indicators[k]) for k in ("PUE",)},
    )
    assert preview.notes
    for note in preview.notes:  # the start of a note: a shortened copy counts as a repeat
        assert page.count(note[:40]) == 1, note


def test_a_grid_factor_the_catalogue_no_longer_gives_is_told_apart():
    assert "has no figure for XX" in cue_factor_basis({"CUE_CEF_KG_PER_KWH": None}, "XX")
    current = grid_intensity.kg_per_kwh("FR")
    stale = cue_factor_basis({"CUE_CEF_KG_PER_KWH": str(current + 1)}, "FR")
    assert "from an earlier" in stale and "Compute again" in stale
    added = cue_factor_basis({"CUE_CEF_KG_PER_KWH": None}, "FR")
    assert added.startswith("Grid factor for CUE: blank, read for FR from an earlier")
