"""Stock allocation for orders: reserve, commit, release and restock.

A checkout reserves every line of an order all-or-nothing, across vendors and each vendor's
locations (lowest ``priority`` first). Reserving moves ``stock_levels.reserved`` up and
writes a :class:`~vendors.order_models.StockReservation` per level used; payment commits
them (the units leave: ``on_hand`` and ``reserved`` both go down, a ``sale`` movement is
recorded); a failed or expired payment, or a part cancelled before payment, releases them
(``reserved`` goes down); a paid part cancelled before it ships is restocked (``on_hand``
goes back up, an ``order_cancelled`` movement is recorded).

Invariants
----------
- ``stock_levels.reserved`` equals the sum of the ACTIVE reservations of that level: every
  status change of a reservation moves the counter in the same transaction.
- Nothing is ever oversold: a level's counter moves only through a conditional UPDATE
  (``... WHERE on_hand - reserved >= q``), and the stock levels of an order are locked in
  id order first (``SELECT ... ORDER BY id FOR UPDATE`` on PostgreSQL; SQLite holds the
  database's write lock already), so concurrent checkouts queue on the rows they share and
  never deadlock, and the plan computed under the locks is the one applied. Settling does
  the same: one UPDATE per level in id order, however many parts or reservations are
  settled at once. Callers take their locks in one order everywhere: the order row, then its
  sub-order rows (by id), then the stock levels (by id, here).
- Each function is idempotent: it claims the reservation rows it settles with a conditional
  UPDATE on their status, so a second call (a duplicate event, two workers at once) finds
  nothing left to do and changes nothing.

Every change of what is available asks for the products to be reindexed after commit, since
the storefront's "in stock" and the product page's stock come from these numbers.

Functions flush and never commit; the caller commits (or rolls back after an exception).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from vendors.errors import InsufficientStock
from vendors.models import (
    MovementReason,
    Product,
    StockLevel,
    StockLocation,
    StockMovement,
    Variant,
)
from vendors.order_models import OrderLine, ReservationStatus, StockReservation

REINDEX_PRODUCTS = "vendors.search.reindex_products"

__all__ = [
    "LineDemand", "OutOfStock", "commit_order", "release_order", "release_orders",
    "release_sub_order",
    "reserve_order", "restock_order", "restock_sub_order", "restock_sub_orders",
]


class OutOfStock(InsufficientStock):
    """Fewer units are available than an order line asks for.

    ``variant_id`` names the line's variant; ``available`` is how many could be had when the
    checkout looked (0: sold out).
    """

    def __init__(self, message: str, *, variant_id: int, requested: int, available: int):
        super().__init__(message, field="quantity")
        self.variant_id = variant_id
        self.requested = requested
        self.available = available


@dataclass(frozen=True)
class LineDemand:
    """Units one order line needs: ``quantity`` of ``variant_id`` sold by ``vendor_id``."""

    order_line_id: int
    vendor_id: int
    variant_id: int
    quantity: int


# --- Reserving -----------------------------------------------------------------------------


def reserve_order(order_id: int, demands: Sequence[LineDemand],
                  expires_at: dt.datetime) -> list[StockReservation]:
    """Hold stock for every line of an order until ``expires_at``, all or nothing.

    Each line takes units from its vendor's locations in priority order (then location id),
    splitting over several locations when one doesn't have enough. Raises OutOfStock for the
    first line (in variant id order) that can't be covered; nothing has been written to the
    stock levels then, and the caller rolls back its transaction.
    """
    needed: dict[int, int] = defaultdict(int)
    vendor_of: dict[int, int] = {}
    for demand in demands:
        if demand.quantity <= 0:
            raise ValueError(f"order line {demand.order_line_id} asks for {demand.quantity}")
        needed[demand.variant_id] += demand.quantity
        vendor_of[demand.variant_id] = demand.vendor_id
    if not needed:
        return []

    levels = _lock_levels(sorted(needed))
    by_variant: dict[int, list] = defaultdict(list)
    for level in levels:
        if level.vendor_id == vendor_of[level.variant_id]:
            by_variant[level.variant_id].append(level)
    for variant_levels in by_variant.values():
        variant_levels.sort(key=lambda lv: (lv.priority, lv.location_id, lv.id))

    # Plan every line from the locked figures before touching anything.
    plans: dict[int, list[tuple[int, int]]] = {}  # order_line_id -> [(level_id, qty)]
    taken: dict[int, int] = defaultdict(int)  # level_id -> qty planned so far
    for demand in sorted(demands, key=lambda d: (d.variant_id, d.order_line_id)):
        remaining = demand.quantity
        plan: list[tuple[int, int]] = []
        for level in by_variant[demand.variant_id]:
            free = level.on_hand - level.reserved - taken[level.id]
            if free <= 0:
                continue
            qty = min(free, remaining)
            plan.append((level.id, qty))
            taken[level.id] += qty
            remaining -= qty
            if remaining == 0:
                break
        if remaining:
            available = sum(max(lv.on_hand - lv.reserved, 0)
                            for lv in by_variant[demand.variant_id])
            raise _out_of_stock(demand.variant_id, needed[demand.variant_id], available)
        plans[demand.order_line_id] = plan

    now = utcnow()
    for level_id in sorted(taken):
        applied = db.session.scalar(
            update(StockLevel)
            .where(StockLevel.id == level_id,
                   StockLevel.on_hand - StockLevel.reserved >= taken[level_id])
            .values(reserved=StockLevel.reserved + taken[level_id], updated_at=now)
            .returning(StockLevel.id)
            .execution_options(synchronize_session=False)
        )
        if applied is None:  # only possible if a lock was not held: refuse, never oversell
            variant_id = next(lv.variant_id for lv in levels if lv.id == level_id)
            raise _out_of_stock(variant_id, needed[variant_id], 0)

    reservations = [
        StockReservation(vendor_id=demand.vendor_id, order_id=order_id,
                         order_line_id=demand.order_line_id, stock_level_id=level_id,
                         quantity=qty, status=ReservationStatus.ACTIVE,
                         expires_at=expires_at, created_at=now)
        for demand in demands
        for level_id, qty in plans[demand.order_line_id]
    ]
    db.session.add_all(reservations)
    _expire_levels(taken)
    db.session.flush()
    _queue_reindex(needed)
    return reservations


def _lock_levels(variant_ids: list[int]) -> list:
    """The variants' stock levels with their location's priority, locked in id order."""
    stmt = (
        select(StockLevel.id, StockLevel.vendor_id, StockLevel.variant_id,
               StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved,
               StockLocation.priority)
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .where(StockLevel.variant_id.in_(variant_ids))
        .order_by(StockLevel.id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=StockLevel)
    return list(db.session.execute(stmt).all())


def _out_of_stock(variant_id: int, requested: int, available: int) -> OutOfStock:
    title, sku, attributes = db.session.execute(
        select(Product.title, Variant.sku, Variant.attributes)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id == variant_id)
    ).one()
    name = title
    if attributes:
        name = f"{title} ({', '.join(str(v) for v in attributes.values())})"
    if available <= 0:
        message = _("“%(name)s” is sold out.", name=name)
    else:
        message = _("Only %(available)d of “%(name)s” left; you asked for %(requested)d.",
                    available=available, name=name, requested=requested)
    return OutOfStock(message, variant_id=variant_id, requested=requested,
                      available=max(available, 0))


# --- Settling ------------------------------------------------------------------------------


def commit_order(order_id: int, *, user_id: int | None = None) -> int:
    """The order was paid: its active reservations' units leave the shelf.

    For each, ``on_hand`` and ``reserved`` go down by its quantity and a ``sale`` movement is
    recorded. Returns how many reservations were committed (0 when already done).
    """
    claimed = _claim(StockReservation.order_id == order_id, ReservationStatus.ACTIVE,
                     ReservationStatus.COMMITTED)
    _apply(claimed, on_hand=-1, reserved=-1, reason=MovementReason.SALE, user_id=user_id)
    return len(claimed)


def release_order(order_id: int) -> int:
    """Give back every active reservation of the order (payment failed or expired).

    Returns how many reservations were released (0 when already done).
    """
    claimed = _claim(StockReservation.order_id == order_id, ReservationStatus.ACTIVE,
                     ReservationStatus.RELEASED)
    _apply(claimed, on_hand=0, reserved=-1)
    return len(claimed)


def release_orders(order_ids: Sequence[int]) -> int:
    """:func:`release_order` for many orders in one claim (the expiry sweep)."""
    if not order_ids:
        return 0
    claimed = _claim(StockReservation.order_id.in_(list(order_ids)), ReservationStatus.ACTIVE,
                     ReservationStatus.RELEASED)
    _apply(claimed, on_hand=0, reserved=-1)
    return len(claimed)


def release_sub_order(sub_order_id: int) -> None:
    """Give back the active reservations of one vendor's part (cancelled before payment)."""
    claimed = _claim(_of_sub_order(sub_order_id), ReservationStatus.ACTIVE,
                     ReservationStatus.RELEASED)
    _apply(claimed, on_hand=0, reserved=-1)


