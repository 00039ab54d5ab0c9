"""Compare-at ("was") prices: struck through beside the price on the product page, on cards
and in the catalog API, in the vendor's currency and approximately in the buyer's; only when
higher than the price."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.buyers.conftest import reindex
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)

GERMAN = {"Accept-Language": "de"}


def _get(client, url: str, headers: dict | None = None) -> str:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _card(html: str, title: str) -> str:
    """The card of the product titled ``title``."""
    for card in re.findall(r'<li class="card product-card">.*?</li>', html, re.S):
        if f">{title}</h3>" in card:
            return card
    raise AssertionError(f"no card for {title}")


def _variant_data(html: str) -> list[dict]:
    return json.loads(re.search(r'<script type="application/json" id="variant-data">(.*?)'
                                r"</script>", html, re.S).group(1))


def _on_sale(shop) -> None:
    """The chair's oak variant (€129, in stock) was €149; its walnut one (€139) has no
    compare-at price; the table's (€249) is below its price, so no saving."""
    shop.chair.variants[0].compare_at_minor = 14_900
    shop.table.variants[0].compare_at_minor = 20_000
    reindex()


# --- The product page -----------------------------------------------------------------------


def test_the_product_page_strikes_through_a_higher_compare_at_price(client, shop):
    _on_sale(shop)

    html = _get(client, f"/p/{shop.chair.id}-{shop.chair.slug}")

    assert ('<div class="price-line">\n<p class="price product-price" data-price>€129.00</p>\n'
            '<p class="compare-at" data-compare-at>Was <del>€149.00</del></p>\n</div>') in html
    # Same currency as the vendor: no approximation, of either price.
    assert ('<p class="muted approx compare-at" data-approximate-compare-at hidden>'
            'Was <del></del></p>') in html


def test_a_buyer_in_another_currency_sees_the_compare_at_price_approximated(client, shop):
    _on_sale(shop)
    client.get("/preferences/currency", query_string={"currency": "USD", "next": "/"})

    html = _get(client, f"/p/{shop.chair.id}-{shop.chair.slug}")

    assert '<p class="compare-at" data-compare-at>Was <del>€149.00</del></p>' in html
    assert "≈ $141.90 (approximate, in USD)" in html
    assert ('<p class="muted approx compare-at" data-approximate-compare-at>'
            'Was <del>≈ $163.90</del></p>') in html


def test_the_picker_script_gets_each_variants_compare_at_price(client, shop):
    _on_sale(shop)
    client.get("/preferences/currency", query_string={"currency": "USD", "next": "/"})

    html = _get(client, f"/p/{shop.chair.id}-{shop.chair.slug}")

    assert [(v["sku"], v["price"], v["compare_at"], v["approximate_compare_at"])
            for v in _variant_data(html)] == [
        (shop.chair.variants[0].sku, "€129.00", "€149.00", "$163.90"),
        ("CHAIR-WALNUT", "€139.00", None, None),
    ]


def test_a_variant_without_a_compare_at_price_shows_none(client, shop):
    _on_sale(shop)
    walnut = shop.chair.variants[1]

    html = _get(client, f"/p/{shop.chair.id}-{shop.chair.slug}?variant={walnut.id}")

    assert '<p class="price product-price" data-price>€139.00</p>' in html
    assert '<p class="compare-at" data-compare-at hidden>Was <del></del></p>' in html


def test_a_compare_at_price_below_the_price_is_not_shown(client, shop):
    _on_sale(shop)

    html = _get(client, f"/p/{shop.table.id}-{shop.table.slug}")

    assert '<p class="compare-at" data-compare-at hidden>Was <del></del></p>' in html
    assert "€200.00" not in html
    assert [v["compare_at"] for v in _variant_data(html)] == [None]


def test_a_german_visitor_sees_the_compare_at_price_formatted_in_german(app, shop):
    _on_sale(shop)

    html = _get(app.test_client(), f"/p/{shop.chair.id}-{shop.chair.slug}", GERMAN)

    assert '<p class="price product-price" data-price>129,00\xa0€</p>' in html
    assert re.search(r'<p class="compare-at" data-compare-at>[^<]*<del>149,00\xa0€</del></p>',
                     html)


# --- Cards ----------------------------------------------------------------------------------


