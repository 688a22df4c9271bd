"""Saved and scheduled reports: saved through the API, run on their day, e-mailed; the file sent
is the file the API gives for the same query at that moment."""

import datetime as dt

import pytest
from django.core import mail

from reporting.exports import saved
from reporting.exports.models import SavedReport
from tests import factories as f

URL = "/api/saved-reports/"
MONDAY = dt.date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def par(db):
    site = f.site("PAR1")
    f.asset("GPU-1", at_site=site, notes='=HYPERLINK("http://x")')
    f.asset("GPU-2", at_site=site)
    return site


@pytest.fixture
def op(operator_user, par):
    par.operators.add(operator_user)
    return operator_user


def weekly(owner, **fields) -> SavedReport:
    defaults = dict(
        name="PAR1 assets",
        owner=owner,
        kind="assets",
        params={"site": "PAR1", "format": "csv"},
        schedule="weekly",
        weekday=MONDAY.weekday(),
        recipients="lead@example.org, audit@example.org",
    )
    return SavedReport.objects.create(**{**defaults, **fields})


def test_a_report_is_saved_through_the_api_and_run_on_demand(
    api, op, django_capture_on_commit_callbacks
):
    api.force_authenticate(op)
    body = {
        "name": "PAR1 weekly", "kind": "assets", "params": {"site": "PAR1", "format": "csv"},
        "schedule": "weekly", "weekday": 0, "recipients": "lead@example.org",
    }  # fmt: skip
    created = api.post(URL, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["owner"] == op.username
    with django_capture_on_commit_callbacks(execute=True):
        run = api.post(f"{URL}{created.json()['id']}/run/")
    assert run.status_code == 202
    assert api.get(f"/api/exports/{run.json()['id']}/").json()["state"] == "done"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule": "weekly", "weekday": None}, "weekday"),
        ({"schedule": "monthly", "day_of_month": 31}, "day_of_month"),
        ({"schedule": "monthly", "day_of_month": 3, "recipients": ""}, "recipients"),
        ({"recipients": "not an address"}, "recipients"),
        ({"params": {"site": "PAR1", "format": "pdf"}}, "format"),
        ({"kind": "ewaste", "params": {}}, "year"),
    ],
)
def test_a_bad_saved_report_is_refused_naming_the_field(api, op, change, field):
    api.force_authenticate(op)
    body = {
        "name": "x", "kind": "assets", "params": {"site": "PAR1"}, "schedule": "weekly",
        "weekday": 0, "recipients": "lead@example.org", **change,
    }  # fmt: skip
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_an_operator_cannot_save_a_report_of_another_site(api, op, db):
    f.site("FRA1", country="DE", time_zone="Europe/Berlin")
    api.force_authenticate(op)
    response = api.post(URL, {"name": "x", "kind": "assets", "params": {"site": "FRA1"}},
                        format="json")  # fmt: skip
    assert response.status_code == 403


def test_each_user_sees_only_their_own_saved_reports(api, op, procurement_user):
    weekly(op)
    api.force_authenticate(procurement_user)
    assert api.get(URL).json()["results"] == []
    api.force_authenticate(op)
    assert [r["name"] for r in api.get(URL).json()["results"]] == ["PAR1 assets"]


def test_the_mailed_file_is_what_the_api_gives_for_the_same_query(
    api, op, django_capture_on_commit_callbacks
):
    weekly(op)
    assert saved.send_due(MONDAY) == {"sent": 1, "failed": 0}
    (message,) = mail.outbox
    assert message.to == ["lead@example.org", "audit@example.org"]
    ((name, attached, _type),) = message.attachments
    assert name == "assets.csv"

    api.force_authenticate(op)
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post("/api/exports/", {"kind": "assets", "site": "PAR1", "format": "csv"},
                       format="json").json()  # fmt: skip
    download = api.get(f"/api/exports/{job['id']}/download/")
    served = b"".join(download.streaming_content)
    sent = attached.encode() if isinstance(attached, str) else attached
    assert sent == served
    assert b"'=HYPERLINK" in sent  # escaped as every export escapes


def test_a_report_is_sent_once_on_its_day_and_not_on_others(op):
    report = weekly(op, schedule="monthly", weekday=None, day_of_month=7)
    assert saved.send_due(MONDAY - dt.timedelta(days=1)) == {"sent": 0, "failed": 0}
    assert saved.send_due(MONDAY)["sent"] == 1
    assert saved.send_due(MONDAY)["sent"] == 0  # later that day: already sent
    report.refresh_from_db()
    assert report.last_job is not None and report.last_error == ""


def test_an_owner_without_the_right_any_more_gets_nothing_sent(op, par):
    report = weekly(op)
    par.operators.remove(op)
    assert saved.send_due(MONDAY) == {"sent": 0, "failed": 1}
    report.refresh_from_db()
    assert "operate" in report.last_error and mail.outbox == []


def test_the_daily_task_sends_through_a_real_smtp_server(op, settings, smtp_server):
    controller, handler = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    today = dt.date.today()
    weekly(op, weekday=today.weekday())
    from reporting.exports.tasks import send_scheduled_reports

    assert send_scheduled_reports.delay().get(timeout=60) == {"sent": 1, "failed": 0}
    ((recipients, message),) = handler.received
    assert recipients == ["lead@example.org", "audit@example.org"]
    files = [part.get_filename() for part in message.walk() if part.get_filename()]
    assert files == ["assets.csv"]
