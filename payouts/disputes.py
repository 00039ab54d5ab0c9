"""Chargebacks: a buyer disputes the order's payment with their bank, and the ledger follows.

The provider reports a dispute with events whose object is a Stripe Dispute (``id``,
``amount``, ``currency``, ``charge``, ``payment_intent``, ``reason``, ``status``):

- ``charge.dispute.created``: the disputed amount leaves the platform's balance at once, for
  a chargeback. Stripe's *inquiries* (status ``warning_needs_response`` /
  ``warning_under_review``) take nothing, so they are only logged; when an inquiry turns
  into a chargeback Stripe sends ``charge.dispute.funds_withdrawn``, handled like a creation.
- ``charge.dispute.closed``: ``won`` (the amount comes back) or ``lost`` (the buyer keeps
  it). ``warning_closed`` ends an inquiry and moves no money.

Each dispute is one :class:`~payouts.models.Dispute` row (unique per provider id), found by
the order whose ``payment_intent_id`` is the dispute's ``payment_intent``; a dispute of an
order this marketplace doesn't know is logged and ignored (a retry would not make it known).
Events arrive in any order and more than once: a ``closed`` arriving first records the
opening too, a ``created`` arriving after the close changes nothing, and every posting has
its own idempotency key.

The ledger, in the order's currency
-----------------------------------
- opened, key ``dispute-opened:<id>``: debit ``disputes``, credit ``provider_cash``.
- won, key ``dispute-won:<id>``: debit ``provider_cash``, credit ``disputes``.
- lost: the disputed amount is charged to the order's parts. It is split over the order's
  sub-orders in proportion to what is left of each (its capture, less what refunds and
  earlier disputes took back), by largest remainder; each sub-order's part is split the same
  way over what is left of its vendor share, commission and tax. Per sub-order one
  transaction, key ``dispute-lost:<id>:sub_order:<sub_order_id>`` (with ``sub_order_id``,
  ``vendor_id`` and ``dispute_id`` set, as ``payouts.clawback`` and the vendor's statement
  need): debit the vendor accounts :func:`payouts.clawback.take_back` names (pending before
  settlement, available after, netted when it goes below zero, and a transfer reversal when
  it was paid out already), debit ``commission_revenue``, debit ``tax_payable``; credit
  ``disputes``. A disputed amount larger than everything left of the order (the buyer was
  refunded *and* won the chargeback) is the platform's loss: key
  ``dispute-lost:<id>:platform`` debits ``commission_revenue`` for the excess.
  All of a dispute's postings commit together, with its status.

Everything flushes and nothing commits: the event job commits the dispute with its postings.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money, UnknownCurrency
from marketplace.payments import events
from payouts import clawback, ledger
from payouts.models import (
    VENDOR_KINDS,
    AccountKind,
    Dispute,
    DisputeStatus,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    TransactionKind,
)
from vendors.order_models import Order, SubOrder

log = logging.getLogger(__name__)

CREATED = "charge.dispute.created"
FUNDS_WITHDRAWN = "charge.dispute.funds_withdrawn"
CLOSED = "charge.dispute.closed"
#: Stripe's statuses of an inquiry: nothing has left the platform's balance.
INQUIRY_STATUSES = frozenset({"warning_needs_response", "warning_under_review",
                              "warning_closed"})


class DisputeError(ValueError):
    """A dispute the books can't take: an amount below one minor unit, an unknown currency,
    or a currency other than its order's."""


class DisputeClosed(DisputeError):
    """The dispute was closed already with the other outcome (a closed dispute is final)."""


def opened_key(dispute_id: int) -> str:
    return f"dispute-opened:{dispute_id}"


def won_key(dispute_id: int) -> str:
    return f"dispute-won:{dispute_id}"


def lost_key(dispute_id: int, sub_order_id: int | None) -> str:
    suffix = "platform" if sub_order_id is None else f"sub_order:{sub_order_id}"
    return f"dispute-lost:{dispute_id}:{suffix}"


