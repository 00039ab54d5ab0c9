"""The reconciliation report: the ledger and our payment rows against the gateway's records.

For a period (``since <= t < until``, UTC) it matches, both ways:

- **charges**: each order with a payment created in the period — what the ledger captured
  (``payment_captured`` postings debiting provider cash) against the PaymentIntent's
  ``amount_received`` and currency;
- **refunds**: each ``succeeded`` :class:`~payouts.models.Refund` completed in the period —
  its amount, its ledger ``refund`` transaction (provider cash credited) and the provider's
  refund ``provider_refund_id`` (amount, currency, the order's payment, status);
- **transfers**: each ``paid`` :class:`~payouts.models.Payout` completed in the period — its
  ``payout_sent`` posting (and no ``payout_failed``) and the provider's transfer
  ``transfer_id`` (amount, currency, destination);
- **transfer reversals**: each ``succeeded`` :class:`~payouts.models.TransferReversal`
  completed in the period — its ``transfer_reversal`` posting and the provider's reversal
  (amount, currency, the payout's transfer);

and the other direction: every succeeded payment, refund, transfer or reversal the provider
created in the period that no row of ours knows.

Our rows carry the moment *we* finished (``completed_at``), the provider its own ``created``;
the two differ by a worker's latency, or by minutes when a reconciler finished a row a crash
left behind. So the provider's records are read for the period widened by :data:`MARGIN` on
each side when looking ours up, while "unknown to the ledger" only considers provider objects
created inside the period, matched against all our rows whatever their date.

A reversal lives on its transfer, and providers list them per transfer: the transfers looked
at are those of our reversals completed in the period and those created in the (widened)
period with an amount reversed. A reversal made outside the app (e.g. from Stripe's
dashboard) is reported as unknown in the period of its transfer, whenever it was made.

Reads only; raises PaymentProviderError when the provider can't be asked.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from marketplace.extensions import db
from marketplace.money import Money
from marketplace.payments import provider
from marketplace.payments.records import ProviderReversal, as_utc
from payouts.models import (
    AccountKind,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
    ReversalStatus,
    TransactionKind,
    TransferReversal,
)
from vendors.order_models import Order

MARGIN = dt.timedelta(days=3)


class Kind(enum.StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    TRANSFER = "transfer"
    REVERSAL = "reversal"


class Problem(enum.StrEnum):
    AMOUNT = "amount"  # the two sides' amounts differ
    CURRENCY = "currency"
    DESTINATION = "destination"  # a transfer went to another account than the payout's
    WRONG_OBJECT = "wrong_object"  # a refund of another payment, a reversal of another transfer
    STATUS = "status"  # one side says it failed, or not yet
    MISSING_IN_LEDGER = "missing_in_ledger"  # our row says done; the ledger has no posting
    MISSING_AT_PROVIDER = "missing_at_provider"  # ours is done; the provider has nothing
    UNKNOWN_TO_LEDGER = "unknown_to_ledger"  # the provider has it; no row of ours knows it


@dataclass(frozen=True)
class Mismatch:
    kind: Kind
    problem: Problem
    reference: str  # ours: "MK-ABC123", "refund-5", "payout-7", "reversal-3" ("" if none)
    provider_id: str | None
    currency: str
    ours_minor: int | None
    provider_minor: int | None
    detail: str  # a sentence for the operator


@dataclass
class Reconciliation:
    since: dt.datetime
    until: dt.datetime
    checked: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def of(self, kind: Kind) -> list[Mismatch]:
        return [m for m in self.mismatches if m.kind == kind]


def _money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    try:
        return Money(amount, currency).format("en")
    except Exception:  # an unknown currency from the provider: show the raw figures
        return f"{amount} {currency}"


def _in(column, since: dt.datetime, until: dt.datetime):
    return sa.and_(column >= since, column < until)


def _ledger_sums(kind: TransactionKind, link, cash_side, ids: list[int]) -> dict[int, int]:
    """Per ``link`` value (order_id, refund_id, payout_id...), the amount of ``kind``
    postings whose ``cash_side`` account is the platform's provider cash (or, with
    ``cash_side`` None, of all its postings)."""
    if not ids:
        return {}
    stmt = (sa.select(link, sa.func.sum(LedgerPosting.amount_minor))
            .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
            .where(LedgerTransaction.kind == kind, link.in_(ids)))
    if cash_side is not None:
        stmt = stmt.join(LedgerAccount, LedgerAccount.id == cash_side).where(
            LedgerAccount.kind == AccountKind.PROVIDER_CASH)
    return {key: int(amount) for key, amount in db.session.execute(stmt.group_by(link)).all()}


# --- charges --------------------------------------------------------------------------------


def _charges(report: Reconciliation, wide: tuple[dt.datetime, dt.datetime]) -> None:
    payments = {p.id: p for p in provider().list_payments(*wide)}
    orders = {intent: (order_id, number, currency, paid_at) for order_id, number, currency,
              intent, paid_at in db.session.execute(
                  sa.select(Order.id, Order.number, Order.currency, Order.payment_intent_id,
                            Order.paid_at)
                  .where(Order.payment_intent_id.is_not(None),
                         _in(Order.created_at, report.since, report.until))).all()}
    received_here = [p.id for p in payments.values() if p.amount_received_minor > 0
                     and report.since <= p.created < report.until and p.id not in orders]
    for order_id, number, currency, intent, paid_at in db.session.execute(
            sa.select(Order.id, Order.number, Order.currency, Order.payment_intent_id,
                      Order.paid_at).where(Order.payment_intent_id.in_(received_here))).all():
        orders[intent] = (order_id, number, currency, paid_at)
    captured = _ledger_sums(TransactionKind.PAYMENT_CAPTURED, LedgerTransaction.order_id,
                            LedgerPosting.debit_account_id,
                            [order_id for order_id, *_rest in orders.values()])
    for intent_id, (order_id, number, currency, paid_at) in orders.items():
        ours = captured.get(order_id, 0)
        payment = payments.get(intent_id)
        received = payment.amount_received_minor if payment else 0
        if paid_at is None and ours == 0 and received == 0:
            continue  # an unpaid checkout: no money on either side
        report.checked[Kind.CHARGE] += 1
        if payment is None:
            report.mismatches.append(Mismatch(
                Kind.CHARGE, Problem.MISSING_AT_PROVIDER, number, intent_id, currency, ours,
                None, _("Order %(number)s is paid in the ledger (%(amount)s captured), but the "
                        "provider has no payment %(id)s.", number=number, id=intent_id,
                        amount=_money(ours, currency))))
        elif payment.currency != currency:
            report.mismatches.append(Mismatch(
                Kind.CHARGE, Problem.CURRENCY, number, intent_id, currency, ours, received,
                _("Order %(number)s is in %(ours)s; the provider's payment is in %(theirs)s.",
                  number=number, ours=currency, theirs=payment.currency)))
        elif received != ours:
            report.mismatches.append(Mismatch(
                Kind.CHARGE, Problem.AMOUNT, number, intent_id, currency, ours, received,
                _("Order %(number)s: the ledger captured %(ours)s, the provider received "
                  "%(theirs)s.", number=number, ours=_money(ours, currency),
                  theirs=_money(received, currency))))
    for payment_id in received_here:
        if payment_id not in orders:
            payment = payments[payment_id]
            report.mismatches.append(Mismatch(
                Kind.CHARGE, Problem.UNKNOWN_TO_LEDGER, "", payment_id, payment.currency, None,
                payment.amount_received_minor,
                _("The provider received %(amount)s in payment %(id)s, which no order "
                  "knows.", id=payment_id,
                  amount=_money(payment.amount_received_minor, payment.currency))))


# --- refunds --------------------------------------------------------------------------------


def _refunds(report: Reconciliation, wide: tuple[dt.datetime, dt.datetime]) -> None:
    listed = {r.id: r for r in provider().list_refunds(*wide)}
    rows = db.session.execute(
        sa.select(Refund.id, Refund.currency, Refund.amount_minor, Refund.provider_refund_id,
                  Order.payment_intent_id)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.status == RefundStatus.SUCCEEDED,
               _in(Refund.completed_at, report.since, report.until))
        .order_by(Refund.id)).all()
    posted = _ledger_sums(TransactionKind.REFUND, LedgerTransaction.refund_id,
                          LedgerPosting.credit_account_id, [row.id for row in rows])
    for refund_id, currency, amount, provider_id, intent_id in rows:
        report.checked[Kind.REFUND] += 1
        reference = f"refund-{refund_id}"
        ours = posted.get(refund_id)
        if ours is None:
            report.mismatches.append(Mismatch(
                Kind.REFUND, Problem.MISSING_IN_LEDGER, reference, provider_id, currency,
                amount, None, _("Refund %(id)s succeeded but the ledger has no refund "
                                "transaction for it.", id=refund_id)))
        elif ours != amount:
            report.mismatches.append(Mismatch(
                Kind.REFUND, Problem.AMOUNT, reference, provider_id, currency, ours, amount,
                _("Refund %(id)s is for %(amount)s but the ledger gave back %(ours)s.",
                  id=refund_id, amount=_money(amount, currency), ours=_money(ours, currency))))
        theirs = listed.get(provider_id or "")
        if theirs is None:
            report.mismatches.append(Mismatch(
                Kind.REFUND, Problem.MISSING_AT_PROVIDER, reference, provider_id, currency,
                amount, None, _("Refund %(id)s succeeded, but the provider has no refund "
                                "%(provider_id)s.", id=refund_id,
                                provider_id=provider_id or "—")))
            continue
        if theirs.currency != currency:
            problem, detail = Problem.CURRENCY, _(
                "Refund %(id)s is in %(ours)s; the provider's is in %(theirs)s.",
                id=refund_id, ours=currency, theirs=theirs.currency)
        elif theirs.amount_minor != amount:
            problem, detail = Problem.AMOUNT, _(
                "Refund %(id)s is for %(ours)s; the provider refunded %(theirs)s.",
                id=refund_id, ours=_money(amount, currency),
                theirs=_money(theirs.amount_minor, currency))
        elif theirs.payment_intent_id and theirs.payment_intent_id != intent_id:
            problem, detail = Problem.WRONG_OBJECT, _(
                "Refund %(id)s belongs to payment %(ours)s; the provider's refunds payment "
                "%(theirs)s.", id=refund_id, ours=intent_id or "—",
                theirs=theirs.payment_intent_id)
        elif theirs.status not in ("succeeded", "pending"):
            problem, detail = Problem.STATUS, _(
                "Refund %(id)s succeeded here; the provider says %(status)s.", id=refund_id,
                status=theirs.status)
        else:
            continue
        report.mismatches.append(Mismatch(Kind.REFUND, problem, reference, theirs.id, currency,
                                          amount, theirs.amount_minor, detail))
    # Ledger refunds whose row does not say succeeded.
    for refund_id, status, currency in db.session.execute(
            sa.select(Refund.id, Refund.status, Refund.currency)
            .join(LedgerTransaction, LedgerTransaction.refund_id == Refund.id)
            .where(LedgerTransaction.kind == TransactionKind.REFUND,
                   Refund.status != RefundStatus.SUCCEEDED,
                   _in(LedgerTransaction.created_at, report.since, report.until))).all():
        report.mismatches.append(Mismatch(
            Kind.REFUND, Problem.STATUS, f"refund-{refund_id}", None, currency, None, None,
            _("The ledger posted refund %(id)s, whose status is %(status)s.", id=refund_id,
              status=getattr(status, "value", status))))
    here = [r.id for r in listed.values() if report.since <= r.created < report.until
            and r.status == "succeeded"]
    known = set(db.session.scalars(sa.select(Refund.provider_refund_id)
                                   .where(Refund.provider_refund_id.in_(here)))) if here else set()
    for refund_id in here:
        if refund_id not in known:
            theirs = listed[refund_id]
            report.mismatches.append(Mismatch(
                Kind.REFUND, Problem.UNKNOWN_TO_LEDGER, "", refund_id, theirs.currency, None,
                theirs.amount_minor,
                _("The provider refunded %(amount)s (refund %(id)s of payment %(payment)s), "
                  "which no refund of ours knows.", id=refund_id,
                  amount=_money(theirs.amount_minor, theirs.currency),
                  payment=theirs.payment_intent_id or "—")))


# --- transfers ------------------------------------------------------------------------------


def _transfers(report: Reconciliation, listed: dict) -> None:
    rows = db.session.execute(
        sa.select(Payout.id, Payout.currency, Payout.amount_minor, Payout.destination,
                  Payout.transfer_id)
        .where(Payout.status == PayoutStatus.PAID,
               _in(Payout.completed_at, report.since, report.until))
        .order_by(Payout.id)).all()
    ids = [row.id for row in rows]
    sent = _ledger_sums(TransactionKind.PAYOUT_SENT, LedgerTransaction.payout_id, None, ids)
    failed = _ledger_sums(TransactionKind.PAYOUT_FAILED, LedgerTransaction.payout_id, None, ids)
    for payout_id, currency, amount, destination, transfer_id in rows:
        report.checked[Kind.TRANSFER] += 1
        reference = f"payout-{payout_id}"
        ours = sent.get(payout_id)
        if ours is None:
            report.mismatches.append(Mismatch(
                Kind.TRANSFER, Problem.MISSING_IN_LEDGER, reference, transfer_id, currency,
                amount, None, _("Payout %(id)s is paid but the ledger has no payout "
                                "posting for it.", id=payout_id)))
        elif ours != amount:
            report.mismatches.append(Mismatch(
                Kind.TRANSFER, Problem.AMOUNT, reference, transfer_id, currency, ours, amount,
                _("Payout %(id)s is for %(amount)s but the ledger moved %(ours)s.",
                  id=payout_id, amount=_money(amount, currency), ours=_money(ours, currency))))
        if payout_id in failed:
            report.mismatches.append(Mismatch(
                Kind.TRANSFER, Problem.STATUS, reference, transfer_id, currency, amount, None,
                _("Payout %(id)s is paid, yet the ledger also returned it as failed.",
                  id=payout_id)))
        theirs = listed.get(transfer_id or "")
        if theirs is None:
            report.mismatches.append(Mismatch(
                Kind.TRANSFER, Problem.MISSING_AT_PROVIDER, reference, transfer_id, currency,
                amount, None, _("Payout %(id)s is paid, but the provider has no transfer "
                                "%(transfer)s.", id=payout_id, transfer=transfer_id or "—")))
            continue
        if theirs.currency != currency:
            problem, detail = Problem.CURRENCY, _(
                "Payout %(id)s is in %(ours)s; the provider's transfer is in %(theirs)s.",
                id=payout_id, ours=currency, theirs=theirs.currency)
        elif theirs.amount_minor != amount:
            problem, detail = Problem.AMOUNT, _(
                "Payout %(id)s is for %(ours)s; the provider transferred %(theirs)s.",
                id=payout_id, ours=_money(amount, currency),
                theirs=_money(theirs.amount_minor, currency))
        elif theirs.destination != (destination or ""):
            problem, detail = Problem.DESTINATION, _(
                "Payout %(id)s was for account %(ours)s; the provider's transfer went to "
                "%(theirs)s.", id=payout_id, ours=destination or "—", theirs=theirs.destination)
        else:
            continue
        report.mismatches.append(Mismatch(Kind.TRANSFER, problem, reference, theirs.id,
                                          currency, amount, theirs.amount_minor, detail))
    here = [t.id for t in listed.values() if report.since <= t.created < report.until]
    known = set(db.session.scalars(sa.select(Payout.transfer_id)
                                   .where(Payout.transfer_id.in_(here)))) if here else set()
    for transfer_id in here:
        if transfer_id in known:
            continue
        theirs = listed[transfer_id]
        detail = _("The provider transferred %(amount)s to %(destination)s (transfer %(id)s), "
                   "which no payout of ours knows.", id=transfer_id,
                   amount=_money(theirs.amount_minor, theirs.currency),
                   destination=theirs.destination)
        group = theirs.transfer_group or ""
        if group.startswith("payout-") and group[7:].isascii() and group[7:].isdigit() \
                and len(group) <= 25:
            payout = db.session.get(Payout, int(group[7:]))
            if payout is not None:
                detail = _("The provider's transfer %(id)s of %(amount)s is for payout "
                           "%(payout)s, which is %(status)s here.", id=transfer_id,
                           amount=_money(theirs.amount_minor, theirs.currency),
                           payout=payout.id, status=payout.status.value)
        report.mismatches.append(Mismatch(Kind.TRANSFER, Problem.UNKNOWN_TO_LEDGER, group,
                                          transfer_id, theirs.currency, None,
                                          theirs.amount_minor, detail))


# --- transfer reversals ---------------------------------------------------------------------


def _reversals(report: Reconciliation, listed: dict) -> None:
    rows = db.session.execute(
        sa.select(TransferReversal.id, TransferReversal.currency, TransferReversal.amount_minor,
                  TransferReversal.provider_reversal_id, Payout.transfer_id)
        .join(Payout, Payout.id == TransferReversal.payout_id)
        .where(TransferReversal.status == ReversalStatus.SUCCEEDED,
               _in(TransferReversal.completed_at, report.since, report.until))
        .order_by(TransferReversal.id)).all()
    transfers = {row.transfer_id for row in rows if row.transfer_id}
    transfers |= {t.id for t in listed.values() if t.amount_reversed_minor > 0}
    found: dict[str, ProviderReversal] = {}
    for transfer_id in sorted(transfers):
        for reversal in provider().list_transfer_reversals(transfer_id):
            found[reversal.id] = reversal
    posted = {int(key.removeprefix("reversal:")): int(amount) for key, amount in
              db.session.execute(
                  sa.select(LedgerTransaction.idempotency_key,
                            sa.func.sum(LedgerPosting.amount_minor))
                  .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
                  .where(LedgerTransaction.kind == TransactionKind.TRANSFER_REVERSAL,
                         LedgerTransaction.idempotency_key.in_(
                             [f"reversal:{row.id}" for row in rows]))
                  .group_by(LedgerTransaction.idempotency_key)).all()} if rows else {}
    for reversal_id, currency, amount, provider_id, transfer_id in rows:
        report.checked[Kind.REVERSAL] += 1
        reference = f"reversal-{reversal_id}"
        ours = posted.get(reversal_id)
        if ours is None:
            report.mismatches.append(Mismatch(
                Kind.REVERSAL, Problem.MISSING_IN_LEDGER, reference, provider_id, currency,
                amount, None, _("Transfer reversal %(id)s succeeded but the ledger has no "
                                "posting for it.", id=reversal_id)))
        elif ours != amount:
            report.mismatches.append(Mismatch(
                Kind.REVERSAL, Problem.AMOUNT, reference, provider_id, currency, ours, amount,
                _("Transfer reversal %(id)s is for %(amount)s but the ledger moved %(ours)s.",
                  id=reversal_id, amount=_money(amount, currency),
                  ours=_money(ours, currency))))
        theirs = found.get(provider_id or "")
        if theirs is None:
            report.mismatches.append(Mismatch(
                Kind.REVERSAL, Problem.MISSING_AT_PROVIDER, reference, provider_id, currency,
                amount, None, _("Transfer reversal %(id)s succeeded, but the provider has no "
                                "reversal %(provider_id)s on transfer %(transfer)s.",
                                id=reversal_id, provider_id=provider_id or "—",
                                transfer=transfer_id or "—")))
            continue
        if theirs.transfer_id != transfer_id:
            problem, detail = Problem.WRONG_OBJECT, _(
                "Transfer reversal %(id)s is of transfer %(ours)s; the provider's is of "
                "%(theirs)s.", id=reversal_id, ours=transfer_id or "—",
                theirs=theirs.transfer_id)
        elif theirs.currency != currency:
            problem, detail = Problem.CURRENCY, _(
                "Transfer reversal %(id)s is in %(ours)s; the provider's is in %(theirs)s.",
                id=reversal_id, ours=currency, theirs=theirs.currency)
        elif theirs.amount_minor != amount:
            problem, detail = Problem.AMOUNT, _(
                "Transfer reversal %(id)s is for %(ours)s; the provider reversed %(theirs)s.",
                id=reversal_id, ours=_money(amount, currency),
                theirs=_money(theirs.amount_minor, currency))
        else:
            continue
        report.mismatches.append(Mismatch(Kind.REVERSAL, problem, reference, theirs.id,
                                          currency, amount, theirs.amount_minor, detail))
    # Reversals made in the period, and every reversal of the period's own transfers
    # whenever it was made (one made outside the app later shows in the transfer's month).
    own = {t.id for t in listed.values() if report.since <= t.created < report.until}
    here = [r.id for r in found.values()
            if report.since <= r.created < report.until or r.transfer_id in own]
    known = set(db.session.scalars(
        sa.select(TransferReversal.provider_reversal_id)
        .where(TransferReversal.provider_reversal_id.in_(here)))) if here else set()
    for reversal_id in here:
        if reversal_id not in known:
            theirs = found[reversal_id]
            report.mismatches.append(Mismatch(
                Kind.REVERSAL, Problem.UNKNOWN_TO_LEDGER, "", reversal_id, theirs.currency,
                None, theirs.amount_minor,
                _("The provider reversed %(amount)s of transfer %(transfer)s (reversal "
                  "%(id)s), which no reversal of ours knows.", id=reversal_id,
                  amount=_money(theirs.amount_minor, theirs.currency),
                  transfer=theirs.transfer_id)))


def reconcile(since: dt.datetime, until: dt.datetime) -> Reconciliation:
    """Match the period's charges, refunds, transfers and reversals (see the module's
    docstring). Reads only. Raises PaymentProviderError when the provider can't be read."""
    since, until = as_utc(since), as_utc(until)
    report = Reconciliation(since, until)
    wide = (since - MARGIN, until + MARGIN)
    _charges(report, wide)
    _refunds(report, wide)
    transfers = {t.id: t for t in provider().list_transfers(*wide)}
    _transfers(report, transfers)
    _reversals(report, transfers)
    order = {kind: index for index, kind in enumerate(Kind)}
    report.mismatches.sort(key=lambda m: (order[m.kind], m.reference, m.provider_id or ""))
    return report

