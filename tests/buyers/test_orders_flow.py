"""One order through the real checkout (buyers.checkout.place_order) and payment handler, then
the vendor and buyer order sides: each vendor sees only its part, rejects or accepts it, the
buyer cancels another, and every unit ends up where it should."""

from __future__ import annotations

import logging

import pytest

from buyers import cart as carts
from buyers.checkout import place_order
from buyers.payment_events import on_payment_succeeded
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from tests.conftest import csrf_token
from tests.factories import make_vendor
from tests.order_factories import make_method, make_profile
from tests.vendors.factories import (
    make_location,
    make_person,
    make_token,
    make_variant,
    set_stock,
)
from tests.vendors.pages import log_in
from vendors import shipping
from vendors.models import StockLevel
from vendors.order_models import Order, OrderStatus

ADDRESS = {"name": "Bert Buyer", "line1": "Rue de Rivoli 1", "line2": "", "city": "Paris",
           "region": "", "postal_code": "75001", "country": "FR", "phone": ""}


@pytest.fixture
def paid_order(app):
    """Three shops, one cart with an item of each, placed and paid (sandbox-shaped event)."""
    shops, levels, choices = [], {}, {}
    buyer = make_person("bert@example.com", name="Bert Buyer")
    for name, price in (("Olga's Oils", 1_250), ("Bob's Bikes", 800), ("Tea Time", 600)):
        vendor = make_vendor(name)
        variant = make_variant(vendor, price_minor=price, title=f"{name} item")
        levels[vendor.id] = set_stock(variant, make_location(vendor), on_hand=5).id
        method = make_method(make_profile(vendor, countries=("FR",)), base_minor=500)
        shops.append((vendor, variant))
        choices[vendor.id] = method.id
    cart = carts.get_or_create_cart(user_id=buyer.id)
    for _vendor, variant in shops:
        carts.add_item(cart, variant.id, 2)
    db.session.commit()
    placed = place_order(buyer, idempotency_key="flow-1", currency="EUR", address=ADDRESS,
                         choices=choices)
    db.session.commit()
    order = placed.order
    on_payment_succeeded({"id": "pi_flow_1", "status": "succeeded", "amount": order.total_minor,
                          "currency": order.currency.lower(),
                          "metadata": {"order_id": str(order.id)}})
    db.session.commit()
    return {"buyer": buyer, "order": db.session.get(Order, order.id), "shops": shops,
            "levels": levels}


def _on_hand(level_id: int) -> int:
    return db.session.get(StockLevel, level_id).on_hand


def test_a_paid_three_shop_order_goes_to_each_vendor_and_the_buyer_tracks_it(
        app, client, paid_order, caplog):
    order = paid_order["order"]
    (oils, _), (bikes, _), (tea, _) = [shop for shop in paid_order["shops"]]
    oil_part, bike_part, tea_part = order.sub_orders
    caplog.set_level(logging.INFO, logger="marketplace.mail")
    run_queued_jobs(app)

    secrets = {vendor.id: make_token(vendor)[1] for vendor in (oils, bikes, tea)}
    db.session.commit()

    def vendor_api(vendor, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {secrets[vendor.id]}"}
        return client.open(f"/api/v1/vendor{path}", method=method, headers=headers, **kwargs)

    oils_list = vendor_api(oils, "GET", "/orders").json["items"]
    rejected = vendor_api(bikes, "POST", f"/orders/{bike_part.id}/reject",
                          json={"reason": "Out of bells"})
    foreign = vendor_api(bikes, "POST", f"/orders/{oil_part.id}/accept")
    accepted = vendor_api(tea, "POST", f"/orders/{tea_part.id}/accept")
    log_in(client, paid_order["buyer"])
    cancelled = client.post(f"/api/v1/orders/{order.number}/sub-orders/{oil_part.id}/cancel",
                            headers={"X-CSRFToken": csrf_token(client)})
    seen = client.get(f"/api/v1/orders/{order.number}").json

    assert order.status == OrderStatus.PAID
    assert [(item["id"], item["status"]) for item in oils_list] == [(oil_part.id, "paid")]
    assert (rejected.status_code, foreign.status_code, accepted.status_code,
            cancelled.status_code) == (200, 404, 200, 200)
    assert [(p["vendor_name"], p["status"], p["rejection_reason"]) for p in seen["sub_orders"]] \
        == [("Olga's Oils", "cancelled", None), ("Bob's Bikes", "rejected", "Out of bells"),
            ("Tea Time", "accepted", None)]
    # Cancelled and rejected parts are back on the shelf; the accepted one left it.
    levels = paid_order["levels"]
    assert [_on_hand(levels[v.id]) for v in (oils, bikes, tea)] == [5, 5, 3]
    emails = [r.getMessage() for r in caplog.records if r.name == "marketplace.mail"]
    assert len(emails) == 1 and f"Subject: Your order {order.number} is confirmed" in emails[0]


def test_the_checkout_quotes_each_shops_methods_for_the_destination(app, paid_order):
    (oils, _variant) = paid_order["shops"][0]

    to_france = shipping.quote_options(oils.id, "FR", 500, 2_500, "EUR")
    to_japan = shipping.quote_options(oils.id, "JP", 500, 2_500, "EUR")

    assert [(o.name, o.price.amount_minor) for o in to_france] == [("Standard", 500)]
    assert to_japan == []


@pytest.mark.parametrize("order_id", ["²", "１", "9" * 30, "-1", ""])
def test_an_event_naming_no_usable_order_id_is_left_alone(app, paid_order, order_id):
    from buyers.payment_events import on_charge_refunded

    order = paid_order["order"]
    # A full refund without an intent id, whose metadata names no order we could look up.
    on_charge_refunded({"amount": order.total_minor, "amount_refunded": order.total_minor,
                        "refunded": True, "metadata": {"order_id": order_id}})
    db.session.commit()

    assert db.session.get(Order, order.id).status == OrderStatus.PAID