# --- the service ------------------------------------------------------------------------------


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def open_dispute(*, provider_dispute_id: str, order_id: int, amount_minor: int,
                 currency: str, reason: str = "") -> Dispute:
    """Record a chargeback on an order and post its opening: the disputed amount left the
    platform's cash for the ``disputes`` account. Returns the dispute row, locked until the
    caller's transaction ends.

    Idempotent per ``provider_dispute_id``: a known dispute is returned as it stands (its
    first amount and status stay; a closed one is not reopened), concurrent callers insert
    one row. Raises DisputeError for an amount below one minor unit, an unknown currency or
    one other than the order's. Flushes.
    """
    order_currency = db.session.scalar(sa.select(Order.currency).where(Order.id == order_id))
    if order_currency is None:
        raise DisputeError(f"order {order_id} does not exist")
    try:
        money = Money(amount_minor, currency)
    except (TypeError, UnknownCurrency):
        raise DisputeError(f"{amount_minor!r} {currency!r} is not an amount") from None
    if money.amount_minor < 1:
        raise DisputeError("a dispute takes at least one minor unit")
    if money.currency != order_currency:
        raise DisputeError(f"a dispute in {money.currency} on an order in {order_currency}")
    db.session.execute(
        _insert(Dispute).values(
            provider_dispute_id=provider_dispute_id, order_id=order_id,
            currency=money.currency, amount_minor=money.amount_minor, reason=reason[:64],
            status=DisputeStatus.OPEN, created_at=utcnow(), updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["provider_dispute_id"]))
    dispute = _locked(provider_dispute_id)
    if dispute.order_id != order_id:
        raise DisputeError(f"dispute {provider_dispute_id} belongs to another order")
    _post_opened(dispute)
    return dispute


def close_dispute(dispute_id: int, *, won: bool) -> Dispute:
    """Close an open dispute as won (the amount comes back to the platform's cash) or lost
    (the buyer keeps it; the order's vendor shares, commission and tax are reversed). A
    dispute closed already with the same outcome is returned unchanged.

    Raises DisputeClosed when it was closed with the other outcome, LookupError for an
    unknown id. Flushes.
    """
    dispute = db.session.scalars(sa.select(Dispute).where(Dispute.id == dispute_id)
                                 .with_for_update()
                                 .execution_options(populate_existing=True)).one_or_none()
    if dispute is None:
        raise LookupError(f"no dispute {dispute_id}")
    outcome = DisputeStatus.WON if won else DisputeStatus.LOST
    if dispute.status == outcome:
        return dispute
    if dispute.status != DisputeStatus.OPEN:
        raise DisputeClosed(f"dispute {dispute.id} was {dispute.status.value} already")
    _post_opened(dispute)  # a no-op unless something skipped it
    if won:
        _post_won(dispute)
    else:
        _post_lost(dispute)
    dispute.status = outcome
    dispute.closed_at = utcnow()
    db.session.flush()
    return dispute


def _locked(provider_dispute_id: str) -> Dispute:
    return db.session.scalars(
        sa.select(Dispute).where(Dispute.provider_dispute_id == provider_dispute_id)
        .with_for_update().execution_options(populate_existing=True)).one()


def _post_opened(dispute: Dispute) -> LedgerTransaction:
    disputes = ledger.account(AccountKind.DISPUTES, dispute.currency)
    cash = ledger.account(AccountKind.PROVIDER_CASH, dispute.currency)
    return ledger.post(
        TransactionKind.DISPUTE_OPENED, opened_key(dispute.id),
        [(disputes.id, cash.id, dispute.amount_minor, dispute.currency)],
        order_id=dispute.order_id, dispute_id=dispute.id,
        memo=f"Dispute {dispute.provider_dispute_id} opened ({dispute.reason or 'no reason'})")


def _post_won(dispute: Dispute) -> LedgerTransaction:
    disputes = ledger.account(AccountKind.DISPUTES, dispute.currency)
    cash = ledger.account(AccountKind.PROVIDER_CASH, dispute.currency)
    return ledger.post(
        TransactionKind.DISPUTE_WON, won_key(dispute.id),
        [(cash.id, disputes.id, dispute.amount_minor, dispute.currency)],
        order_id=dispute.order_id, dispute_id=dispute.id,
        memo=f"Dispute {dispute.provider_dispute_id} won")


@dataclass(frozen=True)
class Remaining:
    """What is left of one sub-order's charge: its capture less refunds and disputes."""

    sub_order_id: int
    vendor_id: int
    vendor_share: int
    commission: int
    tax: int

    @property
    def total(self) -> int:
        return self.vendor_share + self.commission + self.tax


