"""The demo's money flow: what a newcomer sees after `make run`, made by the real services."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from marketplace.admin.seed import BUYER_EMAIL, seed_demo
from marketplace.extensions import db
from marketplace.models import User
from payouts import ledger
from payouts.books import check_books
from payouts.demo import seed_money
from payouts.models import (
    AccountKind,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
    TransactionKind,
)
from tests.buyers.checkout_support import log_in
from vendors.order_models import Order, OrderStatus


def _seeded():
    seed_demo(vendors=5, products=6, buyers=1, seed=11)
    db.session.commit()
    return seed_money(BUYER_EMAIL)


def _count(kind: TransactionKind) -> int:
    return db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id))
                             .where(LedgerTransaction.kind == kind))


def test_the_demo_runs_an_order_through_settlement_payout_and_a_partial_refund(app):
    money = _seeded()

    assert len(money.orders) == 4
    assert db.session.scalar(sa.select(sa.func.count(Order.id))
                             .where(Order.status == OrderStatus.PAID)) == 4
    # Three older orders (3 + 2 + 1 shops) are past the hold period; the newest is not.
    assert money.settled == 6 == _count(TransactionKind.SETTLEMENT_RELEASE)
    paid = db.session.scalars(sa.select(Payout).where(Payout.status == PayoutStatus.PAID)).all()
    assert money.payouts == 3 == len(paid)
    refund = db.session.scalars(sa.select(Refund)).one()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.amount_minor == money.refunded_minor
    assert refund.amount_minor == (refund.vendor_share_minor + refund.commission_minor
                                   + refund.tax_minor)
    assert refund.commission_minor > 0 and refund.tax_minor > 0
    assert [check.name for check in check_books() if not check.ok] == []


def test_the_first_shop_sees_its_money_at_every_stage(app, client):
    _seeded()
    refund = db.session.scalars(sa.select(Refund)).one()
    vendor_id = refund.vendor_id
    pending = ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor_id)
    paid_out = ledger.balance_of(AccountKind.VENDOR_PAID_OUT, "EUR", vendor_id=vendor_id)
    # The newest order's share waits in pending, less the refunded unit's share.
    assert pending.amount_minor > 0 and paid_out.amount_minor > 0
    owner = db.session.scalar(sa.select(User).where(User.email == "vendor1@example.com"))
    log_in(client, owner)

    balance = client.get("/vendor/balance").get_data(as_text=True)
    transactions = client.get("/vendor/balance/transactions").get_data(as_text=True)
    month = db.session.scalar(sa.select(LedgerTransaction.created_at)
                              .where(LedgerTransaction.refund_id == refund.id))
    statement = client.get(f"/vendor/balance/statements/{month:%Y-%m}.csv", buffered=True)

    with app.test_request_context():  # formatted as the page does, in English
        shown = pending.format(), paid_out.format()
    assert shown[0] in balance and shown[1] in balance
    for label in ("Sale paid", "Released for payout", "Payout", "Refund"):
        assert label in transactions
    rows = list(csv.reader(io.StringIO(statement.get_data(as_text=True))))
    assert statement.status_code == 200
    assert any("Refund" in " ".join(row) for row in rows[1:])


def test_the_admin_sees_the_demo_in_the_finance_pages(app, client):
    _seeded()
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
    log_in(client, admin)

    finance = client.get("/admin/finance")
    reconciliation = client.get("/admin/finance/reconciliation")
    refunds = client.get("/admin/refunds?status=succeeded")

    assert finance.status_code == reconciliation.status_code == refunds.status_code == 200
    assert 'id="reconciled" data-state="ok"' in reconciliation.get_data(as_text=True)
