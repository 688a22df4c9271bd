"""One headless Chromium for the browser tests of a process: launching it costs more CPU than
most of the tests that use it. Each test still gets a browser context of its own (no cookies,
storage or cache from the test before): `page` in test_admin_browser.py.

The tests of this package run one after another in one process (XDIST_GROUPS in
tests/conftest.py), so the browser is torn down, and Playwright's event loop closed, before
any other test runs there."""

import pytest


@pytest.fixture(scope="package")
def chromium():
    from tests.e2e import test_admin_browser as e2e

    with e2e.sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=e2e.CHROMIUM, args=e2e.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            e2e.close_test_connections()
            browser.close()