def remaining_parts(order_id: int, currency: str) -> list[Remaining]:
    """Per captured sub-order of the order in ``currency``: what its transactions (capture,
    refunds, disputes, adjustments naming it) left on the vendor's accounts, commission
    revenue and tax payable. Never below zero. Ordered by sub-order id."""
    account = aliased(LedgerAccount)
    signed = sa.case((LedgerPosting.credit_account_id == account.id,
                      LedgerPosting.amount_minor), else_=-LedgerPosting.amount_minor)
    kinds = [AccountKind.COMMISSION_REVENUE, AccountKind.TAX_PAYABLE, *VENDOR_KINDS]
    rows = db.session.execute(
        sa.select(SubOrder.id, SubOrder.vendor_id, account.kind, sa.func.sum(signed))
        .join(LedgerTransaction, LedgerTransaction.sub_order_id == SubOrder.id)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(account, sa.and_(account.id.in_([LedgerPosting.debit_account_id,
                                               LedgerPosting.credit_account_id]),
                               account.kind.in_(kinds)))
        .where(SubOrder.order_id == order_id, SubOrder.currency == currency,
               LedgerPosting.currency == currency)
        .group_by(SubOrder.id, SubOrder.vendor_id, account.kind)
        .order_by(SubOrder.id)).all()
    parts: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sub_order_id, vendor_id, kind, amount in rows:
        group = "vendor" if AccountKind(kind) in VENDOR_KINDS else AccountKind(kind).value
        parts[(sub_order_id, vendor_id)][group] += int(amount or 0)
    return [Remaining(sub_order_id, vendor_id, max(left["vendor"], 0),
                      max(left[AccountKind.COMMISSION_REVENUE.value], 0),
                      max(left[AccountKind.TAX_PAYABLE.value], 0))
            for (sub_order_id, vendor_id), left in sorted(parts.items())]


def _split(amount: int, weights: list[int], currency: str) -> list[int]:
    if amount == 0 or sum(weights) == 0:
        return [0] * len(weights)
    return [part.amount_minor for part in Money(amount, currency).allocate(weights)]


def _post_lost(dispute: Dispute) -> list[LedgerTransaction]:
    currency = dispute.currency
    # What is left of each part is read under the locks every clawback takes (the settlement
    # lock, shared, then the sub-orders' rows, in id order): a refund posting at this moment
    # is either seen here or waits, so no part is taken back twice.
    clawback.settlement_lock()
    db.session.execute(sa.select(SubOrder.id).where(SubOrder.order_id == dispute.order_id)
                       .order_by(SubOrder.id).with_for_update(key_share=True))
    left = [part for part in remaining_parts(dispute.order_id, currency) if part.total > 0]
    covered = min(dispute.amount_minor, sum(part.total for part in left))
    disputes = ledger.account(AccountKind.DISPUTES, currency)
    revenue = ledger.account(AccountKind.COMMISSION_REVENUE, currency)
    tax = ledger.account(AccountKind.TAX_PAYABLE, currency)
    posted = []
    for part, amount in zip(left, _split(covered, [p.total for p in left], currency),
                            strict=True):
        if amount == 0:
            continue
        share, fee, duty = _split(amount, [part.vendor_share, part.commission, part.tax],
                                  currency)
        taken = clawback.take_back(vendor_id=part.vendor_id, currency=currency,
                                   amount_minor=share, sub_order_id=part.sub_order_id)
        legs = [(account_id, disputes.id, value, currency) for account_id, value in taken]
        legs += [(account_id, disputes.id, value, currency)
                 for account_id, value in ((revenue.id, fee), (tax.id, duty)) if value > 0]
        posted.append(ledger.post(
            TransactionKind.DISPUTE_LOST, lost_key(dispute.id, part.sub_order_id), legs,
            order_id=dispute.order_id, sub_order_id=part.sub_order_id,
            vendor_id=part.vendor_id, dispute_id=dispute.id,
            memo=f"Dispute {dispute.provider_dispute_id} lost: sub-order {part.sub_order_id}"))
        available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency,
                                   vendor_id=part.vendor_id)
        from_available = sum(value for account_id, value in taken if account_id == available.id)
        clawback.reverse_paid_out(vendor_id=part.vendor_id, currency=currency,
                                  sub_order_id=part.sub_order_id,
                                  taken_from_available=from_available, dispute_id=dispute.id)
    excess = dispute.amount_minor - covered
    if excess > 0:
        log.warning("dispute %s lost for more than is left of order %s: the platform bears %s",
                    dispute.provider_dispute_id, dispute.order_id, excess)
        posted.append(ledger.post(
            TransactionKind.DISPUTE_LOST, lost_key(dispute.id, None),
            [(revenue.id, disputes.id, excess, currency)],
            order_id=dispute.order_id, dispute_id=dispute.id,
            memo=f"Dispute {dispute.provider_dispute_id} lost beyond what was left of the "
                 f"order: borne by the platform"))
    return posted


