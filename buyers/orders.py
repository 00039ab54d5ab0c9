"""A buyer's own orders: the history, one order with each vendor's part, and cancelling a part
before it ships.

Orders are found by their number and the buyer together, so another buyer's order is simply
not there (a 404 for views and the API). Cancelling moves the vendor's part to ``cancelled``
through ``SubOrder.set_status`` and puts its units back on the shelf through
``vendors.allocation.restock_sub_order``; ``vendors.signals.sub_order_called_off`` tells
payouts, which refunds the part in full.

Functions flush and never commit.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from vendors import allocation
from vendors.models import InvalidTransition
from vendors.order_models import Order, OrderStatus, SubOrder, SubOrderStatus, is_order_number
from vendors.signals import sub_order_called_off

# A buyer may cancel a vendor's part in these states (before it ships).
CANCELLABLE = frozenset({SubOrderStatus.PAID, SubOrderStatus.ACCEPTED,
                         SubOrderStatus.READY_TO_SHIP})

ORDER_STATUS_LABELS = {
    OrderStatus.AWAITING_PAYMENT: _l("Awaiting payment"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.PAYMENT_FAILED: _l("Payment failed"),
    OrderStatus.EXPIRED: _l("Expired: not paid in time"),
    OrderStatus.CANCELLED: _l("Cancelled"),
}

# How each vendor's part reads to the buyer.
PART_STATUS_LABELS = {
    SubOrderStatus.AWAITING_PAYMENT: _l("Awaiting payment"),
    SubOrderStatus.PAID: _l("Paid: waiting for the seller"),
    SubOrderStatus.ACCEPTED: _l("Accepted: the seller is packing it"),
    SubOrderStatus.READY_TO_SHIP: _l("Ready to ship"),
    SubOrderStatus.REJECTED: _l("Rejected by the seller"),
    SubOrderStatus.CANCELLED: _l("Cancelled"),
    SubOrderStatus.VOID: _l("Not placed: the payment did not complete"),
}


class OrderError(Exception):
    """A buyer's order action that can't be done; ``message`` is safe to show."""

    status = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OrderNotFound(OrderError):
    status = 404


class CannotCancel(OrderError):
    """The part has moved past the point where the buyer may cancel it."""


def orders_select(buyer_id: int) -> Select[tuple[Order]]:
    """The buyer's orders, newest first, with each vendor's part."""
    return (select(Order).where(Order.buyer_id == buyer_id)
            .options(selectinload(Order.sub_orders).selectinload(SubOrder.vendor))
            .order_by(Order.id.desc()))


def buyer_order(buyer_id: int, number: str) -> Order | None:
    """The buyer's order with this number, its parts, their vendors and lines; else None."""
    if not is_order_number(number):
        return None
    return db.session.scalar(
        orders_select(buyer_id).where(Order.number == number)
        .options(selectinload(Order.sub_orders).selectinload(SubOrder.lines))
    )


def can_cancel(sub: SubOrder) -> bool:
    return sub.status in CANCELLABLE


def cancel_sub_order(buyer_id: int, number: str, sub_order_id: int) -> SubOrder:
    """Cancel one vendor's part of the buyer's order before it ships; its units go back on
    the shelf, and the part is refunded in full (payouts hears ``sub_order_called_off``). The
    order's own status stays where its payment stands.

    Raises OrderNotFound (not this buyer's order or part), CannotCancel (shipped, rejected,
    already cancelled, or not paid).
    """
    if not is_order_number(number):
        raise OrderNotFound(_("There is no such order."))
    sub = db.session.scalar(
        select(SubOrder).join(Order, Order.id == SubOrder.order_id)
        .where(Order.buyer_id == buyer_id, Order.number == number,
               SubOrder.id == sub_order_id)
        .with_for_update(of=SubOrder, key_share=True)
        .execution_options(populate_existing=True)
    )
    if sub is None:
        raise OrderNotFound(_("There is no such order."))
    if sub.status not in CANCELLABLE:
        raise CannotCancel(_("This part of the order can't be cancelled any more: %(status)s.",
                             status=PART_STATUS_LABELS[sub.status]))
    try:
        sub.set_status(SubOrderStatus.CANCELLED)
    except InvalidTransition:  # pragma: no cover - CANCELLABLE mirrors the transition table
        raise CannotCancel(_("This part of the order can't be cancelled any more.")) from None
    allocation.restock_sub_order(sub.id, user_id=buyer_id)
    db.session.flush()
    sub_order_called_off.send(None, sub_order_id=sub.id, initiated_by="buyer",
                              user_id=buyer_id, reason=_("Cancelled by the buyer"))
    return sub
