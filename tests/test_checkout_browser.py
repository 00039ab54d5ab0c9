"""The checkout journey in real headless Chromium, at phone and desktop widths: a buyer logs
in, fills one cart from three shops, checks out, pays with the sandbox's success card and
sees three shops' parts of one order. Screenshots land in ``test-artifacts/`` (override with
TEST_ARTIFACTS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from tests.buyers.checkout_support import market  # noqa: F401  (the three shops)
from tests.factories import PASSWORD
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)
from vendors.order_models import Order, OrderStatus

pytestmark = pytest.mark.browser


@pytest.fixture
def shop_server(app, market) -> Iterator[str]:  # noqa: F811
    app.config["SERVER_NAME"] = None  # the browser reaches us as 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = "localhost"


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("label", "width", "height"),
                         [("phone", 375, 812), ("desktop", 1280, 900)])
def test_a_buyer_fills_one_cart_from_three_shops_and_pays_once(
        app, shop_server, browser, market, label, width, height):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(shop_server + "/login")
    page.fill("input[name=email]", "buyer@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_load_state()

    for variant in (market.chair, market.lamp, market.mug):
        product = variant.product
        page.goto(f"{shop_server}/p/{product.id}-{product.slug}")
        page.click("form.add-to-cart button[type=submit]")
        page.wait_for_load_state()
    assert page.url.endswith("/cart")
    assert page.locator(".cart-group").count() == 3
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"cart-{label}.png"), full_page=True)

    page.click("a:has-text('Check out')")
    page.fill("#f-name", "Ada Buyer")
    page.fill("#f-line1", "Hauptstr. 1")
    page.fill("#f-postal_code", "10115")
    page.fill("#f-city", "Berlin")
    page.select_option("#f-country", "DE")
    page.click("button:has-text('Continue to shipping')")
    page.wait_for_load_state()
    assert page.locator("fieldset[data-vendor]").count() == 3
    page.click("button:has-text('Continue to review')")
    page.wait_for_load_state()
    # €129.00 + €45.00 + €9.38 (¥1,500) + shipping €4.90 + €5.00 + €5.00 (¥800)
    assert page.locator("[data-order-total]").inner_text() == "€198.28"
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"checkout-review-{label}.png"), full_page=True)

    page.click("#place-order")
    page.wait_for_load_state()
    assert "/checkout/pay/" in page.url
    page.fill("#card_number", "4242 4242 4242 4242")
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"checkout-pay-{label}.png"), full_page=True)
    page.click("#sandbox-pay-form button[type=submit]")
    page.wait_for_load_state()
    assert "/checkout/done/" in page.url
    run_queued_jobs(app)  # the payment event's job, as a worker would run it
    page.reload()

    assert page.locator("#order-state").get_attribute("data-state") == "paid"
    assert page.locator("[data-sub-order]").count() == 3
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"checkout-paid-{label}.png"), full_page=True)
    db.session.expire_all()
    assert [order.status for order in db.session.scalars(db.select(Order))] == [
        OrderStatus.PAID]
    page.close()

