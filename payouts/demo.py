"""The demo's money: orders that went all the way through the books.

``flask marketplace seed`` calls :func:`seed_money` after the catalog, so a fresh `make run`
shows every stage of the money flow with real rows made by the real services:

1. The first three approved shops connect a (sandbox) payout account.
2. The demo buyer places orders with them through the checkout and pays each on the
   sandbox, whose ``payment_intent.succeeded`` event posts the captures to the ledger.
3. The older orders are dated back past the hold period (they are the demo's history), so the
   settlement job releases them, and the payout job pays them out through the sandbox.
4. The newest order stays in the hold period (pending), and the first shop refunds one unit
   of it: the refund claws back that unit's commission, tax and vendor share.
5. ``check_books`` must pass on the result; it raises otherwise.

Only the sandbox gateway can do this offline: with Stripe configured nothing is created.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from buyers import cart as carts
from buyers.checkout import ensure_payment_intent, place_order_once
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import User
from marketplace.payments import ConnectedAccountDetails, provider
from marketplace.payments.models import SandboxPaymentIntent
from marketplace.payments.sandbox import complete_onboarding
from marketplace.payments.sandbox_checkout import CARD_SUCCEEDS, pay_with_card
from payouts import refunds
from payouts.books import check_books
from payouts.models import RefundInitiator
from payouts.payouts import create_due_payouts
from payouts.settlement import settle_due
from vendors.models import (
    Product,
    ProductStatus,
    StockLevel,
    Variant,
    Vendor,
    VendorStatus,
)
from vendors.order_models import Order, OrderLine, SubOrder
from vendors.shipping_models import ShippingMethod

SHOPS = 3
# (days ago the order was paid, how many shops it buys from)
ORDERS = ((30, 3), (24, 2), (17, 1), (1, 2))


@dataclass
class MoneySummary:
    orders: list[str] = field(default_factory=list)
    settled: int = 0
    payouts: int = 0
    refunded_minor: int = 0
    currency: str = ""


def seed_money(buyer_email: str) -> MoneySummary:
    """Write the demo's orders, settlements, payouts and a partial refund; commits.

    Does nothing (an empty summary) unless the sandbox gateway is configured and the buyer
    and three approved shops with stock exist.
    """
    summary = MoneySummary()
    if provider().name != "sandbox":
        return summary
    buyer = db.session.scalar(sa.select(User).where(User.email == buyer_email))
    shops = _shops()
    if buyer is None or len(shops) < SHOPS:
        return summary
    for vendor in shops:
        _connect_payout_account(vendor)
    db.session.commit()

    hold = dt.timedelta(days=current_app.config["SETTLEMENT_HOLD_DAYS"])
    for n, (days_ago, shop_count) in enumerate(ORDERS):
        order = _paid_order(buyer, shops[:shop_count], key=f"demo-money-{n}")
        paid_at = utcnow() - dt.timedelta(days=days_ago)
        if dt.timedelta(days=days_ago) > hold:
            # Demo history: this order was paid weeks ago.
            db.session.execute(sa.update(Order).where(Order.id == order.id)
                               .values(paid_at=paid_at, created_at=paid_at))
            db.session.execute(sa.update(SubOrder).where(SubOrder.order_id == order.id)
                               .values(created_at=paid_at))
        db.session.commit()
        summary.orders.append(order.number)
        summary.currency = order.currency

    summary.settled = settle_due().settled
    summary.payouts = len(create_due_payouts().created)
    db.session.commit()
    run_queued_jobs(current_app._get_current_object())

    newest = db.session.scalar(sa.select(Order).where(Order.number == summary.orders[-1]))
    part = db.session.scalar(sa.select(SubOrder).where(SubOrder.order_id == newest.id,
                                                       SubOrder.vendor_id == shops[0].id))
    line = db.session.scalar(sa.select(OrderLine).where(OrderLine.sub_order_id == part.id)
                             .order_by(OrderLine.id).limit(1))
    refund = refunds.create_refund(part.id, {line.id: 1}, initiated_by=RefundInitiator.VENDOR,
                                   user_id=None, reason="Arrived scratched (demo)",
                                   approve=True)
    db.session.commit()
    run_queued_jobs(current_app._get_current_object())
    summary.refunded_minor = refund.amount_minor

    broken = [check for check in check_books() if not check.ok]
    if broken:
        raise RuntimeError(f"the demo's books do not balance: {broken}")
    return summary


def _shops() -> list[Vendor]:
    """Approved shops with an active product in stock, first ones first."""
    in_stock = (sa.select(Variant.vendor_id)
                .join(Product, Product.id == Variant.product_id)
                .join(StockLevel, StockLevel.variant_id == Variant.id)
                .where(Product.status == ProductStatus.APPROVED,
                       StockLevel.on_hand - StockLevel.reserved >= 5))
    return list(db.session.scalars(
        sa.select(Vendor).where(Vendor.status == VendorStatus.APPROVED,
                                Vendor.id.in_(in_stock))
        .order_by(Vendor.id).limit(SHOPS)))


def _connect_payout_account(vendor: Vendor) -> None:
    account_id = provider().create_connected_account(ConnectedAccountDetails(
        reference=f"vendor-{vendor.id}", business_name=vendor.name, country=vendor.country))
    complete_onboarding(account_id)
    vendor.payout_provider = provider().name
    vendor.payout_account_id = account_id
    vendor.payout_details_submitted = True
    vendor.payouts_enabled = True
    db.session.flush()


def _variant_of(vendor: Vendor) -> Variant:
    return db.session.scalars(
        sa.select(Variant).join(Product, Product.id == Variant.product_id)
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.vendor_id == vendor.id, Product.status == ProductStatus.APPROVED,
               StockLevel.on_hand - StockLevel.reserved >= 5)
        .order_by(Variant.id).limit(1)).one()


def _paid_order(buyer: User, shops: list[Vendor], *, key: str) -> Order:
    """An order of two units from each shop, placed through the checkout and paid on the
    sandbox with the card that succeeds (its event posts the captures)."""
    cart = carts.get_or_create_cart(user_id=buyer.id)
    choices = {}
    for vendor in shops:
        carts.add_item(cart, _variant_of(vendor).id, 2)
        choices[vendor.id] = db.session.scalar(
            sa.select(ShippingMethod.id).where(ShippingMethod.vendor_id == vendor.id,
                                               ShippingMethod.active.is_(True))
            .order_by(ShippingMethod.id).limit(1))
    db.session.commit()
    address = {"name": buyer.name, "line1": "Hauptstraße 1", "line2": "", "city": "Berlin",
               "region": "", "postal_code": "10115", "country": "DE", "phone": ""}
    order = place_order_once(buyer, idempotency_key=key, currency="EUR", address=address,
                             choices=choices).order
    intent = ensure_payment_intent(order.id)
    pay_with_card(db.session.get(SandboxPaymentIntent, intent.id), CARD_SUCCEEDS)
    db.session.commit()
    run_queued_jobs(current_app._get_current_object())
    db.session.expire_all()
    return db.session.get(Order, order.id)
