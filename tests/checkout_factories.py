"""Factories for orders and stock split over locations; they flush, tests commit."""

from __future__ import annotations

import datetime as dt
import itertools

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.models import User
from vendors.models import StockLevel, StockLocation, Variant
from vendors.order_models import Order, OrderLine, SubOrder
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile

_seq = itertools.count(1)


def add_location(vendor_id: int, name: str, *, priority: int = 0,
                 country: str = "DE") -> StockLocation:
    location = StockLocation(vendor_id=vendor_id, name=name, country=country,
                             priority=priority)
    db.session.add(location)
    db.session.flush()
    return location


def stock_at(variant: Variant, location: StockLocation, on_hand: int) -> StockLevel:
    level = StockLevel(vendor_id=variant.vendor_id, variant_id=variant.id,
                       location_id=location.id, on_hand=on_hand)
    db.session.add(level)
    db.session.flush()
    return level


def make_order(buyer: User, lines: list[tuple[Variant, int]], *,
               currency: str = "EUR") -> Order:
    """An unpaid order with one sub-order per vendor and the lines at the variants' prices
    (no tax, no shipping); stock is not reserved."""
    n = next(_seq)
    total = sum(v.price_minor * q for v, q in lines)
    order = Order(number=f"T{n:08d}", buyer_id=buyer.id, idempotency_key=f"key-{n}",
                  email=buyer.email, currency=currency, items_minor=total, shipping_minor=0,
                  tax_minor=0, total_minor=total,
                  expires_at=utcnow() + dt.timedelta(minutes=15))
    db.session.add(order)
    db.session.flush()
    subs: dict[int, SubOrder] = {}
    for variant, qty in lines:
        sub = subs.get(variant.vendor_id)
        if sub is None:
            sub = SubOrder(order_id=order.id, vendor_id=variant.vendor_id, currency=currency,
                           items_minor=0, shipping_minor=0, tax_minor=0, total_minor=0)
            db.session.add(sub)
            db.session.flush()
            subs[variant.vendor_id] = sub
        amount = variant.price_minor * qty
        sub.items_minor += amount
        sub.total_minor += amount
        db.session.add(OrderLine(
            order_id=order.id, sub_order_id=sub.id, vendor_id=variant.vendor_id,
            variant_id=variant.id, product_id=variant.product_id, title="Item",
            sku=variant.sku, quantity=qty, vendor_unit_price_minor=variant.price_minor,
            vendor_currency=variant.currency, unit_price_minor=variant.price_minor,
            net_minor=amount, tax_minor=0, total_minor=amount,
        ))
    db.session.flush()
    return order


def flat_shipping(vendor_id: int, *, countries: tuple[str, ...] = ("DE", "FR", "US", "GB"),
                  price_minor: int = 500, currency: str = "EUR",
                  free_over_minor: int | None = None, name: str = "Standard") -> ShippingMethod:
    profile = ShippingProfile(vendor_id=vendor_id, name="Everywhere", countries=list(countries),
                              handling_days=2)
    db.session.add(profile)
    db.session.flush()
    method = ShippingMethod(vendor_id=vendor_id, profile_id=profile.id, name=name,
                            kind=RateKind.FLAT, currency=currency, base_minor=price_minor,
                            per_kg_minor=0, free_over_minor=free_over_minor, active=True)
    db.session.add(method)
    db.session.flush()
    return method
