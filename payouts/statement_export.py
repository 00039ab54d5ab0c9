"""Vendor statements per calendar month (UTC): a printable page and a CSV download.

A statement covers ``start <= created_at < end`` of the ledger's transactions and, per
currency, says where the vendor's three balances (pending, available, paid out) stood before
it (*opening*), what each kind of transaction did to them, and where they stood after it
(*closing*). Opening and closing are each computed from the postings in SQL (everything
before ``start``, everything before ``end``), so ``opening + movement = closing`` is a check,
not an identity the code assumes. The "sales" block adds what the vendor's own transactions
did to the platform's accounts: gross sales charged to buyers, commission and tax kept (net of
what refunds and lost disputes gave back), money refunded to buyers.

Scoping: the vendor's accounts are found with ``vendor_select(LedgerAccount, vendor_id)`` and
every amount is read through postings on those accounts (or, for the sales block, from
``vendor_select(LedgerTransaction, vendor_id)``): nothing of another vendor can appear.

Transactions are streamed (``yield_per``) and grouped as they arrive, so a month of any size
is written to the CSV without being held in memory. Amounts are integer minor units; the CSV
writes them as exact decimal strings (``Money.to_decimal``), never through a float.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from marketplace.extensions import db
from marketplace.money import currency_exponent
from marketplace.payments.records import as_utc
from marketplace.scoping import vendor_select
from payouts.models import (
    VENDOR_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    TransactionKind,
)
from payouts.statements import KIND_LABELS
from vendors.order_models import Order

YIELD_PER = 500
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
FIRST_YEAR = 2000

CSV_COLUMNS = ("date", "kind", "reference", "description", "currency", "pending_change",
               "available_change", "paid_out_change", "pending_balance", "available_balance",
               "paid_out_balance")


class InvalidPeriod(ValueError):
    """A statement period that is not a month this marketplace can have (the message is
    translated and meant for the person who asked)."""


# --- periods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @classmethod
    def of(cls, moment: dt.datetime) -> Month:
        moment = as_utc(moment)
        return cls(moment.year, moment.month)


def parse_month(text: str, now: dt.datetime | None = None) -> Month:
    """``YYYY-MM`` as a Month. Raises InvalidPeriod for anything else, a month before 2000,
    or a month that has not started yet."""
    match = _MONTH.fullmatch(text or "")
    if match is None:
        raise InvalidPeriod(_("A statement period is a month written as YYYY-MM, e.g. "
                              "2026-01."))
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise InvalidPeriod(_("There is no month %(month)s: months run from 01 to 12.",
                              month=match.group(2)))
    if year < FIRST_YEAR:
        raise InvalidPeriod(_("Statements start in %(year)s.", year=FIRST_YEAR))
    found = Month(year, month)
    if found.start > (now or dt.datetime.now(dt.UTC)):
        raise InvalidPeriod(_("%(month)s has not started yet.", month=found.key))
    return found


def default_month(now: dt.datetime | None = None) -> Month:
    """The last full month."""
    return Month.of(now or dt.datetime.now(dt.UTC)).previous()


def _month_key(column: sa.ColumnElement) -> sa.ColumnElement[str]:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.strftime("%Y-%m", column)


def activity_months(vendor_id: int) -> list[Month]:
    """The months in which the vendor's balances moved, newest first."""
    accounts = _vendor_accounts(vendor_id)
    if not accounts:
        return []
    touching = sa.or_(LedgerPosting.debit_account_id.in_(accounts),
                      LedgerPosting.credit_account_id.in_(accounts))
    # Distinct over a subquery's column: PostgreSQL would not match a GROUP BY expression
    # with bound values (the time zone, the format) to the same one in the select list.
    months = (sa.select(_month_key(LedgerTransaction.created_at).label("key"))
              .where(sa.exists().where(LedgerPosting.transaction_id == LedgerTransaction.id,
                                       touching))).subquery()
    keys = db.session.scalars(sa.select(months.c.key).distinct().order_by(months.c.key.desc()))
    return [Month(int(k[:4]), int(k[5:7])) for k in keys]


