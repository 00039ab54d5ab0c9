"""Smoke test in real headless Chromium: the storefront at phone and desktop widths, and a login.

Screenshots land in ``test-artifacts/`` (override with TEST_ARTIFACTS) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from marketplace.admin.seed import DEMO_PASSWORD, seed_demo
from marketplace.extensions import db

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
# Without these, Chromium phones home at start and this machine's closed network refuses it.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    seed_demo(vendors=3, products=4, buyers=1, seed=7)
    db.session.commit()
    app.config["SERVER_NAME"] = None  # the browser reaches us as 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = "localhost"


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; `make chromium` installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM}; `make chromium` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize(("label", "width", "height"),
                         [("phone", 375, 812), ("desktop", 1280, 900)])
def test_a_buyer_opens_the_storefront_and_logs_in(live_server, browser, label, width, height):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": height})

    page.goto(live_server + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator(".product-card").count() > 0
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"home-{label}.png"), full_page=True)

    page.goto(live_server + "/login")
    page.fill("input[name=email]", "buyer@example.com")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_load_state()

    if width < 640:
        page.click("label.nav-toggle-label")
    assert page.locator("header .who").inner_text().strip() != ""
    assert page.locator("header button:has-text('Log out')").is_visible()
    page.screenshot(path=str(ARTIFACTS / f"after-login-{label}.png"), full_page=True)
    page.close()
