"""Taking a vendor's share back: for a refund, or a dispute the platform lost.

When money goes back to the buyer, the vendor's part of it (their share of the sale, after
commission and tax) must come back out of the vendor's ledger accounts. Where it comes from
depends on how far the sale's money has travelled:

1. **Not settled yet** (the sub-order has no ``settle:sub_order:<id>`` transaction): its
   share still sits in ``vendor_pending``, so it is taken from there, up to what is left of
   *this sub-order's* pending share (its capture's ``vendor_pending`` credit less what earlier
   refunds and disputes of the sub-order already took back). Anything beyond that (it can't
   happen with refunds alone, which never exceed the charge) comes from ``vendor_available``.
   Settlement later releases only what is left (``payouts.settlement``).
2. **Settled**: the share moved to ``vendor_available``; it is taken from there, and the
   balance may go below zero: a vendor who was refunded against is *netted* against their
   future earnings (the next settlements fill the hole before anything can be paid out,
   because a payout needs a positive available balance).
3. **Already paid out** and the available balance can't cover it: besides the negative
   balance, :func:`reverse_paid_out` takes the shortfall back from the vendor's last paid
   transfers (a :class:`~payouts.models.TransferReversal`, sent by :func:`send_reversal`);
   once the provider confirms, ``transfer_reversal`` moves it paid out -> available, which
   lifts the balance back towards zero.

The race with settlement
------------------------
"Not settled, take it from pending" is a decision about a sub-order another process may be
settling at that very moment: a settlement batch that had read the full pending share before
our refund committed would release it all, leaving pending negative. So on PostgreSQL every
settlement batch holds an *exclusive* transaction-level advisory lock
(``settlement_lock(exclusive=True)``) and every clawback holds the *shared* one
(:func:`settlement_lock`, which :func:`take_back` takes itself) before it looks. Clawbacks run
side by side; a settlement batch waits for the clawbacks in flight to commit and then sees
their postings (it releases only the remainder); a clawback arriving during a batch waits for
the batch's commit and then sees the sub-order settled. SQLite lets one writer through at a
time, so no lock is needed there.

The contract for callers (refunds here, disputes in their module)
-----------------------------------------------------------------
Post the legs :func:`take_back` returns as **debits** in **one transaction whose
``sub_order_id`` is the sub-order and whose ``refund_id`` or ``dispute_id`` is set**, in the
same database transaction that called it (the lock is held until commit). Settlement counts
exactly those transactions when it works out what is left to release.

Everything here flushes and never commits, except the job :func:`send_reversal` and the
reconciler :func:`reconcile_stuck_reversals`, which commit their own work.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from flask import current_app

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.payments import PaymentProviderError, provider
from payouts import ledger
from payouts.models import (
    AccountKind,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    ReversalStatus,
    TransactionKind,
    TransferReversal,
)
from vendors.order_models import SubOrder

log = logging.getLogger(__name__)

QUEUE = "settlement"

# The advisory lock key shared by settlement batches (exclusive) and clawbacks (shared).
# Any constant works as long as nothing else in the database uses it: "settle" in ASCII.
SETTLEMENT_LOCK_KEY = 0x736574746C65


# Stripe keeps an idempotency key for 24 hours; after that the same request would be a new
# refund or reversal. The reconcilers replay only what was claimed within this window and
# hold anything older for a person to check at the provider (they log it as an error).
REPLAY_WINDOW = dt.timedelta(hours=20)


def settle_key(sub_order_id: int) -> str:
    """The idempotency key of a sub-order's settlement transaction."""
    return f"settle:sub_order:{sub_order_id}"


