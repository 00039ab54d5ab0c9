"""The cart: pages and API, guest carts and the merge at login, checks on every view."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from buyers.models import Cart, CartLine
from marketplace.extensions import db
from tests.buyers.checkout_support import api_headers, log_in
from tests.factories import PASSWORD
from tests.vendors.pages import flashes, text
from vendors.models import ProductStatus, StockLevel, VendorStatus


def _lines() -> list[tuple[int, int]]:
    return [(line.variant_id, line.quantity) for line in db.session.scalars(
        select(CartLine).order_by(CartLine.id))]


def _cart_json(client) -> dict:
    return client.get("/api/v1/cart").get_json()


def test_a_guest_adds_from_the_product_page_and_sees_the_cart_grouped_by_shop(
        client, post_form, market):
    post_form("/cart/add", {"variant_id": str(market.chair.id), "quantity": "2"})
    added = post_form("/cart/add", {"variant_id": str(market.mug.id), "quantity": "1"})
    response = client.get(added.headers["Location"])

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert flashes(page) == ["Added to your cart."]
    assert re.findall(r'<h2 id="vendor-\d+"><a [^>]*>([^<]+)</a>', page) == [
        "Nordic Goods", "Kumo Store"]
    assert [text(m) for m in re.findall(r"<strong data-subtotal>(.*?)</strong>", page)] == [
        "€258.00", "€9.38"]
    assert text(re.search(r"<strong data-total>(.*?)</strong>", page).group(1)) == "€267.38"
    cookie = client.get_cookie("cart")
    assert cookie is not None and len(cookie.value) >= 40
    cart = db.session.scalars(select(Cart)).one()
    assert cart.user_id is None and cart.token_hash != cookie.value
    assert len(cart.token_hash) == 64


def test_adding_the_same_variant_again_sums_the_quantity_up_to_the_stock(
        client, market):
    headers = api_headers(client)
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 3},
                headers=headers)

    response = client.post("/api/v1/cart/lines",
                           json={"variant_id": market.chair.id, "quantity": 3},
                           headers=headers)

    assert response.status_code == 409
    assert response.get_json()["error"]["fields"] == {"quantity": ["Only 5 left in stock."]}
    assert _lines() == [(market.chair.id, 3)]


@pytest.mark.parametrize("body, field", [
    ({"variant_id": 1, "quantity": 0}, "quantity"),
    ({"variant_id": 1, "quantity": -1}, "quantity"),
    ({"variant_id": 1, "quantity": 1.5}, "quantity"),
    ({"variant_id": 1, "quantity": 2.0}, "quantity"),
    ({"variant_id": 1, "quantity": "2"}, "quantity"),
    ({"variant_id": 1, "quantity": True}, "quantity"),
    ({"variant_id": 1, "quantity": 100}, "quantity"),
    ({"variant_id": 1, "quantity": 10**30}, "quantity"),
    ({"variant_id": 1}, "quantity"),
    ({"variant_id": "x", "quantity": 1}, "variant_id"),
    ({"variant_id": 10**30, "quantity": 1}, "variant_id"),
    ({"variant_id": -3, "quantity": 1}, "variant_id"),
])
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(client, market, body, field):
    body = {**body, "price_minor": 1, "currency": "JPY"}
    if body.get("variant_id") == 1:
        body["variant_id"] = market.chair.id

    response = client.post("/api/v1/cart/lines", json=body, headers=api_headers(client))

    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]
    assert _lines() == []


def test_unknown_and_unapproved_variants_are_not_found(client, market):
    market.lamp.product.status = ProductStatus.ARCHIVED
    db.session.commit()
    headers = api_headers(client)

    unknown = client.post("/api/v1/cart/lines", json={"variant_id": 999_999, "quantity": 1},
                          headers=headers)
    archived = client.post("/api/v1/cart/lines",
                           json={"variant_id": market.lamp.id, "quantity": 1}, headers=headers)

    assert (unknown.status_code, archived.status_code) == (404, 404)
    assert unknown.get_json()["error"]["fields"] == {
        "variant_id": ["There is no product variant with this id for sale."]}
    assert _lines() == []


def test_a_form_with_a_bad_quantity_answers_422_with_the_message(client, post_form, market):
    response = post_form("/cart/add", {"variant_id": str(market.chair.id), "quantity": "0"})

    assert response.status_code == 422
    assert flashes(response.get_data(as_text=True)) == [
        "Quantity: Enter a whole number from 1 to 99."]


def test_the_api_without_a_csrf_token_is_refused(client, market):
    response = client.post("/api/v1/cart/lines",
                           json={"variant_id": market.chair.id, "quantity": 1})

    assert response.status_code == 400
    assert _lines() == []


def test_changing_and_removing_lines(client, market):
    headers = api_headers(client)
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
                headers=headers)
    line_id = _cart_json(client)["groups"][0]["lines"][0]["id"]

    changed = client.patch(f"/api/v1/cart/lines/{line_id}", json={"quantity": 4},
                           headers=headers)
    assert changed.status_code == 200
    assert changed.get_json()["groups"][0]["subtotal"] == {"amount_minor": 51_600,
                                                          "currency": "EUR"}
    removed = client.delete(f"/api/v1/cart/lines/{line_id}", headers=headers)
    assert removed.status_code == 200
    assert removed.get_json()["groups"] == []
    assert client.delete(f"/api/v1/cart/lines/{line_id}", headers=headers).status_code == 404


def test_another_visitors_line_is_not_found(app, client, market):
    headers = api_headers(client)
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
                headers=headers)
    line_id = _cart_json(client)["groups"][0]["lines"][0]["id"]
    other = app.test_client()

    response = other.patch(f"/api/v1/cart/lines/{line_id}", json={"quantity": 2},
                           headers=api_headers(other))

    assert response.status_code == 404
    assert _lines() == [(market.chair.id, 1)]


def test_every_view_flags_what_changed_since_the_line_was_added(client, market):
    headers = api_headers(client)
    for variant in (market.chair, market.lamp, market.mug):
        client.post("/api/v1/cart/lines", json={"variant_id": variant.id, "quantity": 2},
                    headers=headers)
    market.chair.price_minor = 13_900
    market.atelier.on_vacation = True
    market.atelier.vacation_message = "Back on Monday."
    db.session.execute(StockLevel.__table__.update()
                       .where(StockLevel.variant_id == market.mug.id).values(on_hand=1))
    db.session.commit()

    cart = _cart_json(client)

    assert [line["problem"] for group in cart["groups"] for line in group["lines"]] == [
        "The price changed from €129.00 to €139.00. Update the line to accept it.",
        "Atelier Lumen is on vacation: Back on Monday.",
        "Only 1 left in stock. Lower the quantity to continue.",
    ]
    assert cart["ok"] is False
    page = client.get("/cart").get_data(as_text=True)
    assert "Fix the items marked above to check out." in page
    assert "Check out</a>" not in page


def test_a_suspended_shops_lines_are_flagged(client, market):
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
                headers=api_headers(client))
    market.nordic.status = VendorStatus.SUSPENDED
    db.session.commit()

    line = _cart_json(client)["groups"][0]["lines"][0]

    assert line["problem"] == "This item is no longer for sale. Remove it to continue."


def test_updating_a_line_accepts_the_new_price(client, market):
    headers = api_headers(client)
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
                headers=headers)
    market.chair.price_minor = 13_900
    db.session.commit()
    line_id = _cart_json(client)["groups"][0]["lines"][0]["id"]

    client.patch(f"/api/v1/cart/lines/{line_id}", json={"quantity": 1}, headers=headers)

    assert _cart_json(client)["ok"] is True


def test_logging_in_merges_the_guest_cart_clamped_to_stock(client, market):
    account_cart = Cart(user_id=market.buyer.id)
    db.session.add(account_cart)
    db.session.flush()
    db.session.add(CartLine(cart_id=account_cart.id, variant_id=market.chair.id, quantity=4,
                            unit_price_minor=12_900, currency="EUR"))
    db.session.commit()
    headers = api_headers(client)
    client.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 2},
                headers=headers)
    client.post("/api/v1/cart/lines", json={"variant_id": market.mug.id, "quantity": 3},
                headers=headers)

    client.post("/login", data={"email": "buyer@example.com", "password": PASSWORD,
                                "csrf_token": headers["X-CSRFToken"]})
    page = client.get("/cart").get_data(as_text=True)

    assert "We kept the items you added before logging in." in flashes(page)
    assert db.session.scalar(select(func.count()).select_from(Cart)) == 1
    assert _lines() == [(market.chair.id, 5), (market.mug.id, 3)]
    assert client.get_cookie("cart") is None
    assert 'data-cart-count="8"' in client.get("/cart").get_data(as_text=True)


def test_an_empty_cart_says_so(client, market):
    log_in(client, market.buyer)

    page = client.get("/cart").get_data(as_text=True)

    assert "Your cart is empty." in page
    assert 'data-cart-count="0"' in page
