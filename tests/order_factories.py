"""Shipping rates and placed orders, built row by row with explicit values.

``make_order`` inserts an Order with one SubOrder per vendor and its OrderLines directly, the
way a completed checkout leaves them (no tax, one currency unless told), so the vendor and
buyer order pages can be tested without going through the checkout. Factories flush; tests
commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy import select

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.models import User
from vendors import allocation
from vendors.allocation import LineDemand
from vendors.models import Variant, Vendor
from vendors.order_models import Order, OrderLine, OrderStatus, SubOrder, SubOrderStatus
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile

_seq = itertools.count(1)

DEMO_ADDRESS = {
    "name": "Ada Buyer", "line1": "Hauptstraße 1", "line2": "", "city": "Berlin",
    "region": "", "postal_code": "10115", "country": "DE", "phone": "",
}


def make_profile(vendor: Vendor, *, name: str = "Europe",
                 countries: tuple[str, ...] = ("DE", "FR", "NL"),
                 handling_days: int = 2) -> ShippingProfile:
    profile = ShippingProfile(vendor_id=vendor.id, name=name, countries=list(countries),
                              handling_days=handling_days)
    db.session.add(profile)
    db.session.flush()
    return profile


def make_method(profile: ShippingProfile, *, name: str = "Standard",
                kind: RateKind = RateKind.FLAT, base_minor: int = 490, per_kg_minor: int = 0,
                free_over_minor: int | None = None, active: bool = True,
                currency: str | None = None) -> ShippingMethod:
    if currency is None:
        currency = db.session.get(Vendor, profile.vendor_id).default_currency
    method = ShippingMethod(vendor_id=profile.vendor_id, profile_id=profile.id, name=name,
                            kind=kind, currency=currency, base_minor=base_minor,
                            per_kg_minor=per_kg_minor, free_over_minor=free_over_minor,
                            active=active)
    db.session.add(method)
    db.session.flush()
    return method


@dataclass(frozen=True)
class Part:
    """One vendor's part of an order: (variant, quantity) pairs and the shipping charged."""

    lines: tuple[tuple[Variant, int], ...]
    shipping_minor: int = 490
    status: SubOrderStatus = SubOrderStatus.PAID
    method_name: str = "Standard"


def make_order(buyer: User, *parts: Part, currency: str = "EUR",
               address: dict | None = None, placed_at: dt.datetime | None = None,
               commit_stock: bool = False) -> Order:
    """A paid order (unless every part says otherwise) whose totals add up exactly.

    Unit prices are the variants' prices (the order's currency is assumed to be theirs).
    With ``commit_stock`` the units are reserved and committed through vendors.allocation,
    as a paid checkout does (the variants need stock levels then).
    """
    n = next(_seq)
    placed_at = placed_at or utcnow()
    paid = any(p.status != SubOrderStatus.AWAITING_PAYMENT for p in parts)
    order = Order(
        number=f"MK-T{n:05d}", buyer_id=buyer.id, idempotency_key=f"test-{n}",
        email=buyer.email, status=OrderStatus.PAID if paid else OrderStatus.AWAITING_PAYMENT,
        currency=currency, items_minor=0, shipping_minor=0, tax_minor=0, total_minor=0,
        shipping_address=address or DEMO_ADDRESS, payment_provider="sandbox",
        expires_at=placed_at + dt.timedelta(minutes=30), paid_at=placed_at if paid else None,
        created_at=placed_at,
    )
    db.session.add(order)
    db.session.flush()
    for part in parts:
        vendor_id = part.lines[0][0].vendor_id
        items = sum(variant.price_minor * quantity for variant, quantity in part.lines)
        sub = SubOrder(
            order_id=order.id, vendor_id=vendor_id, status=part.status, currency=currency,
            items_minor=items, shipping_minor=part.shipping_minor, tax_minor=0,
            total_minor=items + part.shipping_minor, created_at=placed_at,
            shipping_method={"method_id": None, "name": part.method_name,
                             "handling_days": 2},
        )
        db.session.add(sub)
        db.session.flush()
        for variant, quantity in part.lines:
            total = variant.price_minor * quantity
            db.session.add(OrderLine(
                order_id=order.id, sub_order_id=sub.id, vendor_id=vendor_id,
                variant_id=variant.id, product_id=variant.product_id,
                title=variant.product.title, sku=variant.sku,
                attributes=dict(variant.attributes or {}), quantity=quantity,
                vendor_unit_price_minor=variant.price_minor, vendor_currency=variant.currency,
                unit_price_minor=variant.price_minor, net_minor=total, tax_minor=0,
                total_minor=total,
            ))
        order.items_minor += items
        order.shipping_minor += part.shipping_minor
        order.total_minor += items + part.shipping_minor
    db.session.flush()
    if commit_stock:
        demands = [LineDemand(line.id, line.vendor_id, line.variant_id, line.quantity)
                   for line in db.session.scalars(select(OrderLine).where(
                       OrderLine.order_id == order.id).order_by(OrderLine.id))]
        allocation.reserve_order(order.id, demands, order.expires_at)
        if paid:
            allocation.commit_order(order.id)
    return order