def settlement_lock(*, exclusive: bool = False) -> None:
    """Hold the settlement lock until the current transaction ends (PostgreSQL only).

    Clawbacks (refund and dispute postings) take it shared — the default — *before* they
    check whether a sub-order is settled; each settlement batch takes it exclusive. Taking it
    twice in one transaction is harmless. On SQLite this does nothing: one writer at a time.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    db.session.execute(sa.text(f"SELECT {function}(:key)"), {"key": SETTLEMENT_LOCK_KEY})


def is_settled(sub_order_id: int) -> bool:
    """Whether the sub-order's vendor share was released to ``vendor_available``."""
    return ledger.transaction_for(settle_key(sub_order_id)) is not None


def pending_share(sub_order_id: int, pending_account_id: int) -> int:
    """What is left of the sub-order's share in the vendor's pending account: what the
    sub-order's transactions credited it minus what they debited (the capture, less refunds
    and disputes, less the settlement once it ran)."""
    credited = sa.func.coalesce(sa.func.sum(sa.case(
        (LedgerPosting.credit_account_id == pending_account_id, LedgerPosting.amount_minor),
        else_=-LedgerPosting.amount_minor)), 0)
    return int(db.session.scalar(
        sa.select(credited)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerTransaction.sub_order_id == sub_order_id,
               sa.or_(LedgerPosting.credit_account_id == pending_account_id,
                      LedgerPosting.debit_account_id == pending_account_id))))


def take_back(*, vendor_id: int, currency: str, amount_minor: int,
              sub_order_id: int) -> list[tuple[int, int]]:
    """The vendor accounts to **debit** to take ``amount_minor`` of the vendor's share of
    ``sub_order_id`` back, as ``[(account_id, amount)]`` with positive amounts summing to
    ``amount_minor`` (an empty list for 0).

    Takes the shared settlement lock first (see the module docstring) and the sub-order's
    row lock, then: from
    ``vendor_pending`` while the sub-order is not settled, up to what is left of its pending
    share, the rest from ``vendor_available``; from ``vendor_available`` once it is settled
    (the balance may go below zero: netted against future earnings), holding the available
    account's row lock like a payout does. Creates the accounts it needs; flushes.

    The caller posts these debits in one transaction with ``sub_order_id`` and its
    ``refund_id``/``dispute_id`` set, before its transaction commits. Raises ValueError for a
    negative amount.
    """
    if amount_minor < 0:
        raise ValueError("the amount taken back cannot be negative")
    if amount_minor == 0:
        return []
    settlement_lock()
    # Two clawbacks of one sub-order (a refund and a lost dispute, say) queue here: the
    # second reads the pending share the first left, never the share before it.
    db.session.execute(sa.select(SubOrder.id).where(SubOrder.id == sub_order_id)
                       .with_for_update(key_share=True))
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency, vendor_id=vendor_id)
    from_pending = 0
    if not is_settled(sub_order_id):
        pending = ledger.account(AccountKind.VENDOR_PENDING, currency, vendor_id=vendor_id)
        from_pending = min(amount_minor, max(pending_share(sub_order_id, pending.id), 0))
    legs = []
    if from_pending:
        legs.append((pending.id, from_pending))
    if amount_minor - from_pending:
        # Queue with payouts (payouts.payouts.create_payout locks this row too): a payout
        # reads the balance this debit leaves, never one it is about to lower.
        db.session.execute(sa.select(LedgerAccount.id).where(LedgerAccount.id == available.id)
                           .with_for_update())
        legs.append((available.id, amount_minor - from_pending))
    return legs


# --- transfer reversals ---------------------------------------------------------------------


def _reversed_of(payout_id: int) -> int:
    """What reversals not failed have taken (or are taking) back from a payout's transfer."""
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(TransferReversal.amount_minor), 0))
        .where(TransferReversal.payout_id == payout_id,
               TransferReversal.status != ReversalStatus.FAILED)))


