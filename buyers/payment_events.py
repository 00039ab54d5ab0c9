"""What payment outcomes do to orders, and the sweep that expires unpaid ones.

Handlers are registered with ``marketplace.payments.events`` (:func:`register_handlers`,
called when the app is built) and run inside the event job's transaction: they lock the
order row first, then its sub-order rows, then (through ``vendors.allocation``) the stock
levels in id order — the one lock order of every path that changes an order's stock, so
they queue instead of deadlocking — compare the event with the state they hold,
flush and never commit.

Every delivery order converges
------------------------------
- ``payment_intent.succeeded``: an order awaiting payment commits its reservations and
  becomes paid with its parts; the confirmation email is queued. An order that had given
  its stock up (expired first) tries to reserve it again, all or nothing:
  if it can, it is paid as usual; if not, it is recorded as paid (the money moved) and
  cancelled at once with its parts, and a job refunds the whole payment — nothing is ever
  oversold to honour a late payment. A paid or cancelled order ignores it.
- ``payment_intent.payment_failed`` means one attempt failed (a declined card): the intent
  goes back to ``requires_payment_method`` and the buyer may try another card on it. An
  order awaiting payment stays so, keeps its stock held until ``expires_at`` and records
  the provider's message in ``last_payment_error`` for the pay page (cleared whenever the
  order leaves ``awaiting_payment``); nothing else changes, so it commutes with every other
  event. Any other order ignores it.
- ``payment_intent.canceled`` (the expiry sweep cancels the intent): an order still
  awaiting payment releases its stock, ends ``expired`` and its parts ``void``. (Orders
  placed before declines were retryable may still be ``payment_failed``; they end the
  same way.)
- ``charge.refunded`` in full, made outside the app (e.g. from the provider's dashboard): a
  paid order is cancelled and every part not yet shipped is cancelled and restocked; an order
  whose success event hasn't been seen yet is released and ends the same way (paid, then
  cancelled), so a late ``succeeded`` finds it cancelled and does nothing. Partial refunds
  don't change the order, and neither do the app's own refunds (payouts' refunds, which
  account for themselves and may add up to the whole charge: their sub-orders were already
  rejected or cancelled and restocked, or the buyer returned what was delivered). Payouts
  says how much it refunded through ``vendors.signals.order_refunds_accounted``.

Expiry
------
:func:`release_expired` gives back the stock of orders still unpaid after ``expires_at``
(``CHECKOUT_RESERVATION_MINUTES``), a batch at a time: the orders are claimed with
``FOR UPDATE SKIP LOCKED``, so several sweeps at once share the work and never release one
order twice, and their reservations are released with one set-based claim. Each expired
order's PaymentIntent is then cancelled at the provider by a job. RQ here has no scheduler,
so the sweep runs as ``flask marketplace release-expired --every 60`` (one process, or cron
without ``--every``), and a checkout that finds a variant short releases the expired orders
holding it first (:func:`release_expired_for_variants`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import click
from sqlalchemy import select

from marketplace.cli import marketplace_cli
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.payments import PaymentProviderError, events, provider
from vendors import allocation
from vendors.allocation import LineDemand, OutOfStock
from vendors.order_models import (
    Order,
    OrderLine,
    OrderStatus,
    ReservationStatus,
    StockReservation,
    SubOrder,
    SubOrderStatus,
)
from vendors.signals import order_refunds_accounted

log = logging.getLogger(__name__)

CONFIRMATION_EMAIL = "buyers.order_emails.send_order_confirmation"
EXPIRY_BATCH = 500
UNSHIPPED = (SubOrderStatus.PAID, SubOrderStatus.ACCEPTED, SubOrderStatus.READY_TO_SHIP)


def _order_id(value: Any) -> int | None:
    """The order id of an event's metadata: digits that fit the column, or None."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _lock_order(obj: dict[str, Any], intent_id: str | None) -> Order | None:
    """The order an event is about, locked; None when it isn't one of ours."""
    order_id = _order_id((obj.get("metadata") or {}).get("order_id"))
    query = select(Order)
    if intent_id:
        query = query.where(Order.payment_intent_id == intent_id)
    elif order_id is not None:
        query = query.where(Order.id == order_id)
    else:
        return None
    order = db.session.scalars(query.with_for_update(key_share=True)
                               .execution_options(populate_existing=True)).one_or_none()
    if order is None and intent_id and order_id is not None:
        # The event can arrive before the intent's id was stored on the order.
        order = db.session.scalars(
            select(Order).where(Order.id == order_id, Order.payment_intent_id.is_(None))
            .with_for_update(key_share=True).execution_options(populate_existing=True)
        ).one_or_none()
    if order is not None:
        _parts(order)  # lock order: the order, its parts, then (later) the stock levels
    return order


