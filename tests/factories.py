"""Factories that build believable rows with explicit values; they flush, tests commit."""

from __future__ import annotations

import itertools

from marketplace.extensions import db
from marketplace.models import Category, Role, User
from vendors.models import (
    MemberRole,
    Product,
    ProductStatus,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
    VendorMembership,
    VendorStatus,
)

_seq = itertools.count(1)

PASSWORD = "correct horse battery staple"


def make_user(email: str | None = None, *, role: Role = Role.BUYER, name: str = "Ada Buyer",
              password: str = PASSWORD) -> User:
    user = User(email=email or f"user{next(_seq)}@example.com", name=name, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def make_category(name: str = "Home & Garden", parent: Category | None = None) -> Category:
    n = next(_seq)
    category = Category(name=name, slug=f"cat-{n}", parent=parent, position=n)
    db.session.add(category)
    db.session.flush()
    return category


def make_vendor(name: str = "Nordic Goods", *, status: VendorStatus = VendorStatus.APPROVED,
                owner: User | None = None, currency: str = "EUR") -> Vendor:
    n = next(_seq)
    vendor = Vendor(name=name, slug=f"vendor-{n}", status=status, country="DE",
                    default_currency=currency)
    db.session.add(vendor)
    db.session.flush()
    if owner is not None:
        db.session.add(VendorMembership(user=owner, vendor=vendor, role=MemberRole.OWNER))
        db.session.flush()
    return vendor


def make_product(vendor: Vendor, category: Category | None = None, *, title: str = "Oak Chair",
                 price_minor: int = 12_900, on_hand: int = 5, featured: bool = True,
                 status: ProductStatus = ProductStatus.APPROVED) -> Product:
    n = next(_seq)
    category = category or make_category()
    product = Product(vendor_id=vendor.id, category_id=category.id, title=title,
                      slug=f"product-{n}", status=status, featured=featured)
    db.session.add(product)
    db.session.flush()
    variant = Variant(vendor_id=vendor.id, product_id=product.id, sku=f"SKU-{n}",
                      price_minor=price_minor, currency=vendor.default_currency,
                      attributes={"colour": "oak"})
    location = StockLocation(vendor_id=vendor.id, name="Main warehouse", country=vendor.country)
    db.session.add_all([variant, location])
    db.session.flush()
    db.session.add(StockLevel(vendor_id=vendor.id, variant_id=variant.id,
                              location_id=location.id, on_hand=on_hand))
    db.session.flush()
    return product


def make_vendor_with_product(**product_kwargs) -> Product:
    return make_product(make_vendor(), **product_kwargs)
