"""The product page (variant picker, prices, stock, vendor card) and the vendor storefront."""

from __future__ import annotations

import json
import re

from marketplace.admin.seed import make_logo
from marketplace.extensions import db
from tests.buyers.conftest import add_variant, reindex, set_attributes
from tests.buyers.pages import breadcrumbs, cards, facets, text
from tests.factories import make_category, make_product, make_vendor
from vendors.models import ProductStatus, VendorStatus


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _options(html: str, axis: str) -> list[tuple[str, bool, bool]]:
    """(value, selected, disabled) of one attribute's select."""
    select = re.search(rf'<select name="attr\.{axis}" data-axis="{axis}">(.*?)</select>', html,
                       re.S).group(1)
    return [(value, " selected" in attrs, " disabled" in attrs)
            for value, attrs in re.findall(r'<option value="([^"]*)"([^>]*)>', select)]


def _shirt():
    """A shirt in S/M and Black/White: S-Black in stock, S-White sold out, M-Black in stock;
    M-White doesn't exist."""
    clothing = make_category("Clothing")
    vendor = make_vendor("Nordic Goods")
    shirt = make_product(vendor, clothing, title="Linen Shirt", price_minor=5_900, on_hand=4)
    shirt.description = "Light linen.\nWashed soft.\n\nMade in Porto."
    set_attributes(shirt, {"size": "S", "colour": "Black"})
    add_variant(shirt, sku="SHIRT-S-WHITE", price_minor=5_900,
                attributes={"size": "S", "colour": "White"}, on_hand=0)
    add_variant(shirt, sku="SHIRT-M-BLACK", price_minor=6_900,
                attributes={"size": "M", "colour": "Black"}, on_hand=2)
    reindex()
    return shirt


def test_the_product_page_shows_price_stock_description_and_vendor(client, search_index):
    shirt = _shirt()

    html = _page(client, f"/p/{shirt.id}-{shirt.slug}")

    assert breadcrumbs(html) == ["Shop", "Clothing", "Linen Shirt"]
    assert '<h1 class="product-name">Linen Shirt</h1>' in html
    assert '<p class="price product-price" data-price>€59.00</p>' in html
    assert "In stock" in text(re.search(r"<p class=\"stock[^>]*>.*?</p>", html, re.S).group())
    assert "<p>Light linen.<br>Washed soft.</p>" in html
    assert "<p>Made in Porto.</p>" in html
    assert '<h2 id="vendor-heading" class="vendor-card-name">Nordic Goods</h2>' in html
    assert "No ratings yet" in html
    assert "Ships from Germany" in html
    assert f'href="/v/{shirt.vendor.slug}"' in html
    assert "No reviews yet." in html
    assert "No photo yet" in html


def test_the_picker_disables_combinations_that_do_not_exist_or_are_sold_out(
        client, search_index):
    shirt = _shirt()

    small_black = _page(client, f"/p/{shirt.id}-{shirt.slug}")
    medium = _page(client, f"/p/{shirt.id}-{shirt.slug}?attr.size=M")

    # S-Black is chosen: White is out for S (sold out); M exists in Black.
    assert _options(small_black, "size") == [("S", True, False), ("M", False, False)]
    assert _options(small_black, "colour") == [("Black", True, False), ("White", False, True)]
    # M-Black is chosen (no M-White at all): its price and low stock.
    assert _options(medium, "colour") == [("Black", True, False), ("White", False, True)]
    assert '<p class="price product-price" data-price>€69.00</p>' in medium
    assert "Only 2 left" in medium


def test_the_picker_script_gets_every_variant_with_its_stock(client, search_index):
    shirt = _shirt()

    html = _page(client, f"/p/{shirt.id}-{shirt.slug}")
    data = json.loads(re.search(r'<script type="application/json" id="variant-data">(.*?)'
                                r"</script>", html, re.S).group(1))

    assert [(v["sku"], v["attributes"], v["available"], v["state"], v["price"])
            for v in data] == [
        (shirt.variants[0].sku, {"size": "S", "colour": "Black"}, 4, "in", "€59.00"),
        ("SHIRT-S-WHITE", {"size": "S", "colour": "White"}, 0, "out", "€59.00"),
        ("SHIRT-M-BLACK", {"size": "M", "colour": "Black"}, 2, "low", "€69.00"),
    ]


