"""The admins' finance report (/admin/finance): platform revenue, what the platform owes
vendors (and what vendors owe it), tax payable, payouts, refunds and disputes, and twelve
months of commission revenue.

Everything is read from the ledger and the payout, refund and dispute rows with grouped SQL
(a handful of queries whatever the size of the books); amounts are integer minor units per
currency, never added across currencies. Periods are UTC calendar months.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from marketplace.extensions import db
from payouts.models import (
    AccountKind,
    Dispute,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payout,
    Refund,
)
from payouts.statement_export import Month
from vendors.models import Vendor

PERIODS = {
    "this_month": _l("This month"),
    "last_month": _l("Last month"),
    "last_12_months": _l("Last 12 months"),
}
CHART_MONTHS = 12


@dataclass(frozen=True)
class Period:
    name: str
    start: dt.datetime
    end: dt.datetime

    @property
    def label(self) -> str:
        return str(PERIODS[self.name])


def period(name: str, now: dt.datetime | None = None) -> Period:
    """One of :data:`PERIODS` as UTC bounds (``start <= t < end``); raises KeyError for
    another name (the view's schema refuses those first)."""
    this = Month.of(now or dt.datetime.now(dt.UTC))
    if name == "this_month":
        return Period(name, this.start, this.end)
    if name == "last_month":
        return Period(name, this.previous().start, this.start)
    if name == "last_12_months":
        first = this
        for _ in range(CHART_MONTHS - 1):
            first = first.previous()
        return Period(name, first.start, this.end)
    raise KeyError(name)


def _in(column, start: dt.datetime, end: dt.datetime):
    return sa.and_(column >= start, column < end)


# --- revenue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revenue:
    currency: str
    earned: int  # commission credited (captures, adjustments)
    reversed: int  # commission given back (refunds, lost disputes)

    @property
    def net(self) -> int:
        return self.earned - self.reversed


def _platform_sides(kind: AccountKind, *conditions, group_by_month: list[Month] | None = None):
    """Credits and debits of the platform's ``kind`` accounts, per currency (and per month
    bucket when ``group_by_month`` is given), for postings whose transaction meets
    ``conditions``: {(currency[, bucket]): [credits, debits]}."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    bucket = None
    if group_by_month:
        bucket = sa.case(*[(LedgerTransaction.created_at < month.end, index)
                           for index, month in enumerate(group_by_month)], else_=None)
    for index, side in enumerate((LedgerPosting.credit_account_id,
                                  LedgerPosting.debit_account_id)):
        # Grouped over a subquery's columns: PostgreSQL matches GROUP BY expressions by text,
        # and an expression with bound values would not match itself.
        inner = (sa.select(LedgerAccount.currency.label("currency"),
                           (bucket if bucket is not None else sa.null()).label("bucket"),
                           LedgerPosting.amount_minor.label("amount"))
                 .select_from(LedgerPosting)
                 .join(LedgerAccount, LedgerAccount.id == side)
                 .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                 .where(LedgerAccount.kind == kind, LedgerAccount.vendor_id.is_(None),
                        *conditions)).subquery()
        columns = [inner.c.currency] + ([inner.c.bucket] if bucket is not None else [])
        rows = db.session.execute(
            sa.select(*columns, sa.func.sum(inner.c.amount)).group_by(*columns)).all()
        for *key, amount in rows:
            totals[tuple(key)][index] += int(amount)
    return totals


def revenue(start: dt.datetime, end: dt.datetime) -> list[Revenue]:
    """Commission revenue per currency in the period, earned and reversed."""
    sides = _platform_sides(AccountKind.COMMISSION_REVENUE,
                            _in(LedgerTransaction.created_at, start, end))
    return [Revenue(currency, credits, debits)
            for (currency,), (credits, debits) in sorted(sides.items())]


def tax_collected(start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Net tax collected per currency in the period (collected less refunded)."""
    sides = _platform_sides(AccountKind.TAX_PAYABLE, _in(LedgerTransaction.created_at, start,
                                                         end))
    return {currency: credits - debits for (currency,), (credits, debits) in sorted(sides.items())}


def tax_payable() -> dict[str, int]:
    """What the platform holds for tax authorities now, per currency."""
    sides = _platform_sides(AccountKind.TAX_PAYABLE)
    return {currency: credits - debits for (currency,), (credits, debits) in sorted(sides.items())}


# --- the chart ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    month: Month
    amount_minor: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list[Bar]
    width: int
    height: int
    baseline: float
    bar_width: float


CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 360, 160, 4


def _chart(currency: str, series: list[tuple[Month, int]]) -> Chart:
    """Bars scaled to the largest amount; negative months (more reversed than earned) hang
    below the baseline."""
    top = max([amount for _m, amount in series] + [0])
    bottom = min([amount for _m, amount in series] + [0])
    span = (top - bottom) or 1
    baseline = CHART_HEIGHT * top / span
    slot = CHART_WIDTH / len(series)
    bars = []
    for index, (month, amount) in enumerate(series):
        height = CHART_HEIGHT * abs(amount) / span
        y = baseline - height if amount >= 0 else baseline
        bars.append(Bar(month, amount, round(index * slot + CHART_GAP / 2, 2), round(y, 2),
                        round(height, 2)))
    return Chart(currency, bars, CHART_WIDTH, CHART_HEIGHT, round(baseline, 2),
                 round(slot - CHART_GAP, 2))


def monthly_revenue(now: dt.datetime | None = None) -> list[Chart]:
    """Net commission revenue per month over the last twelve months (this one included), one
    chart per currency."""
    months = [Month.of(now or dt.datetime.now(dt.UTC))]
    while len(months) < CHART_MONTHS:
        months.insert(0, months[0].previous())
    sides = _platform_sides(AccountKind.COMMISSION_REVENUE,
                            _in(LedgerTransaction.created_at, months[0].start, months[-1].end),
                            group_by_month=months)
    by_currency: dict[str, dict[int, int]] = defaultdict(dict)
    for (currency, bucket), (credits, debits) in sides.items():
        if bucket is not None:
            by_currency[currency][int(bucket)] = credits - debits
    return [_chart(currency, [(month, buckets.get(index, 0))
                              for index, month in enumerate(months)])
            for currency, buckets in sorted(by_currency.items())]


# --- what vendors are owed, and owe ---------------------------------------------------------


@dataclass(frozen=True)
class VendorBalance:
    vendor_id: int
    vendor_name: str
    currency: str
    pending: int
    available: int

    @property
    def owed(self) -> int:
        return self.pending + self.available


@dataclass
class Payables:
    currency: str
    pending: int = 0
    available: int = 0
    vendors: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.available


@dataclass
class Obligations:
    payables: list[Payables] = field(default_factory=list)
    receivables: list[VendorBalance] = field(default_factory=list)


def obligations() -> Obligations:
    """Per currency, what the platform owes vendors whose pending + available balance is
    positive; and every vendor whose balance is below zero (refunds netted against future
    earnings), which the platform is owed."""
    net: dict[tuple[int, str], dict[AccountKind, int]] = defaultdict(lambda: defaultdict(int))
    for side, sign in ((LedgerPosting.credit_account_id, 1),
                       (LedgerPosting.debit_account_id, -1)):
        rows = db.session.execute(
            sa.select(LedgerAccount.vendor_id, LedgerAccount.currency, LedgerAccount.kind,
                      sa.func.sum(LedgerPosting.amount_minor))
            .select_from(LedgerPosting)
            .join(LedgerAccount, LedgerAccount.id == side)
            .where(LedgerAccount.kind.in_([AccountKind.VENDOR_PENDING,
                                           AccountKind.VENDOR_AVAILABLE]))
            .group_by(LedgerAccount.vendor_id, LedgerAccount.currency,
                      LedgerAccount.kind)).all()
        for vendor_id, currency, kind, amount in rows:
            net[(vendor_id, currency)][AccountKind(kind)] += sign * int(amount)
    names = dict(db.session.execute(
        sa.select(Vendor.id, Vendor.name).where(Vendor.id.in_({v for v, _c in net}))).all())
    result = Obligations()
    payables: dict[str, Payables] = {}
    for (vendor_id, currency), kinds in sorted(net.items()):
        row = VendorBalance(vendor_id, names.get(vendor_id, ""), currency,
                            kinds[AccountKind.VENDOR_PENDING],
                            kinds[AccountKind.VENDOR_AVAILABLE])
        if row.owed < 0:
            result.receivables.append(row)
        elif row.owed > 0:
            total = payables.setdefault(currency, Payables(currency))
            total.pending += row.pending
            total.available += row.available
            total.vendors += 1
    result.payables = [payables[c] for c in sorted(payables)]
    result.receivables.sort(key=lambda r: (r.currency, r.owed, r.vendor_id))
    return result


# --- payouts, refunds, disputes -------------------------------------------------------------


@dataclass(frozen=True)
class StatusTotal:
    status: str
    currency: str
    count: int
    amount_minor: int


def _by_status(model, start: dt.datetime, end: dt.datetime) -> list[StatusTotal]:
    rows = db.session.execute(
        sa.select(model.status, model.currency, sa.func.count(model.id),
                  sa.func.sum(model.amount_minor))
        .where(_in(model.created_at, start, end))
        .group_by(model.status, model.currency)).all()
    return sorted((StatusTotal(getattr(status, "value", status), currency, int(count),
                               int(amount)) for status, currency, count, amount in rows),
                  key=lambda t: (t.currency, t.status))


@dataclass
class FinanceReport:
    period: Period
    revenue: list[Revenue]
    tax_collected: dict[str, int]
    tax_payable: dict[str, int]
    obligations: Obligations
    payouts: list[StatusTotal]
    refunds: list[StatusTotal]
    disputes: list[StatusTotal]
    charts: list[Chart]


def report(period_name: str, now: dt.datetime | None = None) -> FinanceReport:
    """The whole report for one of :data:`PERIODS`. Reads only."""
    chosen = period(period_name, now)
    return FinanceReport(
        period=chosen,
        revenue=revenue(chosen.start, chosen.end),
        tax_collected=tax_collected(chosen.start, chosen.end),
        tax_payable=tax_payable(),
        obligations=obligations(),
        payouts=_by_status(Payout, chosen.start, chosen.end),
        refunds=_by_status(Refund, chosen.start, chosen.end),
        disputes=_by_status(Dispute, chosen.start, chosen.end),
        charts=monthly_revenue(now),
    )
