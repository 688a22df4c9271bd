"""The asset manager's pages in a real browser at 1,366 × 900: printing labels for a selection
(the PDF a person prints is read back by the label tests), saving a scheduled report, and the
webhook set-up whose secret is shown once. Each page is checked for sideways scrolling."""

from tests import factories
from tests.e2e import test_admin_browser as e2e
from tests.e2e.test_admin_browser import live_server, page, role_groups  # noqa: F401 - fixtures
from tests.e2e.test_newcomer_flows import shot
from tests.e2e.test_role_tasks import no_sideways_scroll, sign_in

pytestmark = e2e.pytestmark


def test_operator_prints_labels_for_a_selection(live_server, role_groups, page):  # noqa: F811
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    model = factories.hardware_model("acme-l4", name="L4")
    for i in range(3):
        factories.asset(f"PAR-GPU-{i:02}", model=model, at_site=site)
    sign_in(page, live_server.url, "op")
    page.goto(f"{live_server.url}/admin/registry/asset/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "print_labels")
    page.click("button[name=index]")
    page.wait_for_selector("select[name=layout]")
    no_sideways_scroll(page)
    text = page.inner_text("#content")
    assert "3 labels" in text and "21 per sheet" in text and "print_labels" not in text
    shot(page, "labels-form")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("input[name=_apply]")
    # Chromium opens it in its PDF viewer; the PDF itself is read back in test_labels.py.
    assert answer.value.headers["content-type"] == "application/pdf"


def test_operator_saves_a_weekly_report(live_server, role_groups, page):  # noqa: F811
    site = factories.site("PAR1")
    operator = factories.user("op", group="operator", is_staff=True)
    site.operators.add(operator)
    sign_in(page, live_server.url, "op")
    page.goto(f"{live_server.url}/admin/exports/savedreport/add/")
    no_sideways_scroll(page)
    page.fill("#id_name", "PAR1 assets every Monday")
    page.select_option("#id_kind", "assets")
    page.fill("#id_params", '{"site": "PAR1", "format": "csv"}')
    page.select_option("#id_schedule", "weekly")
    page.select_option("#id_weekday", "0")
    page.fill("#id_recipients", "lead@example.org")
    shot(page, "saved-report-form")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "PAR1 assets every Monday" in page.inner_text("#result_list")


def test_superuser_sees_a_new_webhook_secret_once(live_server, page):  # noqa: F811
    factories.user("root", is_staff=True, is_superuser=True)
    sign_in(page, live_server.url, "root")
    page.goto(f"{live_server.url}/admin/registry/webhooksubscription/add/")
    no_sideways_scroll(page)
    page.fill("#id_name", "ticketing")
    page.fill("#id_url", "https://hooks.example.org/circulus")
    page.check("input[name=kinds][value=sold]")
    shot(page, "webhook-form")
    page.click("input[name=_save]")
    message = page.inner_text(".messagelist")
    assert "signing secret" in message and "not shown again" in message
    no_sideways_scroll(page)
