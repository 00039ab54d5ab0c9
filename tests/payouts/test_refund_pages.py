"""Refund pages: a buyer asks from the order page, the vendor or an admin decides, a vendor
refunds part of an order themselves; each sees only their own."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import Role
from payouts.models import Refund, RefundInitiator, RefundStatus
from tests.conftest import csrf_token
from tests.factories import make_user
from tests.payouts.refund_support import line_of, paid_order, part_of, platform_rule
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import flashes, log_in, text
from vendors.models import MemberRole


@pytest.fixture(autouse=True)
def _request_context(app) -> Iterator[None]:
    with app.test_request_context():
        yield


@pytest.fixture
def bought(client, market):
    """Ada's order: two oak chairs from Nordic Goods (€129.00 each) and a lamp from Atelier
    Lumen, paid."""
    platform_rule()
    order = paid_order(client, market.buyer, (market.chair, 2), (market.lamp, 1))
    chairs = part_of(order, market.nordic)
    return order, chairs, line_of(chairs)


def _post(client, path: str, data: dict, page: str = "/"):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def _refund_items(page: str) -> list[tuple[str, str]]:
    """(amount, status) of each refund listed."""
    return [(text(amount), text(status)) for amount, status in re.findall(
        r'<li[^>]*data-refund="\d+"[^>]*>.*?class="amount">(.*?)</strong>.*?'
        r'class="badge status">(.*?)</span>', page, re.S)]


def _request(client, market, order, chairs, line, quantity=1, reason="Arrived scratched"):
    log_in(client, market.buyer)
    return _post(client, f"/orders/{order.number}/parts/{chairs.id}/refund",
                 {f"qty-{line.id}": str(quantity), "reason": reason},
                 f"/orders/{order.number}")


# --- buyers -------------------------------------------------------------------------------------


def test_a_buyer_requests_a_refund_from_the_order_page(client, market, bought):
    order, chairs, line = bought
    log_in(client, market.buyer)
    page = client.get(f"/orders/{order.number}").get_data(as_text=True)
    link = f"/orders/{order.number}/parts/{chairs.id}/refund"
    assert link in page
    form = client.get(link).get_data(as_text=True)
    assert "2 of 2 units can still be refunded" in text(form)

    answer = _request(client, market, order, chairs, line)
    page = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 303
    assert flashes(page) == ["Your refund request for €129.00 is sent to Nordic Goods. You'll "
                             "see here when it is decided."]
    assert _refund_items(page) == [("€129.00", "Requested")]
    refund = db.session.scalars(sa.select(Refund)).one()
    assert (refund.initiated_by, refund.requested_by_id, refund.reason) == (
        RefundInitiator.BUYER, market.buyer.id, "Arrived scratched")


def test_a_buyer_asking_for_too_much_is_told_why(client, market, bought):
    order, chairs, line = bought

    too_many = _request(client, market, order, chairs, line, quantity=3)
    no_reason = _request(client, market, order, chairs, line, reason="")

    assert too_many.status_code == 409
    assert "Only 2 of “Oak Chair” can still be refunded." in text(
        too_many.get_data(as_text=True))
    assert no_reason.status_code == 422
    assert "Tell the seller why in 3 to 500 characters." in text(
        no_reason.get_data(as_text=True))
    assert db.session.scalars(sa.select(Refund)).all() == []


def test_a_buyer_cannot_ask_for_someone_elses_order(client, market, bought):
    order, chairs, line = bought
    other = make_person("mallory@example.com")
    db.session.commit()
    log_in(client, other)
    path = f"/orders/{order.number}/parts/{chairs.id}/refund"

    seen = client.get(path)
    asked = _post(client, path, {f"qty-{line.id}": "1", "reason": "Mine now"})

    assert (seen.status_code, asked.status_code) == (404, 404)
    assert db.session.scalars(sa.select(Refund)).all() == []


# --- vendors ------------------------------------------------------------------------------------


def test_the_vendor_approves_a_request_and_the_buyer_is_refunded(client, market, bought):
    order, chairs, line = bought
    _request(client, market, order, chairs, line)
    owner = make_member(market.nordic, MemberRole.OWNER)
    db.session.commit()
    refund = db.session.scalars(sa.select(Refund)).one()
    log_in(client, owner)

    listed = client.get("/vendor/refunds?status=requested").get_data(as_text=True)
    answer = _post(client, f"/vendor/refunds/{refund.id}/approve", {"note": "Sorry!"},
                   "/vendor/refunds")
    shown = flashes(client.get(answer.headers["Location"]).get_data(as_text=True))
    run_queued_jobs()
    after = client.get("/vendor/refunds").get_data(as_text=True)

    assert "Arrived scratched" in listed and '<a href="/vendor/refunds"' in listed
    assert answer.status_code == 303
    assert shown == [f"Refund #{refund.id} of €129.00 is approved and on its way to the buyer."]
    assert _refund_items(after) == [("€129.00", "Refunded")]
    db.session.expire_all()
    assert (refund.status, refund.decision_note) == (RefundStatus.SUCCEEDED, "Sorry!")


def test_vendor_a_gets_404_for_vendor_bs_refund(client, market, bought):
    order, chairs, line = bought
    _request(client, market, order, chairs, line)
    lamp_owner = make_member(market.atelier, MemberRole.OWNER)
    db.session.commit()
    refund = db.session.scalars(sa.select(Refund)).one()
    log_in(client, lamp_owner)

    listed = client.get("/vendor/refunds").get_data(as_text=True)
    approved = _post(client, f"/vendor/refunds/{refund.id}/approve", {}, "/vendor/refunds")
    declined = _post(client, f"/vendor/refunds/{refund.id}/decline", {}, "/vendor/refunds")
    form = client.get(f"/vendor/orders/{chairs.id}/refund")
    partial = _post(client, f"/vendor/orders/{chairs.id}/refund", {f"qty-{line.id}": "1"},
                    "/vendor/refunds")

    assert "No refunds yet." in text(listed)
    assert [r.status_code for r in (approved, declined, form, partial)] == [404] * 4
    db.session.expire_all()
    assert refund.status == RefundStatus.REQUESTED


def test_staff_see_refunds_but_only_owners_and_managers_decide(client, market, bought):
    order, chairs, line = bought
    _request(client, market, order, chairs, line)
    staff = make_member(market.nordic, MemberRole.STAFF)
    db.session.commit()
    refund = db.session.scalars(sa.select(Refund)).one()
    log_in(client, staff)

    listed = client.get("/vendor/refunds")
    approved = _post(client, f"/vendor/refunds/{refund.id}/approve", {}, "/vendor/refunds")

    assert listed.status_code == 200 and "Approve and refund" not in listed.get_data(
        as_text=True)
    assert approved.status_code == 403


def test_a_vendor_refunds_part_of_an_order_from_its_page(client, market, bought):
    order, chairs, line = bought
    owner = make_member(market.nordic, MemberRole.MANAGER)
    db.session.commit()
    log_in(client, owner)
    detail = client.get(f"/vendor/orders/{chairs.id}").get_data(as_text=True)
    assert "Refund part of this order" in detail

    answer = _post(client, f"/vendor/orders/{chairs.id}/refund",
                   {f"qty-{line.id}": "1", "reason": "Scratched leg"},
                   f"/vendor/orders/{chairs.id}")
    run_queued_jobs()
    page = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 303
    assert flashes(page) == [f"€129.00 is being refunded to the buyer of order {order.number}."]
    assert _refund_items(page) == [("€129.00", "Refunded")]


def test_a_vendor_refund_of_nothing_is_refused(client, market, bought):
    order, chairs, line = bought
    owner = make_member(market.nordic, MemberRole.OWNER)
    db.session.commit()
    log_in(client, owner)

    answer = _post(client, f"/vendor/orders/{chairs.id}/refund", {f"qty-{line.id}": "0"},
                   f"/vendor/orders/{chairs.id}")
    letters = _post(client, f"/vendor/orders/{chairs.id}/refund", {f"qty-{line.id}": "two"},
                    f"/vendor/orders/{chairs.id}")

    assert answer.status_code == 409
    assert "Choose at least one item or some shipping to refund." in text(
        answer.get_data(as_text=True))
    assert letters.status_code == 422
    assert "Enter a whole number of units." in text(letters.get_data(as_text=True))
    assert db.session.scalars(sa.select(Refund)).all() == []


def test_rejecting_says_the_refund_is_on_its_way(client, market, bought):
    order, chairs, line = bought
    owner = make_member(market.nordic, MemberRole.OWNER)
    db.session.commit()
    log_in(client, owner)

    page = client.get(f"/vendor/orders/{chairs.id}").get_data(as_text=True)

    assert "The items go back in stock and the buyer's refund is on its way automatically." in page
    assert "payouts feature" not in page


def test_a_vendor_cancels_an_accepted_order_and_the_buyer_is_refunded(client, market, bought):
    order, chairs, line = bought
    owner = make_member(market.nordic, MemberRole.OWNER)
    db.session.commit()
    log_in(client, owner)
    path = f"/vendor/orders/{chairs.id}"
    _post(client, f"{path}/accept", {}, path)

    answer = _post(client, f"{path}/cancel", {"reason": "Broken in the workshop"}, path)
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    run_queued_jobs()
    log_in(client, market.buyer)
    seen = client.get(f"/orders/{order.number}").get_data(as_text=True)

    assert answer.status_code == 303
    assert flashes(page) == [f"Order {order.number} is cancelled, its items are back in stock "
                             "and the buyer is refunded in full."]
    assert "The seller's reason: Broken in the workshop" in text(seen)
    assert _refund_items(seen) == [("€258.00", "Refunded")]


def test_a_new_order_is_rejected_not_cancelled(client, market, bought):
    order, chairs, line = bought
    owner = make_member(market.nordic, MemberRole.OWNER)
    db.session.commit()
    log_in(client, owner)
    path = f"/vendor/orders/{chairs.id}"

    answer = _post(client, f"{path}/cancel", {"reason": "Changed my mind"}, path)

    assert answer.status_code == 409
    assert ("Only accepted orders can be cancelled; reject new ones. This order is now: New: "
            "paid, to accept.") in text(answer.get_data(as_text=True))
    assert db.session.scalars(sa.select(Refund)).all() == []


# --- admins -------------------------------------------------------------------------------------


def test_an_admin_declines_a_request_and_the_buyer_sees_it(client, market, bought):
    order, chairs, line = bought
    _request(client, market, order, chairs, line)
    admin = make_user("root@example.com", role=Role.ADMIN)
    db.session.commit()
    refund = db.session.scalars(sa.select(Refund)).one()
    log_in(client, admin)

    listed = client.get("/admin/refunds").get_data(as_text=True)
    answer = _post(client, f"/admin/refunds/{refund.id}/decline",
                   {"note": "Send the chair back first"}, "/admin/refunds")
    log_in(client, market.buyer)
    seen = client.get(f"/orders/{order.number}").get_data(as_text=True)

    assert "Nordic Goods" in listed and "Arrived scratched" in listed
    assert answer.status_code == 303
    assert _refund_items(seen) == [("€129.00", "Declined")]
    assert "The seller's note: Send the chair back first" in text(seen)


def test_the_admin_list_is_empty_at_first_and_linked_from_the_admin_area(client, market):
    admin = make_user("root@example.com", role=Role.ADMIN)
    db.session.commit()
    log_in(client, admin)

    page = client.get("/admin/refunds").get_data(as_text=True)
    dashboard = client.get("/admin/").get_data(as_text=True)

    assert "No refunds yet." in text(page)
    assert 'href="/admin/refunds"' in dashboard
    assert client.get("/admin/refunds?status=nonsense").status_code == 422
