"""Each role's task in a real browser (Debian's chromium via Playwright) at 1,366 × 900, with a
budget of actions (page loads and clicks; typing into a field is not counted): an operator
installs 12 parts into a server, procurement finds and reserves candidates, an operator reads a
period page, an auditor reads a part's history. Each page is checked for sideways scrolling and
for the database's codes where a person reads words.

Skipped when chromium or playwright is missing, like tests/e2e/test_admin_browser.py.
"""

import datetime as dt
import importlib

from hardware.models import HardwareKind
from registry.lifecycle import EventKind
from registry.models import Asset, LifecycleEvent
from tests import factories
from tests.e2e import test_admin_browser as e2e
from tests.e2e.test_admin_browser import live_server, page, role_groups  # noqa: F401 - fixtures
from tests.e2e.test_newcomer_flows import shot
from tests.registry import reuse_factories as rf
from tests.reporting.conftest import T0, ingest, make_meter, period, series

pytestmark = e2e.pytestmark
SCREEN = {"width": 1366, "height": 900}


class Budget:
    """Counts what a person does: each page load and each click."""

    def __init__(self, tab, base):
        self.tab, self.base, self.actions = tab, base, 0

    def goto(self, path):
        self.actions += 1
        self.tab.goto(self.base + path)

    def click(self, selector):
        self.actions += 1
        self.tab.click(selector)


def no_sideways_scroll(tab) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= SCREEN["width"], f"{tab.url}: {width} px wide at {SCREEN['width']} px"


