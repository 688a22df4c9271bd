"""Run tests/permissions_matrix.py against every API operation and every admin view.

The operations come from the OpenAPI schema generator and the admin views from the admin
site's URL patterns, so a new endpoint or admin page without a row in the matrix fails here.
"""

import json
import re

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests import permissions_world as world_module
from tests.permissions_matrix import ACTIONS, ADMIN, API
from tests.permissions_world import ROLES

pytestmark = pytest.mark.django_db


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted((m.upper(), p) for p, ops in schema["paths"].items() for m in ops)


def _admin_views():
    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                yield p.name

    names = set(walk(admin.site.get_urls()))
    names.discard("app_list")
    apps = {m._meta.app_label for m in admin.site._registry}
    return sorted(names | {f"app_list:{a}" for a in apps})


def _expect(row: str) -> dict:
    tokens = row.split()
    assert len(tokens) == len(ROLES), row
    return dict(zip(ROLES, tokens, strict=True))


def test_every_api_operation_has_a_row():
    missing = [op for op in _operations() if op not in API]
    assert not missing, f"no row in tests/permissions_matrix.py for {missing}"
    stale = sorted(set(API) - set(_operations()))
    assert not stale, f"rows for operations that no longer exist: {stale}"


def test_every_admin_view_has_a_row():
    missing = [name for name in _admin_views() if name not in ADMIN]
    assert not missing, f"no row in tests/permissions_matrix.py for admin views {missing}"
    stale = sorted(set(ADMIN) - set(_admin_views()))
    assert not stale, f"rows for admin views that no longer exist: {stale}"


@pytest.fixture
def world(db):
    return world_module.build()


