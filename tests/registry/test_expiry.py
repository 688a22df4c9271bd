"""Warranty, support and end-of-life alerts: which units, told to whom, once per threshold, and a
real SMTP server on 127.0.0.1 that receives the digest the daily task sends."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse

from registry import expiry
from registry.models import ExpiryNotice
from tests import factories as f

TODAY = dt.date(2026, 12, 7)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def operator(op):
    op.email = "op@example.org"
    op.save(update_fields=["email"])
    return op


@pytest.fixture
def model(db):
    return f.hardware_model("acme-l4", name="L4")


def test_each_date_reaches_the_tightest_threshold_it_has_passed(par, model):
    ahead = {95: None, 90: 90, 61: 90, 60: 60, 31: 60, 30: 30, 0: 30, -1: None}
    for n in ahead:
        f.asset(f"W{n}", model=model, at_site=par, warranty_end=days(n))
    found = {d.asset.asset_tag: d.threshold for d in expiry.coming_up(TODAY)}
    assert found == {f"W{n}": t for n, t in ahead.items() if t is not None}


def test_digest_goes_to_the_sites_operators_once_per_threshold(operator, par, fra, model):
    mine = f.asset("PAR-1", model=model, at_site=par, warranty_end=days(45), rack="R12")
    f.asset("FRA-1", model=model, at_site=fra, warranty_end=days(45))

    assert expiry.send_digests(TODAY) == {"digests": 1, "failed": 0, "notices": 1}
    (message,) = mail.outbox
    assert message.to == ["op@example.org"]
    assert "PAR-1" in message.body and "FRA-1" not in message.body
    assert "Warranty ends in 45 days, on 21 January 2027" in message.body
    assert "rack R12" in message.body

    # The same day again, and the next day: nothing new to tell.
    assert expiry.send_digests(TODAY)["notices"] == 0
    assert expiry.send_digests(days(1))["notices"] == 0
    # Fifteen days on, 30 days are left: told once more.
    assert expiry.send_digests(days(15))["notices"] == 1
    assert len(mail.outbox) == 2
    # A warranty extended to a new date is a new expiry.
    mine.warranty_end = days(70)
    mine.save(update_fields=["warranty_end"])
    assert expiry.send_digests(days(15))["notices"] == 1
    assert ExpiryNotice.objects.filter(asset=mine).count() == 3


def test_each_kind_of_date_is_told_on_its_own(operator, par, model):
    f.asset(
        "PAR-2", model=model, at_site=par,
        warranty_end=days(10), support_end=days(50), planned_eol=days(80),
    )  # fmt: skip
    expiry.send_digests(TODAY)
    body = mail.outbox[0].body
    assert "Warranty ends in 10 days" in body
    assert "Support ends in 50 days" in body
    assert "Planned end of life in 80 days" in body


def test_units_out_of_custody_and_operators_without_address_are_left_out(
    operator, par, model, operator_user
):
    f.asset("PAR-GONE", model=model, at_site=par, warranty_end=days(20), state="ordered")
    gone = f.asset("PAR-LOST", model=model, at_site=par, warranty_end=days(20))
    f.record(gone, "lost", 1, circumstances="not found at the audit")
    ExpiryNotice.objects.all().delete()
    silent = f.user("op2", group="operator", is_staff=True)
    par.operators.add(silent)  # no e-mail address
    assert expiry.send_digests(TODAY)["notices"] == 1  # the ordered one: ours, on its way
    assert "PAR-LOST" not in mail.outbox[0].body
    assert mail.outbox[0].to == ["op@example.org"]


def test_a_refused_mail_stores_nothing_and_is_tried_again(operator, par, model, monkeypatch):
    f.asset("PAR-3", model=model, at_site=par, warranty_end=days(20))

    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert expiry.send_digests(TODAY) == {"digests": 0, "failed": 1, "notices": 1}
    assert not ExpiryNotice.objects.exists()
    monkeypatch.undo()
    assert expiry.send_digests(TODAY)["digests"] == 1


def test_api_filters_units_expiring_within_n_days(api, procurement_user, par, model):
    f.asset("SOON", model=model, at_site=par, support_end=dt.date.today() + dt.timedelta(10))
    f.asset("LATER", model=model, at_site=par, warranty_end=dt.date.today() + dt.timedelta(100))
    api.force_authenticate(procurement_user)

    def tags(**query):
        response = api.get("/api/assets/", query)
        assert response.status_code == 200, response.json()
        return {row["asset_tag"] for row in response.json()["results"]}

    assert tags(expiring_within=30) == {"SOON"}
    assert tags(expiring_within=365) == {"SOON", "LATER"}
    assert tags(expiring_within=365, expiring="warranty") == {"LATER"}
    response = api.get("/api/assets/", {"expiring_within": "0.5"})
    assert response.status_code == 400
    assert "expiring_within" in response.json()


def test_admin_lists_expiring_units_and_the_notices_sent(client, operator, par, model):
    f.asset("SOON", model=model, at_site=par, planned_eol=dt.date.today() + dt.timedelta(20))
    f.asset("LATER", model=model, at_site=par, planned_eol=dt.date.today() + dt.timedelta(200))
    client.force_login(operator)
    page = client.get(reverse("admin:registry_asset_changelist"), {"expiring": "30"})
    assert "SOON" in page.content.decode() and "LATER" not in page.content.decode()
    expiry.send_digests()
    notices = client.get(reverse("admin:registry_expirynotice_changelist")).content.decode()
    assert "SOON" in notices and "Planned end of life" in notices


def test_daily_task_sends_the_digest_through_smtp(operator, par, model, smtp_server, settings):
    controller, handler = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.CIRCULUS_PUBLIC_URL = "https://circulus.example.org"
    f.asset("PAR-9", model=model, at_site=par, warranty_end=dt.date.today() + dt.timedelta(7))
    from registry.tasks import send_expiry_digests

    assert send_expiry_digests.delay().get(timeout=30)["digests"] == 1
    ((recipients, message),) = handler.received
    assert recipients == ["op@example.org"]
    body = message.get_payload(decode=True).decode()
    assert "PAR-9" in body and "https://circulus.example.org/a/PAR-9/" in body
    assert "warranty ends for PAR-9 in 7 days" in message["Subject"]
