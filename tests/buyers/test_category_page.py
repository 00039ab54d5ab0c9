"""Category pages: the products of a category and its sub-categories, facets, sorting, paging."""

from __future__ import annotations

from tests.buyers.conftest import counting_statements, reindex
from tests.buyers.pages import (
    active_filters,
    breadcrumbs,
    cards,
    facet_counts,
    facets,
    link,
    option,
    result_count,
)
from tests.factories import make_category, make_product, make_vendor


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_a_root_category_lists_its_whole_subtree_in_stock_first(client, shop):
    html = _page(client, f"/c/{shop.home.slug}")

    assert breadcrumbs(html) == ["Shop", "Home & Living"]
    assert result_count(html) == "4 products"
    # No text: in stock first, then the newest.
    assert cards(html) == ["Brass Table Lamp", "Walnut Side Table", "Oak Chair",
                           "Sold Out Stool"]


def test_the_facets_show_counts_for_sub_categories_vendors_prices_colours_and_stock(
        client, shop):
    html = _page(client, f"/c/{shop.home.slug}")

    assert facet_counts(html, "category") == {"Furniture": 3, "Lighting": 1}
    assert facet_counts(html, "vendor") == {"Nordic Goods": 3, "Kumo Store": 1}
    assert facet_counts(html, "price") == {"€25 – €50": 1, "€50 – €100": 1,
                                           "€100 – €250": 2}
    assert facet_counts(html, "attr:colour") == {"Oak": 2, "Walnut": 2, "Brass": 1}
    assert facet_counts(html, "in_stock") == {"In stock only": 3}
    assert option(html, "category", "Furniture").href == f"/c/{shop.furniture.slug}"


def test_a_leaf_category_has_breadcrumbs_to_its_root(client, shop):
    html = _page(client, f"/c/{shop.furniture.slug}")

    assert breadcrumbs(html) == ["Shop", "Home & Living", "Furniture"]
    assert sorted(cards(html)) == ["Oak Chair", "Sold Out Stool", "Walnut Side Table"]
    assert "category" not in facets(html)


def test_choosing_a_vendor_narrows_the_list_and_keeps_the_other_vendor_countable(client, shop):
    chosen = option(_page(client, f"/c/{shop.home.slug}"), "vendor", "Kumo Store")

    html = _page(client, chosen.href)

    assert chosen.href == f"/c/{shop.home.slug}?vendor={shop.kumo.id}"
    assert cards(html) == ["Brass Table Lamp"]
    assert facet_counts(html, "vendor") == {"Nordic Goods": 3, "Kumo Store": 1}
    assert option(html, "vendor", "Kumo Store").selected
    assert active_filters(html) == ["Vendor: Kumo Store"]
    # Choosing it again removes the filter.
    assert option(html, "vendor", "Kumo Store").href == f"/c/{shop.home.slug}"


def test_filters_combine_in_the_url_so_a_page_can_be_shared(client, shop):
    url = (f"/c/{shop.home.slug}?attr.colour=Walnut&attr.colour=Oak&in_stock=1"
           f"&price_min=100&price_max=300")

    html = _page(client, url)

    assert cards(html) == ["Walnut Side Table", "Oak Chair"]
    assert active_filters(html) == ["€100 – €300", "Colour: Oak", "Colour: Walnut",
                                    "In stock only"]
    assert facet_counts(html, "attr:colour") == {"Oak": 1, "Walnut": 2}


def test_sorting_by_price_both_ways_and_by_newest(client, shop):
    base = f"/c/{shop.home.slug}"

    up = cards(_page(client, base + "?sort=price_asc"))
    down = cards(_page(client, base + "?sort=price_desc"))
    newest = cards(_page(client, base + "?sort=newest"))

    assert up == ["Brass Table Lamp", "Sold Out Stool", "Oak Chair", "Walnut Side Table"]
    assert down == list(reversed(up))
    assert newest == ["Sold Out Stool", "Brass Table Lamp", "Walnut Side Table", "Oak Chair"]


def test_prices_facets_follow_the_buyers_currency(client, shop, post_form):
    post_form("/preferences/currency", {"currency": "USD", "next": "/"})

    html = _page(client, f"/c/{shop.home.slug}")

    # USD buckets are round dollar amounts; their counts match the euro prices they cover.
    assert facet_counts(html, "price") == {"$50 – $100": 2, "$100 – $250": 1,
                                           "$250 – $500": 1}
    assert "≈ $141.90" in html  # the €129.00 chair, approximately


