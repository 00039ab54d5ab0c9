"""The ledger's service: accounts, idempotent postings, balances derived by SQL.

Three calls cover every money event::

    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=7)
    ledger.post(TransactionKind.PAYMENT_CAPTURED, "capture:sub_order:12",
                [(cash.id, pending.id, 9_00, "EUR")], sub_order_id=12, vendor_id=7)
    ledger.balance(pending.id)  # 900

- :func:`account` gets or creates an account. Concurrent callers asking for one that does not
  exist yet insert one row (``INSERT ... ON CONFLICT DO NOTHING`` on owner, kind, currency,
  then a read): nobody gets a unique violation.
- :func:`post` writes one transaction and its postings, once per ``idempotency_key``: the
  second call with a key (a retried job, a concurrent duplicate) writes nothing and returns
  the first call's transaction. On PostgreSQL a concurrent duplicate waits for the first
  writer's commit and then finds its row; if that writer rolls back it posts instead.
- :func:`balance` / :func:`balances` compute balances from postings in SQL, never from a
  stored figure: credits minus debits, or the reverse for the debit-normal accounts
  (``models.DEBIT_NORMAL``).

Everything flushes and nothing commits: postings commit together with the business change
they record (an order becoming paid, a payout row), or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money
from payouts.models import (
    DEBIT_NORMAL,
    VENDOR_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    TransactionKind,
)

PLATFORM = "platform"


class Leg(NamedTuple):
    """One posting: ``amount_minor`` (> 0) moves from the debited account to the credited
    one, in ``currency``. A plain ``(debit_id, credit_id, amount_minor, currency)`` tuple
    works too."""

    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    currency: str


class LedgerError(ValueError):
    """A posting the ledger refuses (no legs, a non-positive amount, one account twice)."""


class IdempotencyConflict(LedgerError):
    """The key was used before by a transaction of another kind: a programming error (two
    events deriving the same key), never a retry."""


def owner_of(vendor_id: int | None) -> str:
    return PLATFORM if vendor_id is None else f"vendor-{vendor_id}"


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def account(kind: AccountKind, currency: str, *, vendor_id: int | None = None) -> LedgerAccount:
    """The account of ``kind`` in ``currency`` of a vendor (``vendor_id``) or of the
    platform (None), created on first use. Race-safe; flushes.

    Raises LedgerError when the kind does not belong to that owner (a vendor kind without a
    vendor, or a platform kind with one).
    """
    kind = AccountKind(kind)
    if (kind in VENDOR_KINDS) != (vendor_id is not None):
        raise LedgerError(f"{kind.value} is not an account of {owner_of(vendor_id)}")
    currency = currency.upper()
    owner = owner_of(vendor_id)
    found = _find_account(owner, kind, currency)
    if found is not None:
        return found
    db.session.execute(
        _insert(LedgerAccount).values(owner=owner, vendor_id=vendor_id, kind=kind,
                                      currency=currency, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["owner", "kind", "currency"])
    )
    found = _find_account(owner, kind, currency)
    assert found is not None  # inserted above, or by the concurrent writer we waited for
    return found


def _find_account(owner: str, kind: AccountKind, currency: str) -> LedgerAccount | None:
    return db.session.scalar(sa.select(LedgerAccount).where(
        LedgerAccount.owner == owner, LedgerAccount.kind == kind,
        LedgerAccount.currency == currency))


def post(kind: TransactionKind, idempotency_key: str,
         legs: Iterable[Leg | tuple[int, int, int, str]], *,
         order_id: int | None = None, sub_order_id: int | None = None,
         vendor_id: int | None = None, payout_id: int | None = None,
         refund_id: int | None = None, dispute_id: int | None = None,
         memo: str = "") -> LedgerTransaction:
    """Record one money event: a transaction and its postings, once per key. Flushes.

    Returns the new transaction, or the one posted earlier with ``idempotency_key`` (its
    legs are not compared: the key names the event, and the event's first posting stands).
    Raises LedgerError for no legs, an amount <= 0, a leg debiting and crediting one
    account, or a leg whose accounts do not exist or do not hold its currency;
    IdempotencyConflict when the key belongs to a transaction of another kind.
    """
    kind = TransactionKind(kind)
    legs = [Leg(*leg) for leg in legs]
    _check(legs)
    _check_currencies(legs)
    transaction_id = db.session.scalar(
        _insert(LedgerTransaction).values(
            kind=kind, idempotency_key=idempotency_key, order_id=order_id,
            sub_order_id=sub_order_id, vendor_id=vendor_id, payout_id=payout_id,
            refund_id=refund_id, dispute_id=dispute_id, memo=memo, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransaction.id)
    )
    if transaction_id is None:
        existing = transaction_for(idempotency_key)
        assert existing is not None
        if existing.kind != kind:
            raise IdempotencyConflict(
                f"{idempotency_key} was posted as {existing.kind.value}, not {kind.value}")
        return existing
    db.session.execute(sa.insert(LedgerPosting), [
        {"transaction_id": transaction_id, "debit_account_id": leg.debit_account_id,
         "credit_account_id": leg.credit_account_id, "amount_minor": leg.amount_minor,
         "currency": leg.currency.upper()}
        for leg in legs
    ])
    return db.session.get(LedgerTransaction, transaction_id)


def _check(legs: Sequence[Leg]) -> None:
    if not legs:
        raise LedgerError("a transaction needs at least one posting")
    for leg in legs:
        if not isinstance(leg.amount_minor, int) or leg.amount_minor <= 0:
            raise LedgerError(f"posting amounts are positive integers, not {leg.amount_minor!r}")
        if leg.debit_account_id == leg.credit_account_id:
            raise LedgerError("a posting moves money between two different accounts")


def _check_currencies(legs: Sequence[Leg]) -> None:
    # PostgreSQL enforces this with the composite foreign keys; SQLite (foreign keys off in
    # this app) does not, so the service checks on every backend.
    ids = {leg.debit_account_id for leg in legs} | {leg.credit_account_id for leg in legs}
    held = dict(db.session.execute(sa.select(LedgerAccount.id, LedgerAccount.currency)
                                   .where(LedgerAccount.id.in_(ids))).all())
    for leg in legs:
        for account_id in (leg.debit_account_id, leg.credit_account_id):
            if held.get(account_id) != leg.currency.upper():
                raise LedgerError(f"account {account_id} does not hold {leg.currency.upper()}")


def transaction_for(idempotency_key: str) -> LedgerTransaction | None:
    return db.session.scalar(sa.select(LedgerTransaction)
                             .where(LedgerTransaction.idempotency_key == idempotency_key))


def _credited_minus_debited(account_id: int) -> sa.ColumnElement[int]:
    """Credits minus debits of one account: two index range sums. The id is bound as a value,
    not correlated to an outer row, so the planner sees it: most postings debit the one cash
    account, and a generic plan would scan the whole ledger for every other account."""
    credited = sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount_minor), 0)).where(
        LedgerPosting.credit_account_id == account_id).scalar_subquery()
    debited = sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount_minor), 0)).where(
        LedgerPosting.debit_account_id == account_id).scalar_subquery()
    return credited - debited


def _signed(kind: AccountKind, credits_minus_debits: int) -> int:
    return -int(credits_minus_debits) if kind in DEBIT_NORMAL else int(credits_minus_debits)


def balance(account_id: int) -> int:
    """The balance of one account in minor units of its currency (0 without postings)."""
    row = db.session.execute(
        sa.select(LedgerAccount.kind, _credited_minus_debited(account_id))
        .where(LedgerAccount.id == account_id)
    ).one_or_none()
    return 0 if row is None else _signed(AccountKind(row[0]), row[1])


def balance_of(kind: AccountKind, currency: str, *, vendor_id: int | None = None) -> Money:
    """The balance of an owner's account of ``kind`` in ``currency``, as Money (zero when the
    account does not exist yet; reading creates nothing)."""
    found = _find_account(owner_of(vendor_id), AccountKind(kind), currency.upper())
    return Money(balance(found.id) if found is not None else 0, currency.upper())


@dataclass(frozen=True)
class AccountBalance:
    account_id: int
    kind: AccountKind
    currency: str
    amount_minor: int

    @property
    def money(self) -> Money:
        return Money(self.amount_minor, self.currency)


def balances(*, vendor_id: int | None = None) -> list[AccountBalance]:
    """Every account of a vendor (or of the platform when ``vendor_id`` is None) with its
    balance, ordered by currency then kind. One query per account (a handful per owner)."""
    rows = db.session.execute(
        sa.select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.currency)
        .where(LedgerAccount.owner == owner_of(vendor_id))
        .order_by(LedgerAccount.currency, LedgerAccount.kind)
    ).all()
    return [AccountBalance(id_, AccountKind(kind), currency, balance(id_))
            for id_, kind, currency in rows]
