"""Refunds and returns: money back to the buyer, and the books and the vendor clawed back.

The life of a refund
--------------------
1. :func:`create_refund` (a buyer's request, a vendor's partial refund, an admin's) or
   :func:`refund_sub_order` (everything left of a sub-order: a rejection or a cancellation)
   locks the sub-order row, checks what is left to refund, and freezes the refund's parts:
   per line its share of the line's own net, tax and frozen commission, and the shipping's
   share of the shipping tax. The refund starts ``requested`` (it waits for the vendor or an
   admin: :func:`approve` / :func:`decline`) or ``approved``.
2. An approved refund's job :func:`process_refund` claims the row (``approved ->
   processing``, committed before anything is sent: a second worker finds nothing to claim),
   asks the provider for a refund of ``amount_minor`` under the key ``refund-<id>``, and in
   ONE commit marks it ``succeeded`` and posts the ledger's ``refund`` transaction (key
   ``refund:<id>``)::

       debit  tax_payable                     tax
       debit  commission_revenue              commission (at the rate frozen on the lines)
       debit  vendor_pending or _available    vendor share (payouts.clawback.take_back)
       credit provider_cash                   amount

   A share taken from a balance already paid out and too low to cover it is reversed from
   the vendor's transfer (``payouts.clawback.reverse_paid_out``), or nets against the
   vendor's future earnings.
3. A refusal (non-retryable provider error) fails the refund with the provider's reason and
   posts nothing. No answer (a timeout, a crash) leaves it in ``processing``;
   :func:`reconcile_stuck_refunds` (``flask marketplace refunds``) repeats the same call with
   the same idempotency key, which can't refund twice.

Rounding: parts are cumulative
------------------------------
A line's units may be refunded over several refunds. Each refund's share is computed for
*everything refunded so far including this one* and the earlier refunds' own figures are
subtracted, so the last refund of a line returns exactly what is left and a line refunded in
full returns exactly its net, tax and commission, whatever the split. The line's total, tax
and commission are each shared this way and the vendor's part is what remains, so the buyer
gets back exactly the unit price per unit wherever the line's total is a whole multiple of
it. (Only a line whose vendor part is below a couple of minor units per unit could see its
last refund's commission give way by a cent so the vendor's part stays >= 0.)

Refunds ``requested``, ``approved``, ``processing`` and ``succeeded`` count as taken;
``declined`` and ``failed`` ones give their units back.

Everything flushes and nothing commits, except the job and the reconciler.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.money import Money
from marketplace.payments import PaymentProviderError, provider
from marketplace.scoping import vendor_select
from payouts import clawback, ledger
from payouts.capture import capture_key
from payouts.models import (
    AccountKind,
    Refund,
    RefundInitiator,
    RefundLine,
    RefundStatus,
    TransactionKind,
)
from vendors.order_models import Order, OrderLine, SubOrder
from vendors.signals import order_refunds_accounted, sub_order_called_off

log = logging.getLogger(__name__)

QUEUE = "settlement"
MAX_REASON = 500

# Refunds that hold their units and shipping: everything but the declined and the failed.
TAKEN = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PROCESSING,
         RefundStatus.SUCCEEDED)


STATUS_LABELS = {
    RefundStatus.REQUESTED: _l("Requested"),
    RefundStatus.APPROVED: _l("Approved"),
    RefundStatus.PROCESSING: _l("Being refunded"),
    RefundStatus.SUCCEEDED: _l("Refunded"),
    RefundStatus.FAILED: _l("Failed"),
    RefundStatus.DECLINED: _l("Declined"),
}


class RefundError(Exception):
    """A refund that can't be made or moved; ``message`` is translated and safe to show."""

    status = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RefundNotFound(RefundError):
    status = 404


# --- what is left to refund -----------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    """What the refunds holding a line (or the shipping) already took."""

    quantity: int = 0
    net: int = 0
    tax: int = 0
    commission: int = 0


@dataclass(frozen=True)
class Refundable:
    """What is left to refund of one sub-order: units per line, and shipping as charged."""

    lines: dict[int, int]  # order line id -> units not yet refunded
    shipping_minor: int

    @property
    def anything(self) -> bool:
        return self.shipping_minor > 0 or any(self.lines.values())