def test_pages_keep_the_filters_and_a_page_past_the_end_links_back(client, shop):
    first = _page(client, f"/c/{shop.home.slug}?vendor={shop.nordic.id}&per_page=2")
    second_url = link(first, "next")
    second = _page(client, second_url)
    past = _page(client, f"/c/{shop.home.slug}?vendor={shop.nordic.id}&per_page=2&page=7")

    assert cards(first) == ["Walnut Side Table", "Oak Chair"]
    assert second_url == f"/c/{shop.home.slug}?vendor={shop.nordic.id}&per_page=2&page=2"
    assert cards(second) == ["Sold Out Stool"]
    assert link(second, "prev") == f"/c/{shop.home.slug}?vendor={shop.nordic.id}&per_page=2"
    assert cards(past) == []
    assert "Nothing on page 7" in past
    assert f'href="/c/{shop.home.slug}?vendor={shop.nordic.id}&amp;per_page=2&amp;page=2"' in past


def test_an_empty_category_and_an_empty_filter_result_say_so(client, shop):
    empty = make_category("Garden")
    reindex()

    nothing = _page(client, f"/c/{empty.slug}")
    filtered = _page(client, f"/c/{shop.books.slug}?attr.colour=Purple")

    assert "Nothing in Garden yet" in nothing
    assert "No products match these filters" in filtered
    assert f'href="/c/{shop.books.slug}"' in filtered  # clear all filters


def test_an_unknown_category_is_a_404_page(client, shop):
    response = client.get("/c/no-such-category")

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_the_header_lists_the_category_tree(client, shop):
    html = _page(client, "/")

    assert f'<a class="category-root" href="/c/{shop.home.slug}">Home &amp; Living</a>' in html
    assert f'<li><a href="/c/{shop.lighting.slug}">Lighting</a></li>' in html
    assert f'<a class="chip" href="/c/{shop.books.slug}">Books' in html


def test_the_category_page_costs_the_same_number_of_queries_for_12_or_36_products(
        client, app, search_index):
    category = make_category("Lighting")
    url = f"/c/{category.slug}?per_page=48"
    vendors = [make_vendor(f"Shop {n}") for n in range(6)]

    def statements_for_page() -> int:
        reindex()  # a new generation: the page is computed, not served from the cache
        with counting_statements() as statements:
            html = _page(client, url)
        return len(statements), len(cards(html))

    for n in range(12):
        make_product(vendors[n % 6], category, title=f"Lamp {n}")
    with_12 = statements_for_page()
    for n in range(12, 36):
        make_product(vendors[n % 6], category, title=f"Lamp {n}")
    with_36 = statements_for_page()

    assert with_12[1] == 12 and with_36[1] == 36
    assert with_12[0] == with_36[0]
    # The category tree, the exchange rates and the cards (vendor names come from the index).
    assert with_12[0] == 3


def test_ratings_give_a_facet_a_filter_and_an_order(client, shop):
    for product, total, count in ((shop.chair, 9, 2), (shop.table, 7, 2), (shop.lamp, 5, 1),
                                  (shop.sold_out, 2, 1)):
        product.rating_total, product.rating_count = total, count
    reindex()
    base = f"/c/{shop.home.slug}"

    html = _page(client, base)
    four_and_up = _page(client, option(html, "rating", "4 stars & up").href)
    best_first = cards(_page(client, base + "?sort=rating"))

    assert facet_counts(html, "rating") == {"4 stars & up": 2, "3 stars & up": 3,
                                            "2 stars & up": 4, "1 star & up": 4}
    assert cards(four_and_up) == ["Brass Table Lamp", "Oak Chair"]
    assert active_filters(four_and_up) == ["4 stars & up"]
    assert best_first == ["Brass Table Lamp", "Oak Chair", "Walnut Side Table", "Sold Out Stool"]
    assert '<span aria-hidden="true">★</span> 4.5 <span class="muted">(2)</span>' in html


def test_a_facet_shows_its_12_commonest_values_and_any_chosen_one(client, search_index):
    category = make_category("Lighting")
    vendors = [make_vendor(f"Shop {n:02d}") for n in range(14)]
    for n, vendor in enumerate(vendors):
        for copy in range(1 + (n < 12)):  # the first twelve shops have two lamps each
            make_product(vendor, category, title=f"Lamp {n}-{copy}")
    reindex()
    rare = vendors[13]

    plain = facets(_page(client, f"/c/{category.slug}"))["vendor"]
    chosen = facets(_page(client, f"/c/{category.slug}?vendor={rare.id}"))["vendor"]

    assert [o.label for o in plain] == [f"Shop {n:02d}" for n in range(12)]
    assert [o.label for o in chosen][-1] == "Shop 13" and chosen[-1].selected
    assert len(chosen) == 13