def _matches(order: Order, obj: dict[str, Any]) -> bool:
    amount, currency = obj.get("amount"), str(obj.get("currency") or "").upper()
    if amount != order.total_minor or currency != order.currency:
        log.error("Payment %s of %s %s does not match order %s (%s %s); left alone",
                  obj.get("id"), amount, currency, order.number, order.total_minor,
                  order.currency)
        return False
    return True


def _parts(order: Order) -> list[SubOrder]:
    """The order's parts, locked: a vendor accepting or rejecting one at the same moment
    (vendors.orders locks the part too) waits, so neither change overwrites the other."""
    return list(db.session.scalars(select(SubOrder).where(SubOrder.order_id == order.id)
                                   .order_by(SubOrder.id).with_for_update(key_share=True)
                                   .execution_options(populate_existing=True)))


def _mark_paid(order: Order) -> None:
    order.set_status(OrderStatus.PAID)
    order.paid_at = order.paid_at or utcnow()
    order.last_payment_error = None  # only an order awaiting payment shows a decline
    for part in _parts(order):
        if part.status in (SubOrderStatus.AWAITING_PAYMENT, SubOrderStatus.VOID):
            part.set_status(SubOrderStatus.PAID)


def _cancel_paid(order: Order) -> None:
    """A paid order called off: unshipped parts cancelled and their units restocked, all in
    one pass over the stock levels (in level id order, like every other path)."""
    order.set_status(OrderStatus.CANCELLED)
    cancelled = []
    for part in _parts(order):
        if part.status in UNSHIPPED:
            part.set_status(SubOrderStatus.CANCELLED)
            cancelled.append(part.id)
    allocation.restock_sub_orders(cancelled)


def _give_up(order: Order, status: OrderStatus) -> None:
    allocation.release_order(order.id)
    order.set_status(status)
    order.last_payment_error = None
    for part in _parts(order):
        if part.status == SubOrderStatus.AWAITING_PAYMENT:
            part.set_status(SubOrderStatus.VOID)


def _reserve_again(order: Order) -> bool:
    """Reserve a released order's lines again, all or nothing; False when stock is gone."""
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                               .order_by(OrderLine.id)).all()
    demands = [LineDemand(line.id, line.vendor_id, line.variant_id, line.quantity)
               for line in lines if line.variant_id is not None]
    if len(demands) != len(lines):
        return False  # a variant was deleted since: that part can't be delivered
    savepoint = db.session.begin_nested()
    try:
        allocation.reserve_order(order.id, demands, utcnow())
    except OutOfStock:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def on_payment_succeeded(obj: dict[str, Any], event: Any = None) -> None:
    order = _lock_order(obj, obj.get("id"))
    if order is None or not _matches(order, obj):
        return
    if order.payment_intent_id is None:
        order.payment_intent_id = obj.get("id")
    if order.status == OrderStatus.PAID:
        return
    if order.status == OrderStatus.CANCELLED:
        if order.paid_at is None:  # called off before the money came: give it back
            order.paid_at = utcnow()
            enqueue_after_commit("default", refund_unfulfillable, order.id)
        return
    if order.status == OrderStatus.AWAITING_PAYMENT or _reserve_again(order):
        allocation.commit_order(order.id)
        _mark_paid(order)
        enqueue_after_commit("email", CONFIRMATION_EMAIL, order.id)
        return
    # Paid after its stock went back on sale and was bought: never oversell, refund.
    log.warning("Order %s was paid after its reservation ended and stock is gone; "
                "cancelling and refunding", order.number)
    _mark_paid(order)
    _cancel_paid(order)
    enqueue_after_commit("default", refund_unfulfillable, order.id)


def on_payment_failed(obj: dict[str, Any], event: Any = None) -> None:
    """One attempt was declined: the order keeps waiting (and its stock held) for another
    card until it expires; the pay page shows why the last attempt failed."""
    order = _lock_order(obj, obj.get("id"))
    if order is not None and order.status == OrderStatus.AWAITING_PAYMENT:
        order.last_payment_error = _decline_message(obj)


def _decline_message(obj: dict[str, Any]) -> str:
    """The provider's message ("" when it gave none: the page says so in the buyer's
    language)."""
    error = obj.get("last_payment_error")
    message = error.get("message") if isinstance(error, dict) else None
    return message.strip()[:500] if isinstance(message, str) else ""


def on_payment_canceled(obj: dict[str, Any], event: Any = None) -> None:
    order = _lock_order(obj, obj.get("id"))
    if order is not None and order.status in (OrderStatus.AWAITING_PAYMENT,
                                              OrderStatus.PAYMENT_FAILED):
        _give_up(order, OrderStatus.EXPIRED)


