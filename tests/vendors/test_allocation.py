"""Stock allocation: reserve all-or-nothing over locations, commit, release, restock."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.checkout_factories import make_order
from tests.factories import make_user, make_vendor
from tests.vendors.factories import make_location, make_variant, set_stock
from vendors import allocation
from vendors.allocation import LineDemand, OutOfStock
from vendors.models import MovementReason, StockLevel, StockMovement
from vendors.order_models import OrderLine, ReservationStatus, StockReservation


@pytest.fixture
def stock(app):
    """Two vendors; a shirt at Berlin (priority 0, 2 units) and Hamburg (priority 1, 3
    units); a mug (vendor 2) with 4 units at one location."""
    nordic = make_vendor("Nordic Goods")
    berlin = make_location(nordic, "Berlin", priority=0)
    hamburg = make_location(nordic, "Hamburg", priority=1)
    shirt = make_variant(nordic, sku="SHIRT-M", title="Linen Shirt")
    set_stock(shirt, berlin, on_hand=2)
    set_stock(shirt, hamburg, on_hand=3)
    kumo = make_vendor("Kumo Store")
    tokyo = make_location(kumo, "Tokyo")
    mug = make_variant(kumo, sku="MUG", title="Tea Mug")
    set_stock(mug, tokyo, on_hand=4)
    buyer = make_user("buyer@example.com")
    db.session.commit()
    return {"shirt": shirt, "mug": mug, "berlin": berlin, "hamburg": hamburg, "tokyo": tokyo,
            "buyer": buyer}


def _demands(order):
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                               .order_by(OrderLine.id))
    return [LineDemand(line.id, line.vendor_id, line.variant_id, line.quantity)
            for line in lines]


def _levels(variant):
    return [(lv.location.name, lv.on_hand, lv.reserved) for lv in db.session.scalars(
        select(StockLevel).where(StockLevel.variant_id == variant.id).order_by(StockLevel.id))]


def _active_sum(level_ids=None):
    stmt = select(func.coalesce(func.sum(StockReservation.quantity), 0)).where(
        StockReservation.status == ReservationStatus.ACTIVE)
    return db.session.scalar(stmt)


def _reserve(order):
    reservations = allocation.reserve_order(order.id, _demands(order), order.expires_at)
    db.session.commit()
    return reservations


def test_reserving_takes_the_first_location_then_the_next(stock):
    order = make_order(stock["buyer"], [(stock["shirt"], 4), (stock["mug"], 1)])

    reservations = _reserve(order)

    assert sorted((r.stock_level.location.name, r.quantity) for r in reservations) == [
        ("Berlin", 2), ("Hamburg", 2), ("Tokyo", 1)]
    assert _levels(stock["shirt"]) == [("Berlin", 2, 2), ("Hamburg", 3, 2)]
    assert _levels(stock["mug"]) == [("Tokyo", 4, 1)]
    assert _active_sum() == 5
    reindex = db.session.scalars(select(OutboxJob).where(
        OutboxJob.func == "vendors.search.reindex_products")).all()
    assert [sorted(job.args[0]) for job in reindex] == [
        sorted([stock["shirt"].product_id, stock["mug"].product_id])]


def test_a_shortfall_on_one_line_reserves_nothing_and_names_the_product(stock):
    order = make_order(stock["buyer"], [(stock["mug"], 1), (stock["shirt"], 6)])

    with pytest.raises(OutOfStock) as raised:
        allocation.reserve_order(order.id, _demands(order), order.expires_at)
    db.session.rollback()

    assert raised.value.message == "Only 5 of “Linen Shirt (M)” left; you asked for 6."
    assert raised.value.variant_id == stock["shirt"].id
    assert raised.value.available == 5
    assert _levels(stock["shirt"]) == [("Berlin", 2, 0), ("Hamburg", 3, 0)]
    assert _levels(stock["mug"]) == [("Tokyo", 4, 0)]
    assert db.session.scalar(select(func.count()).select_from(StockReservation)) == 0


def test_sold_out_is_said_so(stock):
    first = make_order(stock["buyer"], [(stock["mug"], 4)])
    _reserve(first)
    second = make_order(stock["buyer"], [(stock["mug"], 1)])

    with pytest.raises(OutOfStock) as raised:
        allocation.reserve_order(second.id, _demands(second), second.expires_at)
    db.session.rollback()

    assert raised.value.message == "“Tea Mug (M)” is sold out."


def test_commit_takes_units_off_the_shelf_with_sale_movements_once(stock):
    order = make_order(stock["buyer"], [(stock["shirt"], 3)])
    _reserve(order)

    assert allocation.commit_order(order.id) == 2
    assert allocation.commit_order(order.id) == 0
    db.session.commit()

    assert _levels(stock["shirt"]) == [("Berlin", 0, 0), ("Hamburg", 2, 0)]
    assert [(m.location.name, m.delta, m.on_hand_after, m.reason) for m in db.session.scalars(
        select(StockMovement).order_by(StockMovement.id))] == [
        ("Berlin", -2, 0, MovementReason.SALE), ("Hamburg", -1, 2, MovementReason.SALE)]
    assert _active_sum() == 0


def test_release_gives_reserved_units_back_once(stock):
    order = make_order(stock["buyer"], [(stock["shirt"], 3), (stock["mug"], 2)])
    _reserve(order)

    assert allocation.release_order(order.id) == 3
    assert allocation.release_order(order.id) == 0
    db.session.commit()

    assert _levels(stock["shirt"]) == [("Berlin", 2, 0), ("Hamburg", 3, 0)]
    assert _levels(stock["mug"]) == [("Tokyo", 4, 0)]
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 0


def test_release_sub_order_frees_only_that_vendors_part(stock):
    order = make_order(stock["buyer"], [(stock["shirt"], 1), (stock["mug"], 2)])
    _reserve(order)
    mug_part = next(s for s in order.sub_orders if s.vendor_id == stock["mug"].vendor_id)

    allocation.release_sub_order(mug_part.id)
    allocation.release_sub_order(mug_part.id)
    db.session.commit()

    assert _levels(stock["mug"]) == [("Tokyo", 4, 0)]
    assert _levels(stock["shirt"]) == [("Berlin", 2, 1), ("Hamburg", 3, 0)]
    assert _active_sum() == 1


def test_restock_puts_sold_units_back_where_they_came_from_once(stock):
    owner = make_user("owner@example.com")
    order = make_order(stock["buyer"], [(stock["shirt"], 3), (stock["mug"], 1)])
    _reserve(order)
    allocation.commit_order(order.id)
    db.session.commit()
    shirt_part = next(s for s in order.sub_orders if s.vendor_id == stock["shirt"].vendor_id)

    allocation.restock_sub_order(shirt_part.id, user_id=owner.id)
    allocation.restock_sub_order(shirt_part.id, user_id=owner.id)
    db.session.commit()

    assert _levels(stock["shirt"]) == [("Berlin", 2, 0), ("Hamburg", 3, 0)]
    assert _levels(stock["mug"]) == [("Tokyo", 3, 0)]
    restocks = db.session.scalars(select(StockMovement).where(
        StockMovement.reason == MovementReason.ORDER_CANCELLED).order_by(StockMovement.id))
    assert [(m.location.name, m.delta, m.on_hand_after, m.user_id) for m in restocks] == [
        ("Berlin", 2, 2, owner.id), ("Hamburg", 1, 3, owner.id)]


def test_restock_of_an_unpaid_part_releases_it(stock):
    order = make_order(stock["buyer"], [(stock["mug"], 2)])
    _reserve(order)

    allocation.restock_sub_order(order.sub_orders[0].id)
    db.session.commit()

    assert _levels(stock["mug"]) == [("Tokyo", 4, 0)]
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 0
    assert {r.status for r in db.session.scalars(select(StockReservation))} == {
        ReservationStatus.RELEASED}


def test_restocking_several_parts_updates_each_level_once_in_level_id_order(stock):
    # The mug's part comes first (lower sub-order id) but its level has the highest id: the
    # levels are still locked in id order, the order checkouts lock them in (no deadlock).
    order = make_order(stock["buyer"], [(stock["mug"], 1), (stock["shirt"], 3)])
    _reserve(order)
    allocation.commit_order(order.id)
    db.session.commit()
    updated = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE STOCK_LEVELS"):
            updated.append(context.compiled_parameters[0]["id_1"])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        allocation.restock_sub_orders([part.id for part in order.sub_orders])
        allocation.restock_sub_orders([part.id for part in order.sub_orders])
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    level_ids = sorted(db.session.scalars(select(StockLevel.id)))
    assert updated == level_ids  # Berlin, Hamburg, Tokyo: once each, the second call none
    assert _levels(stock["shirt"]) == [("Berlin", 2, 0), ("Hamburg", 3, 0)]
    assert _levels(stock["mug"]) == [("Tokyo", 4, 0)]
