"""Catalog caches: served from Redis while the catalog is unchanged, fresh after an index write."""

from __future__ import annotations

from sqlalchemy import select

from buyers.page_cache import CSRF_PLACEHOLDER
from marketplace.cache import GENERATION_KEY, bump_catalog_generation, catalog_generation
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.kv import get_redis
from tests.buyers.conftest import counting_statements
from tests.buyers.pages import cards
from tests.conftest import CSRF_RE
from tests.factories import PASSWORD, make_user
from tests.marketplace.test_health import DEAD_REDIS, app_with
from vendors.models import StockLevel
from vendors.search import queue_reindex_products


def test_a_repeated_category_page_is_served_without_sql(client, shop):
    url = f"/c/{shop.home.slug}"
    client.get(url)

    with counting_statements() as statements:
        html = client.get(url).get_data(as_text=True)

    assert statements == []
    assert len(cards(html)) == 4


def test_a_repeated_product_page_is_served_without_sql(client, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    client.get(url)

    with counting_statements() as statements:
        assert client.get(url).status_code == 200

    assert statements == []


def test_an_index_write_invalidates_the_cached_pages(app, client, shop):
    product_url = f"/p/{shop.table.id}-{shop.table.slug}"
    before = (client.get(product_url).get_data(as_text=True),
              client.get("/search?q=walnut").get_data(as_text=True))
    shop.table.title = "Walnut Console"
    level = db.session.scalar(select(StockLevel).where(StockLevel.vendor_id == shop.nordic.id,
                                                       StockLevel.on_hand == 2))
    level.on_hand = 0
    db.session.commit()
    stale = client.get(product_url).get_data(as_text=True)

    queue_reindex_products([shop.table.id])
    db.session.commit()
    run_queued_jobs(app)
    after = (client.get(product_url).get_data(as_text=True),
             client.get("/search?q=walnut").get_data(as_text=True))

    assert "Walnut Side Table" in before[0] and "Walnut Side Table" in stale
    assert "Walnut Console" in after[0]
    assert "Out of stock" in after[0]
    assert cards(before[1]) == ["Walnut Side Table", "Oak Chair"]
    assert sorted(cards(after[1])) == ["Oak Chair", "Walnut Console"]


def test_the_generation_starts_from_the_clock_and_only_moves_forward(app):
    first = catalog_generation()
    bumped = bump_catalog_generation()
    get_redis().delete(GENERATION_KEY)  # as after a Redis restart
    restarted = catalog_generation()

    assert bumped == first + 1
    assert restarted > bumped


# --- Whole pages for anonymous visitors ------------------------------------------------------


def test_each_anonymous_visitor_gets_its_own_csrf_token_on_a_cached_page(app, shop):
    url = f"/c/{shop.home.slug}"
    first, second = app.test_client(), app.test_client()
    first_page = first.get(url).get_data(as_text=True)

    with counting_statements() as statements:
        second_page = second.get(url).get_data(as_text=True)
    token = CSRF_RE.search(second_page).group(1)
    switched = second.post("/preferences/currency", data={
        "currency": "USD", "next": url, "csrf_token": token})

    assert statements == []  # the second visitor's page came from the cache
    assert CSRF_RE.search(first_page).group(1) != token
    assert CSRF_PLACEHOLDER not in second_page
    assert switched.status_code == 302  # the token on the cached page is this visitor's


def test_a_logged_in_buyer_never_gets_the_anonymous_copy(app, client, shop, post_form):
    url = f"/c/{shop.home.slug}"
    anonymous = app.test_client().get(url).get_data(as_text=True)
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    html = client.get(url).get_data(as_text=True)

    assert "Ada Lovelace" not in anonymous
    assert '<span class="who">Ada Lovelace</span>' in html
    assert cards(html) == cards(anonymous)


def test_the_currency_and_language_are_part_of_the_cached_page(app, shop, post_form, client):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    euros = app.test_client().get(url).get_data(as_text=True)
    german = app.test_client().get(url, headers={"Accept-Language": "de"}).get_data(
        as_text=True)
    post_form("/preferences/currency", {"currency": "USD", "next": "/"})
    dollars = client.get(url).get_data(as_text=True)

    assert "≈" not in euros and "129,00\xa0€" in german
    assert "≈ $141.90 (approximate, in USD)" in dollars


def test_pages_still_answer_uncached_when_redis_is_down(app, shop):
    search = {key: app.config[key] for key in ("SEARCH_BACKEND", "SEARCH_INDEX_DIR")}
    with app_with(app, REDIS_URL=DEAD_REDIS, **search) as other, other.app_context():
        client = other.test_client()
        category = client.get(f"/c/{shop.home.slug}")
        product = client.get(f"/p/{shop.chair.id}-{shop.chair.slug}")

    assert category.status_code == 200
    assert len(cards(category.get_data(as_text=True))) == 4
    assert product.status_code == 200


def _local_layer(app, seconds: float):
    """Turn the per-process layer on for one test (the suite runs with it off)."""
    import marketplace.cache as cache

    class Switch:
        def __enter__(self):
            app.config["CATALOG_CACHE_LOCAL_SECONDS"] = seconds
            cache._local_generation = None
            cache._local_entries.clear()

        def __exit__(self, *exc):
            app.config["CATALOG_CACHE_LOCAL_SECONDS"] = 0
            cache._local_generation = None
            cache._local_entries.clear()

    return Switch()


def test_with_the_local_layer_a_repeated_page_needs_no_redis_round_trip(app, client, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    with _local_layer(app, 60):
        first = client.get(url).get_data(as_text=True)
        # Whatever Redis holds now, this process answers from its own memory.
        for key in get_redis(app).scan_iter("marketplace:cache:*"):
            get_redis(app).delete(key)
        with counting_statements() as statements:
            again = client.get(url).get_data(as_text=True)

    assert statements == []
    assert CSRF_RE.sub("", again) == CSRF_RE.sub("", first)
    assert list(get_redis(app).scan_iter("marketplace:cache:*")) == []


def test_the_process_that_writes_the_index_sees_its_change_at_once(app, client, shop):
    product_url = f"/p/{shop.table.id}-{shop.table.slug}"
    with _local_layer(app, 60):
        client.get(product_url)
        shop.table.title = "Walnut Console"
        db.session.commit()
        queue_reindex_products([shop.table.id])
        db.session.commit()
        run_queued_jobs(app)
        after = client.get(product_url).get_data(as_text=True)

    assert "Walnut Console" in after


def test_another_process_bump_is_seen_once_the_local_window_has_passed(app, client, shop):
    import marketplace.cache as cache

    with _local_layer(app, 60), app.app_context():
        seen = catalog_generation()
        get_redis(app).incr(GENERATION_KEY)  # a worker on another machine wrote the index
        within_window = catalog_generation()
        cache._local_generation = (cache._local_generation[0] - 61, seen)  # a minute later
        after_window = catalog_generation()

    assert within_window == seen
    assert after_window == seen + 1
