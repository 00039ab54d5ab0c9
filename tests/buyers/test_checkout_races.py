"""Races on one cart and one order (PostgreSQL): simultaneous adds make one line, two
checkouts of one cart make one order, and a refund restocking an order never deadlocks with
a checkout locking the same stock levels.

Threads are interleaved by waiting for each other (barriers, events, and the database's own
report of a session waiting for a lock), never by sleeping.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from buyers.models import CartLine
from buyers.payment_events import on_charge_refunded, on_payment_succeeded
from marketplace.extensions import db
from tests.buyers.checkout_support import ADDRESS, api_headers, log_in
from tests.vendors.factories import make_person
from vendors.models import StockLevel
from vendors.order_models import Order, OrderStatus, SubOrder, SubOrderStatus

pytestmark = pytest.mark.postgres_only


@pytest.fixture(autouse=True)
def _needs_postgres(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")


def _together(app, calls):
    """Run each ``(client, method, path, kwargs)`` in its own thread at the same moment;
    returns the status codes in call order."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int | None] = [None] * len(calls)

    def run(index, client, method, path, kwargs):
        with app.app_context():
            try:
                barrier.wait()
                statuses[index] = getattr(client, method)(path, **kwargs).status_code
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(index, *call))
               for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def _signed_in(app, user):
    client = app.test_client()
    log_in(client, user)
    return client, api_headers(client)


def test_two_tabs_adding_a_new_variant_at_once_make_one_line_of_both(app, market):
    buyers = [make_person(f"tabs{n}@example.com") for n in range(4)]
    db.session.commit()
    answers = []
    for buyer in buyers:
        (one, one_headers), (two, two_headers) = _signed_in(app, buyer), _signed_in(app, buyer)
        one.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
                 headers=one_headers)  # the cart exists; the mug is new to it
        answers += _together(app, [
            (one, "post", "/api/v1/cart/lines",
             {"json": {"variant_id": market.mug.id, "quantity": 1}, "headers": one_headers}),
            (two, "post", "/api/v1/cart/lines",
             {"json": {"variant_id": market.mug.id, "quantity": 2}, "headers": two_headers}),
        ])

    assert answers == [201] * 8
    assert db.session.execute(
        select(CartLine.variant_id, func.count(), func.sum(CartLine.quantity))
        .group_by(CartLine.variant_id).order_by(CartLine.variant_id)).all() == [
        (market.chair.id, 4, 4), (market.mug.id, 4, 12)]


def test_two_checkouts_of_one_cart_with_different_keys_place_one_order(app, market):
    one, one_headers = _signed_in(app, market.buyer)
    one.post("/api/v1/cart/lines", json={"variant_id": market.chair.id, "quantity": 1},
             headers=one_headers)
    two, two_headers = _signed_in(app, market.buyer)

    answers = _together(app, [
        (one, "post", "/api/v1/checkout",
         {"json": {"address": ADDRESS}, "headers": {**one_headers, "Idempotency-Key": "tab-1"}}),
        (two, "post", "/api/v1/checkout",
         {"json": {"address": ADDRESS}, "headers": {**two_headers, "Idempotency-Key": "tab-2"}}),
    ])

    assert sorted(answers) == [201, 409]  # the second finds the cart empty
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert db.session.scalar(select(StockLevel.reserved)
                             .where(StockLevel.variant_id == market.chair.id)) == 1


def _waiting_for_a_lock() -> int:
    return db.session.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"))


def test_a_refund_restocking_two_shops_never_deadlocks_with_a_checkout(app, client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    # The lamp's shop is added first, so its part has the lower sub-order id while the
    # lamp's stock level has the higher level id: part order and level order disagree.
    for variant in (market.lamp, market.chair):
        client.post("/api/v1/cart/lines", json={"variant_id": variant.id, "quantity": 1},
                    headers=headers)
    placed = client.post("/api/v1/checkout", json={"address": ADDRESS},
                         headers={**headers, "Idempotency-Key": "k1"}).get_json()
    order = db.session.get(Order, placed["id"])
    on_payment_succeeded({"id": order.payment_intent_id, "status": "succeeded",
                          "amount": order.total_minor, "currency": "eur",
                          "metadata": {"order_id": str(order.id)}})
    db.session.commit()
    levels = sorted(db.session.scalars(select(StockLevel.id).where(
        StockLevel.variant_id.in_([market.chair.id, market.lamp.id]))))
    charge = {"id": "ch_1", "payment_intent": order.payment_intent_id,
              "amount": order.total_minor, "amount_refunded": order.total_minor,
              "refunded": True, "metadata": {"order_id": str(order.id)}}
    outcome: dict[str, str] = {}
    first_level_locked, refund_started = threading.Event(), threading.Event()

    def checkout_locking_levels_in_id_order():
        with app.app_context():
            try:
                db.session.execute(text("SELECT id FROM stock_levels WHERE id = :id FOR UPDATE"),
                                   {"id": levels[0]})
                first_level_locked.set()
                refund_started.wait(30)
                with app.app_context():  # a second session watches the refund wait
                    for _ in range(3000):
                        if _waiting_for_a_lock():
                            break
                    db.session.remove()
                db.session.execute(text("SELECT id FROM stock_levels WHERE id = :id FOR UPDATE"),
                                   {"id": levels[1]})
                db.session.commit()
                outcome["checkout"] = "ok"
            except Exception as error:  # noqa: BLE001 - the outcome is the assertion
                outcome["checkout"] = type(getattr(error, "orig", error)).__name__
                db.session.rollback()
            finally:
                db.session.remove()

    def refund():
        with app.app_context():
            try:
                first_level_locked.wait(30)
                refund_started.set()
                on_charge_refunded(charge)
                db.session.commit()
                outcome["refund"] = "ok"
            except Exception as error:  # noqa: BLE001
                outcome["refund"] = type(getattr(error, "orig", error)).__name__
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=checkout_locking_levels_in_id_order),
               threading.Thread(target=refund)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcome == {"checkout": "ok", "refund": "ok"}
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.CANCELLED
    assert sorted(db.session.scalars(select(SubOrder.status))) == [SubOrderStatus.CANCELLED] * 2
    assert db.session.execute(select(StockLevel.variant_id, StockLevel.on_hand,
                                     StockLevel.reserved)
                              .where(StockLevel.id.in_(levels))
                              .order_by(StockLevel.variant_id)).all() == [
        (market.chair.id, 5, 0), (market.lamp.id, 3, 0)]