# --- the statement --------------------------------------------------------------------------


@dataclass(frozen=True)
class Balances:
    pending: int = 0
    available: int = 0
    paid_out: int = 0

    def __add__(self, other: Balances) -> Balances:
        return Balances(self.pending + other.pending, self.available + other.available,
                        self.paid_out + other.paid_out)

    @property
    def owed(self) -> int:
        """What the platform owes the vendor: pending + available."""
        return self.pending + self.available


@dataclass(frozen=True)
class Movement:
    kind: TransactionKind
    count: int
    change: Balances


@dataclass(frozen=True)
class Sales:
    """What the vendor's transactions did on the platform's side, in one currency."""

    gross: int = 0  # charged to buyers for the vendor's sub-orders (tax, shipping included)
    commission: int = 0  # kept by the platform, net of what refunds and disputes gave back
    tax: int = 0  # collected for the tax authority, net of tax refunded
    refunded: int = 0  # given back to buyers


@dataclass
class CurrencyStatement:
    currency: str
    opening: Balances
    closing: Balances
    movements: list[Movement] = field(default_factory=list)
    sales: Sales = field(default_factory=Sales)

    @property
    def movement(self) -> Balances:
        return sum((m.change for m in self.movements), Balances())


@dataclass(frozen=True)
class Statement:
    vendor_id: int
    month: Month
    currencies: list[CurrencyStatement]


def _vendor_accounts(vendor_id: int) -> dict[int, tuple[AccountKind, str]]:
    rows = db.session.execute(
        vendor_select(LedgerAccount, vendor_id)
        .with_only_columns(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.currency)
        .where(LedgerAccount.kind.in_(list(VENDOR_KINDS)))).all()
    return {id_: (AccountKind(kind), currency) for id_, kind, currency in rows}


def _add(balances: Balances, kind: AccountKind, amount: int) -> Balances:
    return balances + Balances(
        pending=amount if kind == AccountKind.VENDOR_PENDING else 0,
        available=amount if kind == AccountKind.VENDOR_AVAILABLE else 0,
        paid_out=amount if kind == AccountKind.VENDOR_PAID_OUT else 0)


def _net_by_account(accounts: dict[int, tuple[AccountKind, str]], *conditions,
                    by_kind: bool = False) -> dict[tuple, int]:
    """Credits minus debits per account (or per account and transaction kind) of the
    postings whose transaction meets ``conditions``: two grouped queries."""
    totals: dict[tuple, int] = defaultdict(int)
    for side, sign in ((LedgerPosting.credit_account_id, 1),
                       (LedgerPosting.debit_account_id, -1)):
        group = [side, LedgerTransaction.kind] if by_kind else [side]
        rows = db.session.execute(
            sa.select(*group, sa.func.sum(LedgerPosting.amount_minor))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
            .where(side.in_(list(accounts)), *conditions)
            .group_by(*group)).all()
        for *key, amount in rows:
            totals[tuple(key)] += sign * int(amount)
    return dict(totals)


def balances_before(vendor_id: int, moment: dt.datetime) -> dict[str, Balances]:
    """The vendor's balances per currency counting transactions created before ``moment``."""
    accounts = _vendor_accounts(vendor_id)
    result: dict[str, Balances] = defaultdict(Balances)
    if accounts:
        net = _net_by_account(accounts, LedgerTransaction.created_at < moment)
        for (account_id,), amount in net.items():
            kind, currency = accounts[account_id]
            result[currency] = _add(result[currency], kind, amount)
    return dict(result)


def _transaction_counts(accounts: dict[int, tuple[AccountKind, str]], start: dt.datetime,
                        end: dt.datetime) -> dict[tuple[str, TransactionKind], int]:
    touching = sa.or_(LedgerPosting.debit_account_id.in_(list(accounts)),
                      LedgerPosting.credit_account_id.in_(list(accounts)))
    rows = db.session.execute(
        sa.select(LedgerPosting.currency, LedgerTransaction.kind,
                  sa.func.count(sa.distinct(LedgerTransaction.id)))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(touching, LedgerTransaction.created_at >= start,
               LedgerTransaction.created_at < end)
        .group_by(LedgerPosting.currency, LedgerTransaction.kind)).all()
    return {(currency, TransactionKind(kind)): int(count) for currency, kind, count in rows}


