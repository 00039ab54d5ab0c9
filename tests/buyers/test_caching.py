"""Catalog caches: served from Redis while the catalog is unchanged, fresh after an index write."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from buyers.page_cache import CSRF_PLACEHOLDER
from marketplace.cache import GENERATION_KEY, bump_catalog_generation, catalog_generation
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.kv import get_redis
from tests.buyers.conftest import counting_statements
from tests.buyers.pages import cards
from tests.conftest import CSRF_RE, csrf_token
from tests.factories import PASSWORD, make_user
from tests.marketplace.test_health import DEAD_REDIS, app_with
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.test_storefront_browser import storefront  # noqa: F401  (a served demo shop)
from vendors.models import Product, StockLevel, Vendor
from vendors.search import queue_reindex_products, visible_products


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


def test_an_error_page_does_not_overwrite_a_visitors_session(app, shop):
    # The favicon's 404, asked for before a language switch and answered after it, must not
    # come back with a session of its own: the browser would keep that one and lose German.
    visitor = app.test_client()
    stray = visitor.get("/favicon.ico")
    switched = visitor.get("/preferences/language?locale=de&next=/")
    after = visitor.get("/no-such-page")

    assert (stray.status_code, after.status_code) == (404, 404)
    assert "Set-Cookie" not in stray.headers
    assert "session=" in switched.headers["Set-Cookie"]
    assert CSRF_RE.search(stray.get_data(as_text=True)).group(1) == ""
    assert 'lang="de"' in visitor.get("/").get_data(as_text=True)


def test_a_logged_in_users_error_page_carries_their_token_and_logs_them_out(client,
                                                                            post_form):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    page = client.get("/no-such-page")
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    out = client.post("/logout", data={"csrf_token": token})

    assert page.status_code == 404
    assert token != ""
    assert out.status_code in (302, 303)
    assert "Log in" in client.get(out.headers["Location"]).get_data(as_text=True)


def test_a_visitor_without_cookies_gets_the_cached_page_without_a_session(app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    missed = app.test_client().get(url)

    with counting_statements() as statements:
        hit = app.test_client().get(url, headers={"X-Request-ID": "fast-path-1"})

    assert statements == []
    assert hit.status_code == 200
    assert "Set-Cookie" not in hit.headers and "Set-Cookie" not in missed.headers
    assert sorted(hit.headers.keys()) == sorted(missed.headers.keys()) == [
        "Content-Length", "Content-Type", "Vary", "X-Request-ID"]
    assert hit.headers["Content-Type"] == "text/html; charset=utf-8"
    assert hit.headers["Vary"] == missed.headers["Vary"] == "Accept-Language, Cookie"
    assert hit.headers["X-Request-ID"] == "fast-path-1"
    assert CSRF_RE.search(hit.get_data(as_text=True)).group(1) == ""
    assert CSRF_PLACEHOLDER not in hit.get_data(as_text=True)
    assert hit.get_data() == missed.get_data()


def test_a_cached_hit_is_logged_like_any_request(app, shop, caplog):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    app.test_client().get(url)
    caplog.clear()

    with caplog.at_level("INFO", logger="marketplace.request"):
        hit = app.test_client().get(url)

    [line] = [r for r in caplog.records if r.name == "marketplace.request"]
    assert (line.getMessage(), line.status, line.request_id, line.user_id) == (
        f"GET {url} 200", 200, hit.headers["X-Request-ID"], None)


def test_a_visitor_without_a_session_gets_a_working_token_from_the_token_endpoint(app, shop):
    url = f"/c/{shop.home.slug}"
    app.test_client().get(url)
    visitor = app.test_client()
    page = visitor.get(url).get_data(as_text=True)

    answer = visitor.get("/csrf-token")
    switched = visitor.post("/preferences/currency", data={
        "currency": "USD", "next": url, "csrf_token": answer.get_json()["csrf_token"]})

    assert 'data-url="/csrf-token"' in page
    assert answer.headers["Cache-Control"] == "no-store"
    assert "session=" in answer.headers["Set-Cookie"]
    assert switched.status_code == 302
    assert "≈ $" in visitor.get(f"/p/{shop.chair.id}-{shop.chair.slug}").get_data(as_text=True)


def test_a_visitor_with_a_session_sees_their_own_token_on_a_cached_page(app, shop):
    url = f"/c/{shop.home.slug}"
    first, second = app.test_client(), app.test_client()
    first.get("/csrf-token")
    second.get("/csrf-token")
    app.test_client().get(url)  # cached

    with counting_statements() as statements:
        first_page = first.get(url)
        second_page = second.get(url).get_data(as_text=True)
    token = CSRF_RE.search(second_page).group(1)
    switched = second.post("/preferences/currency", data={
        "currency": "USD", "next": url, "csrf_token": token})
    refused = first.post("/preferences/currency", data={
        "currency": "USD", "next": url, "csrf_token": token})

    assert statements == []  # both pages came from the cache
    assert token and CSRF_RE.search(first_page.get_data(as_text=True)).group(1) not in ("", token)
    assert CSRF_PLACEHOLDER not in second_page
    assert switched.status_code == 302  # the token on the cached page is this visitor's
    assert refused.status_code == 400  # and only theirs


def test_a_cached_page_is_served_in_the_browsers_language_without_a_session(app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    app.test_client().get(url, headers={"Accept-Language": "de-DE,de;q=0.9"})

    with counting_statements() as statements:
        german = app.test_client().get(url, headers={"Accept-Language": "de-DE,de;q=0.9"})
        english = app.test_client().get(url, headers={"Accept-Language": "en-GB"})

    assert len(statements) > 0  # the English page was not cached yet; the German one was
    assert '<html lang="de"' in german.get_data(as_text=True)
    assert "129,00\xa0€" in german.get_data(as_text=True)
    assert '<html lang="en"' in english.get_data(as_text=True)
    assert "Set-Cookie" not in german.headers


def _switchers(html: str) -> list[str]:
    return re.findall(r'<form [^>]*class="inline switcher">.*?</form>', html, re.S)


def test_a_visitors_switchers_are_get_forms_without_a_token(app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"

    html = app.test_client().get(url).get_data(as_text=True)
    switchers = _switchers(html)

    assert [form.split(">", 1)[0] + ">" for form in switchers] == [
        '<form method="get" action="/preferences/language" class="inline switcher">',
        '<form method="get" action="/preferences/currency" class="inline switcher">']
    assert not any("csrf_token" in form for form in switchers)
    # The page's POST form (add to cart) waits for the token its script fetches.
    assert '<input type="hidden" name="csrf_token" value="">' in html


def test_a_visitor_switches_currency_and_language_without_javascript(app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    visitor = app.test_client()
    visitor.get(url)

    # What the <noscript> "Change" buttons of the GET forms send.
    to_dollars = visitor.get("/preferences/currency", query_string={"currency": "USD",
                                                                    "next": url})
    to_german = visitor.get("/preferences/language", query_string={"locale": "de",
                                                                   "next": url})
    html = visitor.get(url).get_data(as_text=True)

    assert (to_dollars.status_code, to_dollars.headers["Location"]) == (302, url)
    assert (to_german.status_code, to_german.headers["Location"]) == (302, url)
    assert '<html lang="de"' in html
    assert "≈ 141,90\xa0$ (ungefähr, in USD)" in html or "≈ 141,90\xa0$" in html
    assert '<option value="USD" selected>USD</option>' in html
    assert '<option value="de" selected>Deutsch</option>' in html


def test_a_switch_by_get_is_refused_with_a_message_for_an_unknown_choice(client):
    answer = client.get("/preferences/currency?currency=XXX&next=/",
                        headers={"Accept": "application/json"})

    assert answer.status_code == 422
    assert "currency" in answer.get_json()["error"]["fields"]


def test_a_switch_by_get_does_not_redirect_off_site(client):
    answer = client.get("/preferences/language?locale=de&next=https://evil.test/")

    assert answer.headers["Location"] == "/"


def test_a_switch_by_get_never_changes_a_logged_in_users_profile(app, client, post_form):
    user = make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})
    post_form("/preferences/currency", {"currency": "GBP", "next": "/"})

    # A link on another site, followed by a logged-in user (SameSite=Lax sends the cookie).
    client.get("/preferences/currency?currency=JPY&next=/")
    client.get("/preferences/language?locale=de&next=/")
    html = client.get("/").get_data(as_text=True)

    db.session.refresh(user)
    assert (user.currency, user.locale) == ("GBP", None)
    assert '<option value="GBP" selected>GBP</option>' in html  # the profile still decides


def test_a_switch_by_get_never_changes_a_logged_in_users_session_choice(client, post_form):
    make_user("ada@example.com", name="Ada Lovelace")  # no currency or language chosen yet
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    # A link or an <img> on another site (SameSite=Lax sends the cookie): a checkout in
    # progress must not start charging in another currency.
    currency = client.get("/preferences/currency?currency=JPY&next=/cart")
    language = client.get("/preferences/language?locale=de&next=/cart")
    html = client.get("/").get_data(as_text=True)

    assert (currency.status_code, currency.headers["Location"]) == (302, "/cart")
    assert (language.status_code, language.headers["Location"]) == (302, "/cart")
    assert '<option value="EUR" selected>EUR</option>' in html
    assert '<html lang="en"' in html


def test_a_logged_in_users_switchers_post_with_their_token(app, client, post_form, shop):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})
    html = client.get(f"/p/{shop.chair.id}-{shop.chair.slug}").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)

    switched = client.post("/preferences/currency", data={
        "currency": "GBP", "next": "/", "csrf_token": token})

    assert '<form method="post" action="/preferences/currency" class="inline switcher">' in html
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in html
    assert switched.status_code == 302


_CART_TOKEN = re.compile(r'class="add-to-cart.*?name="csrf_token" value="([^"]*)"', re.S)


def test_logged_in_buyers_each_get_their_own_token_in_the_cached_product_content(app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    buyers = {}
    for email in ("ada@example.com", "bob@example.com"):
        make_user(email)
        db.session.commit()
        buyers[email] = app.test_client()
        buyers[email].post("/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": csrf_token(buyers[email])})

    ada = buyers["ada@example.com"].get(url).get_data(as_text=True)
    stored = list(get_redis(app).scan_iter("marketplace:cache:page:product:*"))
    bob = buyers["bob@example.com"].get(url).get_data(as_text=True)

    assert len(stored) == 1  # Bob's content came from the entry Ada's visit stored
    assert _CART_TOKEN.search(ada).group(1) == CSRF_RE.search(ada).group(1) != ""
    assert _CART_TOKEN.search(bob).group(1) == CSRF_RE.search(bob).group(1) != ""
    assert CSRF_RE.search(ada).group(1) != CSRF_RE.search(bob).group(1)
    assert CSRF_PLACEHOLDER not in ada + bob


def test_a_form_sent_without_javascript_from_a_page_without_token_comes_back_to_send_again(
        app, shop):
    url = f"/p/{shop.chair.id}-{shop.chair.slug}"
    app.test_client().get(url)
    visitor = app.test_client()
    visitor.get(url)  # cached, with an empty token: the form's script did not run

    sent = visitor.post("/preferences/currency", data={"currency": "USD", "next": url,
                                                       "csrf_token": ""},
                        headers={"Referer": f"http://localhost{url}"})
    again = visitor.get(sent.headers["Location"]).get_data(as_text=True)
    token = CSRF_RE.search(again).group(1)
    resent = visitor.post("/preferences/currency", data={"currency": "USD", "next": url,
                                                         "csrf_token": token})

    assert (sent.status_code, sent.headers["Location"]) == (303, url)
    assert "please send the form again" in again
    assert "≈" not in again  # nothing was done the first time
    assert resent.status_code == 302
    assert "≈ $141.90" in visitor.get(url).get_data(as_text=True)


def test_the_no_javascript_fallback_never_sends_the_visitor_off_site(app):
    sent = app.test_client().post("/preferences/currency", data={
        "currency": "USD", "next": "/", "csrf_token": ""},
        headers={"Referer": "https://evil.test/page"})

    assert (sent.status_code, sent.headers["Location"]) == (303, "/")


def test_a_form_sent_with_a_wrong_token_is_still_refused(app, shop):
    visitor = app.test_client()
    visitor.get("/csrf-token")

    answer = visitor.post("/preferences/currency", data={"currency": "USD", "next": "/",
                                                         "csrf_token": "forged"},
                          headers={"Referer": "http://localhost/"})

    assert answer.status_code == 400


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


# --- In a real browser: the page's script and the JavaScript switchers -----------------------


@pytest.mark.browser
def test_a_visitor_without_cookies_adds_to_the_cart_with_the_token_the_page_fetches(
        app, storefront, browser):  # noqa: F811
    product = db.session.scalar(select(Product).join(Vendor, Vendor.id == Product.vendor_id)
                                .where(visible_products()).order_by(Product.id).limit(1))
    url = f"{storefront}/p/{product.id}-{product.slug}"
    app.test_client().get(url.removeprefix(storefront))  # cached: the browser gets the copy
    page = browser.new_page()
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    fetched = []
    page.on("response", lambda r: fetched.append(r.status) if "/csrf-token" in r.url else None)

    first = page.goto(url)
    empty_token = page.get_attribute('meta[name="csrf-token"]', "content")
    with page.expect_navigation():
        page.click("[data-add-to-cart]")
    [post] = posts

    assert first.headers.get("set-cookie") is None
    assert empty_token == ""
    assert fetched == [200]
    assert "csrf_token=" in post.post_data and "csrf_token=&" not in post.post_data
    assert post.response().status == 302  # accepted: not 400, nor the no-JS fallback's 303
    assert page.locator(".flash").all_inner_texts() == ["Added to your cart."]


@pytest.mark.browser
def test_a_visitor_switches_language_and_currency_with_the_selects(
        storefront, browser):  # noqa: F811
    page = browser.new_page()
    page.goto(storefront + "/")

    with page.expect_navigation():
        page.select_option("#locale-select", "de")
    with page.expect_navigation():
        page.select_option("#currency-select", "JPY")

    assert page.get_attribute("html", "lang") == "de"
    assert page.input_value("#currency-select") == "JPY"
    assert page.url == storefront + "/"
