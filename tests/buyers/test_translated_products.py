"""Vendors' translations on the storefront: the product page, listing cards and the catalog
API show a product's title and description in the visitor's language where the vendor wrote
them, else the default language's; cached pages never cross languages."""

from __future__ import annotations

import re

from marketplace.extensions import db
from tests.buyers.conftest import counting_statements, reindex
from tests.buyers.pages import cards
from tests.factories import make_category, make_product, make_vendor
from vendors.models import Product, ProductTranslation

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


def translate(product: Product, locale: str, title: str, description: str = "") -> None:
    db.session.add(ProductTranslation(vendor_id=product.vendor_id, product_id=product.id,
                                      locale=locale, title=title, description=description))
    db.session.flush()


def _german_chair(shop) -> None:
    """The chair in English and German; the other products only in English."""
    shop.chair.description = "<p>Solid <strong>oak</strong>, oiled by hand.</p>"
    translate(shop.chair, "de", "Eichenstuhl", "<p>Massive <strong>Eiche</strong>, von Hand "
                                               "geölt.</p>")
    reindex()


def _get(client, url: str, headers: dict | None = None) -> str:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _h1(html: str) -> str:
    return re.search(r'<h1 class="product-name"[^>]*>.*?</h1>', html, re.S).group()


def _meta_description(html: str) -> str | None:
    match = re.search(r'<meta name="description"[^>]*>', html)
    return match.group() if match else None


def _description(html: str) -> str:
    """The description's words, as read (the section's heading left out)."""
    section = re.search(r'<section class="product-description".*?</h2>(.*?)</section>', html,
                        re.S)
    return " ".join(re.sub(r"<[^>]+>", "", section.group(1)).split())


# --- The product page -----------------------------------------------------------------------


def test_a_german_visitor_sees_the_german_title_and_description(app, shop):
    _german_chair(shop)

    html = _get(app.test_client(), f"/p/{shop.chair.id}-{shop.chair.slug}", GERMAN)

    assert '<html lang="de"' in html
    assert _h1(html) == '<h1 class="product-name">Eichenstuhl</h1>'
    assert '<title>Eichenstuhl · ' in html
    assert _description(html) == "Massive Eiche, von Hand geölt."
    assert '<div class="description-text"><p>Massive <strong>Eiche</strong>' in html
    assert _meta_description(html) == (
        '<meta name="description" content="Massive Eiche, von Hand geölt.">')
    assert '<li><span aria-current="page">Eichenstuhl</span></li>' in html
    assert "Oak Chair" not in html


def test_an_english_visitor_sees_the_default_title_and_description(app, shop):
    _german_chair(shop)

    html = _get(app.test_client(), f"/p/{shop.chair.id}-{shop.chair.slug}", ENGLISH)

    assert '<html lang="en"' in html
    assert _h1(html) == '<h1 class="product-name">Oak Chair</h1>'
    assert '<title>Oak Chair · Marketplace</title>' in html
    assert _description(html) == "Solid oak, oiled by hand."
    assert _meta_description(html) == (
        '<meta name="description" content="Solid oak, oiled by hand.">')
    assert "Eichenstuhl" not in html


def test_without_a_translation_a_german_visitor_sees_the_default_text_marked_english(
        app, shop):
    _german_chair(shop)
    shop.table.description = "Walnut veneer."
    reindex()

    html = _get(app.test_client(), f"/p/{shop.table.id}-{shop.table.slug}", GERMAN)

    assert '<html lang="de"' in html
    assert _h1(html) == '<h1 class="product-name" lang="en">Walnut Side Table</h1>'
    assert '<div class="description-text" lang="en">' in html
    assert _description(html) == "Walnut veneer."
    assert _meta_description(html) == (
        '<meta name="description" content="Walnut veneer." lang="en">')


def test_a_translated_title_without_a_description_keeps_the_default_description(app, shop):
    shop.table.description = "Walnut veneer."
    translate(shop.table, "de", "Beistelltisch aus Nussbaum")
    reindex()

    html = _get(app.test_client(), f"/p/{shop.table.id}-{shop.table.slug}", GERMAN)

    assert _h1(html) == '<h1 class="product-name">Beistelltisch aus Nussbaum</h1>'
    assert '<div class="description-text" lang="en">' in html
    assert _description(html) == "Walnut veneer."


