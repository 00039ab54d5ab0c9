"""The storefront home: featured products of approved vendors, prices, stock and logos."""

from __future__ import annotations

import io
import re

from PIL import Image

from marketplace.admin.seed import make_logo
from marketplace.cache import bump_catalog_generation
from marketplace.extensions import db
from tests.buyers.conftest import counting_statements
from tests.factories import PASSWORD, make_category, make_product, make_user, make_vendor
from vendors.models import ProductStatus, StockLevel, Variant, VendorStatus


def _cards(html: str) -> list[str]:
    return re.findall(r'<h3 class="product-title">([^<]*)</h3>', html)




def test_home_shows_featured_products_with_vendor_price_and_stock(client):
    vendor = make_vendor("Nordic Goods")
    make_product(vendor, title="Oak Chair", price_minor=12_900, on_hand=4)
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert _cards(html) == ["Oak Chair"]
    assert "Nordic Goods" in html
    assert '<p class="price">€129.00</p>' in html
    assert "In stock" in html
    assert "No products yet" not in html


def test_prices_follow_the_page_language(client):
    make_product(make_vendor(), title="Oak Chair", price_minor=12_900)
    db.session.commit()

    html = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)

    assert '<p class="price">129,00\xa0€</p>' in html


def test_yen_prices_have_no_minor_digits(client):
    make_product(make_vendor("Kumo Store", currency="JPY"), title="Tea Bowl", price_minor=4_500)
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert '<p class="price">¥4,500</p>' in html


def test_a_product_whose_variants_differ_in_price_shows_the_lowest_with_from(client):
    product = make_product(make_vendor(), title="Linen Shirt", price_minor=5_900)
    db.session.add(Variant(vendor_id=product.vendor_id, product_id=product.id, sku="SHIRT-XL",
                           price_minor=6_900, currency="EUR", attributes={"size": "XL"}))
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert '<p class="price">from €59.00</p>' in html


def test_products_with_nothing_available_are_out_of_stock(client):
    make_product(make_vendor(), title="Sold Lamp", on_hand=0)
    reserved = make_product(make_vendor(), title="Reserved Vase", on_hand=2)
    level = db.session.scalar(db.select(StockLevel).where(StockLevel.vendor_id ==
                                                          reserved.vendor_id))
    level.reserved = 2
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert html.count("Out of stock") == 2
    assert "In stock" not in html


def test_suspended_and_pending_vendors_and_unapproved_products_stay_off_the_storefront(client):
    make_product(make_vendor("Live Shop"), title="Visible Mug")
    make_product(make_vendor("Live Shop 2"), title="Draft Mug", status=ProductStatus.DRAFT)
    make_product(make_vendor("Live Shop 3"), title="Submitted Mug",
                 status=ProductStatus.SUBMITTED)
    make_product(make_vendor("Paused Shop", status=VendorStatus.SUSPENDED), title="Hidden Mug")
    make_product(make_vendor("New Shop", status=VendorStatus.PENDING), title="Pending Mug")
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert _cards(html) == ["Visible Mug"]
    assert "Paused Shop" not in html
    assert "New Shop" not in html


def test_featured_products_come_first_and_at_most_twelve_are_shown(client):
    vendor = make_vendor()
    make_product(vendor, title="Featured Clock", featured=True)
    for n in range(13):
        make_product(vendor, title=f"Plain Item {n}", featured=False)
    db.session.commit()

    cards = _cards(client.get("/").get_data(as_text=True))

    assert len(cards) == 12
    assert cards[0] == "Featured Clock"
    assert cards[1:] == [f"Plain Item {n}" for n in range(12, 1, -1)]


def test_root_categories_are_shown_with_their_child_counts(client):
    home = make_category("Home & Living")
    lighting = make_category("Lighting", parent=home)
    make_category("Furniture", parent=home)
    books = make_category("Books")
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert (f'<a class="chip" href="/c/{home.slug}">Home &amp; Living '
            '<span class="muted">2</span></a>') in html
    assert f'<a class="chip" href="/c/{books.slug}">Books <span class="muted">0</span></a>' in html
    # Children are in the header's category menu, not among the chips.
    assert f'<a class="chip" href="/c/{lighting.slug}">' not in html


