"""The vendor portal's front page: a vendor's numbers, every query from ``vendor_select``.

The portal's rules live in one module per concept: ``onboarding`` (applying, the shop's
profile, vacation mode), ``payout_account`` (payout onboarding), ``staff`` (members and
invitations), ``inventory`` (locations, stock, movements) and ``tokens`` (API tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, func

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors import inventory, orders, sales
from vendors.models import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    Product,
    ProductStatus,
    Vendor,
    VendorStatus,
)
from vendors.order_models import SubOrder, SubOrderStatus

RECENT_ORDERS = 5
LOW_STOCK_ROWS = 5

# Kept for readers of the old name; the threshold is now per vendor and per variant.
LOW_STOCK_THRESHOLD = DEFAULT_LOW_STOCK_THRESHOLD


@dataclass(frozen=True)
class DashboardSummary:
    vendor_name: str
    status: VendorStatus
    # Every ProductStatus is present, zero when the vendor has none in that status.
    products_by_status: dict[ProductStatus, int]
    low_stock_variants: int
    low_stock_threshold: int
    on_vacation: bool
    payouts_enabled: bool

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


def low_stock_count(vendor_id: int) -> int:
    """How many of the vendor's variants of non-archived products have their low-stock
    threshold (their own, else the vendor's) or fewer units available, summed over all stock
    locations; a variant with no stock rows has 0."""
    return inventory.low_stock_count(vendor_id)


def dashboard_summary(vendor: Vendor) -> DashboardSummary:
    """The numbers on the portal's front page, for ``vendor`` only."""
    return DashboardSummary(
        vendor_name=vendor.name,
        status=vendor.status,
        products_by_status=product_counts_by_status(vendor.id),
        low_stock_variants=low_stock_count(vendor.id),
        low_stock_threshold=vendor.low_stock_threshold,
        on_vacation=vendor.on_vacation,
        payouts_enabled=vendor.payouts_enabled,
    )


@dataclass(frozen=True)
class OrdersSummary:
    recent: list[SubOrder]
    to_accept: int
    chart: sales.SalesChart

    @property
    def any_orders(self) -> bool:
        return bool(self.recent)


def orders_summary(vendor: Vendor) -> OrdersSummary:
    """The front page's orders: the latest few, how many wait to be accepted, and the last
    30 days' sales in the vendor's currency."""
    recent = db.session.scalars(
        orders.sub_orders_select(vendor.id).limit(RECENT_ORDERS)).all()
    return OrdersSummary(
        recent=list(recent),
        to_accept=orders.status_counts(vendor.id)[SubOrderStatus.PAID],
        chart=sales.sales_chart(vendor.id, vendor.default_currency),
    )


def low_stock_rows(vendor_id: int, limit: int = LOW_STOCK_ROWS) -> list[Row]:
    """The variants lowest on stock (see inventory.stock_overview), at most ``limit``."""
    return list(db.session.execute(
        inventory.stock_overview(vendor_id, low_only=True).limit(limit)).all())