def test_a_long_description_is_cut_at_a_word_for_the_meta_description(app, shop):
    shop.chair.description = "<p>" + "Oiled oak " * 30 + "</p>"
    reindex()

    html = _get(app.test_client(), f"/p/{shop.chair.id}-{shop.chair.slug}", ENGLISH)

    content = re.search(r'<meta name="description" content="([^"]*)">', html).group(1)
    assert content == ("Oiled oak " * 16).strip() + "…"
    assert len(content) <= 161


# --- Cached pages never cross languages ------------------------------------------------------


def test_cookieless_visitors_get_the_cached_page_of_their_own_language(app, shop):
    _german_chair(shop)
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    _get(app.test_client(), url, GERMAN)  # German first: stored
    _get(app.test_client(), url, ENGLISH)  # then English: its own entry

    with counting_statements() as statements:
        german = app.test_client().get(url, headers=GERMAN)
        english = app.test_client().get(url, headers=ENGLISH)
        no_language = app.test_client().get(url)

    assert statements == []  # all three answered from the cache, before Flask
    assert "Set-Cookie" not in german.headers and "Set-Cookie" not in english.headers
    # An HTTP cache in front must not cross languages either.
    assert german.headers["Vary"] == english.headers["Vary"] == "Accept-Language, Cookie"
    assert _h1(german.get_data(as_text=True)) == '<h1 class="product-name">Eichenstuhl</h1>'
    assert _h1(english.get_data(as_text=True)) == '<h1 class="product-name">Oak Chair</h1>'
    assert _h1(no_language.get_data(as_text=True)) == '<h1 class="product-name">Oak Chair</h1>'
    assert "Oak Chair" not in german.get_data(as_text=True)
    assert "Eichenstuhl" not in english.get_data(as_text=True)


def test_cookieless_listing_pages_are_cached_per_language_in_either_order(app, shop):
    _german_chair(shop)
    url = f"/c/{shop.furniture.slug}"
    english_first = _get(app.test_client(), url, ENGLISH)
    german_second = _get(app.test_client(), url, GERMAN)

    with counting_statements() as statements:
        german_hit = _get(app.test_client(), url, GERMAN)
        english_hit = _get(app.test_client(), url, ENGLISH)

    assert statements == []
    # In stock first, then the newest.
    assert cards(english_first) == cards(english_hit) == [
        "Walnut Side Table", "Oak Chair", "Sold Out Stool"]
    assert cards(german_second) == cards(german_hit) == [
        "Walnut Side Table", "Eichenstuhl", "Sold Out Stool"]


def test_a_visitor_who_chose_german_gets_the_german_page_from_the_cache(app, shop):
    _german_chair(shop)
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    _get(app.test_client(), url, ENGLISH)  # an English copy is cached first
    visitor = app.test_client()
    visitor.get("/preferences/language", query_string={"locale": "de", "next": url})

    # The browser asks for English; the visitor's choice (in their session) wins.
    first = _get(visitor, url, ENGLISH)
    with counting_statements() as statements:
        again = _get(visitor, url, ENGLISH)

    assert statements == []
    assert _h1(first) == _h1(again) == '<h1 class="product-name">Eichenstuhl</h1>'
    assert _h1(_get(app.test_client(), url, ENGLISH)) == '<h1 class="product-name">Oak Chair</h1>'


# --- Listing cards --------------------------------------------------------------------------


def test_cards_on_every_listing_use_the_german_title_where_there_is_one(app, shop):
    _german_chair(shop)
    german, english = app.test_client(), app.test_client()

    pages = {
        "home": "/",
        "category": f"/c/{shop.furniture.slug}",
        "search": "/search?q=&vendor=" + str(shop.nordic.id),
        "vendor": f"/v/{shop.nordic.slug}",
    }
    seen = {name: (cards(_get(german, url, GERMAN)), cards(_get(english, url, ENGLISH)))
            for name, url in pages.items()}

    for name, (in_german, in_english) in seen.items():
        assert "Eichenstuhl" in in_german and "Oak Chair" not in in_german, name
        assert "Oak Chair" in in_english and "Eichenstuhl" not in in_english, name
        assert "Walnut Side Table" in in_german and "Walnut Side Table" in in_english, name


