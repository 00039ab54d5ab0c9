"""Garbage in the query string: clamped, ignored or a clear 422; never a 500."""

from __future__ import annotations

import pytest

from tests.buyers.pages import cards, result_count

LISTINGS = ("/c/{home}", "/search", "/v/{nordic}", "/api/v1/catalog/products",
            "/api/v1/catalog/search")

CLAMPED_OR_IGNORED = [
    "per_page=100000",
    "per_page=999999999999999999999999999999",
    "page=999999999999999999999999999",
    "price_min=300&price_max=100",
    "unknown=1&facet=bogus&attr.flavour=mint&attr.=x&attr",
    "q=" + "x" * 10_000,
    "q=%22title%3A(oak*%20AND%20NOT%20%5Bx%20TO%20y%5D~2%5E3%22%20OR%20%2A%3F",
    "q=%00%01oak%7F",
    "q=%F0%9F%AA%91+%E6%A4%85%E5%AD%90",
    "attr.colour=" + "x" * 500,
    "vendor=1&vendor=1&vendor=2",
    "price_min=&price_max=&rating=&sort=",
    "in_stock=yes",
]

REFUSED = [
    ("page=-1", "page"),
    ("page=0", "page"),
    ("page=abc", "page"),
    ("per_page=0", "per_page"),
    ("price_min=-5", "price_min"),
    ("price_max=NaN", "price_max"),
    ("price_min=1e999", "price_min"),
    ("rating=6", "rating"),
    ("sort=cheapest", "sort"),
    ("vendor=abc", "vendor"),
    ("category=-3", "category"),
    ("page=" + "9" * 5_000, "page"),
]


def _url(template: str, shop, query: str) -> str:
    path = template.format(home=shop.home.slug, nordic=shop.nordic.slug)
    separator = "&" if "?" in path else "?"
    if path.endswith("/search") and "q=" not in query:
        query = "q=oak&" + query
    return f"{path}{separator}{query}"


@pytest.mark.parametrize("query", CLAMPED_OR_IGNORED)
def test_odd_values_are_clamped_or_ignored(client, shop, query):
    for template in LISTINGS:
        response = client.get(_url(template, shop, query))
        assert response.status_code == 200, (template, query, response.status_code)


@pytest.mark.parametrize(("query", "field"), REFUSED)
def test_values_that_cant_be_read_are_a_422_naming_the_field(client, shop, query, field):
    for template in LISTINGS:
        response = client.get(_url(template, shop, query))
        assert response.status_code == 422, (template, query)
        if template.startswith("/api/"):
            assert field in response.json["error"]["fields"]
        else:
            assert "Please check your input" in response.get_data(as_text=True)


def test_a_huge_page_size_is_clamped_to_48_on_pages(client, shop):
    html = client.get(f"/c/{shop.home.slug}?per_page=100000").get_data(as_text=True)

    assert result_count(html) == "4 products"
    assert len(cards(html)) == 4
    assert 'per_page=48' in html  # the links carry the clamped size


def test_a_reversed_price_range_is_swapped(client, shop):
    html = client.get(f"/c/{shop.home.slug}?price_min=250&price_max=100").get_data(
        as_text=True)

    assert sorted(cards(html)) == ["Oak Chair", "Walnut Side Table"]
    assert "€100 – €250" in html


def test_query_syntax_is_searched_as_plain_words(client, shop):
    html = client.get("/search?q=oak*+AND+(chair)").get_data(as_text=True)

    assert cards(html) == ["Oak Chair"]


def test_a_10_kb_query_is_cut_to_200_characters(client, shop):
    response = client.get("/api/v1/catalog/search?q=" + "oak " * 2_500)

    assert response.status_code == 200
    assert len(response.json["query"]) == 200 - 1  # 50 words, the trailing space collapsed


def test_unknown_paths_and_ids_are_404(client, shop):
    for url in ("/c/", "/c/%00", "/v/%00x", "/p/abc", "/p/-1-x", "/api/v1/catalog/products/0",
                "/api/v1/catalog/products/99999999999999999999999"):
        assert client.get(url).status_code == 404, url
