"""The buyer's journey in real headless Chromium, at phone and desktop widths: browse from the
home page to a category, narrow it with a facet, open a product; search a misspelled word and
find the product. Screenshots land in ``test-artifacts/`` (override with TEST_ARTIFACTS).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from marketplace.admin.seed import seed_demo
from marketplace.extensions import db
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)
from vendors.models import Product, Vendor
from vendors.search import rebuild_index, visible_products

pytestmark = pytest.mark.browser


@pytest.fixture
def storefront(app, tmp_path) -> Iterator[str]:
    saved = app.config["SEARCH_INDEX_DIR"]
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "search-index")
    app.extensions.pop("marketplace.search", None)
    seed_demo(vendors=4, products=8, buyers=1, seed=7)
    db.session.commit()
    rebuild_index()
    app.config["SERVER_NAME"] = None  # the browser reaches us as 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = "localhost"
        app.config["SEARCH_INDEX_DIR"] = saved
        app.extensions.pop("marketplace.search", None)


def _a_product() -> tuple[str, str, str]:
    """A visible product's root category slug, title, and its longest title word with one
    letter dropped (a typo the search must forgive)."""
    product = db.session.scalar(
        select(Product).join(Vendor, Vendor.id == Product.vendor_id)
        .where(visible_products()).order_by(Product.id).limit(1)
    )
    root = product.category
    while root.parent is not None:
        root = root.parent
    word = max(re.findall(r"[A-Za-z]{5,}", product.title), key=len)
    return root.slug, product.title, word[:2] + word[3:]


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("label", "width", "height"),
                         [("phone", 375, 812), ("desktop", 1280, 900)])
def test_a_buyer_browses_filters_opens_a_product_and_finds_it_misspelled(
        storefront, browser, label, width, height):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root_slug, title, misspelled = _a_product()
    page = browser.new_page(viewport={"width": width, "height": height})

    page.goto(storefront + "/")
    page.click(f".categories a.chip[href='/c/{root_slug}']")
    page.wait_for_load_state()
    assert "/c/" in page.url
    assert page.locator(".product-card").count() > 0
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"category-{label}.png"), full_page=True)

    before = page.locator(".product-card").count()
    if width < 760:
        page.click("details.filters > summary")
    page.locator("[data-facet^='attr:'] a.facet-option, [data-facet='vendor'] a.facet-option"
                 ).first.click()
    page.wait_for_load_state()
    assert re.search(r"[?&](attr\.\w+|vendor)=", page.url)
    assert page.locator(".active-filters .chip-remove").count() == 1
    assert 0 < page.locator(".product-card").count() <= before
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"category-filtered-{label}.png"), full_page=True)

    page.locator(".product-card a.product-link").first.click()
    page.wait_for_load_state()
    assert "/p/" in page.url
    assert page.locator("h1.product-name").inner_text().strip() != ""
    assert page.locator(".vendor-card").is_visible()
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"product-{label}.png"), full_page=True)

    page.fill("#site-search-q", misspelled)
    page.press("#site-search-q", "Enter")
    page.wait_for_load_state()
    assert "Showing results for" in page.locator(".correction").inner_text()
    assert title in page.locator(".product-title").all_inner_texts()
    _fits(page, width)
    page.screenshot(path=str(ARTIFACTS / f"search-{label}.png"), full_page=True)
    page.close()