def _taken_lines(sub_order_id: int) -> dict[int, Taken]:
    rows = db.session.execute(
        sa.select(RefundLine.order_line_id, sa.func.sum(RefundLine.quantity),
                  sa.func.sum(RefundLine.net_minor), sa.func.sum(RefundLine.tax_minor),
                  sa.func.sum(RefundLine.commission_minor))
        .join(Refund, Refund.id == RefundLine.refund_id)
        .where(Refund.sub_order_id == sub_order_id, Refund.status.in_(TAKEN))
        .group_by(RefundLine.order_line_id)).all()
    return {line_id: Taken(*(int(v) for v in values)) for line_id, *values in rows}


def _taken_shipping(sub_order_id: int) -> tuple[int, int]:
    """(shipping refunded, its tax) over the refunds holding the sub-order. A refund's
    shipping tax is its tax less its lines' tax."""
    lines_tax = (sa.select(sa.func.coalesce(sa.func.sum(RefundLine.tax_minor), 0))
                 .where(RefundLine.refund_id == Refund.id).scalar_subquery())
    shipping, tax = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.shipping_minor), 0),
                  sa.func.coalesce(sa.func.sum(Refund.tax_minor - lines_tax), 0))
        .where(Refund.sub_order_id == sub_order_id, Refund.status.in_(TAKEN))).one()
    return int(shipping), int(tax)


def _lines(sub_order_id: int) -> list[OrderLine]:
    return list(db.session.scalars(sa.select(OrderLine).where(
        OrderLine.sub_order_id == sub_order_id).order_by(OrderLine.id)))


def shipping_charged(sub: SubOrder, lines: list[OrderLine]) -> tuple[int, int]:
    """(shipping as the buyer paid it, tax included; its tax): the sub-order's total and tax
    less its lines'."""
    return (sub.total_minor - sum(line.total_minor for line in lines),
            sub.tax_minor - sum(line.tax_minor for line in lines))


def refundable(sub_order_id: int) -> Refundable:
    """What is left to refund of a sub-order (nothing for one that was never captured)."""
    sub = db.session.get(SubOrder, sub_order_id)
    if sub is None or ledger.transaction_for(capture_key(sub_order_id)) is None:
        return Refundable({}, 0)
    lines = _lines(sub_order_id)
    taken = _taken_lines(sub_order_id)
    shipping_total, _tax = shipping_charged(sub, lines)
    return Refundable(
        {line.id: line.quantity - taken.get(line.id, Taken()).quantity for line in lines},
        shipping_total - _taken_shipping(sub_order_id)[0])


# --- the parts --------------------------------------------------------------------------------


