"""Helpers for the refund tests: a paid order, its parts and lines, refunds run to the end."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask.testing import FlaskClient

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import User
from marketplace.payments import ConnectedAccountDetails, provider
from marketplace.payments.models import SandboxPaymentIntent
from marketplace.payments.sandbox import complete_onboarding
from marketplace.payments.sandbox_checkout import CARD_SUCCEEDS, pay_with_card
from payouts import commission, ledger, refunds
from payouts.models import AccountKind, Refund, RefundInitiator
from tests.payouts.ledger_support import checkout
from vendors.models import Variant, Vendor
from vendors.order_models import Order, OrderLine, SubOrder


def platform_rule() -> None:
    """10% commission on every line (from a month ago, so backdated orders match it)."""
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR",
                           valid_from=utcnow() - dt.timedelta(days=30))


def paid_order(client: FlaskClient, buyer: User, *lines: tuple[Variant, int]) -> Order:
    """An order placed through the checkout API and paid with the sandbox's test card (its
    event marks the order paid and posts the captures)."""
    order = checkout(client, buyer, *lines)
    pay_with_card(db.session.get(SandboxPaymentIntent, order.payment_intent_id), CARD_SUCCEEDS)
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()
    return db.session.get(Order, order.id)


def part_of(order: Order, vendor: Vendor) -> SubOrder:
    return db.session.scalar(sa.select(SubOrder).where(SubOrder.order_id == order.id,
                                                       SubOrder.vendor_id == vendor.id))


def line_of(part: SubOrder) -> OrderLine:
    return db.session.scalars(sa.select(OrderLine).where(OrderLine.sub_order_id == part.id)
                              .order_by(OrderLine.id)).first()


def paid_days_ago(order: Order, days: int) -> None:
    db.session.execute(sa.text("UPDATE orders SET paid_at = :at WHERE id = :id")
                       .bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
                       {"at": utcnow() - dt.timedelta(days=days), "id": order.id})
    db.session.commit()


def refund_units(part: SubOrder, line: OrderLine, quantity: int, *, shipping_minor: int = 0,
                 approve: bool = True) -> Refund:
    """A vendor's refund of ``quantity`` units, committed and (when approved) processed."""
    refund = refunds.create_refund(part.id, {line.id: quantity}, shipping_minor=shipping_minor,
                                   initiated_by=RefundInitiator.VENDOR, user_id=None,
                                   reason="Scratched", approve=approve)
    refund_id = refund.id
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()
    return db.session.get(Refund, refund_id)


def make_payable(vendor: Vendor) -> None:
    """The vendor's sandbox payout account, onboarded: payouts can be sent to it."""
    account_id = provider().create_connected_account(ConnectedAccountDetails(
        reference=f"vendor-{vendor.id}", business_name=vendor.name, country="DE"))
    complete_onboarding(account_id)
    vendor.payout_provider = provider().name
    vendor.payout_account_id = account_id
    vendor.payout_details_submitted = True
    vendor.payouts_enabled = True
    db.session.commit()


def balance(kind: AccountKind, vendor: Vendor | None = None) -> int:
    return ledger.balance_of(kind, "EUR",
                             vendor_id=vendor.id if vendor else None).amount_minor