def reverse_paid_out(*, vendor_id: int, currency: str, sub_order_id: int,
                     taken_from_available: int, refund_id: int | None = None,
                     dispute_id: int | None = None) -> list[TransferReversal]:
    """After a clawback was posted: when it left the vendor's available balance below zero
    and the sub-order's share was already paid out, reverse the shortfall from the vendor's
    transfers. Returns the reversals created (pending; their jobs run after commit).

    The shortfall is ``min(-available balance, taken_from_available)`` — only what this
    clawback took, never an older debt. It is taken from the vendor's ``paid`` payouts in this
    currency made after the sub-order's settlement, newest first, each up to what is left of
    it (its amount less earlier reversals). Nothing happens when the sub-order is not
    settled, the balance is not negative, or no such payout is left: the negative balance then
    simply nets against future earnings. Flushes.
    """
    if taken_from_available <= 0:
        return []
    settled = ledger.transaction_for(settle_key(sub_order_id))
    if settled is None:
        return []
    available = ledger.balance_of(AccountKind.VENDOR_AVAILABLE, currency, vendor_id=vendor_id)
    shortfall = min(-available.amount_minor, taken_from_available)
    if shortfall <= 0:
        return []
    payouts = db.session.scalars(
        sa.select(Payout).where(Payout.vendor_id == vendor_id, Payout.currency == currency,
                                Payout.status == PayoutStatus.PAID,
                                Payout.transfer_id.is_not(None),
                                Payout.created_at >= settled.created_at)
        .order_by(Payout.id.desc())).all()
    created = []
    for payout in payouts:
        left = payout.amount_minor - _reversed_of(payout.id)
        amount = min(shortfall, left)
        if amount <= 0:
            continue
        reversal = TransferReversal(payout_id=payout.id, vendor_id=vendor_id,
                                    refund_id=refund_id, dispute_id=dispute_id,
                                    currency=currency, amount_minor=amount,
                                    status=ReversalStatus.PENDING)
        db.session.add(reversal)
        db.session.flush()
        enqueue_after_commit(QUEUE, send_reversal, reversal.id)
        created.append(reversal)
        shortfall -= amount
        if shortfall == 0:
            break
    return created


def _claim_reversal(reversal_id: int) -> bool:
    """pending -> processing, atomically and committed; True when this caller won it."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(TransferReversal)
        .where(TransferReversal.id == reversal_id,
               TransferReversal.status == ReversalStatus.PENDING)
        .values(status=ReversalStatus.PROCESSING, updated_at=now)
        .returning(TransferReversal.id)).scalar_one_or_none()
    db.session.commit()
    return claimed is not None


def _finish_reversal(reversal: TransferReversal) -> str:
    """Call the provider for a reversal in ``processing`` and record the outcome (commits).

    The same reversal always sends the same request under ``reversal-<id>``, so a retry after
    a lost answer gets the first reversal back, never a second one."""
    payout = db.session.get(Payout, reversal.payout_id)
    try:
        provider_id = provider().reverse_transfer(
            transfer_id=payout.transfer_id or "", amount_minor=reversal.amount_minor,
            idempotency_key=reversal.idempotency_key)
    except PaymentProviderError as error:
        db.session.rollback()
        if error.retryable:
            log.warning("transfer reversal outcome unknown", extra={"reversal_id": reversal.id})
            return "unknown"
        reversal = db.session.get(TransferReversal, reversal.id, populate_existing=True)
        # Nothing came back: the vendor's balance stays negative and nets against future
        # earnings instead.
        reversal.status = ReversalStatus.FAILED
        reversal.failure_reason = error.message[:2000]
        reversal.completed_at = utcnow()
        db.session.commit()
        return "failed"
    return _reversal_succeeded(reversal.id, provider_id)


def _reversal_succeeded(reversal_id: int, provider_id: str) -> str:
    """Record the provider's reversal of a reversal in ``processing`` and post it (commits)."""
    reversal = db.session.get(TransferReversal, reversal_id, populate_existing=True)
    paid_out = ledger.account(AccountKind.VENDOR_PAID_OUT, reversal.currency,
                              vendor_id=reversal.vendor_id)
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, reversal.currency,
                               vendor_id=reversal.vendor_id)
    ledger.post(TransactionKind.TRANSFER_REVERSAL, f"reversal:{reversal.id}",
                [(paid_out.id, available.id, reversal.amount_minor, reversal.currency)],
                vendor_id=reversal.vendor_id, payout_id=reversal.payout_id,
                refund_id=reversal.refund_id, dispute_id=reversal.dispute_id,
                memo=f"Transfer reversal {reversal.id} of payout {reversal.payout_id}")
    reversal.status = ReversalStatus.SUCCEEDED
    reversal.provider_reversal_id = provider_id
    reversal.completed_at = utcnow()
    db.session.commit()
    return "succeeded"


