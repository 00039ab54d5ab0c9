"""Vendors, their members, and the vendor-owned catalog and stock.

Every vendor-owned table carries ``vendor_id`` so that ``vendor_select`` can scope a query by
construction, even for rows (variants, stock levels) that could reach it through a parent.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from marketplace.db import BigId, JSONType, Timestamped
from marketplace.extensions import db
from marketplace.models import Category, enum_column

if TYPE_CHECKING:
    from marketplace.models import User


class InvalidTransition(ValueError):
    """A status change that the lifecycle does not allow."""


class VendorStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


VENDOR_TRANSITIONS: dict[VendorStatus, set[VendorStatus]] = {
    VendorStatus.PENDING: {VendorStatus.APPROVED, VendorStatus.REJECTED},
    VendorStatus.REJECTED: {VendorStatus.PENDING},
    VendorStatus.APPROVED: {VendorStatus.SUSPENDED},
    VendorStatus.SUSPENDED: {VendorStatus.APPROVED},
}


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    STAFF = "staff"


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Vendor(Timestamped, db.Model):
    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    status: Mapped[VendorStatus] = mapped_column(
        enum_column(VendorStatus, name="vendor_status"), default=VendorStatus.PENDING
    )
    country: Mapped[str] = mapped_column(String(2))
    default_currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    # Logos live in the database, not on one machine's disk, so every web process serves them.
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_mime: Mapped[str | None] = mapped_column(String(32))

    memberships: Mapped[list[VendorMembership]] = relationship(back_populates="vendor")
    products: Mapped[list[Product]] = relationship(back_populates="vendor")

    def set_status(self, new: VendorStatus) -> None:
        """Move to ``new``; raises InvalidTransition when the lifecycle forbids it."""
        if new not in VENDOR_TRANSITIONS[self.status]:
            raise InvalidTransition(f"vendor cannot go from {self.status} to {new}")
        self.status = new


class VendorMembership(Timestamped, db.Model):
    __tablename__ = "vendor_memberships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole, name="member_role"))

    user: Mapped[User] = relationship(back_populates="memberships")
    vendor: Mapped[Vendor] = relationship(back_populates="memberships")

    __table_args__ = (UniqueConstraint("user_id", "vendor_id", name="uq_membership_user_vendor"),)


class Product(Timestamped, db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProductStatus] = mapped_column(
        enum_column(ProductStatus, name="product_status"), default=ProductStatus.DRAFT
    )
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    # Kept by the reviews work as reviews are published; the average is derived, never stored.
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    vendor: Mapped[Vendor] = relationship(back_populates="products")
    category: Mapped[Category] = relationship()
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.id"
    )

    __table_args__ = (
        UniqueConstraint("vendor_id", "slug", name="uq_products_vendor_slug"),
        Index("ix_products_vendor_status", "vendor_id", "status"),
        Index("ix_products_category_status", "category_id", "status"),
        Index("ix_products_status_featured", "status", "featured"),
    )


class Variant(Timestamped, db.Model):
    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    # Money: integer minor units plus the ISO 4217 code, never a float.
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)

    product: Mapped[Product] = relationship(back_populates="variants")
    stock_levels: Mapped[list[StockLevel]] = relationship(back_populates="variant")

    __table_args__ = (
        UniqueConstraint("vendor_id", "sku", name="uq_variants_vendor_sku"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )


class StockLocation(Timestamped, db.Model):
    __tablename__ = "stock_locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str] = mapped_column(Text, default="")
    # Lower numbers are picked first when stock is allocated.
    priority: Mapped[int] = mapped_column(Integer, default=0)


class StockLevel(Timestamped, db.Model):
    __tablename__ = "stock_levels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="CASCADE"), index=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)

    variant: Mapped[Variant] = relationship(back_populates="stock_levels")
    location: Mapped[StockLocation] = relationship()

    __table_args__ = (
        UniqueConstraint("variant_id", "location_id", name="uq_stock_levels_variant_location"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_levels_vendor_variant", "vendor_id", "variant_id"),
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved
