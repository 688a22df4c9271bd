"""A physical audit on a phone (390 × 844) in a real browser (Debian's chromium via Playwright):
the tag field has the focus, tags are typed and sent with Enter as a hardware scanner does, the
four lists and counts follow each scan, a misplaced unit is ticked and the audit closed.

Skipped when chromium or playwright is missing, like tests/e2e/test_admin_browser.py.
"""

from django.urls import reverse

from registry import audits
from registry.lifecycle import EventKind
from registry.models import Asset, AuditStatus, LifecycleEvent
from tests import factories
from tests.e2e import test_admin_browser as e2e
from tests.e2e.test_admin_browser import live_server, page, role_groups  # noqa: F401 - fixtures
from tests.e2e.test_newcomer_flows import shot

pytestmark = e2e.pytestmark
PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(tab) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{tab.url}: {width} px wide at {PHONE['width']} px"


def scan(tab, tag: str, expect: str) -> None:
    """Type the tag into whatever has the focus and press Enter, as a scanner does."""
    tab.keyboard.type(tag)
    tab.keyboard.press("Enter")
    tab.wait_for_function(
        "text => document.getElementById('said').textContent.includes(text)", arg=expect
    )
    assert tab.evaluate("document.activeElement.id") == "tag"


def open_scan_page_on_a_phone(tab, live_server, audit) -> None:  # noqa: F811 - the fixture, passed on
    """Sign in as the operator "op" on a phone-sized screen and land on the audit's scan page."""
    tab.set_viewport_size(PHONE)
    tab.goto(
        f"{live_server.url}/admin/login/?next="
        + reverse("admin:registry_audit_scan", args=[audit.pk])
    )
    tab.fill("#id_username", "op")
    tab.fill("#id_password", "pw-op")
    tab.click("input[type=submit]")


def test_operator_audits_a_rack_on_a_phone(live_server, role_groups, page):  # noqa: F811
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    model = factories.hardware_model("acme-l4", name="L4")
    for tag, rack in (("PAR-A", "R1"), ("PAR-B", "R1"), ("PAR-C", "R2")):
        factories.asset(tag, model=model, at_site=site, room="Hall 1", rack=rack)
    audit = audits.start(site=site, user=operator, room="Hall 1", rack="R1")

    open_scan_page_on_a_phone(page, live_server, audit)
    page.wait_for_selector("#scan-form")
    assert page.evaluate("document.activeElement.id") == "tag"
    no_sideways_scroll(page)

    scan(page, "PAR-A", "PAR-A: found")
    scan(page, "PAR-C", "PAR-C: misplaced, recorded at PAR1, room Hall 1, rack R2")
    scan(page, "GHOST-9", "GHOST-9: unknown tag")
    scan(page, "PAR-A", "PAR-A: found (seen again)")
    counts = {
        name: page.inner_text(f"#counts [data-count={name}]")
        for name in ("found", "missing", "misplaced", "unknown")
    }
    assert counts == {"found": "1", "missing": "1", "misplaced": "1", "unknown": "1"}
    assert "PAR-B" in page.inner_text("#list-missing")
    no_sideways_scroll(page)
    shot(page, "audit-scan-phone")

    page.check("input[name=move][value=PAR-C]")
    page.click("#close-form button[type=submit]")
    page.wait_for_selector(".messagelist")
    assert f"Audit {audit.pk} is closed: 2 units recorded as seen, 1 moved." in page.inner_text(
        ".messagelist"
    )
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 2
    assert Asset.objects.get(asset_tag="PAR-C").rack == "R1"
    assert audit.scans.count() == 4


def test_a_closing_audit_page_waits_for_the_worker_and_shows_it_closed(
    live_server,  # noqa: F811
    role_groups,  # noqa: F811
    page,  # noqa: F811
):
    """A large close handed to a worker: on the phone the scan page says a worker is closing it,
    takes no scan, and shows it closed by itself once the worker has recorded the audit."""
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    model = factories.hardware_model("acme-l4", name="L4")
    factories.asset("PAR-A", model=model, at_site=site, room="Hall 1", rack="R1")
    audit = audits.start(site=site, user=operator, room="Hall 1", rack="R1")
    audits.scan(audit, "PAR-A", user=operator)
    # What request_close leaves for a worker when more units were seen than a page may close.
    type(audit).objects.filter(pk=audit.pk).update(
        status=AuditStatus.CLOSING, close_requested_by=operator
    )

    open_scan_page_on_a_phone(page, live_server, audit)
    page.wait_for_selector("text=A worker is recording what was seen")
    assert page.locator("#tag").count() == 0
    no_sideways_scroll(page)
    shot(page, "audit-closing-phone")

    assert audits.run_close(audit.pk).status == AuditStatus.CLOSED
    page.wait_for_selector(
        "text=A worker is recording what was seen", state="detached", timeout=15_000
    )
    assert "Closed" in page.inner_text("header")
    assert LifecycleEvent.objects.filter(kind=EventKind.AUDITED).count() == 1
