"""The buyer's orders: history, detail with each vendor's part, cancelling a part before it
ships (stock back on the shelf), the orders API, and the confirmation email job."""

from __future__ import annotations

import logging

import pytest

from buyers.order_emails import send_order_confirmation
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit, run_queued_jobs
from tests.conftest import csrf_token
from tests.factories import make_vendor
from tests.order_factories import Part, make_order
from tests.vendors.factories import make_location, make_person, make_variant, set_stock
from tests.vendors.pages import flashes, log_in, text
from vendors.models import StockLevel
from vendors.order_models import SubOrder, SubOrderStatus


@pytest.fixture
def market(app):
    """Two shops with a stocked variant each, a buyer, and another buyer."""
    oils = make_vendor("Olga's Oils")
    bikes = make_vendor("Bob's Bikes")
    oil = make_variant(oils, sku="OIL-1", title="Olive oil", price_minor=1_250)
    bell = make_variant(bikes, sku="BELL-1", title="Bike bell", price_minor=800)
    oil_level = set_stock(oil, make_location(oils), on_hand=10)
    bell_level = set_stock(bell, make_location(bikes), on_hand=10)
    buyer = make_person("bert@example.com", name="Bert Buyer")
    other = make_person("olivia@example.com", name="Olivia Other")
    db.session.commit()
    return {"oil": oil, "bell": bell, "oil_level": oil_level, "bell_level": bell_level,
            "buyer": buyer, "other": other}


def _order(market, *, buyer=None, oil_status=SubOrderStatus.PAID,
           bell_status=SubOrderStatus.PAID):
    order = make_order(buyer or market["buyer"],
                       Part(((market["oil"], 2),), status=oil_status),
                       Part(((market["bell"], 1),), shipping_minor=300, status=bell_status,
                            method_name="Bike courier"),
                       commit_stock=True)
    db.session.commit()
    return order


def _on_hand(level) -> int:
    return db.session.get(StockLevel, level.id).on_hand


# --- Pages ---------------------------------------------------------------------------------


def test_the_history_needs_a_login_and_says_when_there_is_nothing_yet(client, market):
    anonymous = client.get("/orders")
    log_in(client, market["buyer"])

    page = client.get("/orders").get_data(as_text=True)

    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert "You haven't ordered anything yet. Start shopping" in text(page)


def test_the_history_lists_the_buyers_orders_newest_first_with_pages(client, market):
    first = _order(market)
    second = _order(market, bell_status=SubOrderStatus.REJECTED)
    _order(market, buyer=market["other"])
    log_in(client, market["buyer"])

    page = client.get("/orders?per_page=1").get_data(as_text=True)
    everything = client.get("/orders").get_data(as_text=True)

    assert f"Order {second.number}" in text(page) and f"Order {first.number}" not in page
    assert "Page 1 of 2" in text(page)
    assert (f"Order {second.number} {second.created_at:%Y-%m-%d} Paid €40.90 "
            "Olga's Oils: Paid: waiting for the seller Bob's Bikes: Rejected by the seller"
            ) in text(everything)
    assert everything.count('class="card order-card"') == 2


def test_the_detail_shows_each_vendors_part_with_its_status_and_shipping(client, market):
    order = _order(market)
    log_in(client, market["buyer"])

    page = text(client.get(f"/orders/{order.number}").get_data(as_text=True))

    assert ("From Olga's Oils Paid: waiting for the seller Item Quantity Price Total "
            "Olive oil (M) 2 €12.50 €25.00 Shipping: Standard €4.90 "
            "Total from this shop €29.90") in page
    assert "From Bob's Bikes" in page and "Shipping: Bike courier €3.00" in page
    assert "Items €33.00 Shipping €7.90 Tax €0.00 Total €40.90" in page
    assert "Ada Buyer Hauptstraße 1 10115 Berlin Germany" in page
    assert "You can cancel until the seller ships; the money goes back to your card at once." \
        in page


def test_another_buyers_order_is_not_found(client, post_form, market):
    order = _order(market, buyer=market["other"])
    log_in(client, market["buyer"])

    seen = client.get(f"/orders/{order.number}")
    cancelled = post_form(f"/orders/{order.number}/parts/{order.sub_orders[0].id}/cancel")

    assert (seen.status_code, cancelled.status_code) == (404, 404)
    assert db.session.get(SubOrder, order.sub_orders[0].id).status == SubOrderStatus.PAID


def test_a_buyer_cancels_one_shops_part_and_its_stock_comes_back(client, post_form, market):
    order = _order(market)
    oil_part, bell_part = order.sub_orders
    log_in(client, market["buyer"])
    before = (_on_hand(market["oil_level"]), _on_hand(market["bell_level"]))

    answer = post_form(f"/orders/{order.number}/parts/{oil_part.id}/cancel")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 303
    assert flashes(page) == ["Your items from Olga's Oils are cancelled. Your refund is on its "
                             "way: it reaches your card within a few days."]
    assert [db.session.get(SubOrder, p.id).status for p in (oil_part, bell_part)] == [
        SubOrderStatus.CANCELLED, SubOrderStatus.PAID]
    assert before == (8, 9)
    assert (_on_hand(market["oil_level"]), _on_hand(market["bell_level"])) == (10, 9)