def _sales(vendor_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, Sales]:
    debit, credit = aliased(LedgerAccount), aliased(LedgerAccount)
    scoped = vendor_select(LedgerTransaction, vendor_id).where(
        LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end).subquery()
    rows = db.session.execute(
        sa.select(scoped.c.kind, debit.kind, credit.kind, LedgerPosting.currency,
                  sa.func.sum(LedgerPosting.amount_minor))
        .join(LedgerPosting, LedgerPosting.transaction_id == scoped.c.id)
        .join(debit, debit.id == LedgerPosting.debit_account_id)
        .join(credit, credit.id == LedgerPosting.credit_account_id)
        .group_by(scoped.c.kind, debit.kind, credit.kind, LedgerPosting.currency)).all()
    parts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for txn_kind, debited, credited, currency, amount in rows:
        txn_kind, amount = TransactionKind(txn_kind), int(amount)
        part = parts[currency]
        if txn_kind == TransactionKind.PAYMENT_CAPTURED and debited == AccountKind.PROVIDER_CASH:
            part["gross"] += amount
        if txn_kind == TransactionKind.REFUND and credited == AccountKind.PROVIDER_CASH:
            part["refunded"] += amount
        for name, kind in (("commission", AccountKind.COMMISSION_REVENUE),
                           ("tax", AccountKind.TAX_PAYABLE)):
            part[name] += (amount if credited == kind else 0) - (amount if debited == kind else 0)
    return {currency: Sales(**part) for currency, part in parts.items()}


def build_statement(vendor_id: int, month: Month) -> Statement:
    """The vendor's statement of ``month``: per currency, opening and closing balances, the
    movement by kind of transaction and the sales block. Reads only."""
    accounts = _vendor_accounts(vendor_id)
    opening = balances_before(vendor_id, month.start)
    closing = balances_before(vendor_id, month.end)
    statements = {currency: CurrencyStatement(currency, opening.get(currency, Balances()),
                                              closing.get(currency, Balances()))
                  for currency in sorted(set(opening) | set(closing))}
    if accounts:
        net = _net_by_account(accounts, LedgerTransaction.created_at >= month.start,
                              LedgerTransaction.created_at < month.end, by_kind=True)
        counts = _transaction_counts(accounts, month.start, month.end)
        changes: dict[tuple[str, TransactionKind], Balances] = defaultdict(Balances)
        for (account_id, txn_kind), amount in net.items():
            kind, currency = accounts[account_id]
            key = (currency, TransactionKind(txn_kind))
            changes[key] = _add(changes[key], kind, amount)
        order = {kind: index for index, kind in enumerate(TransactionKind)}
        for (currency, txn_kind), count in sorted(counts.items(),
                                                  key=lambda item: (item[0][0],
                                                                    order[item[0][1]])):
            statements[currency].movements.append(
                Movement(txn_kind, count, changes.get((currency, txn_kind), Balances())))
    for currency, sales in _sales(vendor_id, month.start, month.end).items():
        if currency in statements:
            statements[currency].sales = sales
    return Statement(vendor_id, month, list(statements.values()))


# --- the transactions, streamed -------------------------------------------------------------


@dataclass(frozen=True)
class StatementRow:
    transaction_id: int
    created_at: dt.datetime
    kind: TransactionKind
    reference: str
    description: str
    currency: str
    change: Balances
    balance: Balances  # after this transaction


def _reference(kind: TransactionKind, number: str | None, payout_id: int | None,
               refund_id: int | None, dispute_id: int | None) -> str:
    if kind == TransactionKind.REFUND and refund_id:
        return f"refund-{refund_id}"
    if dispute_id:
        return f"dispute-{dispute_id}"
    if payout_id:
        return f"payout-{payout_id}"
    return number or ""