def test_an_empty_marketplace_shows_the_empty_state_with_the_seed_hint(client):
    html = client.get("/").get_data(as_text=True)

    assert "No products yet" in html
    assert "<code>flask marketplace seed</code>" in html
    assert _cards(html) == []


def test_the_vendor_strip_shows_approved_vendors_with_their_logos(client):
    shown = make_vendor("Nordic Goods")
    shown.logo, shown.logo_mime = make_logo("NG", "#3050d8"), "image/png"
    make_vendor("Paused Shop", status=VendorStatus.SUSPENDED)
    db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert f'src="/vendors/{shown.id}/logo"' in html
    assert f'<a class="vendor-name" href="/v/{shown.slug}">Nordic Goods</a>' in html
    assert "Paused Shop" not in html


def test_the_home_page_costs_the_same_number_of_queries_for_3_or_12_products(client):
    def statements_for_home() -> int:
        client.get("/")  # warm up: the first request may set up things once per process
        bump_catalog_generation()  # what the index job does after a change: no cached page
        with counting_statements() as statements:
            assert client.get("/").status_code == 200
        return len(statements)

    for n in range(3):
        make_product(make_vendor(f"Shop {n}"), title=f"Item {n}")
    db.session.commit()
    with_three = statements_for_home()
    for n in range(3, 12):
        make_product(make_vendor(f"Shop {n}"), title=f"Item {n}")
    db.session.commit()
    with_twelve = statements_for_home()

    assert len(_cards(client.get("/").get_data(as_text=True))) == 12
    assert with_three == with_twelve
    # The home page's own three, plus what a catalog change makes every page reload once
    # (the header's category tree, the exchange rates).
    assert 0 < with_three <= 5, with_three


def test_the_logo_route_serves_the_png_with_cache_headers(client):
    vendor = make_vendor()
    vendor.logo, vendor.logo_mime = make_logo("NG", "#3050d8"), "image/png"
    db.session.commit()

    answer = client.get(f"/vendors/{vendor.id}/logo")

    assert answer.status_code == 200
    assert answer.mimetype == "image/png"
    assert answer.headers["Cache-Control"] in {"public, max-age=86400", "max-age=86400, public"}
    assert answer.headers["ETag"]
    assert Image.open(io.BytesIO(answer.data)).format == "PNG"


def test_the_logo_route_answers_304_when_the_browser_has_it(client):
    vendor = make_vendor()
    vendor.logo, vendor.logo_mime = make_logo("NG", "#3050d8"), "image/png"
    db.session.commit()
    etag = client.get(f"/vendors/{vendor.id}/logo").headers["ETag"]

    answer = client.get(f"/vendors/{vendor.id}/logo", headers={"If-None-Match": etag})

    assert answer.status_code == 304
    assert answer.data == b""


def test_the_logo_route_404s_for_unknown_logoless_and_unapproved_vendors(client):
    no_logo = make_vendor("Plain")
    suspended = make_vendor("Paused", status=VendorStatus.SUSPENDED)
    suspended.logo, suspended.logo_mime = make_logo("PA", "#334155"), "image/png"
    db.session.commit()

    assert client.get("/vendors/999999/logo").status_code == 404
    assert client.get(f"/vendors/{no_logo.id}/logo").status_code == 404
    assert client.get(f"/vendors/{suspended.id}/logo").status_code == 404


def test_the_header_invites_visitors_and_buyers_to_sell_but_not_sellers(client, post_form):
    owner = make_user("owner@example.com")
    make_vendor(owner=owner)
    make_user("shopper@example.com")
    db.session.commit()

    anonymous = client.get("/").get_data(as_text=True)
    post_form("/login", {"email": "shopper@example.com", "password": PASSWORD})
    buyer = client.get("/").get_data(as_text=True)
    post_form("/logout")
    post_form("/login", {"email": "owner@example.com", "password": PASSWORD})
    seller = client.get("/").get_data(as_text=True)

    assert 'href="/vendor/apply"' in anonymous
    assert 'href="/vendor/apply"' in buyer
    assert 'href="/vendor/apply"' not in seller
    assert 'href="/vendor/"' in seller
