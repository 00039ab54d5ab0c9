"""Payment outcomes move orders and stock the same way whatever order the events arrive in;
unpaid orders expire and give their stock back."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from sqlalchemy import func, select

from buyers.payment_events import (
    on_charge_refunded,
    on_payment_canceled,
    on_payment_failed,
    on_payment_succeeded,
    release_expired,
)
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import OutboxJob
from marketplace.payments import provider
from tests.buyers.checkout_support import ADDRESS, api_headers, log_in
from tests.factories import make_user
from tests.vendors.pages import text
from vendors.models import StockLevel
from vendors.order_models import (
    Order,
    OrderStatus,
    ReservationStatus,
    StockReservation,
    SubOrderStatus,
)


def _checkout(client, user, *lines, key="key-0001"):
    db.session.commit()
    log_in(client, user)
    headers = api_headers(client)
    for variant, quantity in lines:
        client.post("/api/v1/cart/lines", json={"variant_id": variant.id, "quantity": quantity},
                    headers=headers)
    response = client.post("/api/v1/checkout", json={"address": ADDRESS},
                           headers={**headers, "Idempotency-Key": key})
    assert response.status_code == 201, response.get_json()
    return db.session.get(Order, response.get_json()["id"])


def _intent(order, **changes):
    obj = {"id": order.payment_intent_id, "object": "payment_intent", "status": "succeeded",
           "amount": order.total_minor, "currency": order.currency.lower(),
           "metadata": {"order_id": str(order.id)}}
    return {**obj, **changes}


def _charge(order):
    return {"id": "ch_1", "object": "charge", "payment_intent": order.payment_intent_id,
            "amount": order.total_minor, "amount_refunded": order.total_minor,
            "refunded": True, "metadata": {"order_id": str(order.id)}}


def _state(order_id):
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    levels = sorted((lv.variant_id, lv.on_hand, lv.reserved)
                    for lv in db.session.scalars(select(StockLevel)))
    active = db.session.scalar(select(func.coalesce(func.sum(StockReservation.quantity), 0))
                               .where(StockReservation.status == ReservationStatus.ACTIVE))
    return order.status, sorted(s.status for s in order.sub_orders), levels, active


def _deliver(handler, obj):
    handler(obj, None)
    db.session.commit()


def _declined(order):
    return _intent(order, status="requires_payment_method", last_payment_error={
        "type": "card_error", "code": "card_declined", "message": "Your card was declined."})


def test_a_declined_card_keeps_the_order_and_its_stock_for_another_card(client, market):
    order = _checkout(client, market.buyer, (market.chair, 2), (market.lamp, 1))

    _deliver(on_payment_failed, _declined(order))
    _deliver(on_payment_failed, _declined(order))

    assert _state(order.id) == (
        OrderStatus.AWAITING_PAYMENT,
        [SubOrderStatus.AWAITING_PAYMENT, SubOrderStatus.AWAITING_PAYMENT],
        sorted([(market.chair.id, 5, 2), (market.lamp.id, 3, 1), (market.mug.id, 10, 0)]), 3)
    assert db.session.get(Order, order.id).last_payment_error == "Your card was declined."
    pay_page = client.get(f"/checkout/pay/{order.number}")
    assert pay_page.status_code == 200
    assert ("Your last payment attempt was declined: Your card was declined. You can try "
            "another card.") in text(pay_page.get_data(as_text=True))
    assert 'name="card_number"' in pay_page.get_data(as_text=True)


def test_another_card_after_a_decline_pays_the_same_order(app, client, market):
    order = _checkout(client, market.buyer, (market.chair, 1))
    token = api_headers(client)["X-CSRFToken"]
    pay_page = client.get(f"/checkout/pay/{order.number}").get_data(as_text=True)
    pay_token = re.search(r'name="token" value="([^"]+)"', pay_page).group(1)

    client.post("/payments/sandbox/pay", data={"csrf_token": token, "token": pay_token,
                                               "card_number": "4000 0000 0000 0002"})
    run_queued_jobs(app)
    declined = client.get(f"/checkout/done/{order.number}").get_data(as_text=True)
    client.post("/payments/sandbox/pay", data={"csrf_token": token, "token": pay_token,
                                               "card_number": "4242 4242 4242 4242"})
    run_queued_jobs(app)

    assert 'data-state="processing"' in declined
    assert "The last payment attempt was declined: Your card was declined." in text(declined)
    assert _state(order.id)[:2] == (OrderStatus.PAID, [SubOrderStatus.PAID])
    assert db.session.get(Order, order.id).last_payment_error is None
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_a_declined_order_gives_its_stock_back_when_its_payment_is_cancelled(client, market):
    order = _checkout(client, market.buyer, (market.chair, 2))
    _deliver(on_payment_failed, _declined(order))

    _deliver(on_payment_canceled, _intent(order, status="canceled"))

    assert _state(order.id) == (
        OrderStatus.EXPIRED, [SubOrderStatus.VOID],
        sorted([(market.chair.id, 5, 0), (market.lamp.id, 3, 0), (market.mug.id, 10, 0)]), 0)


def test_a_success_after_expiry_reserves_again_when_it_can(client, market):
    order = _checkout(client, market.buyer, (market.chair, 2))
    assert release_expired(utcnow() + dt.timedelta(hours=1)) == 1

    _deliver(on_payment_succeeded, _intent(order))

    status, parts, levels, active = _state(order.id)
    assert (status, parts, active) == (OrderStatus.PAID, [SubOrderStatus.PAID], 0)
    assert (market.chair.id, 3, 0) in levels


def test_a_success_after_expiry_with_the_stock_sold_cancels_and_refunds(app, client, market):
    order = _checkout(client, market.buyer, (market.lamp, 3))
    assert release_expired(utcnow() + dt.timedelta(hours=1)) == 1
    other = _checkout(app.test_client(), make_user("other@example.com"), (market.lamp, 3),
                      key="key-0002")
    run_queued_jobs(app)  # the expired order's intent is cancelled at the sandbox
    assert db.session.get(Order, order.id).status == OrderStatus.EXPIRED

    _deliver(on_payment_succeeded, _intent(order))

    status, parts, levels, active = _state(order.id)
    assert (status, parts) == (OrderStatus.CANCELLED, [SubOrderStatus.CANCELLED])
    assert (market.lamp.id, 3, 3) in levels  # the other buyer's 3 stay reserved: no oversell
    assert active == 3 and db.session.get(Order, other.id).status == \
        OrderStatus.AWAITING_PAYMENT
    assert db.session.scalar(select(func.count()).select_from(OutboxJob).where(
        OutboxJob.func == "buyers.payment_events.refund_unfulfillable")) == 1


def test_a_full_refund_cancels_the_parts_and_restocks(client, market):
    order = _checkout(client, market.buyer, (market.chair, 2), (market.mug, 1))
    _deliver(on_payment_succeeded, _intent(order))

    _deliver(on_charge_refunded, _charge(order))
    _deliver(on_charge_refunded, _charge(order))

    assert _state(order.id) == (
        OrderStatus.CANCELLED, [SubOrderStatus.CANCELLED, SubOrderStatus.CANCELLED],
        sorted([(market.chair.id, 5, 0), (market.lamp.id, 3, 0), (market.mug.id, 10, 0)]), 0)


@pytest.mark.parametrize("sequence", [
    *itertools.permutations(("succeeded", "failed", "refunded")),
    ("succeeded", "succeeded", "failed"), ("failed", "failed", "succeeded"),
    ("failed", "canceled", "succeeded"), ("canceled", "failed", "succeeded"),
    ("failed", "canceled", "refunded"), ("succeeded", "canceled", "failed"),
])
def test_every_delivery_order_converges(client, market, sequence):
    order = _checkout(client, market.buyer, (market.chair, 2), (market.lamp, 1))
    events = {"succeeded": (on_payment_succeeded, _intent(order)),
              "failed": (on_payment_failed, _declined(order)),
              "canceled": (on_payment_canceled, _intent(order, status="canceled")),
              "refunded": (on_charge_refunded, _charge(order))}

    for name in sequence:
        _deliver(*events[name])

    status, parts, levels, active = _state(order.id)
    assert active == 0
    assert db.session.get(Order, order.id).last_payment_error is None
    if "refunded" in sequence:
        assert (status, parts) == (OrderStatus.CANCELLED, [SubOrderStatus.CANCELLED] * 2)
        assert levels == sorted([(market.chair.id, 5, 0), (market.lamp.id, 3, 0),
                                 (market.mug.id, 10, 0)])
    else:
        assert (status, parts) == (OrderStatus.PAID, [SubOrderStatus.PAID] * 2)
        assert levels == sorted([(market.chair.id, 3, 0), (market.lamp.id, 2, 0),
                                 (market.mug.id, 10, 0)])


def test_a_payment_for_another_amount_changes_nothing(client, market):
    order = _checkout(client, market.buyer, (market.chair, 1))

    _deliver(on_payment_succeeded, _intent(order, amount=1))

    assert _state(order.id)[0] == OrderStatus.AWAITING_PAYMENT


def test_expiry_releases_unpaid_orders_once_and_cancels_their_payment(app, client, market):
    order = _checkout(client, market.buyer, (market.chair, 2))
    paid = _checkout(app.test_client(), make_user("paid@example.com"), (market.lamp, 1),
                     key="key-0002")
    _deliver(on_payment_succeeded, _intent(paid))

    assert release_expired(utcnow()) == 0
    assert release_expired(utcnow() + dt.timedelta(minutes=16)) == 1
    assert release_expired(utcnow() + dt.timedelta(minutes=16)) == 0
    run_queued_jobs(app)

    assert _state(order.id)[:2] == (OrderStatus.EXPIRED, [SubOrderStatus.VOID])
    assert _state(order.id)[3] == 0
    assert provider().retrieve_payment_intent(order.payment_intent_id).status == "canceled"
    assert db.session.get(Order, paid.id).status == OrderStatus.PAID
