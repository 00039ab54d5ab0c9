"""What the balance pages show: a vendor's balances, the next payout, payout and transaction
history, and the admin's payouts by status. Reads only; every vendor query is scoped with
``vendor_select``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from payouts import ledger
from payouts.models import (
    VENDOR_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    TransactionKind,
)
from payouts.payouts import hold_reason, period_start
from vendors.models import PayoutSchedule, Vendor

KIND_LABELS = {
    TransactionKind.PAYMENT_CAPTURED: _l("Sale paid"),
    TransactionKind.COMMISSION_EARNED: _l("Commission"),
    TransactionKind.TAX_COLLECTED: _l("Tax collected"),
    TransactionKind.REFUND: _l("Refund"),
    TransactionKind.DISPUTE_OPENED: _l("Dispute opened"),
    TransactionKind.DISPUTE_WON: _l("Dispute won"),
    TransactionKind.DISPUTE_LOST: _l("Dispute lost"),
    TransactionKind.SETTLEMENT_RELEASE: _l("Released for payout"),
    TransactionKind.PAYOUT_SENT: _l("Payout"),
    TransactionKind.PAYOUT_FAILED: _l("Payout failed, returned"),
    TransactionKind.TRANSFER_REVERSAL: _l("Transfer reversed"),
    TransactionKind.ADJUSTMENT: _l("Adjustment"),
}

SCHEDULE_LABELS = {
    PayoutSchedule.DAILY: _l("Your available balance is paid out every day."),
    PayoutSchedule.WEEKLY: _l("Your available balance is paid out every Monday."),
    PayoutSchedule.MONTHLY: _l("Your available balance is paid out on the 1st of each month."),
}

HOLD_LABELS = {
    "suspended": _l("Payouts are on hold while the shop is suspended."),
    "not approved": _l("Payouts start once the shop is approved."),
    "payouts not enabled": _l("Payouts are on hold until your payout account is connected "
                              "and enabled."),
}


@dataclass(frozen=True)
class Balance:
    currency: str
    pending: int
    available: int
    paid_out: int


@dataclass(frozen=True)
class Upcoming:
    """The next payout: when the schedule next runs, how much would go, or why it is held."""

    on: dt.date
    schedule: PayoutSchedule
    amounts: list[tuple[int, str]]
    minimum_minor: int
    held: str | None


@dataclass(frozen=True)
class TransactionRow:
    transaction: LedgerTransaction
    currency: str
    pending: int
    available: int
    paid_out: int


def balances(vendor_id: int) -> list[Balance]:
    """Per currency the vendor has an account in: pending, available and paid out."""
    by_currency: dict[str, dict[AccountKind, int]] = defaultdict(dict)
    for row in ledger.balances(vendor_id=vendor_id):
        by_currency[row.currency][row.kind] = row.amount_minor
    return [Balance(currency, kinds.get(AccountKind.VENDOR_PENDING, 0),
                    kinds.get(AccountKind.VENDOR_AVAILABLE, 0),
                    kinds.get(AccountKind.VENDOR_PAID_OUT, 0))
            for currency, kinds in sorted(by_currency.items())]


def next_run(schedule: PayoutSchedule, now: dt.datetime) -> dt.date:
    """The first day of the schedule's next period."""
    start = period_start(schedule, now)
    if schedule == PayoutSchedule.DAILY:
        return (start + dt.timedelta(days=1)).date()
    if schedule == PayoutSchedule.WEEKLY:
        return (start + dt.timedelta(days=7)).date()
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1).date()


def upcoming(vendor: Vendor, now: dt.datetime | None = None) -> Upcoming:
    now = now or dt.datetime.now(dt.UTC)
    minimum = max(vendor.payout_minimum_minor or 0, 1)
    amounts = [(b.available, b.currency) for b in balances(vendor.id) if b.available >= minimum]
    reason = hold_reason(vendor)
    return Upcoming(next_run(vendor.payout_schedule, now), vendor.payout_schedule, amounts,
                    minimum, HOLD_LABELS.get(reason) if reason else None)


def payouts_select(vendor_id: int) -> sa.Select:
    return vendor_select(Payout, vendor_id).order_by(Payout.id.desc())


def transactions_select(vendor_id: int) -> sa.Select:
    return (vendor_select(LedgerTransaction, vendor_id)
            .options(selectinload(LedgerTransaction.postings))
            .order_by(LedgerTransaction.id.desc()))


def transaction_rows(vendor_id: int,
                     transactions: list[LedgerTransaction]) -> list[TransactionRow]:
    """What each transaction did to the vendor's pending, available and paid-out balances
    (a credit adds to an account the platform owes, a debit takes away)."""
    kinds = dict(db.session.execute(
        sa.select(LedgerAccount.id, LedgerAccount.kind)
        .where(LedgerAccount.vendor_id == vendor_id,
               LedgerAccount.kind.in_(list(VENDOR_KINDS)))
    ).all())
    rows = []
    for transaction in transactions:
        delta: dict[AccountKind, int] = defaultdict(int)
        currency = ""
        for posting in transaction.postings:
            if posting.credit_account_id in kinds:
                delta[kinds[posting.credit_account_id]] += posting.amount_minor
                currency = posting.currency
            if posting.debit_account_id in kinds:
                delta[kinds[posting.debit_account_id]] -= posting.amount_minor
                currency = posting.currency
        rows.append(TransactionRow(transaction, currency, delta[AccountKind.VENDOR_PENDING],
                                   delta[AccountKind.VENDOR_AVAILABLE],
                                   delta[AccountKind.VENDOR_PAID_OUT]))
    return rows


def admin_payouts_select(status: PayoutStatus | None) -> sa.Select:
    """Rows of (payout, vendor name), newest first."""
    stmt = (sa.select(Payout, Vendor.name).join(Vendor, Vendor.id == Payout.vendor_id)
            .order_by(Payout.id.desc()))
    if status is not None:
        stmt = stmt.where(Payout.status == status)
    return stmt


def payout_counts() -> dict[PayoutStatus, int]:
    counts = dict(db.session.execute(
        sa.select(Payout.status, sa.func.count(Payout.id)).group_by(Payout.status)
    ).all())
    return {status: counts.get(status, 0) for status in PayoutStatus}
