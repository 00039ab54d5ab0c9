"""Settlement: a vendor's earnings move from pending to available after the hold period.

A paid sub-order's vendor share is released once the order was paid more than
``SETTLEMENT_HOLD_DAYS`` ago: a ``settlement_release`` transaction, key
``settle:sub_order:<id>``, moves it to the vendor's ``vendor_available`` account. What is
released is what *remains* of the share: the ``vendor_pending`` credit of the sub-order's
capture less what refunds and disputes of the sub-order already took back from pending
(``payouts.clawback``); a sub-order with nothing left gets no settlement transaction (a
transaction needs postings). Sub-orders cancelled or rejected stay pending (their refund
reverses the pending share).

Each batch holds the exclusive settlement lock (PostgreSQL advisory lock, see
``payouts.clawback``) until it commits, so a refund never decides "not settled yet, take it
from pending" while a batch is releasing the same share.

Set-based and batched: each batch is a range of capture transaction ids and two INSERT ...
SELECT statements in one database transaction (the settlement transactions, then their
postings), committed per batch. Nothing is loaded into Python, so memory does not grow with
the number of lines.

- Idempotent: a sub-order already settled is skipped (``NOT EXISTS`` on its key, and
  ``ON CONFLICT DO NOTHING`` on the unique key for a concurrent run).
- Safe concurrently: a second run inserting the same keys waits for the first's commit and
  then inserts nothing; postings are written only for settlement transactions that have
  none, and a transaction and its postings always commit together.
- Resumable: a crash loses at most the batch in flight; the next run settles what is left.

The job :func:`settle_due` runs on the ``settlement`` queue; ``flask marketplace settle``
runs it in the foreground (cron it, e.g. hourly; see README).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import utcnow
from marketplace.extensions import db
from payouts.clawback import settle_key, settlement_lock  # noqa: F401  (settle_key: re-export)
from payouts.models import AccountKind, LedgerTransaction, TransactionKind

QUEUE = "settlement"
JOB_ID = "settlement-run"  # one waiting run at a time
BATCH = 50_000


@dataclass(frozen=True)
class SettlementRun:
    settled: int  # sub-orders released by this run
    batches: int


def settle_due(now: dt.datetime | None = None, *, batch: int = BATCH) -> SettlementRun:
    """The job: release every sub-order paid before ``now`` - hold. Commits per batch."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=current_app.config["SETTLEMENT_HOLD_DAYS"])
    _ensure_available_accounts()
    db.session.commit()
    low, high = db.session.execute(
        sa.select(sa.func.min(LedgerTransaction.id), sa.func.max(LedgerTransaction.id))
        .where(LedgerTransaction.kind == TransactionKind.PAYMENT_CAPTURED)).one()
    settled = batches = 0
    if low is None:
        return SettlementRun(0, 0)
    for start in range(low, high + 1, batch):
        settled += _settle_range(start, start + batch, cutoff, now)
        db.session.commit()
        batches += 1
    return SettlementRun(settled, batches)


def _ensure_available_accounts() -> None:
    """Every vendor with a pending account gets its available account in that currency."""
    accounts = sa.table("ledger_accounts", sa.column("owner"), sa.column("vendor_id"),
                        sa.column("kind"), sa.column("currency"), sa.column("created_at"))
    pending = sa.select(accounts.c.owner, accounts.c.vendor_id,
                        sa.literal(AccountKind.VENDOR_AVAILABLE.value), accounts.c.currency,
                        sa.literal(utcnow(), sa.DateTime(timezone=True))).where(
        accounts.c.kind == AccountKind.VENDOR_PENDING.value).distinct()
    db.session.execute(
        _insert(accounts).from_select(["owner", "vendor_id", "kind", "currency", "created_at"],
                                      pending)
        .on_conflict_do_nothing(index_elements=["owner", "kind", "currency"]))


