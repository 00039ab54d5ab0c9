"""The admin's side of commission rules: the list, creating, changing and closing a rule with
the checks only the database can make, and the "what would this rule have charged" preview.

The shape of the input (a percentage with two decimals, an amount in the rule's currency, a
date) is checked by ``payouts.commission_schemas``; what needs the database (does the vendor
exist, does the currency have an exchange rate, does the scope already have a rule, is the
date still ahead) is checked here and raised as :class:`RuleInputError` naming the form field.
Functions flush, never commit.

Why dates can't lie in the past
-------------------------------
A rule only reaches orders created after it was written (``commission._valid_at``), and an
order's commission is frozen at capture by the rule valid at the order's *creation*. Closing
or changing a rule at a past moment would leave the orders created since then (not captured
yet) without the version they were placed under, and the capture would fall back to a less
specific rule. So a change, a close and a start are "now or later" (a minute's slack for a
date typed in the current minute).
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.fx import MissingRate, convert, load_rates
from marketplace.models import Category
from marketplace.money import Money
from payouts import commission
from payouts.commission import Terms
from payouts.models import CommissionRule, LedgerTransaction, TransactionKind
from vendors.models import Product, Vendor
from vendors.order_models import Order, OrderLine

SCOPE_DEFAULT = "default"
SCOPE_CATEGORY = "category"
SCOPE_VENDOR = "vendor"
SCOPES = (SCOPE_DEFAULT, SCOPE_CATEGORY, SCOPE_VENDOR)

STATE_CURRENT = "current"  # in force or starting later
STATE_PAST = "past"  # ended (closed, or replaced by a later version)

PREVIEW_PERIODS = (30, 90, 365)
TOP_VENDORS = 10
# Groups of order lines fetched per round trip while the preview streams them.
PREVIEW_BATCH = 2_000
# A date typed in the current minute is "now", not the past.
_SLACK = dt.timedelta(minutes=1)


class RuleInputError(ValueError):
    """Input the form's schema accepted but the rules refuse; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Scope:
    """Who a rule applies to: one vendor, one category (and its subcategories), or everyone."""

    vendor_id: int | None = None
    category_id: int | None = None

    @property
    def kind(self) -> str:
        if self.vendor_id is not None:
            return SCOPE_VENDOR
        return SCOPE_CATEGORY if self.category_id is not None else SCOPE_DEFAULT

    @classmethod
    def of(cls, rule: CommissionRule) -> Scope:
        return cls(vendor_id=rule.vendor_id, category_id=rule.category_id)

    def matches(self) -> sa.ColumnElement[bool]:
        """The rules of exactly this scope."""
        return sa.and_(
            CommissionRule.vendor_id == self.vendor_id if self.vendor_id is not None
            else CommissionRule.vendor_id.is_(None),
            CommissionRule.category_id == self.category_id if self.category_id is not None
            else CommissionRule.category_id.is_(None))


# --- Reading --------------------------------------------------------------------------------


def rules_select(state: str, now: dt.datetime | None = None) -> sa.Select:
    """(rule, category name, vendor name) rows of the admin's list, platform default first,
    then categories, then vendors, the newest version first within a scope."""
    now = now or utcnow()
    ended = sa.and_(CommissionRule.valid_until.is_not(None), CommissionRule.valid_until <= now)
    scope_order = sa.case((CommissionRule.vendor_id.is_not(None), 2),
                          (CommissionRule.category_id.is_not(None), 1), else_=0)
    return (sa.select(CommissionRule, Category.name, Vendor.name)
            .outerjoin(Category, Category.id == CommissionRule.category_id)
            .outerjoin(Vendor, Vendor.id == CommissionRule.vendor_id)
            .where(ended if state == STATE_PAST else sa.not_(ended))
            .order_by(scope_order, Category.name, Vendor.name, CommissionRule.name,
                      CommissionRule.valid_from.desc(), CommissionRule.id.desc()))


