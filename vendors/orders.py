"""A vendor's own part of each order (its sub-orders): the lists it works from and the moves
it makes: accept, reject with a reason (the units go back on the shelf), ready to ship, cancel
an accepted one with a reason (likewise). A rejected or cancelled paid order is refunded in
full: payouts hears ``vendors.signals.sub_order_called_off``.

Vendors see a sub-order once its order is paid; parts still awaiting payment, or void because
the payment failed, are not theirs to act on and stay out of every list. Statuses move only
through ``SubOrder.set_status`` (its transition table is the lifecycle); a move it refuses is
a :class:`~vendors.errors.Conflict` saying what the order's status is now.

Who may act (``vendors/access.py``): every member sees orders and may accept them or mark
them ready to ship (packing is everyday work); rejecting or cancelling gives up a sale, puts
stock back and refunds the buyer, so it takes an owner or a manager.

Functions flush and never commit.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors import allocation
from vendors.access import Actor, Permission
from vendors.errors import Conflict, InvalidInput, UnknownReference
from vendors.models import InvalidTransition
from vendors.order_models import SubOrder, SubOrderStatus
from vendors.signals import sub_order_called_off

MAX_REASON = 500
MIN_REASON = 3

# What vendors see, in the order of the portal's tabs.
VENDOR_STATUSES: tuple[SubOrderStatus, ...] = (
    SubOrderStatus.PAID, SubOrderStatus.ACCEPTED, SubOrderStatus.READY_TO_SHIP,
    SubOrderStatus.REJECTED, SubOrderStatus.CANCELLED,
)

STATUS_LABELS = {
    SubOrderStatus.AWAITING_PAYMENT: _l("Awaiting payment"),
    SubOrderStatus.PAID: _l("New: paid, to accept"),
    SubOrderStatus.ACCEPTED: _l("Accepted"),
    SubOrderStatus.READY_TO_SHIP: _l("Ready to ship"),
    SubOrderStatus.REJECTED: _l("Rejected"),
    SubOrderStatus.CANCELLED: _l("Cancelled"),
    SubOrderStatus.VOID: _l("Payment failed"),
}


def sub_orders_select(vendor_id: int, status: SubOrderStatus | None = None
                      ) -> Select[tuple[SubOrder]]:
    """The vendor's visible sub-orders (one status, or all of them), newest first."""
    stmt = vendor_select(SubOrder, vendor_id)
    if status is None:
        stmt = stmt.where(SubOrder.status.in_(VENDOR_STATUSES))
    else:
        stmt = stmt.where(SubOrder.status == status)
    return stmt.options(selectinload(SubOrder.order)).order_by(SubOrder.id.desc())


def status_counts(vendor_id: int) -> dict[SubOrderStatus, int]:
    """How many visible sub-orders the vendor has in each status (zeros included)."""
    rows = db.session.execute(
        vendor_select(SubOrder, vendor_id)
        .where(SubOrder.status.in_(VENDOR_STATUSES))
        .with_only_columns(SubOrder.status, func.count(SubOrder.id))
        .group_by(SubOrder.status)
    ).all()
    counts = dict.fromkeys(VENDOR_STATUSES, 0)
    counts.update({SubOrderStatus(status): count for status, count in rows})
    return counts


def visible_sub_order(vendor_id: int, sub_order_id: int) -> SubOrder | None:
    """The vendor's sub-order with its order and lines, or None (another vendor's, unpaid)."""
    return db.session.scalar(
        sub_orders_select(vendor_id).where(SubOrder.id == sub_order_id)
        .options(selectinload(SubOrder.lines))
    )


