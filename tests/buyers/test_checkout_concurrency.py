"""Correctness under concurrency (PostgreSQL): never oversold, one order per idempotency key,
and no order priced from anything but the database.

Each thread is its own buyer with its own test client (its own app context and database
session), submitting ``POST /api/v1/checkout`` at the same moment as the others.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from buyers.models import Cart, CartLine
from marketplace.extensions import db
from marketplace.fx import convert, load_rates
from marketplace.money import Money
from marketplace.payments.models import SandboxPaymentIntent
from tests.buyers.checkout_support import ADDRESS, api_headers, log_in
from tests.checkout_factories import add_location, stock_at
from tests.vendors.factories import make_person
from vendors.models import StockLevel, Variant
from vendors.order_models import Order, OrderLine, ReservationStatus, StockReservation

pytestmark = pytest.mark.postgres_only

BUYERS = 200
SOLD_OUT_ANSWERS = {"Oak Chair: Sold out. Remove it to continue.",
                    "“Oak Chair (oak)” is sold out."}


@pytest.fixture(autouse=True)
def _needs_postgres(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")


def _buyers_with_carts(count: int, lines: list[tuple[Variant, int]]):
    users = [make_person(f"buyer{n}@example.com") for n in range(count)]
    for user in users:
        cart = Cart(user_id=user.id)
        db.session.add(cart)
        db.session.flush()
        for variant, quantity in lines:
            db.session.add(CartLine(cart_id=cart.id, variant_id=variant.id, quantity=quantity,
                                    unit_price_minor=variant.price_minor,
                                    currency=variant.currency))
    db.session.commit()
    return users


def _submit_together(app, users, key_for=lambda index: f"key-{index:04d}"):
    """Every user's client POSTs /api/v1/checkout at once; returns (status, json) each."""
    clients = []
    for user in users:
        client = app.test_client()
        log_in(client, user)
        clients.append((client, api_headers(client)))
    barrier = threading.Barrier(len(users))
    results: list[tuple[int, dict] | Exception | None] = [None] * len(users)

    def run(index: int) -> None:
        client, headers = clients[index]
        with app.app_context():
            try:
                barrier.wait(60)
                response = client.post("/api/v1/checkout", json={"address": ADDRESS},
                                       headers={**headers, "Idempotency-Key": key_for(index)})
                results[index] = (response.status_code, response.get_json())
            except Exception as error:  # collected and asserted by the test
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    db.session.expire_all()
    return results


def _invariants() -> tuple[int, int]:
    """(levels whose reserved differs from their active reservations, levels oversold)."""
    active = dict(db.session.execute(
        select(StockReservation.stock_level_id, func.sum(StockReservation.quantity))
        .where(StockReservation.status == ReservationStatus.ACTIVE)
        .group_by(StockReservation.stock_level_id)).all())
    levels = db.session.scalars(select(StockLevel)).all()
    mismatched = sum(1 for level in levels if level.reserved != active.get(level.id, 0))
    oversold = sum(1 for level in levels if level.reserved > level.on_hand)
    return mismatched, oversold


def _outcome(results):
    statuses = Counter(r[0] if isinstance(r, tuple) else type(r).__name__ for r in results)
    refusals = Counter(r[1]["error"]["message"] for r in results
                       if isinstance(r, tuple) and r[0] == 409)
    return statuses, refusals


