"""Vendor-portal rules and queries; every query starts from ``vendor_select``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors.models import Product, ProductStatus, StockLevel, Variant, Vendor, VendorStatus

# A variant with this many units available or fewer (across all locations) needs restocking.
LOW_STOCK_THRESHOLD = 3


@dataclass(frozen=True)
class DashboardSummary:
    vendor_name: str
    status: VendorStatus
    # Every ProductStatus is present, zero when the vendor has none in that status.
    products_by_status: dict[ProductStatus, int]
    low_stock_variants: int

    @property
    def total_products(self) -> int:
        return sum(self.products_by_status.values())


def product_counts_by_status(vendor_id: int) -> dict[ProductStatus, int]:
    """How many of the vendor's products are in each status (all statuses, zeros included)."""
    rows = db.session.execute(
        vendor_select(Product, vendor_id)
        .with_only_columns(Product.status, func.count(Product.id))
        .group_by(Product.status)
    ).all()
    counts = dict.fromkeys(ProductStatus, 0)
    counts.update({ProductStatus(status): count for status, count in rows})
    return counts


def low_stock_count(vendor_id: int, threshold: int = LOW_STOCK_THRESHOLD) -> int:
    """How many of the vendor's variants of non-archived products have ``threshold`` units
    available or fewer, summed over all stock locations; a variant with no stock rows has 0."""
    available = func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0)
    per_variant = (
        vendor_select(Variant, vendor_id)
        .with_only_columns(Variant.id)
        .join(Product, and_(Product.id == Variant.product_id, Product.vendor_id == vendor_id))
        .outerjoin(StockLevel, and_(StockLevel.variant_id == Variant.id,
                                    StockLevel.vendor_id == vendor_id))
        .where(Product.status != ProductStatus.ARCHIVED)
        .group_by(Variant.id)
        .having(available <= threshold)
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(per_variant)) or 0


def dashboard_summary(vendor: Vendor) -> DashboardSummary:
    """The numbers on the portal's front page, for ``vendor`` only."""
    return DashboardSummary(
        vendor_name=vendor.name,
        status=vendor.status,
        products_by_status=product_counts_by_status(vendor.id),
        low_stock_variants=low_stock_count(vendor.id),
    )
