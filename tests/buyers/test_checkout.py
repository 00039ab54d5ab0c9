"""Checkout: address -> shipping -> review -> pay, server-side totals, idempotency, refusals."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from buyers.models import CartLine
from buyers.pricing import split_tax
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import OutboxJob
from marketplace.payments.models import SandboxPaymentIntent
from marketplace.tax import TaxRule
from tests.buyers.checkout_support import ADDRESS, api_headers, log_in, review_form
from tests.vendors.pages import flashes, text
from vendors.models import StockLevel
from vendors.order_models import (
    Order,
    OrderStatus,
    ReservationStatus,
    StockReservation,
    SubOrderStatus,
)


def _add(client, headers, *lines):
    for variant, quantity in lines:
        response = client.post("/api/v1/cart/lines",
                               json={"variant_id": variant.id, "quantity": quantity},
                               headers=headers)
        assert response.status_code == 201, response.get_json()


def _levels() -> dict[int, tuple[int, int]]:
    return {level.variant_id: (level.on_hand, level.reserved)
            for level in db.session.scalars(select(StockLevel))}


def _active_reserved() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(StockReservation.quantity), 0))
                             .where(StockReservation.status == ReservationStatus.ACTIVE))


def _place(client, headers, key="key-0001", body=None):
    return client.post("/api/v1/checkout", json=body or {"address": ADDRESS},
                       headers={**headers, "Idempotency-Key": key})


def test_a_buyer_checks_out_three_shops_and_pays_once(app, client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.chair, 1), (market.lamp, 1), (market.mug, 2))
    token = headers["X-CSRFToken"]

    address = client.post("/checkout/address", data={**ADDRESS, "csrf_token": token})
    assert address.headers["Location"].endswith("/checkout/shipping")
    shipping = client.get("/checkout/shipping").get_data(as_text=True)
    assert re.findall(r'name="shipping-(\d+)" value="(\d+)"', shipping) == [
        (str(market.nordic.id), str(market.nordic_post.id)),
        (str(market.atelier.id), str(market.atelier_post.id)),
        (str(market.kumo.id), str(market.kumo_post.id))]
    chosen = client.post("/checkout/shipping", data={
        "csrf_token": token, f"shipping-{market.nordic.id}": str(market.nordic_post.id),
        f"shipping-{market.atelier.id}": str(market.atelier_post.id),
        f"shipping-{market.kumo.id}": str(market.kumo_post.id)})
    assert chosen.headers["Location"].endswith("/checkout/review")
    review = client.get("/checkout/review").get_data(as_text=True)
    assert [text(t) for t in re.findall(r"<strong data-part-total>(.*?)</strong>", review)] == [
        "€133.90", "€50.00", "€23.76"]
    assert text(re.search(r"<strong data-order-total>(.*?)</strong>", review).group(1)) == \
        "€207.66"
    form = review_form(review)
    assert (form["currency"], form["total_minor"]) == ("EUR", "20766")

    placed = client.post("/checkout/place", data={"csrf_token": token, **form})
    again = client.post("/checkout/place", data={"csrf_token": token, **form})

    assert placed.status_code == again.status_code == 303
    assert placed.headers["Location"] == again.headers["Location"]
    order = db.session.scalars(select(Order)).one()
    assert (order.status, order.currency, order.items_minor, order.shipping_minor,
            order.tax_minor, order.total_minor, order.tax_inclusive) == (
        OrderStatus.AWAITING_PAYMENT, "EUR", 19_276, 1_490, 3_316, 20_766, True)
    assert [(s.vendor_id, s.items_minor, s.shipping_minor, s.tax_minor, s.total_minor)
            for s in order.sub_orders] == [
        (market.nordic.id, 12_900, 490, 2_138, 13_390),
        (market.atelier.id, 4_500, 500, 798, 5_000),
        (market.kumo.id, 1_876, 500, 380, 2_376)]
    assert order.fx_rates == {"EUR": 1_000_000, "JPY": 160_000_000}
    assert order.shipping_address["city"] == "Berlin"
    assert _levels() == {market.chair.id: (5, 1), market.lamp.id: (3, 1), market.mug.id: (10, 2)}
    assert db.session.scalar(select(func.count()).select_from(CartLine)) == 0

    pay_page = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Amount to pay: €207.66" in text(pay_page)
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentIntent)) == 1
    pay_token = re.search(r'name="token" value="([^"]+)"', pay_page).group(1)
    paid = client.post("/payments/sandbox/pay", data={
        "csrf_token": token, "token": pay_token, "card_number": "4242 4242 4242 4242"})
    assert paid.status_code in (302, 303)
    processing = client.get(f"/checkout/done/{order.number}").get_data(as_text=True)
    assert 'data-state="processing"' in processing
    run_queued_jobs(app)

    done = client.get(f"/checkout/done/{order.number}").get_data(as_text=True)
    assert 'data-state="paid"' in done
    assert len(re.findall(r"data-sub-order=", done)) == 3
    db.session.refresh(order)
    assert order.status == OrderStatus.PAID and order.paid_at is not None
    assert {s.status for s in order.sub_orders} == {SubOrderStatus.PAID}
    assert _levels() == {market.chair.id: (4, 0), market.lamp.id: (2, 0), market.mug.id: (8, 0)}
    assert db.session.scalar(select(func.count()).select_from(OutboxJob).where(
        OutboxJob.func == "buyers.order_emails.send_order_confirmation")) == 1


def test_totals_ignore_what_the_client_says_about_money(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.chair, 2))
    body = {"address": ADDRESS, "currency": "JPY", "total_minor": 1, "items_minor": 1,
            "lines": [{"variant_id": market.chair.id, "quantity": 1, "price_minor": 1}],
            "shipping": [{"vendor_id": market.nordic.id, "method_id": market.nordic_post.id,
                          "price_minor": 0}]}

    response = _place(client, headers, body=body)

    assert response.status_code == 201
    data = response.get_json()
    assert (data["currency"], data["items_minor"], data["shipping_minor"],
            data["total_minor"]) == ("EUR", 25_800, 0, 25_800)
    assert data["payment"]["provider"] == "sandbox"
    assert data["payment"]["client_secret"].startswith(data["payment"]["intent_id"])
    assert [(s["vendor_id"], s["total_minor"]) for s in data["sub_orders"]] == [
        (market.nordic.id, 25_800)]


def test_the_same_idempotency_key_answers_with_the_same_order(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.lamp, 1))

    first = _place(client, headers)
    second = _place(client, headers)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    assert first.get_json()["payment"]["intent_id"] == second.get_json()["payment"]["intent_id"]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentIntent)) == 1


def test_a_missing_idempotency_key_is_a_400(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.lamp, 1))

    response = client.post("/api/v1/checkout", json={"address": ADDRESS}, headers=headers)

    assert response.status_code == 400
    assert list(response.get_json()["error"]["fields"]) == ["Idempotency-Key"]


def test_stock_gone_since_the_cart_was_filled_is_a_409_and_nothing_is_written(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.chair, 1), (market.lamp, 3))
    db.session.execute(StockLevel.__table__.update()
                       .where(StockLevel.variant_id == market.lamp.id).values(reserved=1))
    db.session.commit()

    response = _place(client, headers)

    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == \
        "Brass Lamp: Only 2 left in stock. Lower the quantity to continue."
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert _levels()[market.chair.id] == (5, 0)


def test_a_shop_that_doesnt_ship_there_names_its_shipping_field(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.mug, 1))

    response = _place(client, headers, body={"address": {**ADDRESS, "country": "FR"}})

    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        f"shipping.{market.kumo.id}": ["Kumo Store doesn't ship to this country."]}
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_address_errors_name_the_fields(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.lamp, 1))

    api = _place(client, headers, body={"address": {**ADDRESS, "country": "XX", "city": ""}})
    page = client.post("/checkout/address", data={**ADDRESS, "postal_code": "",
                                                  "csrf_token": headers["X-CSRFToken"]})

    assert api.status_code == 422
    assert sorted(api.get_json()["error"]["fields"]["address"]) == ["city", "country"]
    assert page.status_code == 422
    assert re.search(r'<span class="field-error" id="e-postal_code">([^<]+)</span>',
                     page.get_data(as_text=True)).group(1) == "This field is required."


def test_checkout_needs_a_signed_in_buyer(client, market):
    headers = api_headers(client)
    _add(client, headers, (market.lamp, 1))

    api = _place(client, headers)
    page = client.get("/checkout/address")

    assert api.status_code == 401
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_placing_from_a_flagged_cart_sends_the_buyer_back_to_it(client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    _add(client, headers, (market.lamp, 1))
    market.atelier.on_vacation = True
    db.session.commit()
    with client.session_transaction() as session:
        session["checkout"] = {"address": ADDRESS}

    response = client.post("/checkout/place", data={
        "csrf_token": headers["X-CSRFToken"], "idempotency_key": "abcdefgh12",
        "currency": "EUR", "total_minor": "5000"})

    assert response.status_code == 409
    assert flashes(response.get_data(as_text=True)) == [
        "Brass Lamp: Atelier Lumen is on vacation and not taking orders right now."]


def test_tax_is_extracted_where_included_and_added_elsewhere():
    assert split_tax(12_900, TaxRule("DE", 1900, True, "MwSt")) == (10_840, 2_060)
    assert split_tax(10_000, TaxRule("CA", 500, False, "GST")) == (10_000, 500)
    assert split_tax(999, TaxRule("US", 0, False, "")) == (999, 0)
