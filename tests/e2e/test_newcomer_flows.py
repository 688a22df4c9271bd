"""A real browser (Debian's chromium via Playwright) walks the day of each role: the front door
and the API docs (a visitor, then procurement), the asset list, import and recycling with
recovered metals (an operator at 1,366 px), the period page and its computation (operator, then
auditor). A screenshot of every page goes to the test run's artefacts
(`$CIRCULUS_TEST_ARTEFACTS`, default `test-artefacts/e2e/`).
"""

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from registry import services
from registry.lifecycle import EventKind
from registry.models import Asset
from tests import factories
from tests.e2e.test_admin_browser import live_server, page, role_groups  # noqa: F401 - fixtures
from tests.reporting.conftest import T0, ingest, make_meter, make_site, period, series

pytestmark = pytest.mark.django_db(transaction=True)
ARTEFACTS = (
    Path(
        os.environ.get("CIRCULUS_TEST_ARTEFACTS")
        or Path(__file__).resolve().parents[2] / "test-artefacts"
    )
    / "e2e"
)
LAPTOP = {"width": 1366, "height": 768}


def shot(tab, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def log_in(tab, base: str, username: str, password: str, next_url: str = "/") -> None:
    tab.goto(f"{base}/login/?next={next_url}")
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("button[type=submit]")


def test_visitor_then_procurement_find_their_way(live_server, role_groups, page):  # noqa: F811
    factories.user("buyer", group="procurement")
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/")
    shot(page, "01-front-door-visitor")
    text = page.inner_text("main")
    assert "circular-economy registry" in text and "API docs" in text and "Admin" in text

    page.click("text=API docs")
    page.wait_for_selector("#id_username")
    shot(page, "02-api-docs-asks-to-log-in")
    assert "Please log in to see /api/docs/" in page.inner_text("main")
    page.fill("#id_username", "buyer")
    page.fill("#id_password", "pw-buyer")
    page.click("button[type=submit]")
    page.wait_for_selector(".swagger-ui", timeout=30_000)
    assert page.url.endswith("/api/docs/")
    page.wait_for_selector("text=Circulus API", timeout=30_000)
    shot(page, "03-api-docs-after-login")

    page.goto(f"{live_server.url}/")
    shot(page, "04-front-door-procurement")
    text = page.inner_text("main")
    assert "Docs for your role: procurement" in text and "Reuse candidates" in text


def test_operator_list_import_and_recycling_at_1366px(live_server, role_groups, page):  # noqa: F811
    model = factories.hardware_model("acme-gpu-24")
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    asset = factories.asset("GPU-LONG-TAG-0001", model=model, at_site=site, serial_number="SN-1")
    page.set_viewport_size(LAPTOP)
    log_in(page, live_server.url, "op", "pw-op", "/admin/registry/asset/")
    page.wait_for_selector("#result_list")
    shot(page, "10-asset-list-1366")
    # State, workload and end of life in view without scrolling sideways; the tag on one line.
    assert page.evaluate(
        "() => { const r = document.querySelector('#changelist .results');"
        " return r.scrollWidth <= r.clientWidth; }"
    )
    for column in ("state_badge", "workload", "planned_eol"):
        box = page.locator(f"#result_list .field-{column}").first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= LAPTOP["width"]
    tag = page.locator("#result_list .field-asset_tag a").first.bounding_box()
    state = page.locator("#result_list .field-state_badge").first.bounding_box()
    assert tag["height"] <= state["height"]  # not wrapped onto a second line
    assert "In stock" in page.inner_text("#result_list")

    page.fill("#searchbar", "SN-1")  # an exact serial opens the unit
    page.press("#searchbar", "Enter")
    page.wait_for_selector("a.record-event")
    assert f"/admin/registry/asset/{asset.pk}/change/" in page.url

    # Import: every error with row, column, value and reason; the table fits the page.
    page.goto(f"{live_server.url}/admin/registry/asset/")
    page.click("a.import_link")
    header = "asset_tag,hardware_model,site,purchase_date,purchase_price,currency,supplier,state"
    bad = f"{header}\nIMP-1,acme-gpu-24,PAR9,2024-03-01,10,EUR,Acme,in-stock\n"
    bad += "IMP-2,acme-gpu-24,PAR1,2024-13-01,-5,EURO,Acme,in-service\n"
    page.set_input_files(
        "#id_import_file", files=[{"name": "a.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.click("input[value='Check file']")
    page.wait_for_selector("#import-errors")
    shot(page, "11-import-errors")
    errors = page.inner_text("#import-errors")
    for expected in ("no site with code 'PAR9'", "2024-13-01", "EURO", "in-service"):
        assert expected in errors
    rows = page.locator("#import-errors tbody tr")
    assert rows.count() == 5 and rows.first.inner_text().startswith("2")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    good = f"{header}\nIMP-3,acme-gpu-24,PAR1,2024-03-01,10,EUR,Acme,ordered\n"
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "b.csv", "mimeType": "text/csv", "buffer": good.encode()}],
    )
    page.click("input[value='Check file']")
    page.wait_for_selector("#import-preview")
    shot(page, "12-import-preview")
    assert "IMP-3" in page.inner_text("#import-preview")
    page.click("input[name=_confirm]")
    page.wait_for_selector(".messagelist")
    shot(page, "13-import-done")
    assert "1 was created." in page.inner_text(".messagelist")
    assert Asset.objects.filter(asset_tag="IMP-3").exists()

    # Recycling: metals as number fields, kept after an error; required labels in bold.
    services.record_event(
        asset,
        EventKind.SENT_TO_RECYCLER,
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        actor=operator,
        details={"recycler": "Metals SA", "certification": "r2v3", "consignment_ref": "C-1"},
    )
    page.goto(f"{live_server.url}/admin/registry/asset/{asset.pk}/record-event/?kind=recycled")
    page.wait_for_selector("#id_recovered_g_au")
    weight = page.eval_on_selector(
        "label[for=id_certificate_ref]", "l => getComputedStyle(l).fontWeight"
    )
    assert int(weight) >= 600
    page.fill("#id_weighed_mass_kg", "1.5")
    page.select_option("#id_weee_category", "6")
    page.fill("#id_recovered_g_au", "0.25")
    page.fill("#id_recovered_g_cu", "120")
    page.click("input[name=_record]")  # no certificate: refused
    page.wait_for_selector(".errorlist")
    shot(page, "13-recycled-error-keeps-metals")
    assert page.input_value("#id_recovered_g_au") == "0.25"
    assert page.input_value("#id_recovered_g_cu") == "120"
    page.fill("#id_certificate_ref", "CERT-1")
    page.click("input[name=_record]")
    page.wait_for_selector(".messagelist")
    shot(page, "14-recycled-recorded")
    assert asset.events.get(kind=EventKind.RECYCLED).details["recovered_g"] == {
        "au": "0.25",
        "cu": "120",
    }


def test_period_page_compute_and_read(live_server, role_groups, page):  # noqa: F811
    site = make_site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    factories.user("aud", group="auditor", is_staff=True)
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply")
    make_meter(site, "WATER", "water-total", unit="m3")
    ingest(series("UPS-1", T0 + dt.timedelta(minutes=15), 4, 3))
    ingest(series("MAIN", T0 + dt.timedelta(minutes=15), 4, 4))
    ingest(series("WATER", T0 + dt.timedelta(minutes=15), 4, "0.01"))
    feb = T0 + dt.timedelta(days=31, minutes=15)
    ingest(series("UPS-1", feb, 4, 3) + series("MAIN", feb, 4, 5))
    ingest(series("WATER", feb, 4, "0.02"))
    p = period(site)
    page.set_viewport_size(LAPTOP)

    log_in(page, live_server.url, "op", "pw-op", "/admin/reporting/reportingperiod/")
    page.wait_for_selector("#result_list")
    page.check(f"input[name=_selected_action][value='{p.pk}']")
    page.select_option("select[name=action]", "compute")
    page.click("button[name=index]")
    page.wait_for_selector("#compute-progress")
    page.wait_for_selector("text=Succeeded", timeout=30_000)
    shot(page, "20-compute-progress-result")
    assert "Power usage effectiveness" in page.inner_text("#content-main")

    page.goto(f"{live_server.url}/admin/reporting/reportingperiod/{p.pk}/change/")
    page.wait_for_selector("table.indicators")
    shot(page, "21-period-page-operator")
    indicators = page.inner_text("table.indicators")
    assert "Power usage effectiveness (PUE = EDC/EIT)" in indicators
    assert "CUE_CEF_KG_PER_KWH" not in indicators and "size_class" not in indicators
    title = page.get_attribute("table.indicators td.num >> nth=0", "title")
    assert title.startswith("unrounded: ")
    labels = [
        page.get_attribute(f"svg.period-chart >> nth={i}", "aria-label")
        for i in range(page.locator("svg.period-chart").count())
    ]
    assert labels == ["monthly PUE", "monthly WUE", "monthly EDC and EIT"]
    for label in labels:  # each panel has its own y-axis with tick labels
        assert page.locator(f"svg[aria-label='{label}'] text.tick").count() >= 3

    page.context.clear_cookies()
    log_in(
        page, live_server.url, "aud", "pw-aud", f"/admin/reporting/reportingperiod/{p.pk}/change/"
    )
    page.wait_for_selector("table.indicators")
    shot(page, "22-period-page-auditor")
    assert "Power usage effectiveness" in page.inner_text("table.indicators")