def restock_sub_order(sub_order_id: int, *, user_id: int | None = None) -> None:
    """Put one vendor's paid but unshipped units back on the shelf (cancelled or rejected).

    Committed reservations go back to the level they came from (``on_hand`` up, an
    ``order_cancelled`` movement by ``user_id``); reservations still active (the payment had
    not completed) are released. Calling it again changes nothing.
    """
    restock_sub_orders([sub_order_id], user_id=user_id)


def restock_sub_orders(sub_order_ids: Sequence[int], *, user_id: int | None = None) -> None:
    """:func:`restock_sub_order` for several parts at once: one claim per reservation status
    and one pass over their stock levels in id order, the order every other path locks
    levels in (restocking part by part would lock them in part order and could deadlock
    with a checkout holding them)."""
    if sub_order_ids:
        _restock(_of_sub_orders(list(sub_order_ids)), user_id)


def restock_order(order_id: int, *, user_id: int | None = None) -> None:
    """:func:`restock_sub_order` for every part of the order."""
    _restock(StockReservation.order_id == order_id, user_id)


def _restock(scope, user_id: int | None) -> None:
    released = _claim(scope, ReservationStatus.ACTIVE, ReservationStatus.RELEASED)
    restocked = _claim(scope, ReservationStatus.COMMITTED, ReservationStatus.RESTOCKED)
    changes = [(level_id, 0, -qty) for level_id, qty in released]
    changes += [(level_id, qty, 0) for level_id, qty in restocked]
    _apply_changes(changes, reason=MovementReason.ORDER_CANCELLED, user_id=user_id)


