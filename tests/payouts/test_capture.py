"""A captured payment posts each paid sub-order's split: cash = tax + commission + share."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money
from payouts import commission, ledger
from payouts.models import AccountKind, LedgerTransaction
from tests.payouts.ledger_support import checkout, pay, postings_of
from vendors.order_models import OrderLine, SubOrder


def _parts(order_id: int) -> list[SubOrder]:
    return list(db.session.scalars(sa.select(SubOrder).where(SubOrder.order_id == order_id)
                                   .order_by(SubOrder.vendor_id)))


def _snapshots(order_id: int) -> list[tuple]:
    return list(db.session.execute(
        sa.select(OrderLine.net_minor, OrderLine.commission_bp, OrderLine.commission_fixed_minor,
                  OrderLine.commission_minor, OrderLine.commission_rule_version)
        .where(OrderLine.order_id == order_id).order_by(OrderLine.vendor_id)).all())


def test_a_paid_order_posts_one_capture_per_sub_order_with_the_frozen_commission(client, market):
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR")
    commission.create_rule(name="Atelier deal", rate_bp=500, fixed_minor=30, currency="EUR",
                           vendor_id=market.atelier.id)
    order = checkout(client, market.buyer, (market.chair, 2), (market.lamp, 1))

    pay(order)

    nordic, atelier = _parts(order.id)
    # Nordic: €258.00 incl. €41.19 VAT, free shipping; 10% of €216.81 net.
    assert postings_of(f"capture:sub_order:{nordic.id}") == [
        ("provider_cash", "commission_revenue", 2_168, "EUR"),
        ("provider_cash", "tax_payable", 4_119, "EUR"),
        ("provider_cash", "vendor_pending", 19_513, "EUR"),
    ]
    # Atelier: €45.00 + €5.00 shipping, €7.98 VAT in both; 5% of €37.82 net + €0.30.
    assert postings_of(f"capture:sub_order:{atelier.id}") == [
        ("provider_cash", "commission_revenue", 219, "EUR"),
        ("provider_cash", "tax_payable", 798, "EUR"),
        ("provider_cash", "vendor_pending", 3_983, "EUR"),
    ]
    assert _snapshots(order.id) == [(21_681, 1_000, 0, 2_168, 1), (3_782, 500, 30, 219, 1)]
    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(30_800, "EUR")
    assert ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR",
                             vendor_id=market.nordic.id) == Money(19_513, "EUR")


def test_a_redelivered_payment_posts_nothing_more(client, market):
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR")
    order = checkout(client, market.buyer, (market.lamp, 1))
    pay(order)

    pay(order)

    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 1
    assert ledger.balance_of(AccountKind.PROVIDER_CASH, "EUR") == Money(5_000, "EUR")


def test_a_rule_changed_after_checkout_does_not_reach_the_order(client, market):
    rule = commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR",
                                  valid_from=utcnow() - dt.timedelta(days=30))
    order = checkout(client, market.buyer, (market.lamp, 1))
    commission.change_rule(rule.id, rate_bp=2_000)

    pay(order)

    assert _snapshots(order.id) == [(3_782, 1_000, 0, 378, 1)]
    later = checkout(client, market.buyer, (market.lamp, 1))
    pay(later)
    assert _snapshots(later.id) == [(3_782, 2_000, 0, 756, 2)]


def test_without_any_rule_the_vendor_gets_everything_but_the_tax(client, market):
    order = checkout(client, market.buyer, (market.lamp, 1))

    pay(order)

    (part,) = _parts(order.id)
    assert postings_of(f"capture:sub_order:{part.id}") == [
        ("provider_cash", "tax_payable", 798, "EUR"),
        ("provider_cash", "vendor_pending", 4_202, "EUR"),
    ]


def test_an_unpaid_order_posts_nothing(client, market):
    checkout(client, market.buyer, (market.lamp, 1))

    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 0
