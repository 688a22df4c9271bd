"""Credentials are written once and never read back: not by the API, an export, a log line or an
admin page (searched for every secret below), and not stored in plain text."""

import json
import logging

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from circulus.urls import API_ROOT
from connectors.models import MeterFeed, Source
from tests import factories
from tests.connectors import servers
from tests.connectors.conftest import make_source
from tests.reporting.conftest import make_meter, make_site

pytestmark = pytest.mark.django_db
SECRETS = {
    "redfish": {"username": "bmc-admin-8f3k", "password": "S3cr3t-Pa55-7781"},
    "snmp": {"community": "c0mmunity-x9q2"},
    "prometheus": {"token": "tok-4f9e2a-77c1"},
    "dead": {"username": "dead-user-q1w2", "password": "dead-Pa55-e3r4"},
}
ALL = [value for group in SECRETS.values() for value in group.values()]


def leaks(text: str) -> list[str]:
    return [secret for secret in ALL if secret in text]


@pytest.fixture
def superuser():
    return factories.user("root-admin", is_superuser=True, is_staff=True)


def test_credentials_appear_in_no_api_response_admin_page_export_or_log_line(
    api, client, superuser, pull_now, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    site = make_site("SEC1", time_zone="UTC")
    meter = make_meter(site, "SEC1-SRV", "eit-pdu", register="cumulative")
    with servers.redfish_server(servers.MOCKUP) as url, servers.dead_endpoint() as dead_url:
        bmc = make_source(site, url, name="bmc", credentials=SECRETS["redfish"])
        bmc.reads_inventory = True
        bmc.save()
        MeterFeed.objects.create(
            source=bmc,
            meter=meter,
            sensor="/redfish/v1/Chassis/1U/Sensors/TotalEnergy",
            sensor_unit="kWh",
        )
        dead = make_source(
            site, dead_url, name="dead", credentials=SECRETS["dead"], timeout_s=1,
            reads_inventory=True,
        )  # fmt: skip
        make_source(site, "127.0.0.1:9", kind="snmp", name="pdu", credentials=SECRETS["snmp"])
        make_source(
            site, "http://127.0.0.1:9", kind="prometheus", name="prom",
            credentials=SECRETS["prometheus"],
        )  # fmt: skip
        assert pull_now(bmc).state == "succeeded"
        assert pull_now(dead).state == "failed"
        assert pull_now(Source.objects.get(name="prom")).state == "succeeded"  # no feeds

    # Stored encrypted: the secrets are not in the table, and still decrypt for a pull.
    stored = json.dumps(list(Source.objects.values()), default=str)
    assert leaks(stored) == []
    assert bmc.credentials() == SECRETS["redfish"]

    seen = []
    api.force_authenticate(superuser)
    for name in API_ROOT:
        try:
            path = reverse(API_ROOT[name])
        except NoReverseMatch:
            continue
        seen.append(api.get(path).content.decode())
    for source in Source.objects.all():
        seen.append(api.get(f"/api/connector-sources/{source.pk}/").content.decode())
        for pull in source.pulls.all():
            seen.append(api.get(f"/api/connector-pulls/{pull.pk}/").content.decode())
    seen.append(api.get("/api/schema/").content.decode())

    client.force_login(superuser)
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        seen.append(client.get(reverse("admin:{}_{}_changelist".format(*info))).content.decode())
        if model._meta.app_label == "connectors":
            for obj in model.objects.all()[:5]:
                page = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
                seen.append(client.get(page).content.decode())

    dump = tmp_path / "dump.json"
    call_command("dumpdata", "connectors", "reporting", "registry", output=str(dump))
    seen.append(dump.read_text())

    seen += [record.getMessage() for record in caplog.records]
    seen += [str(record.exc_info) for record in caplog.records if record.exc_info]
    assert len(seen) > 40
    assert [leak for text in seen for leak in leaks(text)] == []


def test_the_admin_shows_whether_credentials_are_set_and_keeps_them_when_left_empty(
    client, superuser
):
    site = make_site("SEC1", time_zone="UTC")
    source = make_source(site, "https://bmc.example", name="bmc")
    client.force_login(superuser)
    page = reverse("admin:connectors_source_change", args=[source.pk])
    assert "not set" in client.get(page).content.decode()
    form = {
        "name": "bmc",
        "kind": "redfish",
        "endpoint": "https://bmc.example",
        "site": site.pk,
        "interval_minutes": 15,
        "timeout_s": 10,
        "verify_tls": "on",
        "enabled": "on",
        "feeds-TOTAL_FORMS": 0,
        "feeds-INITIAL_FORMS": 0,
        **SECRETS["redfish"],
    }
    answer = client.post(page, form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    source.refresh_from_db()
    assert source.credentials() == SECRETS["redfish"]
    shown = client.get(page).content.decode()
    assert ">set<" in shown and leaks(shown) == []
    # Saved again with the credential inputs empty: what is stored stays.
    client.post(page, {k: v for k, v in form.items() if k not in SECRETS["redfish"]})
    source.refresh_from_db()
    assert source.credentials() == SECRETS["redfish"]
    client.post(page, {**form, "username": "", "password": "", "clear_credentials": "on"})
    source.refresh_from_db()
    assert source.credentials() == {} and not source.has_credentials


def test_only_superusers_set_sources_and_an_operator_reads_them_without_credentials(client, api):
    site = make_site("SEC1", time_zone="UTC")
    source = make_source(site, "https://bmc.example", name="bmc", credentials=SECRETS["redfish"])
    operator = factories.user("floor-op", group="operator", is_staff=True)
    site.operators.add(operator)
    client.force_login(operator)
    page = reverse("admin:connectors_source_change", args=[source.pk])
    shown = client.get(page)
    assert shown.status_code == 200 and leaks(shown.content.decode()) == []
    assert 'name="password"' not in shown.content.decode()  # a read-only view
    assert client.post(page, {"name": "renamed"}).status_code == 403
    api.force_authenticate(operator)
    body = api.get(f"/api/connector-sources/{source.pk}/").json()
    assert body["credentials_set"] is True and leaks(json.dumps(body)) == []
    anonymous = api.__class__()
    assert anonymous.get("/api/connector-sources/").status_code == 401


def test_an_snmp_v3_source_is_set_in_the_admin_and_bad_settings_are_named(client, superuser):
    site = make_site("SEC1", time_zone="UTC")
    client.force_login(superuser)
    form = {
        "name": "pdu-a12",
        "kind": "snmp",
        "endpoint": "10.0.0.12:161",
        "site": site.pk,
        "interval_minutes": 15,
        "timeout_s": 5,
        "enabled": "on",
        "feeds-TOTAL_FORMS": 0,
        "feeds-INITIAL_FORMS": 0,
        "username": "circulus-ro",
        "password": "short",
        "privacy_password": "privacy-pass-9k2",
        "snmp_auth_protocol": "SHA-256",
        "snmp_privacy_protocol": "AES-256",
    }
    refused = client.post(reverse("admin:connectors_source_add"), form)
    assert refused.status_code == 200 and not Source.objects.exists()
    page = refused.content.decode()
    assert "authentication pass phrase of at least 8 characters" in page
    assert "privacy-pass-9k2" not in page  # a refused form does not echo a secret back
    answer = client.post(
        reverse("admin:connectors_source_add"), {**form, "password": "auth-pass-3j8x"}
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    stored = Source.objects.get().credentials()
    assert stored["username"] == "circulus-ro" and stored["snmp_privacy_protocol"] == "AES-256"
    assert "auth-pass-3j8x" not in Source.objects.get().credentials_encrypted