def test_cards_strike_through_the_cheapest_variants_compare_at_price(client, shop):
    _on_sale(shop)

    category = _get(client, f"/c/{shop.furniture.slug}")
    home = _get(client, "/")

    for html in (category, home):
        chair = _card(html, "Oak Chair")
        assert ('<div class="price-line">\n<p class="price">from €129.00</p>\n'
                '<p class="compare-at">Was <del>€149.00</del></p>\n</div>') in chair
        assert "compare-at" not in _card(html, "Walnut Side Table")
        assert "compare-at" not in _card(html, "Sold Out Stool")


def test_a_card_in_another_currency_approximates_the_compare_at_price_too(client, shop):
    _on_sale(shop)
    client.get("/preferences/currency", query_string={"currency": "USD", "next": "/"})

    chair = _card(_get(client, f"/c/{shop.furniture.slug}"), "Oak Chair")

    assert '<p class="compare-at">Was <del>€149.00</del></p>' in chair
    assert ('<p class="muted approx">≈ $141.90 <span class="compare-at">'
            'Was <del>≈ $163.90</del></span></p>') in chair


def test_a_compare_at_price_of_a_dearer_variant_is_not_the_cards(client, shop):
    # Only the walnut variant (€139, not the cheapest) has a compare-at price.
    shop.chair.variants[1].compare_at_minor = 15_900
    reindex()

    chair = _card(_get(client, f"/c/{shop.furniture.slug}"), "Oak Chair")

    assert "compare-at" not in chair


# --- The catalog API ------------------------------------------------------------------------


def test_the_api_gives_compare_at_prices_with_their_approximations(client, shop):
    _on_sale(shop)

    listing = client.get(f"/api/v1/catalog/products?category={shop.furniture.id}"
                         "&currency=USD").json
    chair = client.get(f"/api/v1/catalog/products/{shop.chair.id}?currency=USD").json
    table = client.get(f"/api/v1/catalog/products/{shop.table.id}?currency=USD").json

    items = {item["title"]: item for item in listing["items"]}
    assert (items["Oak Chair"]["compare_at_price"],
            items["Oak Chair"]["approximate_compare_at_price"]) == (
        {"amount_minor": 14_900, "currency": "EUR"}, {"amount_minor": 16_390, "currency": "USD"})
    assert (items["Walnut Side Table"]["compare_at_price"],
            items["Walnut Side Table"]["approximate_compare_at_price"]) == (None, None)
    assert [(v["compare_at_price"], v["approximate_compare_at_price"])
            for v in chair["variants"]] == [
        ({"amount_minor": 14_900, "currency": "EUR"}, {"amount_minor": 16_390, "currency": "USD"}),
        (None, None),
    ]
    assert [v["compare_at_price"] for v in table["variants"]] == [None]


# --- In the browser: the picker's script -----------------------------------------------------


@pytest.fixture
def served(app, shop) -> Iterator[str]:
    """The test's shop, served on loopback for Chromium."""
    app.config["SERVER_NAME"] = None  # the browser reaches us as 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = "localhost"


@pytest.mark.browser
def test_the_compare_at_price_follows_the_chosen_variant(shop, served, browser):  # noqa: F811
    _on_sale(shop)
    shop.chair.variants[1].stock_levels[0].on_hand = 3  # walnut can be chosen too
    reindex()
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    page = browser.new_page(viewport={"width": 375, "height": 812})  # a phone
    page.goto(f"{served}/preferences/currency?currency=USD&next={url}")

    oak = (page.inner_text("[data-price]"), page.is_visible("[data-compare-at]"),
           page.inner_text("[data-compare-at]"), page.inner_text("[data-approximate-compare-at]"))
    page.select_option("select[data-axis=colour]", "Walnut")
    walnut = (page.inner_text("[data-price]"), page.is_visible("[data-compare-at]"),
              page.is_visible("[data-approximate-compare-at]"))
    page.select_option("select[data-axis=colour]", "Oak")
    oak_again = (page.is_visible("[data-compare-at]"),
                 page.inner_text("[data-approximate-compare-at]"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "product-compare-at-phone.png"))
    page.goto(f"{served}/c/{shop.furniture.slug}")
    page.screenshot(path=str(ARTIFACTS / "cards-compare-at-phone.png"), full_page=True)

    assert oak == ("€129.00", True, "Was €149.00", "Was ≈ $163.90")
    assert walnut == ("€139.00", False, False)
    assert oak_again == (True, "Was ≈ $163.90")
