"""The home page's queries (root categories, featured products, the vendor strip) and vendor
logos, each in one SQL statement whatever the catalog's size.

Only approved products of approved vendors reach the storefront; a suspended vendor's listings
disappear with it. Cards come from ``buyers.catalog`` (the same columns as every listing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from buyers.catalog import ProductCard, card_from_row, card_select, in_locale
from marketplace.extensions import db
from marketplace.models import Category
from vendors.models import Product, Vendor, VendorStatus

FEATURED_LIMIT = 12
VENDOR_STRIP_LIMIT = 24


@dataclass(frozen=True)
class CategoryChip:
    id: int
    name: str
    slug: str
    child_count: int


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


def featured_products(limit: int = FEATURED_LIMIT, *,
                      locale: str | None = None) -> list[ProductCard]:
    """Up to ``limit`` visible products, featured ones first, then the newest, titled in
    ``locale`` where translated (None: the default locale).

    The price is the lowest variant price in the vendor's currency; a product is in stock when
    its stock levels add up to more than zero available units (on hand minus reserved). A
    product without a priced variant cannot be bought and is left out. One query, and one
    more for the titles in a locale other than the default.
    """
    rows = db.session.execute(
        card_select().order_by(Product.featured.desc(), Product.id.desc()).limit(limit)
    ).all()
    cards = [card_from_row(row) for row in rows]
    return in_locale(cards, locale) if locale else cards


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