class _Describer:
    """Each row's description, with the labels translated once per statement, not per row."""

    def __init__(self) -> None:
        self.labels = {kind: str(label) for kind, label in KIND_LABELS.items()}
        self.with_order = _("%(kind)s, order %(number)s", kind="{kind}", number="{number}")

    def __call__(self, kind: TransactionKind, reference: str, number: str | None) -> str:
        label = self.labels.get(kind, kind.value)
        if number and reference != number:
            return self.with_order.replace("{kind}", label).replace("{number}", number)
        return label


def statement_rows(vendor_id: int, month: Month) -> Iterator[StatementRow]:
    """Every transaction of the month that moved the vendor's balances, oldest first, one row
    per transaction and currency with its change and the running balances after it.
    Streams: postings are fetched ``YIELD_PER`` at a time and grouped as they arrive."""
    accounts = _vendor_accounts(vendor_id)
    if not accounts:
        return
    running = balances_before(vendor_id, month.start)
    describe = _Describer()
    ids = list(accounts)
    stmt = (
        sa.select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.created_at,
                  LedgerTransaction.payout_id, LedgerTransaction.refund_id,
                  LedgerTransaction.dispute_id, Order.number, LedgerPosting.debit_account_id,
                  LedgerPosting.credit_account_id, LedgerPosting.amount_minor,
                  LedgerPosting.currency)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .outerjoin(Order, Order.id == LedgerTransaction.order_id)
        .where(sa.or_(LedgerPosting.debit_account_id.in_(ids),
                      LedgerPosting.credit_account_id.in_(ids)),
               LedgerTransaction.created_at >= month.start,
               LedgerTransaction.created_at < month.end)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id, LedgerPosting.id)
        .execution_options(yield_per=YIELD_PER))
    result = db.session.execute(stmt)
    for (txn_id, currency), postings in itertools.groupby(
            result, key=lambda row: (row.id, row.currency)):
        change = Balances()
        first = None
        for row in postings:
            first = first or row
            if row.credit_account_id in accounts:
                change = _add(change, accounts[row.credit_account_id][0], row.amount_minor)
            if row.debit_account_id in accounts:
                change = _add(change, accounts[row.debit_account_id][0], -row.amount_minor)
        running[currency] = running.get(currency, Balances()) + change
        kind = TransactionKind(first.kind)
        reference = _reference(kind, first.number, first.payout_id, first.refund_id,
                               first.dispute_id)
        yield StatementRow(txn_id, as_utc(first.created_at), kind, reference,
                           describe(kind, reference, first.number), currency, change,
                           running[currency])


# --- CSV ------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula: one starting with = + - @ or a
    tab or carriage return gets a leading apostrophe. Only for text: amounts are written as
    numbers so a negative one stays a number."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def decimal_text(amount_minor: int, currency: str) -> str:
    """Minor units as an exact decimal string in the currency's precision ("-12.50", "500"),
    as ``Money.to_decimal`` builds it (from a string, never through a float)."""
    if not isinstance(amount_minor, int):
        raise TypeError(f"amounts are integer minor units, not {amount_minor!r}")
    return format(Decimal(f"{amount_minor}E-{currency_exponent(currency)}"), "f")


def csv_chunks(vendor_id: int, month: Month) -> Iterator[str]:
    """The month's statement as CSV text, a line at a time (first a byte-order mark, so
    spreadsheet programs read it as UTF-8, and the header)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield "\ufeff" + line(CSV_COLUMNS)
    for row in statement_rows(vendor_id, month):
        money = [decimal_text(amount, row.currency) for amount in (
            row.change.pending, row.change.available, row.change.paid_out,
            row.balance.pending, row.balance.available, row.balance.paid_out)]
        yield line([row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), safe_text(row.kind.value),
                    safe_text(row.reference), safe_text(row.description),
                    safe_text(row.currency), *money])