def on_charge_refunded(obj: dict[str, Any], event: Any = None) -> None:
    intent_id = obj.get("payment_intent")
    order = _lock_order(obj, intent_id if isinstance(intent_id, str) else None)
    if order is None:
        return
    amount, refunded = obj.get("amount") or 0, obj.get("amount_refunded") or 0
    if not (obj.get("refunded") or (amount and refunded >= amount)):
        return  # a partial refund: whoever made it accounts for it
    if order.status == OrderStatus.CANCELLED:
        return
    if refunded <= _refunds_accounted(order.id):
        return  # the app's own refunds, adding up to the whole: nothing more to call off
    if order.status != OrderStatus.PAID:
        # Refunded before the success was seen: it was paid, and is now called off (the
        # restock below releases what is still held).
        _mark_paid(order)
    _cancel_paid(order)


def _refunds_accounted(order_id: int) -> int:
    """How much of the order's payment the app's own refunds gave back (payouts answers)."""
    return sum(int(amount or 0) for _receiver, amount
               in order_refunds_accounted.send(None, order_id=order_id))


def register_handlers() -> None:
    events.register("payment_intent.succeeded", on_payment_succeeded)
    events.register("payment_intent.payment_failed", on_payment_failed)
    events.register("payment_intent.canceled", on_payment_canceled)
    events.register("charge.refunded", on_charge_refunded)


# --- Jobs ----------------------------------------------------------------------------------


def refund_unfulfillable(order_id: int) -> None:
    """Job: give the whole payment of a cancelled, paid order back (idempotent per order)."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != OrderStatus.CANCELLED or not order.payment_intent_id:
        return
    try:
        provider().create_refund(
            payment_intent_id=order.payment_intent_id, amount_minor=order.total_minor,
            idempotency_key=f"order-{order.id}-refund-unfulfillable",
            metadata={"order_id": str(order.id), "reason": "stock_unavailable"},
        )
    except PaymentProviderError as error:
        db.session.rollback()
        log.error("Refunding order %s failed: %s", order.number, error.message)
        if error.retryable:
            raise
        return
    db.session.commit()


def cancel_payment(order_id: int) -> None:
    """Job: cancel an expired order's PaymentIntent at the provider, if it is still open.

    A payment that succeeded meanwhile is left alone: its event re-reserves or refunds.
    """
    order = db.session.get(Order, order_id)
    if order is None or not order.payment_intent_id or order.status == OrderStatus.PAID:
        return
    gateway = provider()
    try:
        intent = gateway.retrieve_payment_intent(order.payment_intent_id)
        if intent.status in ("requires_payment_method", "requires_action",
                             "requires_confirmation"):
            gateway.cancel_payment_intent(order.payment_intent_id)
    except PaymentProviderError as error:
        db.session.rollback()
        if error.retryable:
            raise
        log.info("PaymentIntent of order %s not cancelled: %s", order.number, error.message)
        return
    db.session.commit()


def release_expired(now: dt.datetime | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Expire up to ``limit`` orders unpaid past ``expires_at``; commits; returns how many.

    Their reservations are released in one set-based claim and their intents cancelled by
    jobs after commit. Safe to run from several processes at once (SKIP LOCKED).
    """
    now = now or utcnow()
    query = (select(Order)
             .where(Order.status == OrderStatus.AWAITING_PAYMENT, Order.expires_at < now)
             .order_by(Order.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, key_share=True)
    orders = list(db.session.scalars(query.execution_options(populate_existing=True)))
    if not orders:
        db.session.rollback()
        return 0
    parts = list(db.session.scalars(
        select(SubOrder).where(SubOrder.order_id.in_([order.id for order in orders]),
                               SubOrder.status == SubOrderStatus.AWAITING_PAYMENT)
        .order_by(SubOrder.id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)))
    allocation.release_orders([order.id for order in orders])
    for part in parts:
        part.set_status(SubOrderStatus.VOID)
    for order in orders:
        order.set_status(OrderStatus.EXPIRED)
        order.last_payment_error = None
        if order.payment_intent_id:
            enqueue_after_commit("default", cancel_payment, order.id)
    db.session.commit()
    return len(orders)


def release_expired_for_variants(variant_ids: list[int]) -> int:
    """Expire the overdue orders holding stock of these variants (a checkout found one short).
    Commits; returns how many orders expired."""
    now = utcnow()
    held = (select(StockReservation.order_id)
            .join(OrderLine, OrderLine.id == StockReservation.order_line_id)
            .where(StockReservation.status == ReservationStatus.ACTIVE,
                   StockReservation.expires_at < now,
                   OrderLine.variant_id.in_(variant_ids)))
    if db.session.scalar(held.limit(1)) is None:
        return 0
    return release_expired(now)


@marketplace_cli.command("release-expired")
@click.option("--every", type=int, default=0,
              help="Keep running, sweeping every this many seconds (0: once and exit).")
def release_expired_command(every: int) -> None:
    """Give back the stock of orders left unpaid past their reservation."""
    while True:
        total = 0
        while (count := release_expired()) > 0:
            total += count
        if total or not every:
            click.echo(f"Expired {total} unpaid order(s).")
        if not every:
            return
        time.sleep(every)
