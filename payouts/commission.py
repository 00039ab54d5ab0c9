"""Commission rules: which rule a line matches, what it charges, rule versions, the snapshot.

Matching
--------
The most specific rule valid at the order's creation wins: the vendor's, else the nearest
category's (the product's category, then its parent, up to the root), else the platform
default (no vendor, no category). Among rules of one scope the latest ``valid_from`` wins.
A rule counts as valid at ``t`` when ``valid_from <= t < valid_until`` and it existed at
``t`` (``created_at <= t``: a rule written later with a back-dated start never reaches
older orders).

When the snapshot is taken, and why then
----------------------------------------
``buyers`` must not import ``payouts``, so checkout can't call this module. The snapshot is
taken when the payment is captured (:func:`snapshot_sub_order`, called by the capture
posting), matching the rules *as they stood when the order was created*. Rules are never
edited in place once they may have been used: :func:`change_rule` closes the old version and
opens a new one, so the rule valid at the order's creation is still there to be found, and
the capture computes exactly what checkout would have. From then on the line's snapshot
(rule id, version, basis points, fixed fee, amount) is frozen: it is written once (lines
with a ``commission_rule_id`` are never recomputed) and refunds use it.
(A hook registry in ``marketplace`` called by checkout was the alternative; it needs an
edit of the checkout code and adds nothing this doesn't give.)

Charge per line: ``rate_bp`` of the line's net amount (rounded half up) plus
``fixed_minor``, at least ``minimum_minor``, at most the net amount. Fixed and minimum are in
the rule's currency, converted at the order's snapshot rates (``Order.fx_rates``; today's
rates fill a currency the order did not record).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.fx import convert, load_rates
from marketplace.models import Category
from marketplace.money import Money
from payouts.models import CommissionRule
from vendors.models import Product
from vendors.order_models import Order, OrderLine


class NoCommissionRule(LookupError):
    """No rule matches (not even a platform default): the line is charged no commission."""


@dataclass(frozen=True)
class Terms:
    rate_bp: int
    fixed_minor: int
    minimum_minor: int
    currency: str


def charge(net_minor: int, currency: str, terms: Terms, rates: dict[str, int]) -> int:
    """What ``terms`` take of a line of ``net_minor`` in ``currency``."""
    fixed = convert(Money(terms.fixed_minor, terms.currency), currency, rates).amount_minor
    minimum = convert(Money(terms.minimum_minor, terms.currency), currency, rates).amount_minor
    return charge_converted(net_minor, terms.rate_bp, fixed, minimum)


def charge_converted(net_minor: int, rate_bp: int, fixed_minor: int, minimum_minor: int) -> int:
    """:func:`charge` once the fixed fee and the minimum are in the line's currency (for
    callers charging many lines at one order's rates, e.g. the admin's preview)."""
    amount = (net_minor * rate_bp + 5_000) // 10_000 + fixed_minor  # half up; both >= 0
    return min(max(amount, minimum_minor), net_minor)


def _valid_at(at: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(CommissionRule.valid_from <= at, CommissionRule.created_at <= at,
                   sa.or_(CommissionRule.valid_until.is_(None), CommissionRule.valid_until > at))


def _latest(*conditions, at: dt.datetime) -> CommissionRule | None:
    return db.session.scalars(
        sa.select(CommissionRule).where(_valid_at(at), *conditions)
        .order_by(CommissionRule.valid_from.desc(), CommissionRule.version.desc(),
                  CommissionRule.id.desc()).limit(1)
    ).first()


def category_chain(category_id: int | None) -> list[int]:
    """The category and its ancestors, nearest first."""
    chain: list[int] = []
    while category_id is not None and category_id not in chain:
        chain.append(category_id)
        category_id = db.session.scalar(sa.select(Category.parent_id)
                                        .where(Category.id == category_id))
    return chain


def rule_for(vendor_id: int, category_id: int | None, at: dt.datetime) -> CommissionRule:
    """The rule a line of ``vendor_id`` in ``category_id`` matched at ``at``.

    Raises NoCommissionRule when there is none, not even a platform default.
    """
    rule = _latest(CommissionRule.vendor_id == vendor_id, at=at)
    for ancestor in ([] if rule else category_chain(category_id)):
        rule = _latest(CommissionRule.category_id == ancestor, at=at)
        if rule is not None:
            break
    rule = rule or _latest(CommissionRule.vendor_id.is_(None),
                           CommissionRule.category_id.is_(None), at=at)
    if rule is None:
        raise NoCommissionRule(f"no commission rule for vendor {vendor_id} at {at}")
    return rule


def snapshot_sub_order(sub_order_id: int) -> int:
    """Freeze the commission of the sub-order's lines not snapshotted yet; returns the
    sub-order's commission (all its lines). Flushes. Lines without a matching rule keep 0."""
    lines = db.session.scalars(sa.select(OrderLine).where(OrderLine.sub_order_id == sub_order_id)
                               .order_by(OrderLine.id)).all()
    if not lines:
        return 0
    order = db.session.get(Order, lines[0].order_id)
    rates: dict[str, int] | None = None
    for line in lines:
        if line.commission_rule_id is not None:
            continue
        category_id = (db.session.scalar(sa.select(Product.category_id)
                                         .where(Product.id == line.product_id))
                       if line.product_id is not None else None)
        try:
            rule = rule_for(line.vendor_id, category_id, order.created_at)
        except NoCommissionRule:
            continue
        if rates is None:
            rates = {**load_rates(), **(order.fx_rates or {})}
        line.commission_rule_id = rule.id
        line.commission_rule_version = rule.version
        line.commission_bp = rule.rate_bp
        line.commission_fixed_minor = convert(Money(rule.fixed_minor, rule.currency),
                                              order.currency, rates).amount_minor
        line.commission_minor = charge(line.net_minor, order.currency, _terms(rule), rates)
    db.session.flush()
    return sum(line.commission_minor for line in lines)


