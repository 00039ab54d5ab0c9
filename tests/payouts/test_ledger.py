"""The ledger service: accounts, idempotent postings, balances, append-only storage."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from marketplace.extensions import db
from marketplace.money import Money
from payouts import ledger
from payouts.ledger import AccountBalance, IdempotencyConflict, LedgerError
from payouts.models import (
    AccountKind,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    TransactionKind,
)
from tests.factories import make_vendor


def test_account_is_created_once_per_owner_kind_and_currency(app):
    vendor = make_vendor()

    first = ledger.account(AccountKind.VENDOR_PENDING, "eur", vendor_id=vendor.id)
    again = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor.id)
    usd = ledger.account(AccountKind.VENDOR_PENDING, "USD", vendor_id=vendor.id)
    platform = ledger.account(AccountKind.PROVIDER_CASH, "EUR")

    assert again.id == first.id
    assert (first.owner, first.currency, first.vendor_id) == (f"vendor-{vendor.id}", "EUR",
                                                              vendor.id)
    assert usd.id != first.id
    assert (platform.owner, platform.vendor_id) == ("platform", None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerAccount)) == 3


def test_account_refuses_a_kind_of_the_wrong_owner(app):
    vendor = make_vendor()

    with pytest.raises(LedgerError, match="vendor_available is not an account of platform"):
        ledger.account(AccountKind.VENDOR_AVAILABLE, "EUR")
    with pytest.raises(LedgerError, match=f"provider_cash is not an account of vendor-{vendor.id}"):
        ledger.account(AccountKind.PROVIDER_CASH, "EUR", vendor_id=vendor.id)


def _capture(vendor_id: int, key: str = "capture:sub_order:1", amount: int = 10_000):
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor_id)
    revenue = ledger.account(AccountKind.COMMISSION_REVENUE, "EUR")
    return ledger.post(TransactionKind.PAYMENT_CAPTURED, key,
                       [(cash.id, pending.id, amount - 1_000, "EUR"),
                        ledger.Leg(cash.id, revenue.id, 1_000, "EUR")],
                       vendor_id=vendor_id, memo="Order 1")


def test_post_writes_a_transaction_with_its_postings_and_balances_follow(app):
    vendor = make_vendor()

    transaction = _capture(vendor.id)
    db.session.commit()

    assert (transaction.kind, transaction.idempotency_key, transaction.vendor_id,
            transaction.memo) == (TransactionKind.PAYMENT_CAPTURED, "capture:sub_order:1",
                                  vendor.id, "Order 1")
    assert sorted(p.amount_minor for p in transaction.postings) == [1_000, 9_000]
    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(10_000, "EUR")
    assert ledger.balance_of(AccountKind.COMMISSION_REVENUE, "EUR") == Money(1_000, "EUR")
    assert ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR",
                             vendor_id=vendor.id) == Money(9_000, "EUR")
    assert ledger.balance_of(AccountKind.VENDOR_AVAILABLE, "EUR",
                             vendor_id=vendor.id) == Money(0, "EUR")
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor.id)
    assert ledger.balance(pending.id) == 9_000


def test_balances_lists_an_owners_accounts_by_currency_and_kind(app):
    vendor = make_vendor()
    _capture(vendor.id)
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor.id)
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=vendor.id)
    ledger.post(TransactionKind.SETTLEMENT_RELEASE, "settle:sub_order:1",
                [(pending.id, available.id, 4_000, "EUR")], vendor_id=vendor.id)

    assert ledger.balances(vendor_id=vendor.id) == [
        AccountBalance(available.id, AccountKind.VENDOR_AVAILABLE, "EUR", 4_000),
        AccountBalance(pending.id, AccountKind.VENDOR_PENDING, "EUR", 5_000),
    ]
    assert [(b.kind, b.money) for b in ledger.balances()] == [
        (AccountKind.COMMISSION_REVENUE, Money(1_000, "EUR")),
        (AccountKind.PROVIDER_CASH, Money(10_000, "EUR")),
    ]


def test_post_twice_with_one_key_posts_once_and_returns_the_first(app):
    vendor = make_vendor()
    first = _capture(vendor.id)

    second = _capture(vendor.id, amount=99_999)
    db.session.commit()

    assert second.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerPosting)) == 2
    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(10_000, "EUR")


def test_post_with_a_key_of_another_kind_is_refused(app):
    vendor = make_vendor()
    _capture(vendor.id)
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    refunds = ledger.account(AccountKind.REFUNDS, "EUR")

    with pytest.raises(IdempotencyConflict,
                       match="capture:sub_order:1 was posted as payment_captured, not refund"):
        ledger.post(TransactionKind.REFUND, "capture:sub_order:1",
                    [(refunds.id, cash.id, 5, "EUR")])


@pytest.mark.parametrize(("legs", "message"), [
    ([], "at least one posting"),
    ([(1, 2, 0, "EUR")], "positive integers, not 0"),
    ([(1, 2, -5, "EUR")], "positive integers, not -5"),
    ([(1, 2, 1.5, "EUR")], "positive integers, not 1.5"),
    ([(1, 1, 5, "EUR")], "two different accounts"),
])
def test_post_refuses_malformed_legs_and_writes_nothing(app, legs, message):
    with pytest.raises(LedgerError, match=message):
        ledger.post(TransactionKind.ADJUSTMENT, "adjust:1", legs)

    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 0


def test_a_posting_in_another_currency_than_its_accounts_is_refused(app):
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    revenue = ledger.account(AccountKind.COMMISSION_REVENUE, "EUR")

    with pytest.raises(LedgerError, match=f"account {cash.id} does not hold USD"):
        ledger.post(TransactionKind.ADJUSTMENT, "adjust:1", [(cash.id, revenue.id, 5, "USD")])
    with pytest.raises(LedgerError, match="account 999999 does not hold EUR"):
        ledger.post(TransactionKind.ADJUSTMENT, "adjust:1", [(cash.id, 999_999, 5, "EUR")])

    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 0


@pytest.mark.postgres_only
def test_the_database_refuses_a_posting_in_another_currency_than_its_accounts(app):
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    revenue = ledger.account(AccountKind.COMMISSION_REVENUE, "EUR")
    transaction = ledger.post(TransactionKind.ADJUSTMENT, "adjust:1",
                              [(cash.id, revenue.id, 5, "EUR")])

    with pytest.raises(IntegrityError):
        db.session.execute(sa.insert(LedgerPosting).values(
            transaction_id=transaction.id, debit_account_id=cash.id,
            credit_account_id=revenue.id, amount_minor=5, currency="USD"))
    db.session.rollback()


def test_postings_are_append_only_in_the_database(app):
    vendor = make_vendor()
    _capture(vendor.id)
    db.session.commit()

    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text("UPDATE ledger_postings SET amount_minor = 1"))
    db.session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text("UPDATE ledger_transactions SET memo = 'x'"))
    db.session.rollback()

    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(10_000, "EUR")


@pytest.mark.postgres_only
def test_postings_cannot_be_deleted_on_postgresql(app):
    vendor = make_vendor()
    _capture(vendor.id)
    db.session.commit()

    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text("DELETE FROM ledger_postings"))
    db.session.rollback()


@pytest.mark.postgres_only
def test_concurrent_posts_of_one_key_and_accounts_write_once(app):
    vendor = make_vendor()
    db.session.commit()
    vendor_id = vendor.id
    barrier = threading.Barrier(8)
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait()
                ids.append(_capture(vendor_id).id)
                db.session.commit()
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(ids)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerAccount)) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerPosting)) == 2
    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(10_000, "EUR")
