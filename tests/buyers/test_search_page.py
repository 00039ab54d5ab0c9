"""The search page: words, misspellings, highlights, facets and the empty result."""

from __future__ import annotations

from marketplace import search
from marketplace.extensions import db
from marketplace.search import SearchQuery
from tests.buyers.conftest import reindex
from tests.buyers.pages import card_titles_html, cards, facet_counts, option, result_count
from tests.factories import make_product, make_vendor
from vendors.search import iter_documents


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_a_word_finds_products_by_title_and_highlights_it(client, shop):
    html = _page(client, "/search?q=walnut")

    assert cards(html) == ["Walnut Side Table", "Oak Chair"]  # the chair comes in walnut too
    assert card_titles_html(html)[0] == "<mark>Walnut</mark> Side Table"
    assert 'value="walnut"' in html  # the header's search box keeps the words


def test_products_are_found_by_vendor_and_category_names(client, shop):
    by_vendor = cards(_page(client, "/search?q=kumo"))
    by_category = cards(_page(client, "/search?q=lighting"))

    assert sorted(by_vendor) == ["Brass Table Lamp", "The Quiet Lighthouse"]
    assert "Brass Table Lamp" in by_category


def test_a_misspelled_word_shows_results_for_the_corrected_one(client, shop):
    html = _page(client, "/search?q=walnutt")

    assert cards(html) == ["Walnut Side Table", "Oak Chair"]
    assert 'Showing results for <a href="/search?q=walnut"><strong>walnut</strong></a>' in html


def test_search_results_have_facets_and_filters(client, shop):
    html = _page(client, "/search?q=table")
    kumo_only = _page(client, option(html, "vendor", "Kumo Store").href)

    assert sorted(cards(html)) == ["Brass Table Lamp", "Walnut Side Table"]
    assert facet_counts(html, "category") == {"Home & Living": 2}
    assert facet_counts(html, "vendor") == {"Nordic Goods": 1, "Kumo Store": 1}
    assert cards(kumo_only) == ["Brass Table Lamp"]


def test_a_category_filter_on_search_narrows_to_its_subtree(client, shop):
    html = _page(client, f"/search?q=table&category={shop.lighting.id}")

    assert cards(html) == ["Brass Table Lamp"]
    assert "Category: Lighting" in html


def test_titles_are_escaped_around_the_highlight(client, search_index):
    make_product(make_vendor(), title="<b>Bold</b> & Oak Mug")
    reindex()

    html = _page(client, "/search?q=oak")

    assert card_titles_html(html) == ["&lt;b&gt;Bold&lt;/b&gt; &amp; <mark>Oak</mark> Mug"]
    assert "<b>Bold</b>" not in html


def test_nothing_found_suggests_shorter_words_categories_and_products(client, shop):
    html = _page(client, "/search?q=oak+zebra")

    assert result_count(html) == "0 products"
    assert "No products found for “oak zebra”" in html
    assert '<a href="/search?q=oak">oak</a>' in html
    assert '<a href="/search?q=zebra">zebra</a>' in html
    assert f'<a class="chip" href="/c/{shop.home.slug}">Home &amp; Living</a>' in html
    assert "Popular right now" in html


def test_an_empty_search_lists_everything(client, shop):
    html = _page(client, "/search")

    assert result_count(html) == "5 products"
    assert "All products" in html


def test_a_search_while_the_index_is_rebuilt_still_answers(client, app, shop):
    answers = []

    def search_meanwhile(written: int) -> None:
        answers.append(client.get("/search?q=walnut").status_code)
        answers.append(len(search.search(SearchQuery(text="walnut")).product_ids))

    make_product(shop.nordic, shop.furniture, title="Walnut Bench")
    db.session.commit()
    search.rebuild(iter_documents(), progress=search_meanwhile)

    assert answers == [200, 2]  # the old index answered until the new one was complete
    assert len(search.search(SearchQuery(text="walnut")).product_ids) == 3


def test_a_rare_spelling_with_hits_offers_the_common_one(client, search_index):
    vendor = make_vendor()
    for n in range(10):
        make_product(vendor, title=f"Walnut Bowl {n}")
    make_product(vendor, title="Walnit Spoon")
    reindex()

    html = _page(client, "/search?q=walnit")

    assert cards(html) == ["Walnit Spoon"]
    assert 'Did you mean <a href="/search?q=walnut"><strong>walnut</strong></a>?' in html