def _terms(rule: CommissionRule) -> Terms:
    return Terms(rule.rate_bp, rule.fixed_minor, rule.minimum_minor, rule.currency)


def create_rule(*, name: str, rate_bp: int, currency: str, fixed_minor: int = 0,
                minimum_minor: int = 0, vendor_id: int | None = None,
                category_id: int | None = None,
                valid_from: dt.datetime | None = None) -> CommissionRule:
    """A new rule (version 1). Flushes; the table's checks refuse bad terms."""
    rule = CommissionRule(name=name, rate_bp=rate_bp, currency=currency.upper(),
                          fixed_minor=fixed_minor, minimum_minor=minimum_minor,
                          vendor_id=vendor_id, category_id=category_id, version=1,
                          valid_from=valid_from or utcnow())
    db.session.add(rule)
    db.session.flush()
    return rule


def change_rule(rule_id: int, *, at: dt.datetime | None = None, **terms) -> CommissionRule:
    """New terms for a rule from ``at`` (now): the current version is closed at ``at`` and a
    copy with ``version`` + 1 and the new terms opens there. A version that has not started
    yet was never used, and is edited in place. Returns the version in force from ``at``.
    Flushes."""
    at = at or utcnow()
    rule = db.session.get(CommissionRule, rule_id)
    if rule is None:
        raise LookupError(f"no commission rule {rule_id}")
    if _aware(rule.valid_from) >= at:
        for name, value in terms.items():
            setattr(rule, name, value)
        db.session.flush()
        return rule
    successor = CommissionRule(
        vendor_id=rule.vendor_id, category_id=rule.category_id, name=rule.name,
        version=rule.version + 1, rate_bp=rule.rate_bp, fixed_minor=rule.fixed_minor,
        minimum_minor=rule.minimum_minor, currency=rule.currency, valid_from=at,
        valid_until=rule.valid_until)
    for name, value in terms.items():
        setattr(successor, name, value)
    rule.valid_until = at
    db.session.add(successor)
    db.session.flush()
    return successor


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they are UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
