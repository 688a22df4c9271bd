"""Each role in a real browser (Debian's chromium via Playwright): sign in, the admin home shows
what the role may use and nothing else, the pages it names open, and no page breaks under the
Content-Security-Policy (chromium reports every blocked script or style on the console).

Skipped when chromium or playwright is missing, like tests/e2e/test_admin_browser.py.
"""

import pytest

from reporting.models import MeasurementPoint
from tests import factories
from tests.e2e import test_admin_browser as e2e

pytestmark = e2e.pytestmark
live_server = e2e.live_server  # the per-test live server (plain HTTP)
page = e2e.page  # a fresh context of the shared Chromium

# role → (group, operates PAR1, on the admin home: shown, not shown)
ROLES = {
    "operator": ("operator", True, ["Assets", "Measurement points", "Export jobs"],
                 ["Users", "Groups", "API token events"]),
    "procurement": ("procurement", False, ["Reuse candidates", "Assets"],
                    ["Measurement points", "Reporting periods", "Users"]),
    "auditor": ("auditor", False, ["Assets", "Measurement points", "Export jobs",
                                   "API token events"], ["Users"]),
    "editor": ("catalogue-editor", False, ["Hardware models", "Manufacturers"],
               ["Measurement points", "Users"]),
    "norole": (None, False, ["have permission to view or edit anything"],
               ["Assets", "Hardware models"]),
    "superuser": (None, False, ["Users", "Measurement points", "Reuse candidates"], []),
}  # fmt: skip


@pytest.fixture
def browser_page(page):
    csp_errors = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page, csp_errors


def _world():
    par, fra = factories.site("PAR1"), factories.site("FRA1", country="DE")
    for site in (par, fra):
        MeasurementPoint.objects.create(
            site=site, code=f"{site.code}-MAIN", quantity="edc-supply", unit="kWh",
            register="interval",
        )  # fmt: skip
    return par


def _sign_in(page, url, username):
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_admin_home_and_pages_per_role(live_server, browser_page, role):
    page, csp_errors = browser_page
    group, operates, shown, hidden = ROLES[role]
    par = _world()
    user = factories.user(role, group=group, is_staff=True, is_superuser=role == "superuser")
    if operates:
        par.operators.add(user)
    _sign_in(page, live_server.url, role)
    home = page.inner_text("#content")
    for text in shown:
        assert text in home, f"{role}: '{text}' missing from the admin home"
    for text in hidden:
        assert text not in home, f"{role}: '{text}' shown on the admin home"

    if role in ("operator", "auditor", "superuser"):
        page.goto(f"{live_server.url}/admin/reporting/measurementpoint/")
        meters = page.inner_text("#content")
        assert "PAR1-MAIN" in meters
        assert ("FRA1-MAIN" in meters) == (role != "operator")  # the operator's scope
        may_upload = role != "auditor"
        assert ("upload readings" in meters.lower()) == may_upload  # the admin upper-cases it
        assert ("import meters" in meters.lower()) == may_upload
        page.goto(f"{live_server.url}/admin/exports/exportjob/")
        page.click("text=EU annual workbook")
        page.wait_for_selector("#id_year")
    if role in ("procurement", "superuser"):
        page.goto(f"{live_server.url}/admin/registry/reuse-candidates/")
        assert "Reuse candidates" in page.inner_text("#content")
        page.goto(f"{live_server.url}/admin/reporting/measurementpoint/")
        assert (role == "procurement") == ("403" in page.title() or "Forbidden" in page.content())
    if role == "editor":
        page.goto(f"{live_server.url}/admin/hardware/hardwaremodel/")
        assert page.locator(".object-tools a.addlink").count() == 1
    if role == "superuser":
        # django-import-export's export page has the one inline handler the CSP allows by hash.
        page.goto(f"{live_server.url}/admin/registry/asset/export/")
        page.wait_for_selector("#content form")
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert not csp_errors, f"{role}: blocked by the CSP: {csp_errors[:3]}"


def test_anonymous_gets_the_login_page(live_server, browser_page):
    page, csp_errors = browser_page
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#id_username")
    assert not csp_errors
