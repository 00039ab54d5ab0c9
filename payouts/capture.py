"""A captured payment, split into the ledger: one transaction per paid sub-order.

``payment_intent.succeeded`` is handled by ``buyers.payment_events`` first (it marks the order
paid, or cancels it when its stock is gone), then by :func:`on_payment_succeeded` here, in the
same event-job transaction. :func:`register_handlers` registers the buyers' handlers before
its own, so the order is always paid before we look at it, whichever blueprint is set up first.

The split of a sub-order's charge (its ``total_minor``, in the order's currency)::

    debit  provider_cash          total
    credit tax_payable            tax (items' and shipping's)
    credit commission_revenue     the lines' frozen commission
    credit vendor_pending         the rest = items net - commission + shipping net

The vendor's share is the remainder, so the parts sum to the charge exactly. A zero part is
left out (postings are positive). Key ``capture:sub_order:<id>``: a redelivered or retried
event posts nothing more.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from buyers import payment_events as order_events
from marketplace.extensions import db
from marketplace.payments import events
from payouts import commission, ledger
from payouts.models import AccountKind, LedgerTransaction, TransactionKind
from vendors.order_models import Order, OrderStatus, SubOrder


def capture_key(sub_order_id: int) -> str:
    return f"capture:sub_order:{sub_order_id}"


def post_capture(sub_order: SubOrder) -> LedgerTransaction:
    """Snapshot the commission of the sub-order's lines and post its charge split. Flushes;
    idempotent per sub-order."""
    existing = ledger.transaction_for(capture_key(sub_order.id))
    if existing is not None:
        return existing
    fee = commission.snapshot_sub_order(sub_order.id)
    currency = sub_order.currency
    tax = sub_order.tax_minor
    vendor_share = sub_order.total_minor - tax - fee
    cash = ledger.account(AccountKind.PROVIDER_CASH, currency)
    parts = [
        (ledger.account(AccountKind.TAX_PAYABLE, currency), tax),
        (ledger.account(AccountKind.COMMISSION_REVENUE, currency), fee),
        (ledger.account(AccountKind.VENDOR_PENDING, currency, vendor_id=sub_order.vendor_id),
         vendor_share),
    ]
    return ledger.post(
        TransactionKind.PAYMENT_CAPTURED, capture_key(sub_order.id),
        [(cash.id, account.id, amount, currency) for account, amount in parts if amount > 0],
        order_id=sub_order.order_id, sub_order_id=sub_order.id, vendor_id=sub_order.vendor_id,
        memo=f"Payment captured for sub-order {sub_order.id}")


def post_order_captures(order_id: int) -> list[LedgerTransaction]:
    """Post the capture of every part of a paid order (nothing for any other order)."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != OrderStatus.PAID:
        return []
    parts = db.session.scalars(sa.select(SubOrder).where(SubOrder.order_id == order_id)
                               .order_by(SubOrder.id)).all()
    return [post_capture(part) for part in parts if part.total_minor > 0]


def on_payment_succeeded(obj: dict[str, Any], event: Any = None) -> None:
    intent_id = obj.get("id")
    if not isinstance(intent_id, str):
        return
    order_id = db.session.scalar(sa.select(Order.id).where(Order.payment_intent_id == intent_id))
    if order_id is not None:
        post_order_captures(order_id)


def register_handlers() -> None:
    order_events.register_handlers()  # first: they mark the order paid (a no-op when done already)
    events.register("payment_intent.succeeded", on_payment_succeeded)