def _request(w, method, path):
    """The URL, query and body each operation is called with (valid, naming site A)."""
    a_asset, hw, mfr = w["asset_a"], w["hardware_model"], w["manufacturer"]
    ids = {
        "/api/assets/": a_asset.pk,
        "/api/audits/": w["audit_a"].pk,
        "/api/connector-sources/": w["connector_source"].pk,
        "/api/connector-pulls/": w["pull"].pk,
        "/api/enefg-exemptions/": w["exemption_a"].pk,
        "/api/management-systems/": w["system_a"].pk,
        "/api/exports/": w["export_a"].pk,
        "/api/saved-reports/": w["saved_report_a"].pk,
        "/api/hardware-models/": hw.pk,
        "/api/ingest-jobs/": w["ingest_a"].pk,
        "/api/lifecycle-events/": w["event_a"].pk,
        "/api/manufacturers/": mfr.pk,
        "/api/measurement-points/": w["meter_a"].pk,
        "/api/periods/": w["period_a"].pk,
    }
    url = path
    for prefix, pk in ids.items():
        if path.startswith(prefix + "{id}"):
            url = path.replace("{id}", str(pk))
    url = url.replace("{task_id}", str(w["task_a"].pk))
    if path.startswith(("/api/sites/{code}/periods/", "/api/site-profiles/{code}")):
        url = url.replace("{code}", "PAR1")
    url = url.replace("{code}", "EMPTY1")
    query = {
        "/api/aggregates/": "?year=2025",
        "/api/circularity/": "?year=2025",
        "/api/exports/eu-annual/": "?year=2025&site=PAR1&allow_unvalidated=true",
        "/api/reuse-candidates/": "?model=llama-3-8b&precision=int8",
    }.get(path, "")
    meter = {
        "site": "PAR1",
        "code": "PAR1-NEW",
        "quantity": "edc-supply",
        "unit": "kWh",
        "register": "interval",
    }
    exemption = {"period": w["period_a"].pk, "ground": "11-3-3", "document": "Angebot 2025"}
    system = {
        "site": "PAR1",
        "kind": "emas",
        "state": "in-place",
        "since": "2025-01-01",
        "document": "Umwelthandbuch",
    }
    profile = {
        "site": "PAR1",
        "owner_name": "Owner SA",
        "owner_contact": "owner@example.org",
        "operator_name": "Operator SA",
        "operator_contact": "ops@example.org",
        "lau_code": "75056",
        "dc_type": "colocation",
        "structure_type": "structure",
        "operation_start_year": 2015,
        "operation_start_month": 3,
        **{f"red_{k}": "2N" for k in ("el_hv", "el_lv", "el_rack", "cool_room", "cool_rack")},
    }
    bodies = {
        ("POST", "/api/enefg-exemptions/"): exemption,
        ("PUT", "/api/enefg-exemptions/{id}/"): exemption,
        ("PATCH", "/api/enefg-exemptions/{id}/"): {"note": "changed"},
        ("POST", "/api/site-profiles/"): profile,
        ("PUT", "/api/site-profiles/{code}/"): profile,
        ("PATCH", "/api/site-profiles/{code}/"): {"operator_contact": "noc@example.org"},
        ("POST", "/api/management-systems/"): system,
        ("PUT", "/api/management-systems/{id}/"): system,
        ("PATCH", "/api/management-systems/{id}/"): {"note": "changed"},
        ("POST", "/api/assets/"): {
            "asset_tag": "PAR1-NEW-1",
            "hardware_model": hw.slug,
            "site": "PAR1",
            "occurred_at": "2025-01-01T10:00:00Z",
            "supplier": "Acme",
            "price": "10",
            "currency": "EUR",
            "purchase_date": "2025-01-01",
        },
        ("PUT", "/api/assets/{id}/"): {"serial_number": "SN-CHANGED"},
        ("PATCH", "/api/assets/{id}/"): {"notes": "changed"},
        ("POST", "/api/assets/{id}/events/"): {
            "kind": "commissioned",
            "occurred_at": "2025-02-01T10:00:00Z",
            "workload": "training",
        },
        ("POST", "/api/audits/"): {"site": "PAR1", "room": "Hall 1"},
        ("POST", "/api/audits/{id}/scan/"): {"tag": "PAR1-GPU-1"},
        ("POST", "/api/audits/{id}/close/"): {},
        ("POST", "/api/exports/"): {"kind": "ewaste", "year": 2025, "sites": ["PAR1"]},
        ("POST", "/api/saved-reports/"): {
            "name": "New",
            "kind": "assets",
            "params": {"site": "PAR1"},
        },
        ("PUT", "/api/saved-reports/{id}/"): {
            "name": "PAR1 assets",
            "kind": "assets",
            "params": {"site": "PAR1"},
        },
        ("PATCH", "/api/saved-reports/{id}/"): {"recipients": "lead@example.org"},
        ("POST", "/api/hardware-models/"): {
            "manufacturer": mfr.slug,
            "name": "New",
            "slug": "matrix-new",
            "kind": "accelerator",
        },
        ("PUT", "/api/hardware-models/{id}/"): {
            "manufacturer": hw.manufacturer.slug,
            "name": hw.name,
            "slug": hw.slug,
            "kind": hw.kind,
            "mass_kg": "9.99",
        },
        ("PATCH", "/api/hardware-models/{id}/"): {"mass_kg": "9.99"},
        ("POST", "/api/manufacturers/"): {"name": "Evil Co", "slug": "evil-co"},
        ("PUT", "/api/manufacturers/{id}/"): {"name": "Renamed", "slug": mfr.slug},
        ("PATCH", "/api/manufacturers/{id}/"): {"name": "Renamed"},
        ("POST", "/api/measurement-points/"): meter,
        ("PUT", "/api/measurement-points/{id}/"): {**meter, "code": "PAR1-MAIN"},
        ("PATCH", "/api/measurement-points/{id}/"): {"location": "hall 2"},
        ("PUT", "/api/periods/{id}/"): {
            "year": 2025,
            "start_date": "2025-01-01",
            "end_date": "2025-12-31",
            "notes": "changed",
        },
        ("PATCH", "/api/periods/{id}/"): {"notes": "changed"},
        ("POST", "/api/periods/{id}/transition/"): {"to": "validated"},
        ("POST", "/api/periods/{id}/values/"): {
            "symbol": "EDC",
            "value": "1",
            "quality": "measured",
            "measured_by": "main supply meter",
        },
        ("POST", "/api/readings/"): [
            {"meter": "PAR1-MAIN", "timestamp": "2025-03-01T00:00:00Z", "value": "1"}
        ],
        ("POST", "/api/reuse-requests/"): {
            "asset_tags": ["PAR1-GPU-1"],
            "request_name": "matrix",
            "purpose": "test",
        },
        ("POST", "/api/reuse-requests/release/"): {"asset_tags": ["PAR1-GPU-1"]},
        ("POST", "/api/sites/"): {
            "code": "NEW1",
            "name": "New",
            "country": "FR",
            "time_zone": "Europe/Paris",
        },
        ("PUT", "/api/sites/{code}/"): {
            "code": "EMPTY1",
            "name": "Renamed",
            "country": "FR",
            "time_zone": "Europe/Paris",
        },
        ("PATCH", "/api/sites/{code}/"): {"name": "Renamed"},
        ("POST", "/api/sites/{code}/periods/"): {
            "year": 2026,
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
        },
    }
    return url + query, bodies.get((method, path))