def send_reversal(reversal_id: int) -> str:
    """The job: claim a pending reversal, ask the provider, record the outcome. Returns
    "succeeded", "failed" (refused: nothing posted, the negative balance nets instead),
    "unknown" (no answer: left in processing for :func:`reconcile_stuck_reversals`) or
    "skipped" (another worker has it, or it is done). Idempotent; commits."""
    if not _claim_reversal(reversal_id):
        return "skipped"
    return _finish_reversal(db.session.get(TransferReversal, reversal_id,
                                           populate_existing=True))


def reconcile_stuck_reversals(now: dt.datetime | None = None) -> dict[int, str]:
    """Retry reversals left in ``processing`` (a crash or a timeout) for longer than
    ``PAYOUT_RECONCILE_MINUTES`` with the same call and idempotency key. Commits per
    reversal; returns ``{reversal_id: outcome}`` as :func:`send_reversal` names them, or
    "held" for one claimed longer than :data:`REPLAY_WINDOW` ago (left in ``processing``
    and logged for a person to check at the provider: a replay could reverse twice)."""
    now = now or utcnow()
    minutes = int(current_app.config.get("PAYOUT_RECONCILE_MINUTES", 15))
    stuck = db.session.execute(
        sa.select(TransferReversal.id, TransferReversal.updated_at < now - REPLAY_WINDOW)
        .where(TransferReversal.status == ReversalStatus.PROCESSING,
               TransferReversal.updated_at < now - dt.timedelta(minutes=minutes))
        .order_by(TransferReversal.id)).all()
    outcome: dict[int, str] = {}
    for reversal_id, too_old in stuck:
        if too_old:
            log.error("transfer reversal stuck past the provider's retry window: check it at "
                      "the provider and finish it by hand", extra={"reversal_id": reversal_id})
            outcome[reversal_id] = "held"
            continue
        outcome[reversal_id] = _finish_reversal(db.session.get(TransferReversal, reversal_id))
    return outcome


def _held_reversal(reversal_id: int) -> TransferReversal:
    reversal = db.session.get(TransferReversal, reversal_id, populate_existing=True)
    if reversal is None:
        raise LookupError(f"There is no transfer reversal {reversal_id}.")
    if reversal.status != ReversalStatus.PROCESSING:
        raise ValueError(f"Transfer reversal {reversal_id} is not waiting for the provider: "
                         f"it is {reversal.status.value}.")
    return reversal


def resend_held_reversal(reversal_id: int) -> str:
    """A person checked at the provider that a reversal held in ``processing`` was never
    made: ask for it again (same key). Returns the outcome as :func:`send_reversal` names it.
    Raises LookupError (unknown), ValueError (not in processing). Commits."""
    return _finish_reversal(_held_reversal(reversal_id))


def record_found_reversal(reversal_id: int, provider_reversal_id: str) -> str:
    """A person found a held reversal made at the provider as ``provider_reversal_id``: record
    it and post it. Returns "succeeded". Raises LookupError, ValueError. Commits."""
    _held_reversal(reversal_id)
    return _reversal_succeeded(reversal_id, provider_reversal_id)