def default_in_force(now: dt.datetime | None = None) -> bool:
    """Whether a platform default is valid now (else unmatched lines pay no commission)."""
    now = now or utcnow()
    return db.session.scalar(sa.select(sa.exists().where(
        Scope().matches(), CommissionRule.valid_from <= now,
        sa.or_(CommissionRule.valid_until.is_(None), CommissionRule.valid_until > now)))) or False


def category_options() -> list[tuple[int, str]]:
    """Every category as (id, name indented by depth), in tree order, for a select."""
    rows = db.session.execute(sa.select(Category.id, Category.parent_id, Category.name)
                              .order_by(Category.position, Category.name, Category.id)).all()
    children: dict[int | None, list] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)
    options: list[tuple[int, str]] = []
    seen: set[int] = set()

    def walk(parent_id: int | None, depth: int) -> None:
        for row in children.get(parent_id, []):
            if row.id in seen:  # a cycle in bad data must not hang the page
                continue
            seen.add(row.id)
            options.append((row.id, "\u2003" * depth + row.name))
            walk(row.id, depth + 1)

    walk(None, 0)
    return options


def scope_names(scope: Scope) -> tuple[str | None, str | None]:
    """(category name, vendor name) of a scope, for messages and headings."""
    category = (db.session.scalar(sa.select(Category.name).where(Category.id == scope.category_id))
                if scope.category_id is not None else None)
    vendor = (db.session.scalar(sa.select(Vendor.name).where(Vendor.id == scope.vendor_id))
              if scope.vendor_id is not None else None)
    return category, vendor


def resolve_scope(kind: str, category_id: int | None, vendor: str | None) -> Scope:
    """The scope the form chose. Raises RuleInputError for a missing or unknown category or
    vendor, or both given."""
    vendor = (vendor or "").strip()
    if category_id is not None and vendor:
        raise RuleInputError("scope", _("Choose either a category or a vendor, not both: a "
                                        "rule applies to one of them."))
    if kind == SCOPE_DEFAULT:
        if category_id is not None or vendor:
            raise RuleInputError("scope", _("The platform default applies to every line; "
                                            "clear the category and vendor, or choose that "
                                            "scope."))
        return Scope()
    if kind == SCOPE_CATEGORY:
        if category_id is None:
            raise RuleInputError("category_id", _("Choose the category."))
        if db.session.get(Category, category_id) is None:
            raise RuleInputError("category_id", _("That category doesn't exist any more."))
        return Scope(category_id=category_id)
    if not vendor:
        raise RuleInputError("vendor", _("Enter the vendor's name or shop address (slug)."))
    return Scope(vendor_id=find_vendor(vendor).id)


def find_vendor(text: str) -> Vendor:
    """The vendor whose slug is ``text``, else whose name is ``text`` (any case).

    Raises RuleInputError when there is none, or several of that name."""
    found = db.session.scalar(sa.select(Vendor).where(Vendor.slug == text.lower()))
    if found is not None:
        return found
    named = db.session.scalars(sa.select(Vendor).where(sa.func.lower(Vendor.name) == text.lower())
                               .order_by(Vendor.id).limit(2)).all()
    if len(named) == 1:
        return named[0]
    if named:
        raise RuleInputError("vendor", _("Several vendors are called %(name)s; enter the "
                                         "shop's address (slug) instead.", name=text))
    raise RuleInputError("vendor", _("No vendor is called %(name)s or has that address.",
                                     name=text))


# --- Writing --------------------------------------------------------------------------------


def create(*, name: str, scope: Scope, terms: Terms, valid_from: dt.datetime | None = None,
           now: dt.datetime | None = None) -> CommissionRule:
    """A new rule (version 1) from ``valid_from`` (now). Flushes.

    Raises RuleInputError when the currency has no exchange rate, the start is in the past, or
    the scope already has a rule in force or scheduled from then (change that one instead).
    """
    now = now or utcnow()
    _check_currency(terms.currency)
    start = _not_in_the_past(valid_from, now, "valid_from")
    _lock_scope(scope)
    clash = db.session.scalars(
        sa.select(CommissionRule).where(
            scope.matches(),
            sa.or_(CommissionRule.valid_until.is_(None), CommissionRule.valid_until > start))
        .order_by(CommissionRule.valid_from).limit(1)).first()
    if clash is not None:
        raise RuleInputError("scope", _(
            "This scope already has the rule %(name)s (version %(version)d) from then on. "
            "Change its terms from a date, or close it first.",
            name=clash.name, version=clash.version))
    return commission.create_rule(name=name, rate_bp=terms.rate_bp, currency=terms.currency,
                                  fixed_minor=terms.fixed_minor,
                                  minimum_minor=terms.minimum_minor, vendor_id=scope.vendor_id,
                                  category_id=scope.category_id, valid_from=start)