def _share(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` rounded half up, in integers (0 for an empty whole)."""
    if whole <= 0:
        return 0
    return (2 * total * part + whole) // (2 * whole)


def _cumulative(total: int, taken_amount: int, taken_part: int, part: int, whole: int) -> int:
    """This refund's share of ``total`` for ``part`` more units after ``taken_part`` units
    that took ``taken_amount``: the share of everything so far less what was taken, kept
    within what is left (never negative, exact on the last unit)."""
    left = total - taken_amount
    if taken_part + part >= whole:
        return left
    return max(0, min(left, _share(total, taken_part + part, whole) - taken_amount))


def line_parts(line: OrderLine, taken: Taken, quantity: int) -> tuple[int, int, int]:
    """(net, tax, commission) of ``quantity`` more units of ``line``, cumulatively.

    The refund's total (net + tax), its tax and its commission are each shares of the
    line's; the net is total − tax, and the commission never exceeds it (the vendor's part
    is never negative). So one unit of a line bought at €129.00 a unit gives back €129.00.
    """
    units = (taken.quantity, quantity, line.quantity)
    total = _cumulative(line.total_minor, taken.net + taken.tax, *units)
    tax = min(total, _cumulative(line.tax_minor, taken.tax, *units))
    commission = min(total - tax, _cumulative(line.commission_minor, taken.commission, *units))
    return total - tax, tax, commission


# --- creating ---------------------------------------------------------------------------------


def _locked_sub_order(sub_order_id: int) -> SubOrder:
    # Two refunds of one sub-order at once queue here: the second counts the first's units.
    sub = db.session.scalar(sa.select(SubOrder).where(SubOrder.id == sub_order_id)
                            .with_for_update(key_share=True)
                            .execution_options(populate_existing=True))
    if sub is None:
        raise RefundNotFound(_("There is no such order."))
    return sub


def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise RefundError(_("Use at most %(num)d characters for the reason.", num=MAX_REASON))
    return reason


def create_refund(sub_order_id: int, lines: Mapping[int, int], *, shipping_minor: int = 0,
                  initiated_by: RefundInitiator, user_id: int | None, reason: str,
                  approve: bool) -> Refund:
    """A refund of ``lines`` (``{order_line_id: units}``; zero units are ignored) and
    ``shipping_minor`` of the sub-order's shipping as charged (tax included), with its parts
    frozen. ``requested``, or ``approved`` with its job queued after commit when ``approve``.
    Flushes.

    Raises RefundNotFound (no such sub-order), RefundError when the payment of the sub-order
    was never captured, a line is not the sub-order's, a quantity is negative or more than
    the units not yet refunded, the shipping is more than is left, or there is nothing to
    refund.
    """
    sub = _locked_sub_order(sub_order_id)
    order = db.session.get(Order, sub.order_id)
    if (order is None or order.payment_intent_id is None
            or ledger.transaction_for(capture_key(sub.id)) is None):
        raise RefundError(_("This order has no captured payment to refund."))
    reason = _clean_reason(reason)
    own = {line.id: line for line in _lines(sub.id)}
    taken = _taken_lines(sub.id)
    wanted = {int(line_id): int(quantity) for line_id, quantity in lines.items()}
    for line_id, quantity in wanted.items():
        line = own.get(line_id)
        if line is None:
            raise RefundError(_("That item is not part of this order."))
        left = line.quantity - taken.get(line_id, Taken()).quantity
        if quantity < 0:
            raise RefundError(_("Quantities can't be negative."))
        if quantity > left:
            raise RefundError(_("Only %(num)d of “%(title)s” can still be refunded.",
                                num=left, title=line.title))
    shipping_total, shipping_tax_total = shipping_charged(sub, list(own.values()))
    shipped_back, shipping_tax_back = _taken_shipping(sub.id)
    if shipping_minor < 0:
        raise RefundError(_("The shipping refund can't be negative."))
    if shipping_minor > shipping_total - shipped_back:
        raise RefundError(_("At most %(amount)s of shipping can still be refunded.",
                            amount=_money(shipping_total - shipped_back, sub.currency)))

    refund = Refund(order_id=sub.order_id, sub_order_id=sub.id, vendor_id=sub.vendor_id,
                    currency=sub.currency, initiated_by=RefundInitiator(initiated_by),
                    requested_by_id=user_id, reason=reason, shipping_minor=shipping_minor,
                    status=RefundStatus.APPROVED if approve else RefundStatus.REQUESTED,
                    attempts=0)
    net_total = tax_total = commission_total = 0
    for line_id, quantity in sorted(wanted.items()):
        if quantity == 0:
            continue
        net, tax, commission = line_parts(own[line_id], taken.get(line_id, Taken()), quantity)
        refund.lines.append(RefundLine(order_line_id=line_id, quantity=quantity, net_minor=net,
                                       tax_minor=tax, commission_minor=commission))
        net_total, tax_total = net_total + net, tax_total + tax
        commission_total += commission
    shipping_tax = 0
    if shipping_minor:
        shipping_tax = min(shipping_minor, _cumulative(shipping_tax_total, shipping_tax_back,
                                                       shipped_back, shipping_minor,
                                                       shipping_total))
    refund.commission_minor = commission_total
    refund.tax_minor = tax_total + shipping_tax
    refund.vendor_share_minor = net_total - commission_total + shipping_minor - shipping_tax
    refund.amount_minor = (refund.vendor_share_minor + refund.commission_minor
                           + refund.tax_minor)
    if refund.amount_minor <= 0:
        raise RefundError(_("Choose at least one item or some shipping to refund."))
    if approve:
        refund.decided_by_id = user_id
        refund.decided_at = utcnow()
    db.session.add(refund)
    db.session.flush()
    if approve:
        enqueue_after_commit(QUEUE, process_refund, refund.id)
    return refund


def refund_sub_order(sub_order_id: int, *, initiated_by: RefundInitiator,
                     user_id: int | None, reason: str) -> Refund | None:
    """Refund everything of the sub-order not refunded yet, shipping included, approved at
    once (a rejection or a cancellation). Refunds the buyer requested and nobody decided
    yet are approved with it: a called-off order owes the buyer everything, and a request
    left waiting could be declined, leaving its units paid for and never refunded. Returns
    the refund of the rest, or None when nothing is left or the payment was never captured
    (nothing to give back). Flushes."""
    _locked_sub_order(sub_order_id)
    waiting = db.session.scalars(
        sa.select(Refund).where(Refund.sub_order_id == sub_order_id,
                                Refund.status == RefundStatus.REQUESTED)
        .order_by(Refund.id).with_for_update().execution_options(populate_existing=True))
    now = utcnow()
    for request in waiting:
        request.status = RefundStatus.APPROVED
        request.decided_by_id, request.decided_at = user_id, now
        request.decision_note = _clean_reason(reason) or None
        db.session.flush()
        enqueue_after_commit(QUEUE, process_refund, request.id)
    left = refundable(sub_order_id)
    if not left.anything:
        return None
    return create_refund(sub_order_id, left.lines, shipping_minor=left.shipping_minor,
                         initiated_by=initiated_by, user_id=user_id, reason=reason,
                         approve=True)


def on_sub_order_called_off(sender, *, sub_order_id: int, initiated_by: str,
                            user_id: int | None, reason: str = "", **extra) -> None:
    """``vendors.signals.sub_order_called_off``: a paid sub-order rejected or cancelled is
    refunded in full, in the caller's transaction."""
    refund_sub_order(sub_order_id, initiated_by=RefundInitiator(initiated_by), user_id=user_id,
                     reason=reason)


def refunds_accounted(sender, *, order_id: int, **extra) -> int:
    """``vendors.signals.order_refunds_accounted``: what this app's refunds of the order
    gave back, or are giving back (succeeded, or in flight at the provider)."""
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_minor), 0))
        .where(Refund.order_id == order_id,
               Refund.status.in_((RefundStatus.PROCESSING, RefundStatus.SUCCEEDED)))))


def register_handlers() -> None:
    """Refund called-off sub-orders, and tell the buyers' refund event what we refunded.
    Registering twice is harmless."""
    sub_order_called_off.connect(on_sub_order_called_off)
    order_refunds_accounted.connect(refunds_accounted)


def _money(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format(str(get_locale() or "en"))


# --- deciding -----------------------------------------------------------------------------------


def _locked_refund(refund_id: int, vendor_id: int | None) -> Refund:
    query = sa.select(Refund).where(Refund.id == refund_id)
    if vendor_id is not None:
        query = query.where(Refund.vendor_id == vendor_id)
    refund = db.session.scalar(query.with_for_update()
                               .execution_options(populate_existing=True))
    if refund is None:
        raise RefundNotFound(_("There is no such refund."))
    return refund


def approve(refund_id: int, user_id: int | None, note: str = "", *,
            vendor_id: int | None = None) -> Refund:
    """A requested refund is approved and its job queued after commit. ``vendor_id`` scopes
    the lookup to one vendor's refunds (the vendor portal). Flushes.

    Raises RefundNotFound, RefundError (not waiting for a decision any more)."""
    refund = _locked_refund(refund_id, vendor_id)
    if refund.status != RefundStatus.REQUESTED:
        raise RefundError(_("This refund was already decided: %(status)s.",
                            status=STATUS_LABELS[refund.status]))
    refund.status = RefundStatus.APPROVED
    refund.decided_by_id, refund.decided_at = user_id, utcnow()
    refund.decision_note = _clean_reason(note) or None
    db.session.flush()
    enqueue_after_commit(QUEUE, process_refund, refund.id)
    return refund


def decline(refund_id: int, user_id: int | None, note: str = "", *,
            vendor_id: int | None = None) -> Refund:
    """A requested refund is declined (its units may be requested again). Flushes.

    Raises RefundNotFound, RefundError (not waiting for a decision any more; a rejection or
    cancellation of the sub-order approves the requests still waiting)."""
    refund = _locked_refund(refund_id, vendor_id)
    if refund.status != RefundStatus.REQUESTED:
        raise RefundError(_("This refund was already decided: %(status)s.",
                            status=STATUS_LABELS[refund.status]))
    refund.status = RefundStatus.DECLINED
    refund.decided_by_id, refund.decided_at = user_id, utcnow()
    refund.decision_note = _clean_reason(note) or None
    db.session.flush()
    return refund


# --- sending ------------------------------------------------------------------------------------


def refund_key(refund_id: int) -> str:
    """The idempotency key of a refund's ledger transaction."""
    return f"refund:{refund_id}"


def _claim(refund_id: int) -> bool:
    """approved -> processing, atomically and committed; True when this caller won it."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.APPROVED)
        .values(status=RefundStatus.PROCESSING, claimed_at=now, attempts=Refund.attempts + 1,
                updated_at=now)
        .returning(Refund.id)).scalar_one_or_none()
    db.session.commit()
    return claimed is not None


def post_refund(refund: Refund) -> None:
    """The ledger's ``refund`` transaction of a succeeded refund, and the transfer reversals
    its clawback calls for. Flushes; idempotent per refund (key ``refund:<id>``)."""
    if ledger.transaction_for(refund_key(refund.id)) is not None:
        return
    currency = refund.currency
    # First, under the settlement lock: where the vendor's share comes back from.
    vendor_legs = clawback.take_back(vendor_id=refund.vendor_id, currency=currency,
                                     amount_minor=refund.vendor_share_minor,
                                     sub_order_id=refund.sub_order_id)
    cash = ledger.account(AccountKind.PROVIDER_CASH, currency)
    parts = [(ledger.account(AccountKind.TAX_PAYABLE, currency).id, refund.tax_minor),
             (ledger.account(AccountKind.COMMISSION_REVENUE, currency).id,
              refund.commission_minor), *vendor_legs]
    ledger.post(TransactionKind.REFUND, refund_key(refund.id),
                [(account_id, cash.id, amount, currency) for account_id, amount in parts
                 if amount > 0],
                order_id=refund.order_id, sub_order_id=refund.sub_order_id,
                vendor_id=refund.vendor_id, refund_id=refund.id,
                memo=f"Refund {refund.id} of sub-order {refund.sub_order_id}")
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency,
                               vendor_id=refund.vendor_id)
    clawback.reverse_paid_out(
        vendor_id=refund.vendor_id, currency=currency, sub_order_id=refund.sub_order_id,
        taken_from_available=sum(amount for account_id, amount in vendor_legs
                                 if account_id == available.id),
        refund_id=refund.id)


def _send(refund_id: int) -> str:
    """Ask the provider for a refund in ``processing`` and record the outcome (commits)."""
    refund = db.session.get(Refund, refund_id, populate_existing=True)
    order = db.session.get(Order, refund.order_id)
    try:
        provider_refund_id = provider().create_refund(
            payment_intent_id=order.payment_intent_id or "", amount_minor=refund.amount_minor,
            idempotency_key=refund.idempotency_key,
            metadata={"refund_id": str(refund.id), "order_id": str(refund.order_id),
                      "sub_order_id": str(refund.sub_order_id)})
    except PaymentProviderError as error:
        db.session.rollback()
        if error.retryable:
            # Maybe refunded, maybe not: the reconciler asks again with the same key.
            log.warning("refund outcome unknown", extra={"refund_id": refund_id})
            return "unknown"
        now = utcnow()
        db.session.execute(
            sa.update(Refund)
            .where(Refund.id == refund_id, Refund.status == RefundStatus.PROCESSING)
            .values(status=RefundStatus.FAILED, failure_reason=error.message[:2000],
                    completed_at=now, updated_at=now))
        db.session.commit()
        return "failed"
    return _succeeded(refund_id, provider_refund_id)


def _succeeded(refund_id: int, provider_refund_id: str) -> str:
    """Record the provider's refund of a refund in ``processing`` and post it (commits)."""
    now = utcnow()
    done = db.session.execute(
        sa.update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.PROCESSING)
        .values(status=RefundStatus.SUCCEEDED, provider_refund_id=provider_refund_id,
                provider=provider().name, completed_at=now, failure_reason=None,
                updated_at=now)
        .returning(Refund.id)).scalar_one_or_none()
    if done is None:  # another worker (the reconciler) finished it meanwhile
        db.session.rollback()
        return "skipped"
    post_refund(db.session.get(Refund, refund_id, populate_existing=True))
    db.session.commit()
    return "succeeded"


def process_refund(refund_id: int) -> str:
    """The job: claim an approved refund, refund at the provider, post it. Returns
    "succeeded", "failed" (refused: nothing posted, the reason is on the row), "unknown" (no
    answer: left in processing for :func:`reconcile_stuck_refunds`) or "skipped" (another
    worker has it, or it is done). Idempotent; commits its own work."""
    if not _claim(refund_id):
        return "skipped"
    return _send(refund_id)


def reconcile_stuck_refunds(now: dt.datetime | None = None) -> dict[int, str]:
    """Retry refunds left in ``processing`` longer than ``PAYOUT_RECONCILE_MINUTES`` (a
    crash, a timeout) with the same provider call and idempotency key: a refund that went
    through is found again, never made twice. Commits per refund; returns
    ``{refund_id: outcome}`` as :func:`process_refund` names them, or "held" for a refund
    claimed longer than ``clawback.REPLAY_WINDOW`` ago: the provider has forgotten its key by
    then and a replay could refund twice, so it stays in ``processing`` and is logged as an
    error for a person to check at the provider."""
    now = now or utcnow()
    minutes = int(current_app.config.get("PAYOUT_RECONCILE_MINUTES", 15))
    stuck = db.session.execute(
        sa.select(Refund.id, Refund.claimed_at < now - clawback.REPLAY_WINDOW)
        .where(Refund.status == RefundStatus.PROCESSING,
               Refund.claimed_at < now - dt.timedelta(minutes=minutes))
        .order_by(Refund.id)).all()
    db.session.rollback()
    outcome: dict[int, str] = {}
    for refund_id, too_old in stuck:
        if too_old:
            log.error("refund stuck past the provider's retry window: check it at the "
                      "provider and finish it by hand", extra={"refund_id": refund_id})
            outcome[refund_id] = "held"
            continue
        outcome[refund_id] = _send(refund_id)
    return outcome


def _held(refund_id: int) -> Refund:
    refund = db.session.get(Refund, refund_id, populate_existing=True)
    if refund is None:
        raise RefundNotFound(_("There is no such refund."))
    if refund.status != RefundStatus.PROCESSING:
        raise RefundError(_("This refund is not waiting for the provider: %(status)s.",
                            status=STATUS_LABELS[refund.status]))
    return refund


def resend_held(refund_id: int) -> str:
    """A person checked at the provider that a refund held in ``processing`` was never made:
    ask for it again (same key). Returns the outcome as :func:`process_refund` names it.
    Raises RefundNotFound, RefundError (not in processing). Commits."""
    _held(refund_id)
    db.session.rollback()
    return _send(refund_id)


def record_found(refund_id: int, provider_refund_id: str) -> str:
    """A person found a held refund made at the provider as ``provider_refund_id``: record it
    and post it. Returns "succeeded" (or "skipped" when someone else finished it). Raises
    RefundNotFound, RefundError (not in processing). Commits."""
    _held(refund_id)
    return _succeeded(refund_id, provider_refund_id)


# --- reading ------------------------------------------------------------------------------------


def refunds_select(*, vendor_id: int | None = None, status: RefundStatus | None = None,
                   order_id: int | None = None) -> sa.Select[tuple[Refund]]:
    """Refunds newest first: one vendor's (or all, for admins), one status, one order."""
    query = sa.select(Refund) if vendor_id is None else vendor_select(Refund, vendor_id)
    if status is not None:
        query = query.where(Refund.status == status)
    if order_id is not None:
        query = query.where(Refund.order_id == order_id)
    return query.order_by(Refund.id.desc())


def status_counts(vendor_id: int | None = None) -> dict[RefundStatus, int]:
    query = sa.select(Refund.status, sa.func.count(Refund.id)).group_by(Refund.status)
    if vendor_id is not None:
        query = query.where(Refund.vendor_id == vendor_id)
    counts = dict.fromkeys(RefundStatus, 0)
    counts.update({RefundStatus(status): count for status, count in db.session.execute(query)})
    return counts