def admin_disputes_select(status: DisputeStatus | None) -> sa.Select:
    """Rows of (dispute, order number), newest first."""
    stmt = (sa.select(Dispute, Order.number).join(Order, Order.id == Dispute.order_id)
            .order_by(Dispute.id.desc()))
    if status is not None:
        stmt = stmt.where(Dispute.status == status)
    return stmt


def dispute_counts() -> dict[DisputeStatus, int]:
    counts = dict(db.session.execute(
        sa.select(Dispute.status, sa.func.count(Dispute.id)).group_by(Dispute.status)).all())
    return {status: counts.get(status, 0) for status in DisputeStatus}


# --- the provider's events ----------------------------------------------------------------


class DisputeObjectSchema(Schema):
    """The parts of Stripe's Dispute object the books need."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    payment_intent = fields.String(load_default=None, allow_none=True)
    charge = fields.String(load_default=None, allow_none=True)
    reason = fields.String(load_default="", allow_none=True)
    status = fields.String(required=True)


_dispute_schema = DisputeObjectSchema()


def _load(obj: dict[str, Any], event: Any) -> dict[str, Any] | None:
    """The dispute object validated, or None (logged) when it is not one the books can take:
    retrying such an event would fail the same way forever."""
    event_id = getattr(event, "event_id", None)
    try:
        data = _dispute_schema.load(obj if isinstance(obj, dict) else {})
    except ValidationError as error:
        log.warning("dispute event %s ignored: %s", event_id, error.normalized_messages())
        return None
    data["reason"] = data["reason"] or ""
    return data


def _order_of(data: dict[str, Any], event: Any) -> int | None:
    order_id = None
    if data["payment_intent"]:
        order_id = db.session.scalar(
            sa.select(Order.id).where(Order.payment_intent_id == data["payment_intent"]))
    if order_id is None:
        log.warning("dispute %s (event %s) is on a payment of no known order (%s); ignored",
                    data["id"], getattr(event, "event_id", None),
                    data["payment_intent"] or data["charge"])
    return order_id


def _open(data: dict[str, Any], event: Any) -> Dispute | None:
    order_id = _order_of(data, event)
    if order_id is None:
        return None
    try:
        return open_dispute(provider_dispute_id=data["id"], order_id=order_id,
                            amount_minor=data["amount"], currency=data["currency"],
                            reason=data["reason"])
    except DisputeError as error:
        log.error("dispute %s (event %s) ignored: %s", data["id"],
                  getattr(event, "event_id", None), error)
        return None


def on_dispute_opened(obj: dict[str, Any], event: Any = None) -> None:
    """``charge.dispute.created`` / ``charge.dispute.funds_withdrawn``."""
    data = _load(obj, event)
    if data is None:
        return
    if data["status"] in INQUIRY_STATUSES:
        log.info("dispute %s is an inquiry (%s): no money moved yet", data["id"],
                 data["status"])
        return
    _open(data, event)


def on_dispute_closed(obj: dict[str, Any], event: Any = None) -> None:
    """``charge.dispute.closed``: won or lost (an inquiry's ``warning_closed`` moves
    nothing)."""
    data = _load(obj, event)
    if data is None:
        return
    if data["status"] not in (DisputeStatus.WON.value, DisputeStatus.LOST.value):
        log.info("dispute %s closed as %s: no money moves", data["id"], data["status"])
        return
    dispute = _open(data, event)
    if dispute is None:
        return
    try:
        close_dispute(dispute.id, won=data["status"] == DisputeStatus.WON.value)
    except DisputeClosed as error:
        log.error("dispute %s (event %s) ignored: %s", data["id"],
                  getattr(event, "event_id", None), error)


def register_handlers() -> None:
    events.register(CREATED, on_dispute_opened)
    events.register(FUNDS_WITHDRAWN, on_dispute_opened)
    events.register(CLOSED, on_dispute_closed)
