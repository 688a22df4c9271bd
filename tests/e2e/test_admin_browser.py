"""A real browser (Debian's chromium, headless, via Playwright) drives the operators' admin:
log in as an operator, add an asset, commission it on the record-event page, see the ledger row.

Needs the `chromium` Debian package and `playwright` (pip); skipped when either is missing.
Never `playwright install`: we drive the system chromium.
"""

import importlib
import os
import shutil
import threading
import time

import pytest

from registry.lifecycle import EventKind, State
from registry.models import Asset
from tests import factories

CHROMIUM = "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip)")
pytestmark = [
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
    pytest.mark.django_db(transaction=True),
]
# Playwright's sync API runs an event loop in this thread; Django's ORM (used by the live server
# fixtures in the same thread) would otherwise refuse to run "from an async context".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(settings, transactional_db):
    """pytest-django's live server, started per test *after* the settings below.

    The session-wide `live_server` fixture builds its middleware before function fixtures run,
    so with DEBUG off its SecurityMiddleware would redirect the browser to https.
    """
    from pytest_django.live_server_helper import LiveServer

    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    server = LiveServer("localhost")
    yield server
    # The browser's keep-alive connections end a moment after its context closes (`page`): a
    # request thread still open when the server stops would then close a database connection
    # it may no longer share (SQLite's in-memory test database).
    until_requests_end(server.thread.httpd)
    server.stop()


def until_requests_end(httpd, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(
        getattr(getattr(thread, "_target", None), "__self__", None) is httpd
        for thread in threading.enumerate()
    ):
        time.sleep(0.02)


def close_test_connections() -> None:
    """Close the database connections the test opened while Playwright's loop ran: Django keeps
    them per context then, so the session's own teardown would never see (or close) them and
    PostgreSQL would refuse to drop the test database."""
    from django.db import connections

    connections.close_all()


@pytest.fixture
def page(chromium):
    """A page in a fresh browser context of the shared Chromium (tests/e2e/conftest.py)."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        close_test_connections()
        context.close()


@pytest.fixture
def role_groups(transactional_db):
    """A transactional test before this one may have flushed the groups the migrations made."""
    from django.contrib.auth.models import Group, Permission

    grants = importlib.import_module("registry.migrations.0003_role_permissions").GRANTS
    for role, wanted in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in wanted:
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


def test_operator_creates_and_commissions_an_asset(live_server, role_groups, page):
    model = factories.hardware_model("acme-gpu-24")
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "op")
    page.fill("#id_password", "pw-op")
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/registry/asset/add/")
    page.fill("#id_asset_tag", "E2E-GPU-1")
    page.fill("#id_serial_number", "SN-E2E-1")
    page.select_option("#id_hardware_model", str(model.pk))
    page.select_option("#id_site", str(site.pk))
    page.fill("#id_supplier", "Acme Distribution")
    page.fill("#id_price", "12500")
    page.fill("#id_currency", "EUR")
    page.fill("#id_purchase_date", "2024-03-01")
    page.select_option("#id_initial_state", "in-stock")
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    assert "E2E-GPU-1" in page.inner_text("#result_list")

    asset = Asset.objects.get(asset_tag="E2E-GPU-1")
    page.goto(f"{live_server.url}/admin/registry/asset/{asset.pk}/change/")
    page.click("a.record-event")
    page.check("input[name=kind][value=commissioned]")
    page.click("input[name=_choose]")
    page.select_option("#id_workload", "inference")
    page.click("input[name=_record]")

    page.wait_for_selector(".messagelist")
    assert "Recorded 'Commissioned'" in page.inner_text(".messagelist")
    ledger = page.inner_text("#events-group")
    assert "Purchased" in ledger and "Commissioned" in ledger and "In service" in ledger

    asset.refresh_from_db()
    assert asset.state == State.IN_SERVICE
    assert [e.kind for e in asset.events.all()] == [EventKind.PURCHASED, EventKind.COMMISSIONED]
    assert all(e.actor == operator for e in asset.events.all())