def sign_in(tab, base, username):
    tab.set_viewport_size(SCREEN)
    tab.goto(f"{base}/admin/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "pw-" + username)
    tab.click("input[type=submit]")
    tab.wait_for_selector("#content")


def _delivery(site):
    server = factories.hardware_model(
        "acme-srv", kind=HardwareKind.SERVER, memory_gb=None, weee_category=""
    )
    gpu = factories.hardware_model("acme-gpu-24")
    ssd = factories.hardware_model("acme-ssd", kind=HardwareKind.SSD, memory_gb=None)
    srv = factories.asset("NU-SRV-01", model=server, at_site=site)
    parts = [factories.asset(f"NU-GPU-{i:02}", model=gpu, at_site=site) for i in range(1, 9)]
    parts += [factories.asset(f"NU-SSD-{i:02}", model=ssd, at_site=site) for i in range(1, 5)]
    return srv, parts


def test_operator_installs_twelve_parts_in_at_most_six_actions(live_server, role_groups, page):  # noqa: F811
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    srv, parts = _delivery(site)
    sign_in(page, live_server.url, "op")
    you = Budget(page, live_server.url)

    you.goto(f"/admin/registry/asset/{srv.pk}/change/")
    no_sideways_scroll(page)
    you.click("a.install-parts")
    page.fill("#id_parts", "\n".join(f"{p.asset_tag} {n}" for n, p in enumerate(parts, 1)))
    you.click("input[name=_install]")
    page.wait_for_selector("#parts table.parts")
    shot(page, "30-server-with-its-parts")
    assert you.actions <= 6, f"{you.actions} actions to install 12 parts"
    assert srv.components.count() == 12
    assert LifecycleEvent.objects.filter(kind=EventKind.COMPONENT_INSTALLED).count() == 12
    listed = page.inner_text("#parts")
    assert "Parts installed (12)" in listed and "NU-SSD-04" in listed
    no_sideways_scroll(page)

    page.click("#parts >> text=NU-GPU-01")  # the part's own page: words, not codes
    page.wait_for_selector("#content-main")
    text = page.inner_text("#content-main")
    assert "Installed in NU-SRV-01, slot 1." in text
    assert "component-installed" not in text and "NU-GPU-01 component" not in text
    no_sideways_scroll(page)


def test_auditor_reads_a_removal_in_words(live_server, role_groups, page):  # noqa: F811
    site = factories.site("PAR1")
    factories.user("aud", group="auditor", is_staff=True)
    srv, parts = _delivery(site)
    when = T0 + dt.timedelta(days=1)
    from registry import services

    services.install_components(srv, [(parts[0], "")], occurred_at=when)
    services.remove_components([parts[0]], occurred_at=when + dt.timedelta(hours=1))
    sign_in(page, live_server.url, "aud")
    page.goto(f"{live_server.url}/admin/registry/asset/{parts[0].pk}/history/")
    history = page.inner_text("#content-main")
    shot(page, "31-part-history-auditor")
    assert "removed from NU-SRV-01" in history and "installed in NU-SRV-01" in history
    assert "Deleted asset" not in history and "pk=None" not in history
    no_sideways_scroll(page)


def test_procurement_finds_and_reserves_in_at_most_four_actions(live_server, role_groups, page):  # noqa: F811
    factories.user("buyer", group="procurement", is_staff=True)
    for tag, slug in (("T4-1", "nvidia-t4"), ("A10-1", "nvidia-a10"), ("A10-2", "nvidia-a10")):
        rf.gpu(tag, slug)
    sign_in(page, live_server.url, "buyer")
    you = Budget(page, live_server.url)

    you.goto("/admin/registry/reuse-candidates/")
    assert page.input_value("#id_model") == "llama-3-8b"  # a model most cards can serve
    page.fill("#id_concurrency", "4")
    you.click("input[value='Find candidates']")
    page.wait_for_selector("#reuse-results")
    shot(page, "32-reuse-candidates-procurement")
    no_sideways_scroll(page)
    results = page.inner_text("#reuse-results")
    assert "shared by 4 users" in results and "per user" in results
    assert "247.0–247.0" not in results and ".0000" not in results
    row = page.locator("#reuse-results tr", has_text="A10 24 GB").first
    row.locator("input[type=number]").fill("2")
    assert "of 2" in row.inner_text()
    page.fill("#id_request_name", "RAG pilot")
    page.fill("#id_purpose", "serving Llama 3 8B")
    you.click("input[value=Reserve]")
    page.wait_for_selector("#reserve-outcomes")
    assert you.actions <= 4, f"{you.actions} actions to find and reserve"
    assert set(Asset.objects.filter(state="reserved").values_list("asset_tag", flat=True)) == {
        "A10-1",
        "A10-2",
    }
    you.goto("/admin/registry/reuse-candidates/method/")
    method = page.inner_text("#content")
    assert "Memory fit" in method and "## " not in method and "GET /api" not in method
    no_sideways_scroll(page)


def test_period_page_leads_with_the_answer_at_1366px(live_server, role_groups, page):  # noqa: F811
    from reporting.computation import compute_and_store

    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply")
    ingest(series("UPS-1", T0 + dt.timedelta(minutes=15), 4, 3))
    ingest(series("MAIN", T0 + dt.timedelta(minutes=15), 4, 4))
    p = period(site)
    compute_and_store(p)
    sign_in(page, live_server.url, "op")
    page.goto(f"{live_server.url}/admin/reporting/reportingperiod/{p.pk}/change/")
    page.wait_for_selector("table.indicators")
    shot(page, "33-period-page-operator")
    no_sideways_scroll(page)
    top = page.locator("table.indicators").bounding_box()["y"]
    assert top < SCREEN["height"], "the indicators are in the first screen"
    assert top < page.locator("text=Entered information").bounding_box()["y"]
    assert page.locator(".object-tools button.compute").is_visible()
    assert page.locator(".object-tools a.export").is_visible()
    assert "Power usage effectiveness" in page.inner_text("table.indicators")
    page.click(".object-tools button.compute")
    page.wait_for_selector("#compute-progress")


def test_catalogue_editor_changes_a_model_without_sideways_scroll(live_server, role_groups, page):  # noqa: F811
    """The hardware model's change form (fieldsets, the notes and specs boxes, the figure
    sources' inline table with long citations) fits 1,366 px: it was 1,717 px wide."""
    from django.contrib.auth.models import Group, Permission

    from hardware.models import Basis, Confidence, FigureSource, Source

    grants = importlib.import_module("hardware.migrations.0004_catalogue_editor").GRANTS
    editor, _ = Group.objects.get_or_create(name="catalogue-editor")
    for app_label, codename in grants["catalogue-editor"]:
        editor.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
    factories.user("editor", group="catalogue-editor", is_staff=True)
    model = factories.hardware_model("acme-gpu-24")
    source = Source.objects.create(
        citation="Acme Corporation, Acme GPU 24 accelerator datasheet, revision 3, power and "
        "thermal design guide for data-centre deployments (2024)",
        url="https://example.com/datasheets/acme-gpu-24/revision-3/power-and-thermal.pdf",
    )
    for field in ("tdp_w", "memory_gb", "mass_kg"):
        FigureSource.objects.create(
            hardware_model=model,
            field=field,
            source=source,
            basis=Basis.DECLARED,
            confidence=Confidence.CONFIRMED,
            note="Read from table 4 of the datasheet, the board's maximum sustained power",
        )
    sign_in(page, live_server.url, "editor")
    page.goto(f"{live_server.url}/admin/hardware/hardwaremodel/{model.pk}/change/")
    page.wait_for_selector("#figure_sources-group")
    shot(page, "34-hardware-model-editor")
    no_sideways_scroll(page)