def test_an_accepted_or_ready_part_can_still_be_cancelled(client, post_form, market):
    order = _order(market, oil_status=SubOrderStatus.ACCEPTED,
                   bell_status=SubOrderStatus.READY_TO_SHIP)
    log_in(client, market["buyer"])

    answers = [post_form(f"/orders/{order.number}/parts/{p.id}/cancel").status_code
               for p in order.sub_orders]

    assert answers == [303, 303]
    assert (_on_hand(market["oil_level"]), _on_hand(market["bell_level"])) == (10, 10)


def test_a_rejected_part_cannot_be_cancelled(client, post_form, market):
    order = _order(market, bell_status=SubOrderStatus.REJECTED)
    log_in(client, market["buyer"])

    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    answer = post_form(f"/orders/{order.number}/parts/{order.sub_orders[1].id}/cancel")

    assert page.count("Cancel the items from") == 1
    assert answer.status_code == 409
    assert flashes(answer.get_data(as_text=True)) == [
        "This part of the order can't be cancelled any more: Rejected by the seller."]


# --- API -----------------------------------------------------------------------------------


def test_the_api_lists_and_shows_only_the_buyers_orders(client, market):
    order = _order(market)
    theirs = _order(market, buyer=market["other"])
    log_in(client, market["buyer"])

    listed = client.get("/api/v1/orders").json
    detail = client.get(f"/api/v1/orders/{order.number}").json
    foreign = client.get(f"/api/v1/orders/{theirs.number}")

    assert [item["number"] for item in listed["items"]] == [order.number]
    assert "shipping_address" not in listed["items"][0]
    assert (detail["total_minor"], detail["status"], detail["shipping_address"]["city"]) == (
        4_090, "paid", "Berlin")
    assert [(p["vendor_name"], p["status"], p["shipping_method"]["name"], p["total_minor"],
             [line["sku"] for line in p["lines"]]) for p in detail["sub_orders"]] == [
        ("Olga's Oils", "paid", "Standard", 2_990, ["OIL-1"]),
        ("Bob's Bikes", "paid", "Bike courier", 1_100, ["BELL-1"])]
    assert foreign.status_code == 404


def test_the_api_cancels_a_part_with_the_csrf_header(client, market):
    order = _order(market)
    part = order.sub_orders[0]
    theirs = _order(market, buyer=market["other"])
    log_in(client, market["buyer"])
    url = f"/api/v1/orders/{order.number}/sub-orders/{part.id}/cancel"
    token = {"X-CSRFToken": csrf_token(client)}

    without_token = client.post(url)
    cancelled = client.post(url, headers=token)
    again = client.post(url, headers=token)
    foreign = client.post(
        f"/api/v1/orders/{theirs.number}/sub-orders/{theirs.sub_orders[0].id}/cancel",
        headers=token)

    assert without_token.status_code == 400
    assert (cancelled.status_code, cancelled.json["status"]) == (200, "cancelled")
    assert (again.status_code, again.json["error"]["message"]) == (
        409, "This part of the order can't be cancelled any more: Cancelled.")
    assert foreign.status_code == 404
    # 10 - 2 - 2 for the two orders, 2 back for the cancelled part.
    assert _on_hand(market["oil_level"]) == 8


def test_the_api_asks_anonymous_visitors_to_log_in(client, market):
    answer = client.get("/api/v1/orders")

    assert (answer.status_code, answer.json["error"]["message"]) == (
        401, "Log in to see your orders.")


# --- Confirmation email --------------------------------------------------------------------


def _emails(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "marketplace.mail"
            and r.getMessage().startswith("Email (not sent")]


def test_the_confirmation_lists_each_shops_lines_and_the_totals_once(app, market, caplog):
    order = _order(market)
    caplog.set_level(logging.INFO, logger="marketplace.mail")

    enqueue_after_commit("email", "buyers.order_emails.send_order_confirmation", order.id)
    enqueue_after_commit("email", "buyers.order_emails.send_order_confirmation", order.id)
    db.session.commit()
    run_queued_jobs(app)

    [email] = _emails(caplog)
    assert email.startswith("Email (not sent: MAIL_SERVER is unset)\nFrom: ")
    assert ("To: bert@example.com\n"
            f"Subject: Your order {order.number} is confirmed\n\n"
            "Hello Bert Buyer,\n\n"
            f"thank you for your order {order.number}. We received your payment; each shop "
            "now prepares its part.\n\n"
            "From Olga's Oils:\n"
            "  2 × Olive oil (OIL-1)  €25.00\n"
            "  Shipping (Standard): €4.90\n\n"
            "From Bob's Bikes:\n"
            "  1 × Bike bell (BELL-1)  €8.00\n"
            "  Shipping (Bike courier): €3.00\n\n"
            "Items: €33.00\nShipping: €7.90\nTax: €0.00\nTotal paid: €40.90\n\n"
            "You can follow each shop's part of the order under \"Your orders\".") in email


def test_no_confirmation_for_an_unpaid_order(app, market, caplog):
    order = _order(market, oil_status=SubOrderStatus.AWAITING_PAYMENT,
                   bell_status=SubOrderStatus.AWAITING_PAYMENT)
    caplog.set_level(logging.INFO, logger="marketplace.mail")

    sent = send_order_confirmation(order.id)

    assert sent is False
    assert _emails(caplog) == []
