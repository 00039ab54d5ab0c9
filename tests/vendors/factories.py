"""Vendor-portal factories: members with roles, locations, variants, stock and API tokens.

Like ``tests.factories`` they take explicit values and flush; tests commit.
"""

from __future__ import annotations

import functools
import itertools

from werkzeug.security import generate_password_hash

from marketplace.extensions import db
from marketplace.models import Role, User
from tests.factories import PASSWORD, make_category
from vendors import tokens
from vendors.access import ROLE_PERMISSIONS, Actor
from vendors.models import (
    MemberRole,
    Product,
    ProductStatus,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
    VendorApiToken,
    VendorMembership,
)

_seq = itertools.count(1)

ALL_SCOPES = ("catalog:read", "catalog:write", "catalog:import", "inventory:read",
              "inventory:write", "orders:read", "orders:write")


@functools.cache
def _password_hash() -> str:
    return generate_password_hash(PASSWORD, method="scrypt")


def make_person(email: str | None = None, *, name: str = "Ada Seller") -> User:
    """Like ``tests.factories.make_user`` (password PASSWORD), without hashing it again for
    every user: portal tests create several users each and scrypt is slow on purpose."""
    user = User(email=email or f"person{next(_seq)}@example.com", name=name, role=Role.BUYER,
                password_hash=_password_hash())
    db.session.add(user)
    db.session.flush()
    return user


def make_member(vendor: Vendor, role: MemberRole, *, email: str | None = None,
                name: str | None = None) -> User:
    n = next(_seq)
    user = make_person(email or f"{role.value}{n}@example.com", name=name or f"{role.value} {n}")
    db.session.add(VendorMembership(user_id=user.id, vendor_id=vendor.id, role=role))
    db.session.flush()
    return user


def make_location(vendor: Vendor, name: str = "Berlin warehouse", *, priority: int = 0,
                  country: str = "DE") -> StockLocation:
    location = StockLocation(vendor_id=vendor.id, name=name, country=country, priority=priority)
    db.session.add(location)
    db.session.flush()
    return location


def make_variant(vendor: Vendor, *, product: Product | None = None, sku: str | None = None,
                 title: str = "Linen Shirt", price_minor: int = 4_900,
                 status: ProductStatus = ProductStatus.APPROVED) -> Variant:
    """A variant (of a new product unless ``product`` is given) with no stock rows."""
    n = next(_seq)
    if product is None:
        product = Product(vendor_id=vendor.id, category_id=make_category().id, title=title,
                          slug=f"vp-product-{n}", status=status)
        db.session.add(product)
        db.session.flush()
    variant = Variant(vendor_id=vendor.id, product_id=product.id, sku=sku or f"VP-{n}",
                      price_minor=price_minor, currency=vendor.default_currency,
                      attributes={"size": "M"})
    db.session.add(variant)
    db.session.flush()
    return variant


def set_stock(variant: Variant, location: StockLocation, on_hand: int,
              reserved: int = 0) -> StockLevel:
    level = StockLevel(vendor_id=variant.vendor_id, variant_id=variant.id,
                       location_id=location.id, on_hand=on_hand, reserved=reserved)
    db.session.add(level)
    db.session.flush()
    return level


def make_token(vendor: Vendor, scopes: tuple[str, ...] = ALL_SCOPES, *,
               name: str = "Warehouse sync") -> tuple[VendorApiToken, str]:
    """A token of ``vendor`` and its secret, as an owner would create it."""
    owner = Actor(vendor_id=vendor.id, permissions=ROLE_PERMISSIONS[MemberRole.OWNER])
    return tokens.create_token(owner, name=name, scopes=scopes)
