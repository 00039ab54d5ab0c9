"""Settlement: a vendor's earnings move from pending to available after the hold period.

A paid sub-order's vendor share (the ``vendor_pending`` credit of its capture transaction)
is released once the order was paid more than ``SETTLEMENT_HOLD_DAYS`` ago: a
``settlement_release`` transaction, key ``settle:sub_order:<id>``, moves it to the vendor's
``vendor_available`` account. Sub-orders cancelled or rejected stay pending (their refund
reverses the pending share).

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
from payouts.models import AccountKind, LedgerTransaction, TransactionKind

QUEUE = "settlement"
JOB_ID = "settlement-run"  # one waiting run at a time
BATCH = 50_000


@dataclass(frozen=True)
class SettlementRun:
    settled: int  # sub-orders released by this run
    batches: int


def settle_key(sub_order_id: int) -> str:
    return f"settle:sub_order:{sub_order_id}"


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


# Amounts and keys come from the capture transactions; statuses are the enums' stored values.
_TRANSACTIONS = sa.text("""
    INSERT INTO ledger_transactions
        (kind, idempotency_key, order_id, sub_order_id, vendor_id, memo, created_at)
    SELECT 'settlement_release', 'settle:sub_order:' || t.sub_order_id, t.order_id,
           t.sub_order_id, t.vendor_id, 'Settlement of sub-order ' || t.sub_order_id, :now
    FROM ledger_transactions t
    JOIN orders o ON o.id = t.order_id
    JOIN sub_orders s ON s.id = t.sub_order_id
    WHERE t.kind = 'payment_captured' AND t.id >= :low AND t.id < :high
      AND o.paid_at <= :cutoff AND s.status NOT IN ('cancelled', 'rejected')
      AND EXISTS (SELECT 1 FROM ledger_postings p
                  JOIN ledger_accounts a ON a.id = p.credit_account_id
                  WHERE p.transaction_id = t.id AND a.kind = 'vendor_pending')
      AND NOT EXISTS (SELECT 1 FROM ledger_transactions d
                      WHERE d.idempotency_key = 'settle:sub_order:' || t.sub_order_id)
    ON CONFLICT (idempotency_key) DO NOTHING
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("cutoff", type_=sa.DateTime(timezone=True)))

_POSTINGS = sa.text("""
    INSERT INTO ledger_postings
        (transaction_id, debit_account_id, credit_account_id, amount_minor, currency)
    SELECT st.id, p.credit_account_id, available.id, p.amount_minor, p.currency
    FROM ledger_transactions t
    JOIN ledger_transactions st ON st.idempotency_key = 'settle:sub_order:' || t.sub_order_id
    JOIN ledger_postings p ON p.transaction_id = t.id
    JOIN ledger_accounts pending ON pending.id = p.credit_account_id
                                AND pending.kind = 'vendor_pending'
    JOIN ledger_accounts available ON available.owner = pending.owner
                                  AND available.kind = 'vendor_available'
                                  AND available.currency = pending.currency
    WHERE t.kind = 'payment_captured' AND t.id >= :low AND t.id < :high
      AND NOT EXISTS (SELECT 1 FROM ledger_postings q WHERE q.transaction_id = st.id)
""")


def _settle_range(low: int, high: int, cutoff: dt.datetime, now: dt.datetime) -> int:
    """Settle the due captures with ids in [low, high); returns how many."""
    inserted = db.session.execute(_TRANSACTIONS, {"low": low, "high": high, "cutoff": cutoff,
                                                  "now": now}).rowcount
    db.session.execute(_POSTINGS, {"low": low, "high": high})
    return max(inserted, 0)
