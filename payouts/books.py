"""The books' invariants, checked by SQL: :func:`check_books` lists every break it finds.

1. Every transaction has postings, and every posting is in its two accounts' currency
   (PostgreSQL's composite keys guarantee it; SQLite runs without foreign keys). With one
   amount debited and credited per posting, every transaction then sums to zero per currency.
2. No payout was larger than the vendor's available balance when it was made (the balance
   of the postings before its ``payout_sent``, in transaction order; payouts and every debit
   of an available balance take the account's row lock, so that order is the order they
   happened in). An available balance *below zero* is not a break by itself: a refund or a
   lost dispute after the money was released takes the vendor's share back from available
   and may leave it negative, netted against the vendor's future earnings — what must never
   happen is paying out money the vendor doesn't have.
3. Every paid order's sub-orders have their capture transaction, and its parts (tax,
   commission, vendor share) sum to the sub-order's total exactly.
4. Cash at the provider, per currency: the captured sub-orders' totals, less succeeded
   refunds, less every dispute's amount (the provider takes it when the dispute opens), plus
   the disputes won (it gives it back).
5. Every dispute has its opening transaction, a won one its ``dispute-won`` transaction, a
   lost one ``dispute_lost`` transactions crediting the ``disputes`` account its amount
   exactly, and no dispute has the transactions of an outcome it does not have.
6. Every succeeded refund has its ``refund:<id>`` transaction, whose parts are the refund's
   own (cash credited its amount; tax payable, commission revenue and the vendor's accounts
   debited its tax, commission and vendor share); no other refund has one; and every
   refund's parts sum to its amount.
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
        _check("payouts larger than the available balance", """
            WITH available AS (SELECT id, vendor_id, currency FROM ledger_accounts
                               WHERE kind = 'vendor_available'),
            moves AS (SELECT p.transaction_id, p.credit_account_id AS account_id,
                             p.amount_minor AS amount
                      FROM ledger_postings p JOIN available a ON a.id = p.credit_account_id
                      UNION ALL
                      SELECT p.transaction_id, p.debit_account_id, -p.amount_minor
                      FROM ledger_postings p JOIN available a ON a.id = p.debit_account_id),
            per_transaction AS (SELECT transaction_id, account_id, sum(amount) AS amount
                                FROM moves GROUP BY transaction_id, account_id),
            running AS (SELECT transaction_id, account_id, amount,
                               sum(amount) OVER (PARTITION BY account_id
                                                 ORDER BY transaction_id
                                                 ROWS UNBOUNDED PRECEDING) AS after
                        FROM per_transaction)
            SELECT t.payout_id, a.vendor_id, -r.amount, r.after - r.amount, a.currency
            FROM running r
            JOIN ledger_transactions t ON t.id = r.transaction_id
            JOIN available a ON a.id = r.account_id
            WHERE t.kind = 'payout_sent' AND r.after < 0
            ORDER BY t.payout_id""",
               lambda r: f"payout {r[0]} of vendor {r[1]}: {r[2]} {r[4]} paid out of an "
                         f"available balance of {r[3]}"),
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
        _check("cash at the provider differs from the charges less refunds and disputes", """
            SELECT cash.currency, cash.held, COALESCE(captured.total, 0),
                   COALESCE(refunded.total, 0), COALESCE(disputed.total, 0),
                   COALESCE(won.total, 0) FROM
              (SELECT a.currency,
                      (SELECT COALESCE(sum(p.amount_minor), 0) FROM ledger_postings p
                       WHERE p.debit_account_id = a.id)
                      - (SELECT COALESCE(sum(p.amount_minor), 0) FROM ledger_postings p
                         WHERE p.credit_account_id = a.id) AS held
               FROM ledger_accounts a WHERE a.kind = 'provider_cash') AS cash
            LEFT JOIN
              (SELECT s.currency, sum(s.total_minor) AS total FROM sub_orders s
               WHERE EXISTS (SELECT 1 FROM ledger_transactions t
                             WHERE t.idempotency_key = 'capture:sub_order:' || s.id)
               GROUP BY s.currency) AS captured ON captured.currency = cash.currency
            LEFT JOIN
              (SELECT r.currency, sum(r.amount_minor) AS total FROM refunds r
               WHERE r.status = 'succeeded' GROUP BY r.currency) AS refunded
              ON refunded.currency = cash.currency
            LEFT JOIN
              (SELECT d.currency, sum(d.amount_minor) AS total FROM disputes d
               GROUP BY d.currency) AS disputed ON disputed.currency = cash.currency
            LEFT JOIN
              (SELECT d.currency, sum(d.amount_minor) AS total FROM disputes d
               WHERE d.status = 'won' GROUP BY d.currency) AS won ON won.currency = cash.currency
            WHERE cash.held <> COALESCE(captured.total, 0) - COALESCE(refunded.total, 0)
                               - COALESCE(disputed.total, 0) + COALESCE(won.total, 0)
            ORDER BY cash.currency""",
               lambda r: f"{r[0]}: cash {r[1]}, but captured {r[2]} - refunded {r[3]} "
                         f"- disputed {r[4]} + disputes won {r[5]} = {r[2] - r[3] - r[4] + r[5]}"),
        _check("disputes without their opened or closing transactions", """
            SELECT d.id, d.provider_dispute_id, d.status, d.amount_minor, d.currency,
                   CASE WHEN opened.id IS NULL THEN 0 ELSE 1 END AS opened,
                   CASE WHEN won.id IS NULL THEN 0 ELSE 1 END AS won,
                   COALESCE(lost.total, 0) AS lost
            FROM disputes d
            LEFT JOIN ledger_transactions opened
              ON opened.idempotency_key = 'dispute-opened:' || d.id
            LEFT JOIN ledger_transactions won ON won.idempotency_key = 'dispute-won:' || d.id
            LEFT JOIN
              (SELECT t.dispute_id, sum(p.amount_minor) AS total FROM ledger_transactions t
               JOIN ledger_postings p ON p.transaction_id = t.id
               JOIN ledger_accounts a ON a.id = p.credit_account_id AND a.kind = 'disputes'
               WHERE t.kind = 'dispute_lost' GROUP BY t.dispute_id) AS lost
              ON lost.dispute_id = d.id
            WHERE opened.id IS NULL
               OR (won.id IS NOT NULL) <> (d.status = 'won')
               OR COALESCE(lost.total, 0) <> CASE WHEN d.status = 'lost'
                                                  THEN d.amount_minor ELSE 0 END
            ORDER BY d.id""",
               lambda r: f"dispute {r[0]} ({r[1]}, {r[2]}, {r[3]} {r[4]}): opening "
                         f"{'posted' if r[5] else 'missing'}, "
                         f"won {'posted' if r[6] else 'not posted'}, lost {r[7]} posted"),
        _check("refunds whose ledger transaction is missing or differs", _REFUNDS,
               _describe_refund),
    ]


# A refund's transaction (key ``refund:<id>``) debits tax payable its tax, commission revenue
# its commission and the vendor's pending/available accounts its vendor share, and credits
# provider cash its amount. Only a succeeded refund has one.
_REFUNDS = """
    SELECT r.id, r.status, r.amount_minor, r.currency, t.id AS transaction_id,
           COALESCE(posted.cash, 0), COALESCE(posted.tax, 0), COALESCE(posted.commission, 0),
           COALESCE(posted.vendor, 0)
    FROM refunds r
    LEFT JOIN ledger_transactions t ON t.idempotency_key = 'refund:' || r.id
    LEFT JOIN
      (SELECT p.transaction_id,
              sum(CASE WHEN c.kind = 'provider_cash' THEN p.amount_minor ELSE 0 END) AS cash,
              sum(CASE WHEN d.kind = 'tax_payable' THEN p.amount_minor ELSE 0 END) AS tax,
              sum(CASE WHEN d.kind = 'commission_revenue' THEN p.amount_minor ELSE 0 END)
                AS commission,
              sum(CASE WHEN d.kind IN ('vendor_pending', 'vendor_available')
                       THEN p.amount_minor ELSE 0 END) AS vendor,
              sum(p.amount_minor) AS total
       FROM ledger_transactions rt
       JOIN ledger_postings p ON p.transaction_id = rt.id
       JOIN ledger_accounts d ON d.id = p.debit_account_id
       JOIN ledger_accounts c ON c.id = p.credit_account_id
       WHERE rt.kind = 'refund'
       GROUP BY p.transaction_id) AS posted ON posted.transaction_id = t.id
    WHERE (r.status = 'succeeded'
           AND (t.id IS NULL OR posted.total <> r.amount_minor OR posted.cash <> r.amount_minor
                OR posted.tax <> r.tax_minor OR posted.commission <> r.commission_minor
                OR posted.vendor <> r.vendor_share_minor))
       OR (r.status <> 'succeeded' AND t.id IS NOT NULL)
       OR r.amount_minor <> r.vendor_share_minor + r.commission_minor + r.tax_minor
    ORDER BY r.id"""


def _describe_refund(r) -> str:
    head = f"refund {r[0]} ({r[1]}, {r[2]} {r[3]})"
    if r[4] is None:
        return f"{head}: no ledger transaction"
    return (f"{head}: posted cash {r[5]}, tax {r[6]}, commission {r[7]}, vendor share {r[8]}"
            + ("" if r[1] == "succeeded" else ", but the refund did not succeed"))
