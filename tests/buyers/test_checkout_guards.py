"""What the checkout refuses: a reused idempotency key for another request, an order that
changed since the buyer reviewed it, a total too small to charge, unprintable address text,
a payment for an order that is over; and what it no longer refuses: units held by an order
that is past its reservation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from buyers import checkout
from buyers.payment_events import release_expired
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money
from marketplace.payments.models import SandboxPaymentIntent
from tests.buyers.checkout_support import ADDRESS, US_ADDRESS, api_headers, log_in, review_form
from tests.checkout_factories import flat_shipping
from tests.factories import make_product, make_vendor
from tests.vendors.factories import make_person
from tests.vendors.pages import flashes, text
from vendors.order_models import Order, OrderStatus, StockReservation


def _add(client, headers, variant, quantity=1):
    return client.post("/api/v1/cart/lines",
                       json={"variant_id": variant.id, "quantity": quantity}, headers=headers)


def _place(client, headers, key="key-0001", address=ADDRESS):
    return client.post("/api/v1/checkout", json={"address": address},
                       headers={**headers, "Idempotency-Key": key})


def _orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def _to_review(client, headers) -> str:
    client.post("/checkout/address", data={**ADDRESS, "csrf_token": headers["X-CSRFToken"]})
    return client.get("/checkout/review").get_data(as_text=True)


# --- Idempotency-Key reused for another request ---------------------------------------------


def test_a_key_reused_for_another_address_and_cart_is_a_422(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    first = _place(client, headers, key="k1")
    _add(client, headers, market.lamp, 2)

    reused = _place(client, headers, key="k1", address=US_ADDRESS)

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.get_json()["error"]["fields"] == {
        "Idempotency-Key": ["This Idempotency-Key was already used for a different request."]}
    assert _orders() == 1


def test_a_key_reused_for_another_cart_is_a_422_and_the_same_request_gets_its_order(
        client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    first = _place(client, headers, key="k1")
    replay = _place(client, headers, key="k1")  # a retry after a lost answer: cart now empty
    _add(client, headers, market.lamp, 2)

    reused = _place(client, headers, key="k1")

    assert (first.status_code, replay.status_code, reused.status_code) == (201, 200, 422)
    assert replay.get_json()["id"] == first.get_json()["id"]
    assert _orders() == 1


# --- The order placed is the order reviewed --------------------------------------------------


def test_an_order_changed_since_the_review_is_not_placed_and_the_review_is_shown_again(
        client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    form = review_form(_to_review(client, headers))
    _add(client, headers, market.lamp, 2)  # in another tab

    placed = client.post("/checkout/place", data={"csrf_token": headers["X-CSRFToken"], **form})
    again = client.get(placed.headers["Location"]).get_data(as_text=True)

    assert (placed.status_code, placed.headers["Location"]) == (303, "/checkout/review")
    assert flashes(again) == ["Your order changed since you reviewed it. Check it again."]
    assert _orders() == 0
    assert text(re.search(r"<strong data-order-total>(.*?)</strong>", again).group(1)) == \
        "€228.90"

    placed = client.post("/checkout/place", data={"csrf_token": headers["X-CSRFToken"],
                                                  **review_form(again)})

    order = db.session.scalars(select(Order)).one()
    assert placed.status_code == 303
    assert (order.currency, order.total_minor) == ("EUR", 22_890)


def test_a_review_form_without_the_total_places_nothing(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    form = review_form(_to_review(client, headers))

    placed = client.post("/checkout/place", data={
        "csrf_token": headers["X-CSRFToken"], "idempotency_key": form["idempotency_key"]})

    assert (placed.status_code, placed.headers["Location"]) == (303, "/checkout/review")
    assert _orders() == 0


def test_a_link_on_another_site_cannot_switch_a_signed_in_buyers_checkout_currency(
        client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    form = review_form(_to_review(client, headers))

    client.get("/preferences/currency?currency=JPY&next=/")  # e.g. an <img src> elsewhere
    placed = client.post("/checkout/place", data={"csrf_token": headers["X-CSRFToken"], **form})

    order = db.session.scalars(select(Order)).one()
    assert placed.status_code == 303
    assert (order.currency, order.total_minor) == ("EUR", 13_390)


# --- Totals too small to charge ---------------------------------------------------------------


def test_a_total_below_the_smallest_card_payment_is_refused(client, market):
    shop = make_vendor("Penny Shop")
    sticker = make_product(shop, title="Sticker", price_minor=30, on_hand=5).variants[0]
    flat_shipping(shop.id, price_minor=0)
    db.session.commit()
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, sticker)

    response = _place(client, headers)

    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "cart": ["The order total must be at least €0.50 to be paid by card."]}
    assert _orders() == 0
    assert [checkout.minimum_charge(code) for code in ("EUR", "JPY")] == [
        Money(50, "EUR"), Money(50, "JPY")]


# --- Unprintable text in an address -----------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("name", "A\x00B"), ("city", "Berlin\x00"), ("phone", "\ud800"), ("line1", "Haupt\x07str"),
    ("country", "\x00"),
])
def test_control_characters_in_an_address_are_a_field_error(client, market, field, value):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)

    api = _place(client, headers, address={**ADDRESS, field: value})

    message = "Remove the invisible control characters from this field."
    assert api.status_code == 422
    assert api.get_json()["error"]["fields"] == {"address": {field: [message]}}
    assert _orders() == 0
    if value != "\ud800":  # a form post can't carry a lone surrogate (not UTF-8)
        page = client.post("/checkout/address", data={**ADDRESS, field: value,
                                                      "csrf_token": headers["X-CSRFToken"]})
        assert page.status_code == 422
        assert re.search(rf'<span class="field-error" id="e-{field}">([^<]+)</span>',
                         page.get_data(as_text=True)).group(1) == message


# --- No payment for an order that is over -----------------------------------------------------


def test_an_order_that_expired_before_its_pay_page_opens_no_payment(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.chair)
    client.post("/checkout/place", data={"csrf_token": headers["X-CSRFToken"],
                                         **review_form(_to_review(client, headers))})
    order = db.session.scalars(select(Order)).one()
    assert release_expired(utcnow() + dt.timedelta(hours=1)) == 1

    with pytest.raises(checkout.OrderNotPayable) as refused:
        checkout.ensure_payment_intent(order.id)

    assert refused.value.message == \
        "This order can't be paid any more: it is no longer awaiting payment."
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentIntent)) == 0
    assert db.session.get(Order, order.id).payment_intent_id is None


# --- Holds past their expiry --------------------------------------------------------------------


def test_units_held_by_an_order_past_its_reservation_can_be_added_and_bought(
        app, client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, market.lamp, 3)  # every lamp
    first = _place(client, headers)
    past = utcnow() - dt.timedelta(hours=1)
    db.session.execute(update(Order).values(expires_at=past))
    db.session.execute(update(StockReservation).values(expires_at=past))
    db.session.commit()  # overdue, but no sweep ran
    other = app.test_client()
    log_in(other, make_person("other@example.com"))
    db.session.commit()
    other_headers = api_headers(other)

    added = _add(other, other_headers, market.lamp, 1)
    placed = _place(other, other_headers, key="key-0002")

    assert (added.status_code, placed.status_code) == (201, 201)
    assert added.get_json()["ok"] is True
    db.session.expire_all()
    assert db.session.get(Order, first.get_json()["id"]).status == OrderStatus.EXPIRED


@pytest.mark.parametrize("path", [
    "/checkout/pay/A%00B", "/checkout/done/A%00B", "/orders/A%00B", "/api/v1/orders/A%00B",
])
def test_an_order_number_with_a_nul_byte_is_not_found(client, market, path):
    log_in(client, market.buyer)

    response = client.get(path)

    assert response.status_code == 404


def test_cancelling_a_part_of_an_order_number_with_a_nul_byte_is_not_found(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)

    response = client.post("/api/v1/orders/A%00B/sub-orders/1/cancel", headers=headers)

    assert response.status_code == 404