# The advisory lock class of "creating a rule in one scope" (any constant nothing else
# uses): two admins creating rules for one scope at once check for a clash one after the other.
SCOPE_LOCK_CLASS = 0x636F6D6D  # "comm"


def _lock_scope(scope: Scope) -> None:
    """Hold a lock on the scope until the transaction ends (PostgreSQL; SQLite lets one writer
    through at a time), so the clash check below and the insert are one step."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(f"{scope.kind}:{scope.vendor_id}:{scope.category_id}".encode()) & 0x7FFFFFFF
    db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:lock_class, :key)"),
                       {"lock_class": SCOPE_LOCK_CLASS, "key": key})


@dataclass(frozen=True)
class Change:
    """What a change did: ``previous`` is the version closed at ``at`` (None when a version
    that had not started yet was edited in place), ``current`` the version in force from ``at``.
    """

    previous: CommissionRule | None
    previous_terms: Terms
    current: CommissionRule
    at: dt.datetime


def change(rule_id: int, terms: Terms, *, at: dt.datetime | None = None,
           now: dt.datetime | None = None) -> Change:
    """New terms for a rule from ``at`` (now), through :func:`commission.change_rule`: the
    version is closed there and the next version opens, so orders placed before keep the old
    terms. Locks the rule's row, so two admins changing it at once make one version each in
    turn, and the second sees the first's. Flushes.

    Raises LookupError for an unknown rule; RuleInputError when the date is past, the rule ends
    before it, a later version exists, or the currency has no exchange rate.
    """
    now = now or utcnow()
    rule = _locked(rule_id)
    at = _not_in_the_past(at, now, "effective_from")
    _check_open(rule, at, "effective_from")
    _check_currency(terms.currency)
    before = Terms(rule.rate_bp, rule.fixed_minor, rule.minimum_minor, rule.currency)
    current = commission.change_rule(
        rule.id, at=at, rate_bp=terms.rate_bp, fixed_minor=terms.fixed_minor,
        minimum_minor=terms.minimum_minor, currency=terms.currency)
    return Change(previous=None if current.id == rule.id else rule, previous_terms=before,
                  current=current, at=at)


def close(rule_id: int, *, until: dt.datetime | None = None,
          now: dt.datetime | None = None) -> CommissionRule:
    """End a rule at ``until`` (now): orders placed from then on no longer match it. Orders
    placed before keep it. Locks the row. Flushes.

    Raises LookupError for an unknown rule; RuleInputError when the date is past, not after
    the rule's start, or not before an end it already has.
    """
    now = now or utcnow()
    rule = _locked(rule_id)
    until = _not_in_the_past(until, now, "until")
    _check_open(rule, until, "until")
    if until <= aware(rule.valid_from):
        raise RuleInputError("until", _(
            "The rule starts on %(start)s; choose a later end.", start=stamp(rule.valid_from)))
    rule.valid_until = until
    db.session.flush()
    return rule


def _locked(rule_id: int) -> CommissionRule:
    rule = db.session.get(CommissionRule, rule_id, with_for_update=True,
                          populate_existing=True)
    if rule is None:
        raise LookupError(f"no commission rule {rule_id}")
    return rule


def _check_open(rule: CommissionRule, at: dt.datetime, field_name: str) -> None:
    """A rule can be changed or closed at ``at`` only while it runs then, and only its newest
    version (an older one was replaced by it)."""
    newer = db.session.scalar(sa.select(CommissionRule.version).where(
        Scope.of(rule).matches(), CommissionRule.name == rule.name,
        CommissionRule.version > rule.version).limit(1))
    if newer is not None:
        raise RuleInputError(field_name, _(
            "Version %(version)d replaced this one; change or close the newest version.",
            version=newer))
    if rule.valid_until is not None and aware(rule.valid_until) <= at:
        raise RuleInputError(field_name, _(
            "This rule already ends on %(until)s; choose an earlier date.",
            until=stamp(rule.valid_until)))


def _check_currency(currency: str) -> None:
    # Fixed fees and minimums are converted to each order's currency at capture: a currency
    # without a rate would make every capture under this rule fail.
    if currency not in load_rates():
        raise RuleInputError("currency", _(
            "%(currency)s has no exchange rate; choose a currency the marketplace has a rate "
            "for.", currency=currency))


def _not_in_the_past(value: dt.datetime | None, now: dt.datetime, field_name: str) -> dt.datetime:
    if value is None:
        return now
    if value < now - _SLACK:
        raise RuleInputError(field_name, _(
            "Choose now or a later time: orders placed before then keep the rules they were "
            "placed under."))
    return max(value, now)


def aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they are UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def stamp(value: dt.datetime) -> str:
    return aware(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- Preview ---------------------------------------------------------------------------------


@dataclass
class Totals:
    lines: int = 0
    actual_minor: int = 0  # the commission frozen on the lines at capture
    proposed_minor: int = 0  # what the proposed terms would have charged

    @property
    def difference_minor(self) -> int:
        return self.proposed_minor - self.actual_minor


@dataclass(frozen=True)
class VendorImpact:
    vendor_id: int
    vendor_name: str
    currency: str
    totals: Totals


@dataclass(frozen=True)
class Preview:
    days: int
    since: dt.datetime
    by_currency: dict[str, Totals]
    top_vendors: list[VendorImpact]
    # Lines in the scope that a more specific rule charged: this one would not have reached
    # them, per currency.
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())


def preview(scope: Scope, terms: Terms, days: int,
            now: dt.datetime | None = None) -> Preview:
    """What ``terms`` would have charged on the captured order lines of the last ``days`` days
    (by the order's creation) in ``scope``, against the commission actually frozen on them.
    Writes nothing.

    The proposed rule is assumed to have been in force over the whole period and to replace
    any rule of its own scope. A line whose commission came from a *more specific* rule (the
    vendor's, or a category nearer the product than the proposed one) would still have been
    charged by that rule: it is counted in ``skipped``, not compared. A line's category is its
    product's category today.

    Set-based: the database groups the lines by what the charge depends on (vendor, order
    currency, the order's snapshot rates, net amount, the rule that charged it) and sums
    their frozen commission; each group is charged once, times its count, exactly as
    :func:`commission.charge` charges a line at capture (the fixed fee and minimum converted
    once per currency and snapshot, then :func:`commission.charge_converted`). The groups
    are streamed in batches, so a long history is never loaded at once.

    Raises RuleInputError when a currency needed has no exchange rate.
    """
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    captured = (sa.select(LedgerTransaction.id)
                .where(LedgerTransaction.sub_order_id == OrderLine.sub_order_id,
                       LedgerTransaction.kind == TransactionKind.PAYMENT_CAPTURED).exists())
    # The snapshot rates as text: many groups share one, decoded once below.
    fx_text = sa.cast(Order.fx_rates, sa.Text)
    key = (OrderLine.vendor_id, Order.currency, fx_text, OrderLine.net_minor,
           OrderLine.commission_rule_id)
    stmt = (sa.select(*key, sa.func.count(), sa.func.sum(OrderLine.commission_minor))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.created_at >= since, captured))
    subtree: set[int] = set()
    if scope.kind == SCOPE_VENDOR:
        stmt = stmt.where(OrderLine.vendor_id == scope.vendor_id)
    elif scope.kind == SCOPE_CATEGORY:
        tree = _subtree(scope.category_id)
        subtree = set(db.session.scalars(tree))
        stmt = (stmt.join(Product, Product.id == OrderLine.product_id)
                .where(Product.category_id.in_(tree)))
    stmt = stmt.group_by(*key).execution_options(yield_per=PREVIEW_BATCH)
    rule_scopes = {rule_id: Scope(vendor_id, category_id) for rule_id, vendor_id, category_id
                   in db.session.execute(sa.select(CommissionRule.id, CommissionRule.vendor_id,
                                                   CommissionRule.category_id))}

    base_rates = load_rates()
    # (fixed fee, minimum) in an order's currency at its snapshot rates, as charge() converts.
    converted: dict[tuple[str, str], tuple[int, int]] = {}

    def fees(currency: str, snapshot: str) -> tuple[int, int]:
        if (currency, snapshot) not in converted:
            rates = {**base_rates, **(json.loads(snapshot) or {})}
            converted[(currency, snapshot)] = tuple(
                convert(Money(amount, terms.currency), currency, rates).amount_minor
                for amount in (terms.fixed_minor, terms.minimum_minor))
        return converted[(currency, snapshot)]

    by_currency: dict[str, Totals] = defaultdict(Totals)
    by_vendor: dict[tuple[int, str], Totals] = defaultdict(Totals)
    skipped: dict[str, int] = defaultdict(int)
    try:
        for vendor_id, currency, snapshot, net, rule_id, lines, frozen in (
                db.session.execute(stmt)):
            if _more_specific(rule_scopes.get(rule_id), scope, subtree):
                skipped[currency] += lines
                continue
            proposed = commission.charge_converted(net, terms.rate_bp,
                                                   *fees(currency, snapshot or "null"))
            for totals in (by_currency[currency], by_vendor[(vendor_id, currency)]):
                totals.lines += lines
                totals.actual_minor += int(frozen)
                totals.proposed_minor += proposed * lines
    except MissingRate as missing:
        raise RuleInputError("currency", _("An order's currency has no exchange rate (%(error)s).",
                                           error=str(missing))) from None
    return Preview(days=days, since=since, by_currency=dict(sorted(by_currency.items())),
                   top_vendors=_top_vendors(by_vendor), skipped=dict(sorted(skipped.items())))


def _more_specific(charged_by: Scope | None, proposed: Scope, subtree: set[int]) -> bool:
    """Whether the rule that charged a line (None: no rule) would still beat the proposed one.
    ``subtree``: the proposed category and its descendants."""
    if charged_by is None or proposed.kind == SCOPE_VENDOR:
        return False
    if charged_by.kind == SCOPE_VENDOR:
        return True
    if proposed.kind == SCOPE_DEFAULT:
        return charged_by.kind == SCOPE_CATEGORY
    # A category rule: one nearer the product (below the proposed category) wins; the
    # proposed category itself or an ancestor of it (the line is in the subtree) loses.
    return (charged_by.kind == SCOPE_CATEGORY and charged_by.category_id != proposed.category_id
            and charged_by.category_id in subtree)


def _subtree(category_id: int | None) -> sa.Select:
    """The ids of the category and all its descendants (a recursive CTE; UNION, not UNION
    ALL, so a cycle in bad data ends the recursion)."""
    tree = (sa.select(Category.id).where(Category.id == category_id)
            .cte("commission_subtree", recursive=True))
    tree = tree.union(sa.select(Category.id).join(tree, Category.parent_id == tree.c.id))
    return sa.select(tree.c.id)


def _top_vendors(by_vendor: dict[tuple[int, str], Totals]) -> list[VendorImpact]:
    ranked = sorted(by_vendor.items(), key=lambda item: (
        -abs(item[1].difference_minor), -item[1].lines, item[0]))[:TOP_VENDORS]
    ids = {vendor_id for (vendor_id, _currency), _totals in ranked}
    names = dict(db.session.execute(sa.select(Vendor.id, Vendor.name)
                                    .where(Vendor.id.in_(ids))).all()) if ids else {}
    return [VendorImpact(vendor_id, names.get(vendor_id, f"#{vendor_id}"), currency, totals)
            for (vendor_id, currency), totals in ranked]
