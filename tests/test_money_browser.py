"""The money pages in real headless Chromium, at phone and desktop widths, over the demo's
money flow: the first shop's balance, its statement and refunds, and the admin's finance and
reconciliation pages. Each must fit the screen (no sideways scrolling) and show its figures.
Screenshots land in ``test-artifacts/`` (override with TEST_ARTIFACTS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from marketplace.admin.seed import ADMIN_EMAIL, BUYER_EMAIL, DEMO_PASSWORD, seed_demo
from marketplace.extensions import db
from marketplace.money import Money
from payouts.demo import seed_money
from payouts.models import Refund
from payouts.statement_export import Month
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)
from vendors.models import Vendor

pytestmark = pytest.mark.browser

VENDOR_EMAIL = "vendor1@example.com"


@pytest.fixture
def money_server(app) -> Iterator[str]:
    seed_demo(vendors=5, products=6, buyers=1, seed=11)
    db.session.commit()
    seed_money(BUYER_EMAIL)
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


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_load_state()


def _visit(page, url: str, width: int, shot: str) -> str:
    response = page.goto(url)
    assert response.status == 200, url
    assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page.inner_text("main")


def _in_sight(page, width: int, *selectors: str) -> None:
    """Each figure is on the screen, not in a column scrolled out of sight."""
    for selector in selectors:
        cell = page.locator(selector).first
        assert cell.is_visible(), selector
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


@pytest.mark.parametrize(("label", "width", "height"),
                         [("phone", 375, 812), ("desktop", 1280, 900)])
def test_a_shop_and_an_admin_follow_the_demo_money_on_any_screen(
        app, money_server, browser, label, width, height):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    refund = db.session.scalars(sa.select(Refund)).one()
    shop = db.session.get(Vendor, refund.vendor_id)
    month = Month.of(refund.created_at).key
    refunded = Money(refund.amount_minor, refund.currency).format("en")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _log_in(page, money_server, VENDOR_EMAIL)

    balance = _visit(page, money_server + "/vendor/balance", width, f"balance-{label}.png")
    _in_sight(page, width, "#balances td.pending", "#balances td.available",
              "#balances td.paid-out")
    statement = _visit(page, f"{money_server}/vendor/balance/statements/{month}", width,
                       f"statement-{label}.png")
    shop_refunds = _visit(page, money_server + "/vendor/refunds", width,
                          f"vendor-refunds-{label}.png")

    assert shop.name in page.inner_text("body")
    assert "Payout history" in balance
    assert f"refund-{refund.id}" in statement  # the statement lists the refund's clawback
    assert refunded in shop_refunds

    context.close()
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _log_in(page, money_server, ADMIN_EMAIL)
    finance = _visit(page, money_server + "/admin/finance", width, f"finance-{label}.png")
    _in_sight(page, width, "#revenue td.net", "#payables td.total")
    reconciliation = _visit(page, money_server + "/admin/finance/reconciliation", width,
                            f"reconciliation-{label}.png")

    assert refunded in finance
    assert page.locator('#reconciled[data-state="ok"]').count() == 1
    assert "mismatch" in reconciliation.lower()
    context.close()