def test_an_untranslated_card_is_marked_with_its_language_on_a_german_page(app, shop):
    _german_chair(shop)

    german = _get(app.test_client(), f"/c/{shop.furniture.slug}", GERMAN)
    english = _get(app.test_client(), f"/c/{shop.furniture.slug}", ENGLISH)

    assert '<h3 class="product-title">Eichenstuhl</h3>' in german
    assert '<h3 class="product-title" lang="en">Walnut Side Table</h3>' in german
    assert '<h3 class="product-title">Walnut Side Table</h3>' in english


def test_a_german_search_finds_and_shows_the_german_title(app, shop):
    _german_chair(shop)

    html = _get(app.test_client(), "/search?q=eichenstuhl", GERMAN)

    assert cards(html) == ["Eichenstuhl"]


def test_the_search_suggestions_show_german_titles(app, shop):
    for product in (shop.table, shop.lamp, shop.novel, shop.sold_out):
        product.featured = False  # the chair is suggested first
    _german_chair(shop)

    german = _get(app.test_client(), "/search?q=zzzqqq", GERMAN)
    english = _get(app.test_client(), "/search?q=zzzqqq", ENGLISH)

    assert cards(german)[0] == "Eichenstuhl" and "Oak Chair" not in cards(german)
    assert cards(english)[0] == "Oak Chair"


def test_the_german_category_page_costs_the_same_number_of_queries_for_12_or_36_products(
        client, app, search_index):
    category = make_category("Lighting")
    url = f"/c/{category.slug}?per_page=48"
    vendors = [make_vendor(f"Shop {n}") for n in range(6)]

    def statements_for_page() -> tuple[int, list[str]]:
        reindex()  # a new generation: the page is computed, not served from the cache
        with counting_statements() as statements:
            html = _get(client, url, GERMAN)
        return len(statements), cards(html)

    for n in range(12):
        lamp = make_product(vendors[n % 6], category, title=f"Lamp {n}")
        if n % 2:
            translate(lamp, "de", f"Lampe {n}")
    with_12 = statements_for_page()
    for n in range(12, 36):
        lamp = make_product(vendors[n % 6], category, title=f"Lamp {n}")
        if n % 2:
            translate(lamp, "de", f"Lampe {n}")
    with_36 = statements_for_page()

    assert len(with_12[1]) == 12 and len(with_36[1]) == 36
    assert sorted(with_36[1]) == sorted(f"Lampe {n}" if n % 2 else f"Lamp {n}"
                                        for n in range(36))
    assert with_12[0] == with_36[0]
    # The category tree, the exchange rates, the cards and one query for their titles.
    assert with_12[0] == 4


# --- The catalog API ------------------------------------------------------------------------


def test_the_api_answers_in_the_language_accept_language_asks_for(client, shop):
    _german_chair(shop)
    shop.table.description = "Walnut veneer."
    reindex()
    listing = f"/api/v1/catalog/products?category={shop.furniture.id}"

    german_items = client.get(listing, headers=GERMAN).json["items"]
    english_items = client.get(listing, headers=ENGLISH).json["items"]
    german_chair = client.get(f"/api/v1/catalog/products/{shop.chair.id}", headers=GERMAN).json
    german_table = client.get(f"/api/v1/catalog/products/{shop.table.id}", headers=GERMAN).json
    english_chair = client.get(f"/api/v1/catalog/products/{shop.chair.id}",
                               headers=ENGLISH).json

    assert [item["title"] for item in german_items] == [
        "Walnut Side Table", "Eichenstuhl", "Sold Out Stool"]
    assert [item["title"] for item in english_items] == [
        "Walnut Side Table", "Oak Chair", "Sold Out Stool"]
    assert (german_chair["title"], german_chair["title_locale"], german_chair["description"],
            german_chair["description_locale"]) == (
        "Eichenstuhl", "de", "<p>Massive <strong>Eiche</strong>, von Hand geölt.</p>", "de")
    assert (german_table["title"], german_table["title_locale"], german_table["description"],
            german_table["description_locale"]) == (
        "Walnut Side Table", "en", "Walnut veneer.", "en")
    assert (english_chair["title"], english_chair["title_locale"]) == ("Oak Chair", "en")