def _outcome(response, expected: str):
    status = response.status_code
    if expected in ("own", "all"):
        if status != 200:
            return str(status)
        body = response.content.decode()
        has_a, has_b = "PAR1" in body, "FRA1" in body
        if has_a and has_b:
            return "all"
        return "own" if (has_a or has_b) else "none"
    return str(status)


@pytest.mark.parametrize("method,path", sorted(API))
def test_api_matrix(world, method, path):
    url, body = _request(world, method, path)
    expected = _expect(API[(method, path)])
    wrong = {}
    for role in ROLES:
        client = APIClient()
        if role != "anonymous":
            client.force_authenticate(world["users"][role])
        with transaction.atomic():
            response = client.generic(
                method,
                url,
                data=None if body is None else json.dumps(body),
                content_type="application/json",
            )
            transaction.set_rollback(True)
        got = _outcome(response, expected[role])
        if got != expected[role]:
            wrong[role] = f"expected {expected[role]}, got {got}: {response.content[:200]!r}"
        if role == "anonymous" and response.status_code == 401:
            assert response["WWW-Authenticate"] == 'Token realm="api"' or response[
                "WWW-Authenticate"
            ].startswith("Token")
    assert not wrong, f"{method} {path}: {wrong}"


def _admin_url(w, name):
    if name.startswith("app_list:"):
        return reverse("admin:app_list", args=[name.split(":")[1]])
    objects = {
        "auth_group": lambda: w["users"]["auditor"].groups.first().pk,
        "auth_user": lambda: w["users"]["norole"].pk,
        "accounts_apitoken": lambda: w["token"].pk,
        "hardware_manufacturer": lambda: w["manufacturer"].pk,
        "hardware_source": lambda: w["source"].pk,
        "hardware_hardwaremodel": lambda: w["hardware_model"].pk,
        "registry_site": lambda: w["site_a"].pk,
        "registry_lifecycleevent": lambda: w["event_a"].pk,
        "registry_asset": lambda: w["asset_a"].pk,
        "reporting_siteprofile": lambda: w["site_a"].reporting_profile.pk,
        "reporting_measurementpoint": lambda: w["meter_a"].pk,
        "reporting_managementsystem": lambda: w["system_a"].pk,
        "reporting_reportingperiod": lambda: w["period_a"].pk,
        "reporting_ingestjob": lambda: w["ingest_a"].pk,
        "reporting_readingrevision": lambda: w["revision_a"].pk,
        "exports_exportjob": lambda: w["export_a"].pk,
        "accounts_tokenevent": lambda: w["token_event"].pk,
        "reporting_taskrun": lambda: w["task_a"].pk,
        "hardware_decodemeasurement": lambda: w["decode"].pk,
        "registry_reusemeasurement": lambda: w["reuse_measurement"].pk,
        "exports_savedreport": lambda: w["saved_report_a"].pk,
        "registry_assetimportjob": lambda: w["import_job_a"].pk,
        "registry_expirynotice": lambda: w["expiry_notice"].pk,
        "connectors_source": lambda: w["connector_source"].pk,
        "connectors_pull": lambda: w["pull"].pk,
        "connectors_modelmapping": lambda: w["model_mapping"].pk,
        "registry_webhooksubscription": lambda: w["webhook"].pk,
        "registry_webhookdelivery": lambda: w["webhook_delivery"].pk,
        "registry_audit": lambda: w["audit_a"].pk,
    }
    if name == "view_on_site":
        return reverse("admin:view_on_site", args=[1, w["asset_a"].pk])
    if name == "reporting_period_compute_now":
        return reverse(f"admin:{name}", args=[w["period_a"].pk])
    if name == "reporting_period_compute":
        return reverse(f"admin:{name}", args=[w["period_a"].pk, w["task_a"].pk])
    if name == "auth_user_password_change":
        return reverse("admin:auth_user_password_change", args=[w["users"]["norole"].pk])
    for prefix, pk in objects.items():
        if name.startswith(prefix + "_"):
            view = name[len(prefix) + 1 :]
            if view in (
                "change", "delete", "history", "record_event", "readings", "label",
                "install_parts", "remove_parts", "scan", "report",
            ):  # fmt: skip
                return reverse(f"admin:{name}", args=[pk()])
            if view == "simple_history":
                model = admin.site._registry
                target = next(
                    m for m in model if f"{m._meta.app_label}_{m._meta.model_name}" == prefix
                )
                record = target.history.filter(**{target._meta.pk.attname: pk()}).latest(
                    "history_id"
                )
                base = reverse(f"admin:{prefix}_history", args=[pk()])
                return f"{base}{record.history_id}/"
    return reverse(f"admin:{name}")


