"""`flask marketplace check-books`: passes on sound books, names every break, exits 1."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from payouts import commission, ledger
from payouts.models import AccountKind, Payout, PayoutStatus, TransactionKind
from payouts.settlement import settle_due
from tests.payouts.ledger_support import checkout, pay
from vendors.order_models import Order, SubOrder

ALL_OK = """\
ok   transactions without postings
ok   postings in another currency than their accounts
ok   payouts larger than the available balance
ok   paid sub-orders without their capture
ok   captures whose parts do not sum to the charge
ok   cash at the provider differs from the charges less refunds and disputes
ok   disputes without their opened or closing transactions
ok   refunds whose ledger transaction is missing or differs
All 8 checks passed.
"""


def _check_books(app):
    return app.test_cli_runner().invoke(args=["marketplace", "check-books"])


def test_books_of_paid_and_settled_orders_pass(app, client, market):
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR")
    pay(checkout(client, market.buyer, (market.chair, 1), (market.lamp, 2)))
    settle_due(utcnow() + dt.timedelta(days=8))

    result = _check_books(app)

    assert (result.exit_code, result.output) == (0, ALL_OK)


def test_empty_books_pass(app):
    assert _check_books(app).output == ALL_OK


def test_a_paid_sub_order_missing_from_the_ledger_is_reported(app, client, market):
    order = checkout(client, market.buyer, (market.lamp, 1))
    # Paid without its event going through the ledger (e.g. a handler that was not registered).
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(status="paid", paid_at=utcnow()))
    db.session.commit()
    part_id = db.session.scalar(sa.select(SubOrder.id).where(SubOrder.order_id == order.id))

    result = _check_books(app)

    assert result.exit_code == 1
    assert (f"BROKEN  paid sub-orders without their capture: 1\n"
            f"        sub-order {part_id} of order {order.number} is paid but not in the ledger\n"
            ) in result.output
    assert result.output.endswith("1 of 8 checks broken.\n")


def test_a_payout_beyond_the_available_balance_and_unmatched_cash_are_reported(app, market):
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=market.nordic.id)
    paid_out = ledger.account(AccountKind.VENDOR_PAID_OUT, "EUR", vendor_id=market.nordic.id)
    ledger.post(TransactionKind.ADJUSTMENT, "adjust:1", [(cash.id, available.id, 200, "EUR")])
    # A payout of 700 from a balance of 200 (never what create_payout does).
    payout = Payout(vendor_id=market.nordic.id, currency="EUR", amount_minor=700,
                    status=PayoutStatus.PENDING, attempts=0)
    db.session.add(payout)
    db.session.flush()
    ledger.post(TransactionKind.PAYOUT_SENT, f"payout:{payout.id}",
                [(available.id, paid_out.id, 700, "EUR")], vendor_id=market.nordic.id,
                payout_id=payout.id)
    db.session.commit()

    result = _check_books(app)

    assert result.exit_code == 1
    assert (f"BROKEN  payouts larger than the available balance: 1\n"
            f"        payout {payout.id} of vendor {market.nordic.id}: 700 EUR paid out of an "
            f"available balance of 200\n") in result.output
    assert ("BROKEN  cash at the provider differs from the charges less refunds and disputes: 1\n"
            "        EUR: cash 200, but captured 0 - refunded 0 - disputed 0 + disputes won 0"
            " = 0\n") in result.output
    assert result.output.endswith("2 of 8 checks broken.\n")


def test_a_capture_whose_parts_miss_the_charge_is_reported(app, client, market):
    order = checkout(client, market.buyer, (market.lamp, 1))
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(status="paid", paid_at=utcnow()))
    part_id = db.session.scalar(sa.select(SubOrder.id).where(SubOrder.order_id == order.id))
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=market.atelier.id)
    ledger.post(TransactionKind.PAYMENT_CAPTURED, f"capture:sub_order:{part_id}",
                [(cash.id, pending.id, 4_999, "EUR")], order_id=order.id, sub_order_id=part_id)
    db.session.commit()

    result = _check_books(app)

    assert result.exit_code == 1
    assert (f"BROKEN  captures whose parts do not sum to the charge: 1\n"
            f"        sub-order {part_id}: charged 5000 EUR, posted 4999\n") in result.output
    assert ("BROKEN  cash at the provider differs from the charges less refunds and disputes: 1\n"
            "        EUR: cash 4999, but captured 5000 - refunded 0 - disputed 0 + disputes won 0"
            " = 5000\n") in result.output
    assert result.output.endswith("2 of 8 checks broken.\n")
