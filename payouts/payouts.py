"""Payouts: sending each vendor's available balance to their payout account.

The life of a payout
--------------------
1. :func:`create_payout` (run for every due vendor by :func:`create_due_payouts`) locks the
   vendor's *available* ledger account row, reads the balance under that lock and, when it
   is at least ``max(payout_minimum_minor, 1)``, adds a ``pending`` :class:`Payout` for all of
   it and posts ``payout_sent`` (available -> paid out) in the same transaction. Two requests
   at once queue on the lock, and the second sees the balance the first left: a vendor is
   never paid more than they have, however many requests race.
2. The job :func:`send_payout` claims the row (``pending -> processing`` in one conditional
   UPDATE, committed before anything is sent: a second worker finds nothing to claim), asks
   the provider for a transfer with the payout's own idempotency key and transfer group, and
   completes it (``paid`` + ``transfer_id``) or, when the provider refuses, fails it
   (``failed`` + ``payout_failed`` posting, paid out -> available).
3. A worker that dies between the provider's answer and its commit leaves the row in
   ``processing``. :func:`reconcile_stuck_payouts` finds such rows (claimed more than
   ``PAYOUT_RECONCILE_MINUTES`` ago) and asks the provider whether the transfer of that
   group exists: it completes the payout with it, or puts the payout back to ``pending``
   for the job, which sends with the *same* idempotency key. It never sends a second
   transfer.

Suspended vendors and vendors whose payout account can't receive money yet are held: their
balance stays available until that changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.payments import PaymentProviderError, provider
from payouts import ledger
from payouts.models import AccountKind, LedgerAccount, Payout, PayoutStatus, TransactionKind
from vendors.models import PayoutSchedule, Vendor, VendorStatus

log = logging.getLogger(__name__)

QUEUE = "settlement"


class PayoutHeld(Exception):
    """The vendor may not be paid out now (suspended, or no payout account that can receive
    money); ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PayoutRun:
    """What one pass of :func:`create_due_payouts` did."""

    created: list[int]
    held: dict[int, str]


def hold_reason(vendor: Vendor) -> str | None:
    """Why ``vendor`` can't be paid out now, or None when they can."""
    if vendor.status != VendorStatus.APPROVED:
        return "suspended" if vendor.status == VendorStatus.SUSPENDED else "not approved"
    if not vendor.payouts_enabled or not vendor.payout_account_id:
        return "payouts not enabled"
    if vendor.payout_provider != provider().name:
        # An account id of one provider means nothing to another (a sandbox account after
        # Stripe was configured): the vendor connects again first.
        return "payouts not enabled"
    return None