def test_every_variant_is_reachable_without_javascript(client, search_index):
    shirt = _shirt()
    white = shirt.variants[1]

    html = _page(client, f"/p/{shirt.id}-{shirt.slug}?variant={white.id}")

    assert f'href="/p/{shirt.id}-{shirt.slug}?variant={white.id}"' in html
    # The chosen value stays selectable even when sold out; the page says so.
    assert _options(html, "colour") == [("Black", False, False), ("White", True, False)]
    assert "Out of stock" in html


def test_a_variant_id_that_only_looks_like_a_number_shows_the_default_variant(
        client, search_index):
    # "²" is a digit to str.isdigit() but not a number to int(): the page must not fail.
    shirt = _shirt()

    html = _page(client, f"/p/{shirt.id}-{shirt.slug}?variant=%C2%B2")

    assert _options(html, "colour") == [("Black", True, False), ("White", False, True)]


def test_a_buyer_shopping_in_another_currency_sees_an_approximate_price(
        client, search_index, post_form):
    shirt = _shirt()
    post_form("/preferences/currency", {"currency": "GBP", "next": "/"})

    html = _page(client, f"/p/{shirt.id}-{shirt.slug}")

    assert '<p class="price product-price" data-price>€59.00</p>' in html
    assert "≈ £50.15 (approximate, in GBP)" in html


def test_a_wrong_or_missing_slug_redirects_permanently_to_the_canonical_url(
        client, search_index):
    shirt = _shirt()

    wrong = client.get(f"/p/{shirt.id}-old-name?attr.size=M")
    missing = client.get(f"/p/{shirt.id}")

    assert wrong.status_code == 301
    assert wrong.headers["Location"] == f"/p/{shirt.id}-{shirt.slug}?attr.size=M"
    assert missing.status_code == 301
    assert missing.headers["Location"] == f"/p/{shirt.id}-{shirt.slug}"


def test_unknown_unapproved_and_hidden_products_are_404_pages(client, search_index):
    draft = make_product(make_vendor(), title="Draft Mug", status=ProductStatus.DRAFT)
    hidden = make_product(make_vendor("Paused", status=VendorStatus.SUSPENDED),
                          title="Hidden Mug")
    reindex()

    for url in ("/p/987654-x", f"/p/{draft.id}-{draft.slug}", f"/p/{hidden.id}-{hidden.slug}",
                "/p/99999999999999999999999-x"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Page not found" in response.get_data(as_text=True)


# --- Vendor storefront ----------------------------------------------------------------------


def test_the_vendor_page_shows_the_vendor_and_only_its_listings_with_facets(client, shop):
    shop.nordic.logo, shop.nordic.logo_mime = make_logo("NG", "#3050d8"), "image/png"
    shop.nordic.description = "Furniture from Berlin."
    reindex()

    html = _page(client, f"/v/{shop.nordic.slug}")

    assert "<h1>Nordic Goods</h1>" in html
    assert f'src="/vendors/{shop.nordic.id}/logo"' in html
    assert "Furniture from Berlin." in html
    assert "Ships from Germany" in html
    assert sorted(cards(html)) == ["Oak Chair", "Sold Out Stool", "Walnut Side Table"]
    assert "vendor" not in facets(html)
    assert {o.label: o.count for o in facets(html)["attr:colour"]} == {"Oak": 2, "Walnut": 2}


def test_vendor_pages_of_unknown_pending_and_suspended_vendors_are_404(client, search_index):
    pending = make_vendor("New Shop", status=VendorStatus.PENDING)
    suspended = make_vendor("Paused Shop", status=VendorStatus.SUSPENDED)
    db.session.commit()

    assert client.get("/v/no-such-shop").status_code == 404
    assert client.get(f"/v/{pending.slug}").status_code == 404
    assert client.get(f"/v/{suspended.slug}").status_code == 404


def test_a_shop_on_vacation_shows_its_note_on_its_pages(client, shop):
    shop.nordic.on_vacation, shop.nordic.vacation_message = True, "Back on 3 March."
    reindex()

    product = _page(client, f"/p/{shop.chair.id}-{shop.chair.slug}")
    storefront = _page(client, f"/v/{shop.nordic.slug}")

    for html in (product, storefront):
        assert "This shop is on vacation: you can't buy from it right now." in html
        assert "<p>Back on 3 March.</p>" in html