@pytest.mark.parametrize("scenario", ["one_location", "two_locations", "three_vendors"])
def test_200_buyers_racing_for_the_last_5_units_make_exactly_5_orders(app, market, scenario):
    chair = market.chair
    if scenario == "two_locations":
        db.session.execute(StockLevel.__table__.update()
                           .where(StockLevel.variant_id == chair.id).values(on_hand=2))
        stock_at(chair, add_location(market.nordic.id, "Hamburg", priority=5), on_hand=3)
    lines = [(chair, 1)]
    if scenario == "three_vendors":
        db.session.execute(StockLevel.__table__.update()
                           .where(StockLevel.variant_id == market.lamp.id)
                           .values(on_hand=1000))
        db.session.execute(StockLevel.__table__.update()
                           .where(StockLevel.variant_id == market.mug.id).values(on_hand=1000))
        lines += [(market.lamp, 1), (market.mug, 2)]
    users = _buyers_with_carts(BUYERS, lines)

    results = _submit_together(app, users)

    statuses, refusals = _outcome(results)
    print(f"\n[{scenario}] answers: {dict(statuses)}; 409 messages: {dict(refusals)}")
    assert statuses == {201: 5, 409: BUYERS - 5}
    assert set(refusals) <= SOLD_OUT_ANSWERS
    assert db.session.scalar(select(func.count()).select_from(Order)) == 5
    sold = db.session.scalar(select(func.sum(OrderLine.quantity))
                             .where(OrderLine.variant_id == chair.id))
    assert sold == 5
    chair_levels = db.session.execute(select(StockLevel.on_hand, StockLevel.reserved)
                                      .where(StockLevel.variant_id == chair.id)
                                      .order_by(StockLevel.id)).all()
    assert sum(r.reserved for r in chair_levels) == 5
    assert all(r.reserved == r.on_hand for r in chair_levels)
    if scenario == "three_vendors":
        others = dict(db.session.execute(select(StockLevel.variant_id, StockLevel.reserved)
                                         .where(StockLevel.variant_id != chair.id)).all())
        assert others == {market.lamp.id: 5, market.mug.id: 10}
    assert _invariants() == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentIntent)) == 5


def test_one_idempotency_key_submitted_10_times_at_once_makes_one_order_and_one_payment(
        app, market):
    users = _buyers_with_carts(1, [(market.chair, 1), (market.mug, 1)]) * 10

    results = _submit_together(app, users, key_for=lambda index: "the-same-key")

    statuses, _ = _outcome(results)
    print(f"\n[idempotency] answers: {dict(statuses)}")
    assert statuses == {201: 1, 200: 9}
    assert len({r[1]["id"] for r in results}) == 1
    assert len({r[1]["payment"]["intent_id"] for r in results}) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentIntent)) == 1
    assert _invariants() == (0, 0)


def _server_totals_differ(order: Order, rates: dict[str, int]) -> bool:
    """Whether the order's amounts differ from pricing its lines from the database again."""
    items = 0
    for part in order.sub_orders:
        part_items = 0
        for line in part.lines:
            variant = db.session.get(Variant, line.variant_id)
            unit = convert(Money(variant.price_minor, variant.currency), order.currency, rates)
            if line.unit_price_minor != unit.amount_minor or \
                    line.net_minor + line.tax_minor != unit.amount_minor * line.quantity:
                return True
            part_items += line.total_minor
        if part.items_minor != part_items or part.total_minor != (
                part.items_minor + part.shipping_minor):
            return True
        items += part.items_minor
    return order.items_minor != items or order.total_minor != sum(
        p.total_minor for p in order.sub_orders)


def test_tampered_carts_never_make_an_order_priced_by_the_client(app, client, market):
    log_in(client, market.buyer)
    headers = api_headers(client)
    tampered = [
        {"variant_id": 999_999, "quantity": 1}, {"variant_id": market.chair.id, "quantity": 0},
        {"variant_id": market.chair.id, "quantity": -2},
        {"variant_id": market.chair.id, "quantity": 10**9},
        {"variant_id": market.chair.id, "quantity": 1.5},
        {"variant_id": market.chair.id, "quantity": 1, "price_minor": 1, "currency": "JPY"},
        {"variant_id": market.mug.id, "quantity": 2, "unit_price_minor": 0},
    ]
    answers = [client.post("/api/v1/cart/lines", json=body, headers=headers).status_code
               for body in tampered]
    placed = client.post("/api/v1/checkout", headers={**headers, "Idempotency-Key": "k-1"},
                         json={"address": ADDRESS, "currency": "JPY", "total_minor": 1,
                               "items_minor": 1, "shipping_minor": 0, "tax_minor": 0})

    assert answers == [404, 422, 422, 422, 422, 201, 201]
    assert placed.status_code == 201
    rates = load_rates()
    orders = db.session.scalars(select(Order)).all()
    differing = sum(1 for order in orders if _server_totals_differ(order, rates))
    print(f"\n[tampered] orders: {len(orders)}, totals differing from the server's: "
          f"{differing}")
    assert (len(orders), differing) == (1, 0)
    assert (orders[0].currency, orders[0].total_minor) == ("EUR", 12_900 + 490 + 1_876 + 500)