def period_start(schedule: PayoutSchedule, now: dt.datetime) -> dt.datetime:
    """The start of the schedule's current period (UTC): today, this ISO week, this month."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule == PayoutSchedule.DAILY:
        return day
    if schedule == PayoutSchedule.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def create_payout(vendor_id: int, currency: str) -> Payout | None:
    """Pay out the vendor's whole available ``currency`` balance: a ``pending`` payout and its
    ``payout_sent`` posting, flushed in the caller's transaction, with the send job enqueued
    after commit. Returns None when the balance is below ``max(minimum, 1)``.

    Raises PayoutHeld when the vendor may not be paid out now.
    """
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        raise PayoutHeld("no such vendor")
    reason = hold_reason(vendor)
    if reason is not None:
        raise PayoutHeld(reason)
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency, vendor_id=vendor_id)
    paid_out = ledger.account(AccountKind.VENDOR_PAID_OUT, currency, vendor_id=vendor_id)
    # Every payout of this balance queues here; the balance read below is the one the
    # previous holder of the lock left behind.
    db.session.execute(sa.select(LedgerAccount.id).where(LedgerAccount.id == available.id)
                       .with_for_update())
    amount = ledger.balance(available.id)
    if amount < max(vendor.payout_minimum_minor or 0, 1):
        return None
    payout = Payout(vendor_id=vendor_id, currency=currency, amount_minor=amount,
                    status=PayoutStatus.PENDING, provider=vendor.payout_provider,
                    destination=vendor.payout_account_id, attempts=0)
    db.session.add(payout)
    db.session.flush()
    ledger.post(TransactionKind.PAYOUT_SENT, f"payout:{payout.id}",
                [(available.id, paid_out.id, amount, currency)],
                vendor_id=vendor_id, payout_id=payout.id,
                memo=f"Payout {payout.id} to {payout.destination}")
    enqueue_after_commit(QUEUE, send_payout, payout.id)
    return payout


def _currencies_with_available(vendor_id: int) -> list[str]:
    return list(db.session.scalars(
        sa.select(LedgerAccount.currency).where(
            LedgerAccount.vendor_id == vendor_id,
            LedgerAccount.kind == AccountKind.VENDOR_AVAILABLE,
        ).order_by(LedgerAccount.currency)
    ))


def _paid_this_period(vendor: Vendor, currency: str, now: dt.datetime) -> bool:
    return db.session.scalar(
        sa.select(sa.func.count(Payout.id)).where(
            Payout.vendor_id == vendor.id, Payout.currency == currency,
            Payout.created_at >= period_start(vendor.payout_schedule, now),
        )
    ) > 0


def create_due_payouts(now: dt.datetime | None = None) -> PayoutRun:
    """One payout per vendor and currency whose schedule is due (no payout yet this day,
    week or month, failed ones included: a refused transfer waits for the next period rather
    than failing again every run) and whose available balance reaches their minimum; commits
    each vendor on its own. Safe to run twice or at once."""
    now = now or dt.datetime.now(dt.UTC)
    created: list[int] = []
    held: dict[int, str] = {}
    vendor_ids = list(db.session.scalars(
        sa.select(LedgerAccount.vendor_id).where(
            LedgerAccount.kind == AccountKind.VENDOR_AVAILABLE,
            LedgerAccount.vendor_id.is_not(None),
        ).distinct().order_by(LedgerAccount.vendor_id)
    ))
    for vendor_id in vendor_ids:
        vendor = db.session.get(Vendor, vendor_id)
        reason = hold_reason(vendor)
        if reason is not None:
            held[vendor_id] = reason
            continue
        for currency in _currencies_with_available(vendor_id):
            # Lock first, then look at this period's payouts: a run at the same moment waits
            # for this one's commit and then sees its payout.
            available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency,
                                       vendor_id=vendor_id)
            db.session.execute(sa.select(LedgerAccount.id)
                               .where(LedgerAccount.id == available.id).with_for_update())
            if _paid_this_period(vendor, currency, now):
                continue
            payout = create_payout(vendor_id, currency)
            if payout is not None:
                created.append(payout.id)
        db.session.commit()
    db.session.commit()
    return PayoutRun(created, held)


# --- sending --------------------------------------------------------------------------------


def _claim(payout_id: int) -> bool:
    """pending -> processing, atomically; True when this caller won the row."""
    now = dt.datetime.now(dt.UTC)
    claimed = db.session.execute(
        sa.update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING)
        .values(status=PayoutStatus.PROCESSING, claimed_at=now, attempts=Payout.attempts + 1,
                updated_at=now)
        .returning(Payout.id)
    ).scalar_one_or_none()
    db.session.commit()
    return claimed is not None


def transfer(payout: Payout) -> str:
    """Ask the provider for the payout's transfer. The same payout always sends the same
    request under the same idempotency key, so asking again never moves money twice."""
    return provider().create_transfer(
        amount_minor=payout.amount_minor, currency=payout.currency,
        destination=payout.destination or "", transfer_group=transfer_group(payout.id),
        source_transaction=None, idempotency_key=payout.idempotency_key,
        metadata={"payout_id": str(payout.id), "vendor_id": str(payout.vendor_id)},
    )


def transfer_group(payout_id: int) -> str:
    return f"payout-{payout_id}"


def complete(payout_id: int, transfer_id: str) -> bool:
    """processing -> paid with the provider's transfer id (flushes); False when the row was
    not in processing (someone else finished it)."""
    now = dt.datetime.now(dt.UTC)
    done = db.session.execute(
        sa.update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PROCESSING)
        .values(status=PayoutStatus.PAID, transfer_id=transfer_id, completed_at=now,
                failure_reason=None, updated_at=now)
        .returning(Payout.id)
    ).scalar_one_or_none()
    return done is not None


def fail(payout_id: int, reason: str) -> bool:
    """processing -> failed, and the money back to available (flushes); False when the row
    was not in processing."""
    now = dt.datetime.now(dt.UTC)
    failed = db.session.execute(
        sa.update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PROCESSING)
        .values(status=PayoutStatus.FAILED, failure_reason=reason[:2000], completed_at=now,
                updated_at=now)
        .returning(Payout.vendor_id, Payout.currency, Payout.amount_minor)
    ).one_or_none()
    if failed is None:
        return False
    vendor_id, currency, amount = failed
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency, vendor_id=vendor_id)
    paid_out = ledger.account(AccountKind.VENDOR_PAID_OUT, currency, vendor_id=vendor_id)
    ledger.post(TransactionKind.PAYOUT_FAILED, f"payout-failed:{payout_id}",
                [(paid_out.id, available.id, amount, currency)],
                vendor_id=vendor_id, payout_id=payout_id, memo=reason[:500])
    return True


def send_payout(payout_id: int) -> str:
    """The job: claim, transfer, complete or fail. Returns what happened ("paid", "failed",
    "unknown": the answer was lost and the reconciler will find out, "skipped": another
    worker has it or it is done). Idempotent; commits its own work."""
    if not _claim(payout_id):
        return "skipped"
    payout = db.session.get(Payout, payout_id, populate_existing=True)
    try:
        transfer_id = transfer(payout)
    except PaymentProviderError as error:
        db.session.rollback()
        if error.retryable:
            # Maybe sent, maybe not: only the provider knows. The reconciler asks it.
            log.warning("payout transfer outcome unknown", extra={"payout_id": payout_id})
            return "unknown"
        fail(payout_id, error.message)
        db.session.commit()
        return "failed"
    complete(payout_id, transfer_id)
    db.session.commit()
    return "paid"


def reconcile_stuck_payouts(now: dt.datetime | None = None) -> dict[int, str]:
    """Resolve payouts left in ``processing`` longer than ``PAYOUT_RECONCILE_MINUTES``: the
    provider's transfer of the payout's group completes it; no transfer puts it back to
    ``pending`` and enqueues the send job (same idempotency key). Commits per payout and
    returns ``{payout_id: "paid" | "retry" | "unknown"}``."""
    now = now or dt.datetime.now(dt.UTC)
    minutes = int(current_app.config.get("PAYOUT_RECONCILE_MINUTES", 15))
    stuck = list(db.session.scalars(
        sa.select(Payout.id).where(Payout.status == PayoutStatus.PROCESSING,
                                   Payout.claimed_at < now - dt.timedelta(minutes=minutes))
        .order_by(Payout.id)
    ))
    outcome: dict[int, str] = {}
    for payout_id in stuck:
        try:
            found = provider().find_transfer(transfer_group=transfer_group(payout_id))
        except PaymentProviderError:
            outcome[payout_id] = "unknown"
            continue
        if found is not None:
            complete(payout_id, found)
            outcome[payout_id] = "paid"
        else:
            back = db.session.execute(
                sa.update(Payout)
                .where(Payout.id == payout_id, Payout.status == PayoutStatus.PROCESSING)
                .values(status=PayoutStatus.PENDING, claimed_at=None, updated_at=now)
                .returning(Payout.id)
            ).scalar_one_or_none()
            if back is not None:
                enqueue_after_commit(QUEUE, send_payout, payout_id)
            outcome[payout_id] = "retry"
        db.session.commit()
    return outcome