def _of_sub_order(sub_order_id: int):
    return _of_sub_orders([sub_order_id])


def _of_sub_orders(sub_order_ids: list[int]):
    return StockReservation.order_line_id.in_(
        select(OrderLine.id).where(OrderLine.sub_order_id.in_(sub_order_ids)).scalar_subquery()
    )


def _claim(scope, old: ReservationStatus, new: ReservationStatus) -> list[tuple[int, int]]:
    """Move the reservations in ``scope`` from ``old`` to ``new``; return (level_id, qty) of
    each one this call moved. A concurrent caller waits on the rows and then finds none."""
    rows = db.session.execute(
        update(StockReservation)
        .where(scope, StockReservation.status == old)
        .values(status=new, settled_at=utcnow())
        .returning(StockReservation.stock_level_id, StockReservation.quantity)
        .execution_options(synchronize_session=False)
    ).all()
    return [(level_id, qty) for level_id, qty in rows]


def _apply(claimed: Iterable[tuple[int, int]], *, on_hand: int, reserved: int,
           reason: MovementReason | None = None, user_id: int | None = None) -> None:
    """Move the claimed levels' counters by ``sign * qty`` (see :func:`_apply_changes`)."""
    _apply_changes([(level_id, on_hand * qty, reserved * qty) for level_id, qty in claimed],
                   reason=reason, user_id=user_id)


def _apply_changes(changes: Iterable[tuple[int, int, int]], *,
                   reason: MovementReason | None = None, user_id: int | None = None) -> None:
    """Add each ``(level_id, on_hand_delta, reserved_delta)`` to its level, one UPDATE per
    level in id order (the order every path locks levels in: no deadlock), and record a
    movement with ``reason`` where on_hand changes."""
    per_level: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for level_id, on_hand, reserved in changes:
        per_level[level_id][0] += on_hand
        per_level[level_id][1] += reserved
    if not per_level:
        return
    now = utcnow()
    variants: set[int] = set()
    for level_id in sorted(per_level):
        on_hand, reserved = per_level[level_id]
        row = db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == level_id)
            .values(on_hand=StockLevel.on_hand + on_hand,
                    reserved=StockLevel.reserved + reserved, updated_at=now)
            .returning(StockLevel.on_hand, StockLevel.vendor_id, StockLevel.variant_id,
                       StockLevel.location_id)
            .execution_options(synchronize_session=False)
        ).one()
        variants.add(row.variant_id)
        if on_hand and reason is not None:
            db.session.add(StockMovement(
                vendor_id=row.vendor_id, variant_id=row.variant_id,
                location_id=row.location_id, delta=on_hand, on_hand_after=row.on_hand,
                reason=reason, user_id=user_id, created_at=now,
            ))
    _expire_levels(per_level)
    db.session.flush()
    _queue_reindex(variants)


def _expire_levels(level_ids: Iterable[int]) -> None:
    # The levels were changed in SQL: objects already loaded must not keep old figures.
    ids = set(level_ids)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, StockLevel) and obj.id in ids:
            db.session.expire(obj)


def _queue_reindex(variant_ids: Iterable[int]) -> None:
    product_ids = sorted(set(db.session.scalars(
        select(Variant.product_id).where(Variant.id.in_(list(variant_ids)))
    )))
    if product_ids:
        enqueue_after_commit("search", REINDEX_PRODUCTS, product_ids)