def _locked(actor: Actor, sub_order_id: int) -> SubOrder:
    # The row lock makes two members clicking at once queue up: the second sees the first's
    # status and gets a clear conflict instead of a second stock movement.
    sub = db.session.scalar(
        vendor_select(SubOrder, actor.vendor_id)
        .where(SubOrder.id == sub_order_id, SubOrder.status.in_(VENDOR_STATUSES))
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if sub is None:
        raise UnknownReference(_("There is no such order."), field="sub_order_id")
    return sub


def _move(sub: SubOrder, new: SubOrderStatus, refusal: str) -> None:
    try:
        sub.set_status(new)
    except InvalidTransition:
        raise Conflict(_("%(refusal)s This order is now: %(status)s.", refusal=refusal,
                         status=STATUS_LABELS[sub.status])) from None


def accept(actor: Actor, sub_order_id: int) -> SubOrder:
    """A paid sub-order is accepted: the vendor will ship it.

    Raises PermissionDenied, UnknownReference, Conflict (not paid, or already moved on).
    """
    actor.require(Permission.FULFIL_ORDERS)
    sub = _locked(actor, sub_order_id)
    _move(sub, SubOrderStatus.ACCEPTED, _("Only new, paid orders can be accepted."))
    db.session.flush()
    return sub


def mark_ready(actor: Actor, sub_order_id: int) -> SubOrder:
    """An accepted sub-order is packed and ready to hand to the carrier.

    Raises PermissionDenied, UnknownReference, Conflict (not accepted).
    """
    actor.require(Permission.FULFIL_ORDERS)
    sub = _locked(actor, sub_order_id)
    _move(sub, SubOrderStatus.READY_TO_SHIP,
          _("Only accepted orders can be marked ready to ship."))
    db.session.flush()
    return sub


def reject(actor: Actor, sub_order_id: int, reason: str) -> SubOrder:
    """A paid sub-order is refused, with the reason the buyer is shown; its units go back on
    the shelf (vendors.allocation.restock_sub_order) and ``sub_order_called_off`` is sent, on
    which payouts refunds the buyer the whole sub-order.

    Raises PermissionDenied, InvalidInput (``reason``), UnknownReference, Conflict (not a new
    paid order: accepted orders are cancelled, not rejected).
    """
    actor.require(Permission.REJECT_ORDERS)
    reason = _checked_reason(reason)
    sub = _locked(actor, sub_order_id)
    _move(sub, SubOrderStatus.REJECTED, _("Only new, paid orders can be rejected."))
    return _call_off(actor, sub, reason)


def cancel(actor: Actor, sub_order_id: int, reason: str) -> SubOrder:
    """An accepted sub-order (or one ready to ship) that can't be delivered after all is
    cancelled, with the reason the buyer is shown; its units go back on the shelf and
    ``sub_order_called_off`` is sent, on which payouts refunds the buyer the whole sub-order.

    Raises PermissionDenied, InvalidInput (``reason``), UnknownReference, Conflict (a new
    paid order is rejected, not cancelled; a rejected or cancelled one is done).
    """
    actor.require(Permission.REJECT_ORDERS)
    reason = _checked_reason(reason)
    sub = _locked(actor, sub_order_id)
    if sub.status not in (SubOrderStatus.ACCEPTED, SubOrderStatus.READY_TO_SHIP):
        raise Conflict(_("%(refusal)s This order is now: %(status)s.",
                         refusal=_("Only accepted orders can be cancelled; reject new ones."),
                         status=STATUS_LABELS[sub.status]))
    _move(sub, SubOrderStatus.CANCELLED, _("Only accepted orders can be cancelled."))
    return _call_off(actor, sub, reason)


def _checked_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise InvalidInput(_("Tell the buyer why, e.g. \"Sold out in the shop\"."),
                           field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_REASON),
                           field="reason")
    return reason


def _call_off(actor: Actor, sub: SubOrder, reason: str) -> SubOrder:
    """The units back on the shelf, the reason for the buyer, and payouts told (refund)."""
    sub.rejection_reason = reason
    allocation.restock_sub_order(sub.id, user_id=actor.user_id)
    db.session.flush()
    sub_order_called_off.send(None, sub_order_id=sub.id, initiated_by="vendor",
                              user_id=actor.user_id, reason=reason)
    return sub
