"""Storefront queries: what a buyer may see, loaded in a constant number of statements.

Only approved products of approved vendors reach the storefront; a suspended vendor's listings
disappear with it. Every function here answers in one SQL statement whatever the page size,
so the home page costs the same with 3 products or 300,000.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.money import Money
from vendors.models import Product, ProductStatus, StockLevel, Variant, Vendor, VendorStatus

FEATURED_LIMIT = 12
VENDOR_STRIP_LIMIT = 24


@dataclass(frozen=True)
class CategoryChip:
    id: int
    name: str
    slug: str
    child_count: int


@dataclass(frozen=True)
class ProductCard:
    id: int
    title: str
    slug: str
    featured: bool
    vendor_id: int
    vendor_name: str
    vendor_has_logo: bool
    lowest_price: Money
    # Whether variants differ in price, so the card says "from".
    price_varies: bool
    in_stock: bool


@dataclass(frozen=True)
class VendorBadge:
    id: int
    name: str
    slug: str
    has_logo: bool


@dataclass(frozen=True)
class Logo:
    data: bytes
    mime: str

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


def _visible_products():
    """The filter every storefront product query shares."""
    return and_(Product.status == ProductStatus.APPROVED, Vendor.status == VendorStatus.APPROVED)


def root_categories() -> list[CategoryChip]:
    """The top of the category tree, in display order, with how many children each has."""
    child = aliased(Category)
    rows = db.session.execute(
        select(Category.id, Category.name, Category.slug, func.count(child.id))
        .outerjoin(child, child.parent_id == Category.id)
        .where(Category.parent_id.is_(None))
        .group_by(Category.id, Category.name, Category.slug, Category.position)
        .order_by(Category.position, Category.name)
    ).all()
    return [CategoryChip(*row) for row in rows]


def featured_products(limit: int = FEATURED_LIMIT) -> list[ProductCard]:
    """Up to ``limit`` visible products, featured ones first, then the newest.

    The price is the lowest variant price in the vendor's currency; a product is in stock when
    its stock levels add up to more than zero available units (on hand minus reserved). A
    product without a priced variant cannot be bought and is left out.
    """
    # Correlated subqueries rather than joins to aggregates over every variant: the database
    # computes prices and stock only for the few rows that survive the LIMIT.
    in_vendor_currency = and_(Variant.product_id == Product.id,
                              Variant.currency == Vendor.default_currency)
    low = select(func.min(Variant.price_minor)).where(in_vendor_currency).scalar_subquery()
    high = select(func.max(Variant.price_minor)).where(in_vendor_currency).scalar_subquery()
    available = (
        select(func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0))
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(Variant.product_id == Product.id)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            Product.id,
            Product.title,
            Product.slug,
            Product.featured,
            Vendor.id,
            Vendor.name,
            Vendor.logo.is_not(None),
            Vendor.default_currency,
            low,
            high,
            available,
        )
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(_visible_products(), exists().where(in_vendor_currency))
        .order_by(Product.featured.desc(), Product.id.desc())
        .limit(limit)
    ).all()
    return [
        ProductCard(
            id=pid, title=title, slug=slug, featured=featured, vendor_id=vid, vendor_name=vname,
            vendor_has_logo=bool(has_logo), lowest_price=Money(int(low), currency),
            price_varies=low != high, in_stock=int(available) > 0,
        )
        for (pid, title, slug, featured, vid, vname, has_logo, currency, low, high,
             available) in rows
    ]


def storefront_vendors(limit: int = VENDOR_STRIP_LIMIT) -> list[VendorBadge]:
    """Approved vendors for the home page strip, those with a logo first, then by name."""
    has_logo = Vendor.logo.is_not(None)
    rows = db.session.execute(
        select(Vendor.id, Vendor.name, Vendor.slug, has_logo)
        .where(Vendor.status == VendorStatus.APPROVED)
        .order_by(has_logo.desc(), Vendor.name, Vendor.id)
        .limit(limit)
    ).all()
    return [VendorBadge(id, name, slug, bool(logo)) for id, name, slug, logo in rows]


def vendor_logo(vendor_id: int) -> Logo | None:
    """The logo of an approved vendor, or None when the vendor is unknown, not approved or
    has no logo (a suspended shop's branding leaves the storefront with its listings)."""
    row = db.session.execute(
        select(Vendor.logo, Vendor.logo_mime).where(
            Vendor.id == vendor_id,
            Vendor.status == VendorStatus.APPROVED,
            Vendor.logo.is_not(None),
        )
    ).first()
    if row is None:
        return None
    return Logo(data=row[0], mime=row[1] or "application/octet-stream")