def _admin_outcome(name, response):
    if response.status_code == 302:
        location = response["Location"]
        if "/login/" in location:
            return "login"
        if re.fullmatch(r"/admin/", location.split("?")[0]):
            return "home"
        return "302"
    content = response.content
    is_change = name.endswith(("_change", "_simple_history")) and "password" not in name
    if response.status_code == 200 and is_change and b'name="_save"' not in content:
        return "ro"
    return str(response.status_code)


@pytest.mark.parametrize("name", sorted(ADMIN))
def test_admin_matrix(world, name):
    url = _admin_url(world, name)
    expected = _expect(ADMIN[name])
    wrong = {}
    for role in ROLES:
        client = Client()
        if role != "anonymous":
            client.force_login(world["users"][role])
        with transaction.atomic():
            response = client.get(url)
            transaction.set_rollback(True)
        got = _admin_outcome(name, response)
        if got != expected[role]:
            wrong[role] = f"expected {expected[role]}, got {got}"
    assert not wrong, f"{name} {url}: {wrong}"


@pytest.mark.parametrize("admin_name", sorted(ACTIONS))
def test_actions_offered_only_to_those_who_may_use_them(world, admin_name, rf):
    model_admin = next(
        a
        for m, a in admin.site._registry.items()
        if f"{m._meta.app_label}_{m._meta.model_name}" == admin_name
    )
    for role, expected in ACTIONS[admin_name].items():
        request = rf.get("/admin/")
        request.user = world["users"][role]
        offered = set(model_admin.get_actions(request))
        assert offered == expected, f"{admin_name} as {role}: {sorted(offered)}"


def test_every_admin_with_its_own_actions_has_a_row():
    with_actions = {
        f"{m._meta.app_label}_{m._meta.model_name}"
        for m, model_admin in admin.site._registry.items()
        if model_admin.actions
    }
    missing = sorted(with_actions - set(ACTIONS))
    assert not missing, f"no ACTIONS row in tests/permissions_matrix.py for {missing}"