def _insert(table):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# What refunds and disputes already took back from (or gave back to) a sub-order's pending
# share: their transactions name the sub-order and a refund or dispute (payouts.clawback's
# contract). The refund_id / dispute_id indexes find them without scanning the ledger.
_CLAWED = """
    SELECT ct.sub_order_id, ca.id AS account_id,
           SUM(CASE WHEN cp.debit_account_id = ca.id THEN cp.amount_minor
                    ELSE -cp.amount_minor END) AS amount
    FROM ledger_transactions ct
    JOIN ledger_postings cp ON cp.transaction_id = ct.id
    JOIN ledger_accounts ca ON ca.id IN (cp.debit_account_id, cp.credit_account_id)
                           AND ca.kind = 'vendor_pending'
    WHERE (ct.refund_id IS NOT NULL OR ct.dispute_id IS NOT NULL)
      AND ct.sub_order_id IS NOT NULL
    GROUP BY ct.sub_order_id, ca.id
"""

# Amounts and keys come from the capture transactions (their vendor_pending credit, less what
# refunds and disputes took back); statuses are the enums' stored values. Only captures with
# something left are settled.
_TRANSACTIONS = sa.text(f"""
    INSERT INTO ledger_transactions
        (kind, idempotency_key, order_id, sub_order_id, vendor_id, memo, created_at)
    SELECT 'settlement_release', 'settle:sub_order:' || t.sub_order_id, t.order_id,
           t.sub_order_id, t.vendor_id, 'Settlement of sub-order ' || t.sub_order_id, :now
    FROM ledger_transactions t
    JOIN orders o ON o.id = t.order_id
    JOIN sub_orders s ON s.id = t.sub_order_id
    JOIN ledger_postings p ON p.transaction_id = t.id
    JOIN ledger_accounts pending ON pending.id = p.credit_account_id
                                AND pending.kind = 'vendor_pending'
    LEFT JOIN ({_CLAWED}) AS clawed ON clawed.sub_order_id = t.sub_order_id
                                   AND clawed.account_id = pending.id
    WHERE t.kind = 'payment_captured' AND t.id >= :low AND t.id < :high
      AND o.paid_at <= :cutoff AND s.status NOT IN ('cancelled', 'rejected')
      AND p.amount_minor - COALESCE(clawed.amount, 0) > 0
      AND NOT EXISTS (SELECT 1 FROM ledger_transactions d
                      WHERE d.idempotency_key = 'settle:sub_order:' || t.sub_order_id)
    ON CONFLICT (idempotency_key) DO NOTHING
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("cutoff", type_=sa.DateTime(timezone=True)))

_POSTINGS = sa.text(f"""
    INSERT INTO ledger_postings
        (transaction_id, debit_account_id, credit_account_id, amount_minor, currency)
    SELECT st.id, p.credit_account_id, available.id,
           p.amount_minor - COALESCE(clawed.amount, 0), p.currency
    FROM ledger_transactions t
    JOIN ledger_transactions st ON st.idempotency_key = 'settle:sub_order:' || t.sub_order_id
    JOIN ledger_postings p ON p.transaction_id = t.id
    JOIN ledger_accounts pending ON pending.id = p.credit_account_id
                                AND pending.kind = 'vendor_pending'
    JOIN ledger_accounts available ON available.owner = pending.owner
                                  AND available.kind = 'vendor_available'
                                  AND available.currency = pending.currency
    LEFT JOIN ({_CLAWED}) AS clawed ON clawed.sub_order_id = t.sub_order_id
                                   AND clawed.account_id = pending.id
    WHERE t.kind = 'payment_captured' AND t.id >= :low AND t.id < :high
      AND p.amount_minor - COALESCE(clawed.amount, 0) > 0
      AND NOT EXISTS (SELECT 1 FROM ledger_postings q WHERE q.transaction_id = st.id)
""")


def _settle_range(low: int, high: int, cutoff: dt.datetime, now: dt.datetime) -> int:
    """Settle the due captures with ids in [low, high); returns how many. The exclusive
    settlement lock (held until the batch commits) keeps refunds and disputes from taking a
    share back between our read of what remains and our commit (``payouts.clawback``)."""
    settlement_lock(exclusive=True)
    inserted = db.session.execute(_TRANSACTIONS, {"low": low, "high": high, "cutoff": cutoff,
                                                  "now": now}).rowcount
    db.session.execute(_POSTINGS, {"low": low, "high": high})
    return max(inserted, 0)
