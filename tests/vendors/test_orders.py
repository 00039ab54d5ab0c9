"""A vendor's orders in the portal and the vendor API: lists by status, the detail, and
accept / reject (stock back on the shelf) / ready to ship, with who may do which."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.factories import make_vendor
from tests.order_factories import Part, make_order
from tests.vendors.factories import (
    make_location,
    make_member,
    make_person,
    make_token,
    make_variant,
    set_stock,
)
from tests.vendors.pages import cell, field_error, flashes, log_in, rows, text
from vendors.models import MemberRole, MovementReason, StockLevel, StockMovement
from vendors.order_models import SubOrder, SubOrderStatus


@pytest.fixture
def shop(app):
    """A shop with an owner, a manager and a staff member, a stocked variant, and a buyer."""
    owner = make_person("olga@example.com", name="Olga")
    vendor = make_vendor("Olga's Oils", owner=owner)
    manager = make_member(vendor, MemberRole.MANAGER, email="max@example.com")
    staff = make_member(vendor, MemberRole.STAFF, email="sam@example.com")
    oil = make_variant(vendor, sku="OIL-1", title="Olive oil", price_minor=1_250)
    soap = make_variant(vendor, sku="SOAP-1", title="Olive soap", price_minor=450)
    location = make_location(vendor)
    level = set_stock(oil, location, on_hand=10)
    set_stock(soap, location, on_hand=10)
    buyer = make_person("bert@example.com", name="Bert Buyer")
    db.session.commit()
    return {"vendor": vendor, "owner": owner, "manager": manager, "staff": staff, "oil": oil,
            "soap": soap, "level": level, "buyer": buyer}


def _order(shop, status=SubOrderStatus.PAID, *, quantity=2) -> SubOrder:
    order = make_order(shop["buyer"], Part(((shop["oil"], quantity), (shop["soap"], 1)),
                                           status=status), commit_stock=True)
    db.session.commit()
    return order.sub_orders[0]


def _followed(client, answer) -> str:
    assert answer.status_code == 303, answer.status_code
    return client.get(answer.headers["Location"]).get_data(as_text=True)


# --- Portal: lists and detail --------------------------------------------------------------


def test_the_order_list_says_so_when_there_are_no_orders_yet(client, shop):
    log_in(client, shop["staff"])

    page = client.get("/vendor/orders").get_data(as_text=True)

    assert "No orders yet. Paid orders for your products appear here, ready to accept." \
        in text(page)


def test_the_list_has_status_tabs_with_counts_and_hides_unpaid_parts(client, shop):
    new = _order(shop)
    accepted = _order(shop, SubOrderStatus.ACCEPTED)
    _order(shop, SubOrderStatus.AWAITING_PAYMENT)
    log_in(client, shop["owner"])

    everything = client.get("/vendor/orders").get_data(as_text=True)
    only_new = client.get("/vendor/orders?status=paid").get_data(as_text=True)
    rejected = client.get("/vendor/orders?status=rejected").get_data(as_text=True)

    assert rows(everything, "sub-order") == [accepted.id, new.id]
    assert "New: paid, to accept 1" in text(everything)
    assert "Accepted 1" in text(everything)
    assert rows(only_new, "sub-order") == [new.id]
    assert cell(only_new, "sub-order", new.id, "total") == "€34.40"
    assert cell(only_new, "sub-order", new.id, "ship-to") == "Germany"
    assert "No orders with the status “Rejected”." in text(rejected)


def test_the_list_pages(client, shop):
    subs = [_order(shop, quantity=1) for _ in range(3)]
    log_in(client, shop["owner"])

    first = client.get("/vendor/orders?per_page=2").get_data(as_text=True)
    second = client.get("/vendor/orders?per_page=2&page=2").get_data(as_text=True)

    assert rows(first, "sub-order") == [subs[2].id, subs[1].id]
    assert rows(second, "sub-order") == [subs[0].id]
    assert "Page 1 of 2" in text(first)


def test_a_bad_status_filter_is_a_422(client, shop):
    log_in(client, shop["owner"])

    assert client.get("/vendor/orders?status=void").status_code == 422


def test_the_detail_shows_lines_address_method_and_totals(client, shop):
    sub = _order(shop)
    log_in(client, shop["staff"])

    page = client.get(f"/vendor/orders/{sub.id}").get_data(as_text=True)

    line = sub.lines[0]
    assert cell(page, "line", line.id, "title") == "Olive oil (M)"
    assert cell(page, "line", line.id, "quantity") == "2"
    assert cell(page, "line", line.id, "vendor-price") == "€12.50"
    assert cell(page, "line", line.id, "line-total") == "€25.00"
    assert "Ada Buyer Hauptstraße 1 10115 Berlin Germany" in text(page)
    assert "Standard Hand over within 2 working days" in text(page)
    assert re.search(r'id="order-total"><strong>€34.40</strong>', page)


def test_an_unpaid_part_is_not_found(client, shop):
    sub = _order(shop, SubOrderStatus.AWAITING_PAYMENT)
    log_in(client, shop["owner"])

    assert client.get(f"/vendor/orders/{sub.id}").status_code == 404


# --- Portal: actions -----------------------------------------------------------------------


def test_staff_accept_and_mark_ready(client, post_form, shop):
    sub = _order(shop)
    log_in(client, shop["staff"])

    accepted = _followed(client, post_form(f"/vendor/orders/{sub.id}/accept"))
    ready = _followed(client, post_form(f"/vendor/orders/{sub.id}/ready"))

    number = sub.order.number
    assert flashes(accepted) == [
        f"Order {number} is accepted. Pack it and mark it ready to ship."]
    assert flashes(ready) == [f"Order {number} is ready to ship."]
    assert db.session.get(SubOrder, sub.id).status == SubOrderStatus.READY_TO_SHIP


def test_accepting_twice_is_a_clear_conflict(client, post_form, shop):
    sub = _order(shop, SubOrderStatus.ACCEPTED)
    log_in(client, shop["owner"])

    answer = post_form(f"/vendor/orders/{sub.id}/accept")

    assert answer.status_code == 409
    assert flashes(answer.get_data(as_text=True)) == [
        "Only new, paid orders can be accepted. This order is now: Accepted."]


def test_a_manager_rejects_with_a_reason_and_the_stock_comes_back(client, post_form, shop):
    sub = _order(shop, quantity=3)
    on_hand_after_sale = db.session.get(StockLevel, shop["level"].id).on_hand
    log_in(client, shop["manager"])

    page = _followed(client, post_form(f"/vendor/orders/{sub.id}/reject",
                                       {"reason": "  Sold out   in the shop "}))

    saved = db.session.get(SubOrder, sub.id)
    movement = db.session.scalars(select(StockMovement).where(
        StockMovement.reason == MovementReason.ORDER_CANCELLED,
        StockMovement.variant_id == shop["oil"].id)).one()
    assert flashes(page) == [f"Order {sub.order.number} is rejected and its items are back in "
                             "stock. The buyer sees your reason."]
    assert (saved.status, saved.rejection_reason) == (SubOrderStatus.REJECTED,
                                                      "Sold out in the shop")
    assert (on_hand_after_sale, db.session.get(StockLevel, shop["level"].id).on_hand) == (7, 10)
    assert (movement.delta, movement.user_id) == (3, shop["manager"].id)


def test_staff_cannot_reject(client, post_form, shop):
    sub = _order(shop)
    log_in(client, shop["staff"])

    page = client.get(f"/vendor/orders/{sub.id}").get_data(as_text=True)
    answer = post_form(f"/vendor/orders/{sub.id}/reject", {"reason": "No"})

    assert f'action="/vendor/orders/{sub.id}/reject"' not in page
    assert answer.status_code == 403
    assert "Only owners and managers can reject an order." in text(
        answer.get_data(as_text=True))
    assert db.session.get(SubOrder, sub.id).status == SubOrderStatus.PAID


def test_a_rejection_needs_a_reason(client, post_form, shop):
    sub = _order(shop)
    log_in(client, shop["owner"])

    answer = post_form(f"/vendor/orders/{sub.id}/reject", {"reason": " "})

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "reason") == (
        "Tell the buyer why, in 3 to 500 characters.")
    assert db.session.get(SubOrder, sub.id).status == SubOrderStatus.PAID


def test_an_accepted_order_cannot_be_rejected(client, post_form, shop):
    sub = _order(shop, SubOrderStatus.ACCEPTED)
    log_in(client, shop["owner"])

    answer = post_form(f"/vendor/orders/{sub.id}/reject", {"reason": "Changed my mind"})

    assert answer.status_code == 409
    assert flashes(answer.get_data(as_text=True)) == [
        "Only new, paid orders can be rejected. This order is now: Accepted."]
    assert db.session.get(StockLevel, shop["level"].id).on_hand == 8


# --- Vendor API ----------------------------------------------------------------------------


def _headers(shop, scopes=("orders:read", "orders:write")) -> dict:
    _token, secret = make_token(shop["vendor"], scopes)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_lists_orders_by_status_with_pages(client, shop):
    new = _order(shop)
    accepted = _order(shop, SubOrderStatus.ACCEPTED)
    headers = _headers(shop, ("orders:read",))

    everything = client.get("/api/v1/vendor/orders", headers=headers).json
    only_new = client.get("/api/v1/vendor/orders?status=paid", headers=headers).json
    paged = client.get("/api/v1/vendor/orders?per_page=1&page=2", headers=headers).json

    assert [item["id"] for item in everything["items"]] == [accepted.id, new.id]
    assert only_new["items"] == [{
        "id": new.id, "order_id": new.order_id, "number": new.order.number, "status": "paid",
        "currency": "EUR", "items_minor": 2_950, "shipping_minor": 490, "tax_minor": 0,
        "total_minor": 3_440, "placed_at": new.created_at.isoformat(),
        "status_changed_at": new.status_changed_at.isoformat(),
    }]
    assert ([item["id"] for item in paged["items"]], paged["meta"]["total"]) == ([new.id], 2)


def test_the_api_detail_has_lines_address_and_method(client, shop):
    sub = _order(shop)

    body = client.get(f"/api/v1/vendor/orders/{sub.id}", headers=_headers(shop)).json

    assert body["shipping_address"]["city"] == "Berlin"
    assert body["shipping_method"] == {"method_id": None, "name": "Standard",
                                       "handling_days": 2}
    assert [(line["sku"], line["quantity"], line["vendor_unit_price_minor"],
             line["vendor_currency"], line["total_minor"]) for line in body["lines"]] == [
        ("OIL-1", 2, 1_250, "EUR", 2_500), ("SOAP-1", 1, 450, "EUR", 450)]


def test_the_api_accepts_marks_ready_and_rejects(client, shop):
    to_ship, to_reject = _order(shop), _order(shop)
    headers = _headers(shop)

    accepted = client.post(f"/api/v1/vendor/orders/{to_ship.id}/accept", headers=headers)
    ready = client.post(f"/api/v1/vendor/orders/{to_ship.id}/ready", headers=headers)
    again = client.post(f"/api/v1/vendor/orders/{to_ship.id}/ready", headers=headers)
    rejected = client.post(f"/api/v1/vendor/orders/{to_reject.id}/reject", headers=headers,
                           json={"reason": "Damaged in the warehouse"})

    assert (accepted.status_code, accepted.json["status"]) == (200, "accepted")
    assert (ready.status_code, ready.json["status"]) == (200, "ready_to_ship")
    assert (again.status_code, again.json["error"]["message"]) == (
        409, "Only accepted orders can be marked ready to ship. This order is now: Ready to "
             "ship.")
    assert (rejected.json["status"], rejected.json["rejection_reason"]) == (
        "rejected", "Damaged in the warehouse")
    # 10 - 2 for each order, then 2 back.
    assert db.session.get(StockLevel, shop["level"].id).on_hand == 8


def test_the_api_refuses_a_bad_rejection_and_a_missing_scope(client, shop):
    sub = _order(shop)
    writer, reader = _headers(shop), _headers(shop, ("orders:read",))

    no_reason = client.post(f"/api/v1/vendor/orders/{sub.id}/reject", headers=writer,
                            json={"reason": "", "extra": 1})
    read_only = client.post(f"/api/v1/vendor/orders/{sub.id}/accept", headers=reader)
    no_scope = client.get("/api/v1/vendor/orders", headers=_headers(shop, ("catalog:read",)))

    assert no_reason.status_code == 422
    assert set(no_reason.json["error"]["fields"]) == {"reason", "extra"}
    assert (read_only.status_code, read_only.json["error"]["message"]) == (
        403, "This token doesn't have the scope this needs: orders:write.")
    assert no_scope.status_code == 403
    assert db.session.get(SubOrder, sub.id).status == SubOrderStatus.PAID
