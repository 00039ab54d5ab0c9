"""The books' invariants, checked by SQL: :func:`check_books` lists every break it finds.

1. Every transaction has postings, and every posting is in its two accounts' currency
   (PostgreSQL's composite keys guarantee it; SQLite runs without foreign keys). With one
   amount debited and credited per posting, every transaction then sums to zero per currency.
2. No vendor's available balance is below zero.
3. Every paid order's sub-orders have their capture transaction, and its parts (tax,
   commission, vendor share) sum to the sub-order's total exactly.
4. Cash at the provider: its debits are exactly the captured sub-orders' totals, per
   currency (nothing else brings money in).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from marketplace.extensions import db

# Most breaks listed per check (the count is always exact).
SHOWN = 20


@dataclass(frozen=True)
class Check:
    name: str
    breaks: int
    examples: list[str]

    @property
    def ok(self) -> bool:
        return self.breaks == 0


def _check(name: str, sql: str, describe) -> Check:
    breaks = db.session.scalar(sa.text(f"SELECT count(*) FROM ({sql}) AS broken"))
    rows = db.session.execute(sa.text(f"{sql} LIMIT {SHOWN}")).all() if breaks else []
    return Check(name, int(breaks), [describe(row) for row in rows])


def check_books() -> list[Check]:
    return [
        _check("transactions without postings", """
            SELECT t.id, t.idempotency_key FROM ledger_transactions t
            WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.transaction_id = t.id)
            ORDER BY t.id""",
               lambda r: f"transaction {r[0]} ({r[1]}) has no postings"),
        _check("postings in another currency than their accounts", """
            SELECT p.id, p.currency, d.currency, c.currency FROM ledger_postings p
            JOIN ledger_accounts d ON d.id = p.debit_account_id
            JOIN ledger_accounts c ON c.id = p.credit_account_id
            WHERE d.currency <> p.currency OR c.currency <> p.currency
               OR p.amount_minor <= 0 OR p.debit_account_id = p.credit_account_id
            ORDER BY p.id""",
               lambda r: f"posting {r[0]} in {r[1]} between accounts in {r[2]} and {r[3]}"),
        _check("negative available balances", """
            WITH available AS (SELECT id, vendor_id, currency FROM ledger_accounts
                               WHERE kind = 'vendor_available'),
            moves AS (SELECT p.credit_account_id AS account_id, p.amount_minor AS amount
                      FROM ledger_postings p JOIN available a ON a.id = p.credit_account_id
                      UNION ALL
                      SELECT p.debit_account_id, -p.amount_minor
                      FROM ledger_postings p JOIN available a ON a.id = p.debit_account_id)
            SELECT a.id, a.vendor_id, a.currency, sum(m.amount) AS amount
            FROM available a JOIN moves m ON m.account_id = a.id
            GROUP BY a.id, a.vendor_id, a.currency
            HAVING sum(m.amount) < 0
            ORDER BY a.id""",
               lambda r: f"vendor {r[1]} available {r[3]} {r[2]} (account {r[0]})"),
        _check("paid sub-orders without their capture", """
            SELECT s.id, o.number FROM sub_orders s JOIN orders o ON o.id = s.order_id
            WHERE o.status = 'paid' AND s.total_minor > 0
              AND NOT EXISTS (SELECT 1 FROM ledger_transactions t
                              WHERE t.idempotency_key = 'capture:sub_order:' || s.id)
            ORDER BY s.id""",
               lambda r: f"sub-order {r[0]} of order {r[1]} is paid but not in the ledger"),
        _check("captures whose parts do not sum to the charge", """
            SELECT s.id, s.total_minor, s.currency,
                   (SELECT sum(p.amount_minor) FROM ledger_postings p
                    WHERE p.transaction_id = t.id) AS posted
            FROM ledger_transactions t JOIN sub_orders s ON s.id = t.sub_order_id
            WHERE t.kind = 'payment_captured'
              AND s.total_minor <> COALESCE((SELECT sum(p.amount_minor) FROM ledger_postings p
                                             WHERE p.transaction_id = t.id
                                               AND p.currency = s.currency), 0)
            ORDER BY s.id""",
               lambda r: f"sub-order {r[0]}: charged {r[1]} {r[2]}, posted {r[3]}"),
        _check("cash at the provider differs from the captured charges", """
            SELECT cash.currency, cash.debited, COALESCE(captured.total, 0) FROM
              (SELECT a.currency, sum(p.amount_minor) AS debited FROM ledger_postings p
               JOIN ledger_accounts a ON a.id = p.debit_account_id
               WHERE a.kind = 'provider_cash' GROUP BY a.currency) AS cash
            LEFT JOIN
              (SELECT s.currency, sum(s.total_minor) AS total FROM sub_orders s
               WHERE EXISTS (SELECT 1 FROM ledger_transactions t
                             WHERE t.idempotency_key = 'capture:sub_order:' || s.id)
               GROUP BY s.currency) AS captured ON captured.currency = cash.currency
            WHERE cash.debited <> COALESCE(captured.total, 0)
            ORDER BY cash.currency""",
               lambda r: f"{r[0]}: cash debited {r[1]}, captured charges {r[2]}"),
    ]
