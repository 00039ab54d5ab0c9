"""Both search engines answer the same queries with the same results.

Every test runs once per engine: Whoosh in a directory of the test's own, and PostgreSQL on
the test database (PostgreSQL runs only; its tables are emptied after each test).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask

from marketplace.search import bitsets
from marketplace.search import whoosh as whoosh_engine
from marketplace.search.postgres import PostgresBackend
from marketplace.search.types import FacetValue, ProductDocument, SearchQuery, Sort
from marketplace.search.whoosh import WhooshBackend

FURNITURE, CHAIRS, DINING_CHAIRS, TABLES, GARDEN = 1, 2, 3, 4, 5
PATHS = {
    FURNITURE: ((1,), ("Furniture",)),
    CHAIRS: ((1, 2), ("Furniture", "Chairs")),
    DINING_CHAIRS: ((1, 2, 3), ("Furniture", "Chairs", "Dining chairs")),
    TABLES: ((1, 4), ("Furniture", "Tables")),
    GARDEN: ((5,), ("Garden",)),
}
VENDORS = {1: "Nordic Goods", 2: "Holzwerk", 3: "Garden Friends"}


def product(product_id: int, title: str = "Plain Thing", description: str = "", *,
            vendor_id: int = 1, category: int = CHAIRS, texts: dict | None = None,
            default_locale: str = "en", attributes: dict | None = None, price: int = 1_000,
            in_stock: bool = True, rating_x100: int = 0, rating_count: int = 0,
            created_day: int = 1) -> ProductDocument:
    path, names = PATHS[category]
    return ProductDocument(
        product_id=product_id, vendor_id=vendor_id, vendor_name=VENDORS[vendor_id],
        category_path=path, category_names=names,
        texts=texts or {default_locale: (title, description)}, default_locale=default_locale,
        attributes=attributes or {}, price_minor=price, currency="EUR", price_base_minor=price,
        in_stock=in_stock, rating_x100=rating_x100, rating_count=rating_count,
        created_at=dt.datetime(2026, 1, created_day, 12, tzinfo=dt.UTC),
    )


@pytest.fixture(params=["whoosh", pytest.param("postgres", marks=pytest.mark.postgres_only)])
def engine(request, app: Flask, tmp_path) -> Iterator[WhooshBackend | PostgresBackend]:
    if request.param == "whoosh":
        yield WhooshBackend(app, tmp_path / "search-index")
    elif not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the PostgreSQL engine needs the PostgreSQL test run")
    else:
        yield PostgresBackend(app)


def ids(engine, text: str = "", **query) -> list[int]:
    return engine.search(SearchQuery(text=text, **query)).product_ids


def facet(engine, key: str, text: str = "", **query) -> list[FacetValue]:
    return engine.search(SearchQuery(text=text, **query)).facets.get(key, [])


# --- Finding by words ----------------------------------------------------------------------


def test_a_word_of_the_title_finds_the_product(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Walnut Table", category=TABLES)])

    result = engine.search(SearchQuery(text="chair"))

    assert result.product_ids == [1]
    assert result.total == 1
    assert result.corrected_text is None
    assert result.suggestion is None


@pytest.mark.parametrize("word", ["sturdy", "walnut", "nordic", "dining"])
def test_description_attribute_vendor_and_category_words_find_the_product(engine, word):
    engine.index([
        product(1, "Oak Chair", "A sturdy seat", category=DINING_CHAIRS,
                attributes={"colour": ("walnut",)}),
        product(2, "Glass Vase", vendor_id=3, category=GARDEN),
    ])

    assert ids(engine, word) == [1]


def test_every_word_must_match(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Oak Table", category=TABLES),
                  product(3, "Pine Chair")])

    assert ids(engine, "oak chair") == [1]
    assert sorted(ids(engine, "oak")) == [1, 2]


def test_a_plural_finds_the_singular(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Running shoes", category=GARDEN)])

    assert ids(engine, "chairs") == [1]
    assert ids(engine, "run") == [2]


def test_german_words_are_stemmed_in_german(engine):
    engine.index([product(1, texts={"de": ("Eichenholz Stuhl", "Ein Stuhl für die Küche")},
                          default_locale="de")])

    assert ids(engine, "Stühle", locale="de") == [1]
    assert ids(engine, "küche", locale="de") == [1]


def test_a_product_without_text_in_the_locale_is_found_by_its_default_text(engine):
    engine.index([
        product(1, texts={"en": ("Oak Chair", ""), "de": ("Eichenstuhl", "")}, category=GARDEN),
        product(2, "Pine Chair", category=GARDEN),
        product(3, texts={"de": ("Kiefernstuhl", "")}, default_locale="de", category=GARDEN),
    ])

    assert sorted(ids(engine, "chair", locale="de")) == [2]
    assert ids(engine, "eichenstuhl", locale="de") == [1]
    assert ids(engine, "kiefernstuhl", locale="en") == [3]
    assert ids(engine, "eichenstuhl", locale="en") == []


def test_a_regional_locale_searches_its_language(engine):
    engine.index([product(1, texts={"en": ("Oak Chair", ""), "de": ("Eichenstuhl", "")})])

    assert ids(engine, "eichenstuhl", locale="de_AT") == [1]


def test_a_title_match_ranks_above_a_description_match(engine):
    engine.index([product(1, "Garden Bench", "Goes well with an oak table"),
                  product(2, "Oak Bench", "Sturdy")])

    assert ids(engine, "oak") == [2, 1]


# --- Spelling ------------------------------------------------------------------------------


def test_a_misspelled_word_is_corrected_and_searched(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Walnut Table", category=TABLES)])

    chair = engine.search(SearchQuery(text="chiar"))
    walnut = engine.search(SearchQuery(text="walnt"))

    assert (chair.product_ids, chair.corrected_text) == ([1], "chair")
    assert (walnut.product_ids, walnut.corrected_text) == ([2], "walnut")


def test_only_the_misspelled_word_of_several_is_corrected(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Oak Table", category=TABLES)])

    result = engine.search(SearchQuery(text="oak tabel"))

    assert (result.product_ids, result.corrected_text) == ([2], "oak table")


def test_a_word_nothing_resembles_finds_nothing(engine):
    engine.index([product(1, "Oak Chair")])

    result = engine.search(SearchQuery(text="xylophone"))

    assert (result.product_ids, result.total, result.corrected_text) == ([], 0, None)


def test_a_rare_spelling_gets_a_suggestion_when_a_common_one_is_one_edit_away(engine):
    engine.index([product(1, "Chiar Oak")]
                 + [product(i, "Oak Chair") for i in range(2, 13)])

    result = engine.search(SearchQuery(text="chiar"))

    assert (result.product_ids, result.corrected_text, result.suggestion) == ([1], None, "chair")


# --- Odd text ------------------------------------------------------------------------------


def test_query_syntax_characters_are_plain_text(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Oak Table", category=TABLES)])

    assert ids(engine, 'oak: "chair" (oak*) ~chair^') == [1]
    assert ids(engine, "title:chair") == []


@pytest.mark.parametrize("text", [
    'AND OR NOT ( ) " * ~ ^ : field:value',
    ")(*&^%$#@!",
    "chair " * 2000,
    "x" * 10_240,
])
def test_odd_and_huge_text_answers_without_error(engine, text):
    engine.index([product(1, "Oak Chair")])

    result = engine.search(SearchQuery(text=text))

    assert result.total == len(result.product_ids)


def test_text_without_words_lists_everything(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Oak Table", category=TABLES)])

    assert sorted(ids(engine, "  :*() ")) == [1, 2]


# --- Highlights ----------------------------------------------------------------------------


def test_highlights_mark_the_matched_words_of_the_escaped_title(engine):
    engine.index([product(1, '<b>Bad</b> & "Chairs"'), product(2, "Oak Chair")])

    result = engine.search(SearchQuery(text="chair oak"))
    both = engine.search(SearchQuery(text="chair"))

    assert result.highlights == {2: "<mark>Oak</mark> <mark>Chair</mark>"}
    assert both.highlights[1] == "&lt;b&gt;Bad&lt;/b&gt; &amp; &quot;<mark>Chairs</mark>&quot;"


def test_highlights_use_the_title_in_the_search_language(engine):
    engine.index([product(1, texts={"en": ("Oak Chair", ""), "de": ("Eichen Stühle", "")})])

    assert engine.search(SearchQuery(text="stuhl", locale="de")).highlights == {
        1: "Eichen <mark>Stühle</mark>"}


def test_highlights_fall_back_to_the_default_title(engine):
    engine.index([product(1, texts={"de": ("Eichenstuhl", ""), "en": ("Oak Chair", "")})])

    assert engine.search(SearchQuery(text="chair", locale="fr")).highlights == {
        1: "Oak <mark>Chair</mark>"}


def test_the_corrected_word_is_highlighted(engine):
    engine.index([product(1, "Oak Chair")])

    assert engine.search(SearchQuery(text="chiar")).highlights == {1: "Oak <mark>Chair</mark>"}


def test_a_browse_without_text_has_no_highlights(engine):
    engine.index([product(1, "Oak Chair")])

    assert engine.search(SearchQuery()).highlights == {}


# --- Filters -------------------------------------------------------------------------------


def catalog() -> list[ProductDocument]:
    return [
        product(1, "Oak Chair", category=CHAIRS, vendor_id=1, price=1_000,
                attributes={"colour": ("oak",), "size": ("s", "m")}, rating_x100=450,
                rating_count=10, created_day=1),
        product(2, "Dining Chair", category=DINING_CHAIRS, vendor_id=2, price=2_500,
                attributes={"colour": ("walnut",), "size": ("m",)}, rating_x100=320,
                rating_count=4, created_day=2),
        product(3, "Walnut Table", category=TABLES, vendor_id=1, price=5_000,
                attributes={"colour": ("walnut",)}, in_stock=False, rating_x100=200,
                rating_count=1, created_day=3),
        product(4, "Garden Chair", category=GARDEN, vendor_id=3, price=10_000,
                attributes={"colour": ("green",), "size": ("l",)}, created_day=4),
        product(5, "Kitchen Chair", category=DINING_CHAIRS, vendor_id=1, price=2_500,
                attributes={"colour": ("oak", "white")}, rating_x100=100, rating_count=2,
                created_day=5),
    ]


def test_a_category_filter_includes_its_descendants(engine):
    engine.index(catalog())

    assert sorted(ids(engine, category_id=CHAIRS)) == [1, 2, 5]
    assert sorted(ids(engine, category_id=FURNITURE)) == [1, 2, 3, 5]
    assert sorted(ids(engine, "chair", category_id=DINING_CHAIRS)) == [2, 5]


def test_vendor_filters_combine_with_or(engine):
    engine.index(catalog())

    assert sorted(ids(engine, vendor_ids=(2, 3))) == [2, 4]


def test_price_bounds_are_inclusive(engine):
    engine.index(catalog())

    assert sorted(ids(engine, price_min_base=2_500, price_max_base=5_000)) == [2, 3, 5]
    assert sorted(ids(engine, price_min_base=5_001)) == [4]
    assert sorted(ids(engine, price_max_base=999)) == []


def test_attribute_values_or_within_a_name_and_across_names(engine):
    engine.index(catalog())

    assert sorted(ids(engine, attributes={"colour": ("oak", "green")})) == [1, 4, 5]
    assert sorted(ids(engine, attributes={"colour": ("oak", "green"), "size": ("m", "l")})) \
        == [1, 4]
    assert ids(engine, attributes={"colour": ("purple",)}) == []


def test_min_rating_keeps_products_rated_at_least_that(engine):
    engine.index(catalog())

    assert sorted(ids(engine, min_rating=3)) == [1, 2]
    assert sorted(ids(engine, min_rating=1)) == [1, 2, 3, 5]


def test_in_stock_only_drops_sold_out_products(engine):
    engine.index(catalog())

    assert sorted(ids(engine, in_stock_only=True)) == [1, 2, 4, 5]


def test_filters_combine_with_text(engine):
    engine.index(catalog())

    assert ids(engine, "chair", vendor_ids=(1,), price_min_base=2_000, in_stock_only=True) \
        == [5]


# --- Facets --------------------------------------------------------------------------------


def test_category_facet_counts_each_root_subtree_without_a_category(engine):
    engine.index(catalog())

    assert facet(engine, "category") == [FacetValue("1", 4, "Furniture"),
                                         FacetValue("5", 1, "Garden")]


def test_category_facet_counts_the_children_of_the_chosen_category(engine):
    engine.index(catalog())

    assert facet(engine, "category", category_id=FURNITURE) == [
        FacetValue("2", 3, "Chairs"), FacetValue("4", 1, "Tables")]
    assert facet(engine, "category", category_id=CHAIRS) == [
        FacetValue("3", 2, "Dining chairs")]
    assert facet(engine, "category", category_id=DINING_CHAIRS) == []


def test_category_facet_applies_the_other_filters_and_the_text(engine):
    engine.index(catalog())

    assert facet(engine, "category", "chair", vendor_ids=(1,)) == [
        FacetValue("1", 2, "Furniture")]


def test_vendor_facet_ignores_the_vendor_selection_but_not_the_other_filters(engine):
    engine.index(catalog())

    result = engine.search(SearchQuery(vendor_ids=(2,), in_stock_only=True))

    assert result.product_ids == [2]
    assert result.facets["vendor"] == [FacetValue("1", 2, "Nordic Goods"),
                                       FacetValue("3", 1, "Garden Friends"),
                                       FacetValue("2", 1, "Holzwerk")]


def test_price_facet_buckets_are_upper_inclusive_and_the_last_is_open(engine):
    engine.index(catalog())

    # (..1000], (1000..2500], (2500..5000], (5000..]
    assert facet(engine, "price", price_buckets=(1_000, 2_500, 5_000)) == [
        FacetValue("0", 1), FacetValue("1", 2), FacetValue("2", 1), FacetValue("3", 1)]
    assert facet(engine, "price", price_buckets=(500, 20_000)) == [FacetValue("1", 5)]
    assert facet(engine, "price") == []


def test_price_facet_ignores_the_price_selection(engine):
    engine.index(catalog())

    result = engine.search(SearchQuery(price_min_base=5_000, price_buckets=(2_500,),
                                       vendor_ids=(1,)))

    assert sorted(result.product_ids) == [3]
    assert result.facets["price"] == [FacetValue("0", 2), FacetValue("1", 1)]


def test_attribute_facets_count_values_and_ignore_only_their_own_selection(engine):
    engine.index(catalog())

    result = engine.search(SearchQuery(attributes={"colour": ("oak",)}))

    assert sorted(result.product_ids) == [1, 5]
    assert result.facets["attr:colour"] == [
        FacetValue("oak", 2, "oak"), FacetValue("walnut", 2, "walnut"),
        FacetValue("green", 1, "green"), FacetValue("white", 1, "white")]
    assert result.facets["attr:size"] == [FacetValue("m", 1, "m"), FacetValue("s", 1, "s")]


def test_rating_facet_is_cumulative(engine):
    engine.index(catalog())

    assert facet(engine, "rating", min_rating=4) == [
        FacetValue("4", 1), FacetValue("3", 2), FacetValue("2", 3), FacetValue("1", 4)]


def test_in_stock_facet_counts_products_in_stock_ignoring_its_selection(engine):
    engine.index(catalog())

    assert facet(engine, "in_stock", in_stock_only=True) == [FacetValue("true", 4)]
    assert facet(engine, "in_stock", vendor_ids=(1,)) == [FacetValue("true", 2)]


def test_facets_count_products_once_whatever_their_languages(engine):
    engine.index([product(1, texts={"en": ("Oak Chair", ""), "de": ("Eichenstuhl", "")}),
                  product(2, texts={"de": ("Stuhl", "")}, default_locale="de")])

    for locale in ("en", "de", "fr"):
        result = engine.search(SearchQuery(locale=locale))
        assert (result.total, result.facets["vendor"]) == (2, [FacetValue("1", 2,
                                                                          "Nordic Goods")])


def test_without_facets_there_are_none_but_the_total_is_right(engine):
    engine.index(catalog())

    result = engine.search(SearchQuery(text="chair", with_facets=False, per_page=2, page=3))

    assert (result.product_ids, result.total, result.facets) == ([], 4, {})


# --- Sorting and pages ---------------------------------------------------------------------


def test_each_sort_order(engine):
    engine.index(catalog())

    assert ids(engine, sort=Sort.PRICE_ASC) == [1, 2, 5, 3, 4]
    assert ids(engine, sort=Sort.PRICE_DESC) == [4, 3, 2, 5, 1]
    assert ids(engine, sort=Sort.NEWEST) == [5, 4, 3, 2, 1]
    assert ids(engine, sort=Sort.RATING) == [1, 2, 3, 5, 4]
    # Relevance without text: in stock first, then newest.
    assert ids(engine, sort=Sort.RELEVANCE) == [5, 4, 2, 1, 3]


def test_sorting_applies_to_text_results(engine):
    engine.index(catalog())

    assert ids(engine, "chair", sort=Sort.PRICE_DESC) == [4, 2, 5, 1]


def test_pages(engine):
    engine.index(catalog())

    first = engine.search(SearchQuery(sort=Sort.PRICE_ASC, per_page=2))
    last = engine.search(SearchQuery(sort=Sort.PRICE_ASC, per_page=2, page=3))
    beyond = engine.search(SearchQuery(sort=Sort.PRICE_ASC, per_page=2, page=9))

    assert (first.product_ids, first.total, first.pages) == ([1, 2], 5, 3)
    assert (last.product_ids, last.total) == ([4], 5)
    assert (beyond.product_ids, beyond.total, beyond.page) == ([], 5, 9)


def test_pages_of_a_text_search(engine):
    engine.index([product(i, "Oak Chair") for i in range(1, 6)])

    pages = [ids(engine, "chair", per_page=2, page=n) for n in (1, 2, 3)]

    assert sorted(sum(pages, [])) == [1, 2, 3, 4, 5]
    assert [len(page) for page in pages] == [2, 2, 1]


# --- Writing -------------------------------------------------------------------------------


def test_an_empty_index_answers_nothing(engine):
    result = engine.search(SearchQuery(text="chair"))

    assert (result.product_ids, result.total, result.facets) == ([], 0, {})


def test_indexing_a_product_again_replaces_it_in_every_language(engine):
    engine.index([product(1, texts={"en": ("Oak Chair", ""), "de": ("Eichenstuhl", "")})])

    written = engine.index([product(1, "Pine Table", category=TABLES)])

    assert written == 1
    assert ids(engine, "chair") == []
    assert ids(engine, "table") == [1]
    assert ids(engine, "eichenstuhl", locale="de") == []
    assert ids(engine, "table", locale="de") == [1]
    assert engine.search(SearchQuery()).total == 1


def test_a_replaced_word_is_no_longer_offered_as_a_correction(engine):
    engine.index([product(1, "Oak Chair", category=GARDEN)])
    engine.index([product(1, "Oak Stool", category=GARDEN)])

    result = engine.search(SearchQuery(text="chiar"))

    assert (result.product_ids, result.corrected_text) == ([], None)


def test_removed_products_are_no_longer_found(engine):
    engine.index(catalog())

    engine.remove([2, 4, 999])

    assert sorted(ids(engine)) == [1, 3, 5]
    assert sorted(ids(engine, "chair")) == [1, 5]


def test_clear_empties_the_index(engine):
    engine.index(catalog())

    engine.clear()

    assert engine.search(SearchQuery()).total == 0
    assert engine.index([product(7, "Oak Chair")]) == 1
    assert ids(engine, "chair") == [7]


def test_rebuild_replaces_everything_and_searches_meanwhile_see_the_old_index(engine):
    engine.index([product(1, "Oak Chair"), product(2, "Pine Chair")])
    seen_during = []

    written = engine.rebuild([product(3, "Walnut Table", category=TABLES),
                              product(4, "Birch Chair")],
                             progress=lambda n: seen_during.append(
                                 (n, sorted(ids(engine, "chair")))))

    assert written == 2
    assert seen_during[-1] == (2, [1, 2])
    assert sorted(ids(engine, "chair")) == [4]
    assert sorted(ids(engine)) == [3, 4]


def test_rebuild_reports_progress_on_a_long_run(engine):
    counts = []

    engine.rebuild((product(i, "Oak Chair") for i in range(1, 1_201)), progress=counts.append)

    assert counts[-1] == 1_200
    assert counts == sorted(counts)
    assert engine.search(SearchQuery(text="chair", with_facets=False)).total == 1_200


# --- The Whoosh engine's in-memory values --------------------------------------------------


def segment_rows(size: int) -> list[tuple | None]:
    """Deterministic facts for ``size`` documents (every 50th deleted, i.e. None)."""
    rng = random.Random(size)
    rows: list[tuple | None] = []
    for docnum in range(size):
        if docnum % 50 == 49:
            rows.append(None)
            continue
        path = rng.choice([(1,), (1, 2), (1, 2, 3), (4,), (4, 5)])
        pairs = tuple(sorted({f"colour\x1f{rng.choice('abcdefgh')}",
                              f"size\x1f{rng.choice('sml')}"}))
        rows.append((10_000 + docnum, rng.randrange(100), "v", path,
                     tuple(f"c{c}" for c in path), pairs, rng.randrange(50) * 100,
                     rng.choice([0, 100, 250, 400, 500]), rng.randrange(5),
                     rng.random() < 0.8, rng.randrange(30) * 1_000_000))
    return rows


@pytest.mark.parametrize("mask_count_limit", [0, 1_000])
@pytest.mark.parametrize("sparse_limit", [0, 1_000_000])
def test_segment_values_agree_with_a_plain_scan(monkeypatch, mask_count_limit, sparse_limit):
    # Every strategy (bitset per value or one pass; sort the few or walk the order) gives what
    # a loop over the documents gives.
    monkeypatch.setattr(bitsets, "MASK_COUNT_LIMIT", mask_count_limit)
    monkeypatch.setattr(bitsets, "SPARSE_LIMIT", sparse_limit)
    monkeypatch.setattr(bitsets, "PRICE_CHUNK", 64)
    rows = segment_rows(3_000)
    values = bitsets.SegmentValues(rows)
    live = [d for d, row in enumerate(rows) if row is not None]
    rng = random.Random(1)
    for share in (0.0, 0.003, 0.05, 0.5, 1.0):
        chosen = sorted(d for d in live if rng.random() < share)
        mask = bitsets.bitset(chosen, len(rows))

        assert sorted(values.members(mask)) == chosen
        assert values.count_values("vendor", mask) == Counter(rows[d][1] for d in chosen)
        assert values.count_values("pair", mask) == Counter(
            pair for d in chosen for pair in rows[d][5])
        assert sorted(values.members(mask & values.mask("category", 2))) == [
            d for d in chosen if 2 in rows[d][3]]
        assert sorted(values.members(mask & values.price_between(1_000, 2_500))) == [
            d for d in chosen if 1_000 <= rows[d][6] <= 2_500]
        assert sorted(values.members(mask & values.rating_mask(250))) == [
            d for d in chosen if rows[d][7] >= 250]
        for sort in Sort:
            key = values.sort_key(sort)
            assert [d for _, d in values.top(mask, sort, 30)] == sorted(chosen, key=key)[:30]


@pytest.mark.parametrize("block_reads", [True, False])
def test_whoosh_reads_long_postings_in_blocks_or_one_at_a_time_alike(app, tmp_path, monkeypatch,
                                                                   block_reads):
    monkeypatch.setattr(whoosh_engine, "BLOCK_READS", block_reads)
    engine = WhooshBackend(app, tmp_path / "search-index")
    engine.index([product(i, "Oak Chair Chair" if i % 7 == 0 else "Oak Chair", category=GARDEN)
                  for i in range(1, 501)])

    result = engine.search(SearchQuery(text="chair", per_page=3, with_facets=False))

    # Chair twice in the title ranks first; ties by product id.
    assert (result.total, result.product_ids) == (500, [7, 14, 21])


def test_whoosh_readers_in_other_processes_see_commits_and_rebuilds(app, tmp_path):
    # Two backends on one directory behave like a worker and a web process.
    writer = WhooshBackend(app, tmp_path / "search-index")
    reader = WhooshBackend(app, tmp_path / "search-index")
    writer.index([product(1, "Oak Chair")])
    assert ids(reader, "chair") == [1]
    searcher = reader._state.searcher

    assert ids(reader, "oak") == [1]
    assert reader._state.searcher is searcher  # nothing changed: nothing reopened

    writer.index([product(2, "Pine Chair")])
    writer.remove([1])
    assert ids(reader, "chair") == [2]

    writer.rebuild([product(3, "Birch Chair")])
    assert ids(reader, "chair") == [3]
    assert [p.name for p in (tmp_path / "search-index").iterdir() if p.name.startswith("gen-")] \
        == [reader._state.directory.name]
