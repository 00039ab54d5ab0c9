"""Vendors, their members, and the vendor-owned catalog and stock.

Every vendor-owned table carries ``vendor_id`` so that ``vendor_select`` can scope a query by
construction, even for rows (variants, stock levels) that could reach it through a parent.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from marketplace.db import BigId, JSONType, Timestamped, utcnow
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


# A variant with this many units available or fewer (across all locations) needs restocking,
# unless the vendor or the variant sets its own threshold.
DEFAULT_LOW_STOCK_THRESHOLD = 3


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"


# A vendor submits a draft for review; a moderator approves or rejects it; a rejected product
# is fixed and sent again; a live product is archived (taken off sale) and can come back as
# a draft that goes through review again. Edits of a live product are ProductRevisions.
PRODUCT_TRANSITIONS: dict[ProductStatus, set[ProductStatus]] = {
    ProductStatus.DRAFT: {ProductStatus.SUBMITTED, ProductStatus.ARCHIVED},
    ProductStatus.SUBMITTED: {ProductStatus.APPROVED, ProductStatus.REJECTED,
                              ProductStatus.DRAFT},
    ProductStatus.REJECTED: {ProductStatus.SUBMITTED, ProductStatus.DRAFT,
                             ProductStatus.ARCHIVED},
    ProductStatus.APPROVED: {ProductStatus.ARCHIVED},
    ProductStatus.ARCHIVED: {ProductStatus.DRAFT},
}


class PayoutSchedule(enum.StrEnum):
    """How often a vendor's available balance is paid out (payouts/ runs the job)."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


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
    # The application: who to contact, and the currency payouts are made in (None: the
    # default currency). The reason is set when an admin rejects the application.
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    payout_currency: Mapped[str | None] = mapped_column(String(3))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # Vacation: listings stay visible but can't be bought; buyers see the message.
    on_vacation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    vacation_message: Mapped[str | None] = mapped_column(String(500))
    low_stock_threshold: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_LOW_STOCK_THRESHOLD,
        server_default=str(DEFAULT_LOW_STOCK_THRESHOLD),
    )
    # The connected payout account at the payment provider ("stripe" or "sandbox") and its
    # last known state; the provider is the source of truth, these are refreshed from it.
    payout_provider: Mapped[str | None] = mapped_column(String(16))
    payout_account_id: Mapped[str | None] = mapped_column(String(255))
    payout_details_submitted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When payouts run for this vendor, and the smallest amount worth sending (in the
    # payout's currency; migration 0010).
    payout_schedule: Mapped[PayoutSchedule] = mapped_column(
        enum_column(PayoutSchedule, name="payout_schedule"), default=PayoutSchedule.WEEKLY,
        server_default=PayoutSchedule.WEEKLY.value,
    )
    payout_minimum_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    memberships: Mapped[list[VendorMembership]] = relationship(back_populates="vendor")
    products: Mapped[list[Product]] = relationship(back_populates="vendor")

    __table_args__ = (
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold_not_negative"),
    )

    def set_status(self, new: VendorStatus) -> None:
        """Move to ``new``; raises InvalidTransition when the lifecycle forbids it."""
        if new not in VENDOR_TRANSITIONS[self.status]:
            raise InvalidTransition(f"vendor cannot go from {self.status} to {new}")
        self.status = new

    def reject(self, reason: str) -> None:
        """Refuse a pending application, telling the vendor why; raises InvalidTransition
        when the vendor is not pending and ValueError for an empty reason."""
        if not reason.strip():
            raise ValueError("a rejection needs a reason the vendor can act on")
        self.set_status(VendorStatus.REJECTED)
        self.rejection_reason = reason.strip()

    @property
    def effective_payout_currency(self) -> str:
        return self.payout_currency or self.default_currency

    @property
    def accepts_orders(self) -> bool:
        """Whether buyers may buy from this vendor now (approved and not on vacation)."""
        return self.status == VendorStatus.APPROVED and not self.on_vacation


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
    # Product-wide attributes ({"material": "cotton"}) and the option types that generated
    # the variants ([{"name": "Size", "values": ["S", "M"]}]); None on older rows: none.
    attributes: Mapped[dict | None] = mapped_column(JSONType)
    option_types: Mapped[list | None] = mapped_column(JSONType)
    # Set when a moderator rejects the product; shown to the vendor.
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    vendor: Mapped[Vendor] = relationship(back_populates="products")
    category: Mapped[Category] = relationship()
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.id"
    )
    translations: Mapped[list[ProductTranslation]] = relationship(
        back_populates="product", order_by="ProductTranslation.locale"
    )
    images: Mapped[list[ProductImage]] = relationship(
        order_by="(ProductImage.position, ProductImage.id)"
    )

    __table_args__ = (
        UniqueConstraint("vendor_id", "slug", name="uq_products_vendor_slug"),
        Index("ix_products_vendor_status", "vendor_id", "status"),
        Index("ix_products_category_status", "category_id", "status"),
        # The storefront home's "featured, then newest" order (migration 0005_storefront).
        Index("ix_products_status_featured_id", "status", "featured", "id"),
    )

    def set_status(self, new: ProductStatus) -> None:
        """Move to ``new``; raises InvalidTransition when the lifecycle forbids it."""
        if new not in PRODUCT_TRANSITIONS[self.status]:
            raise InvalidTransition(f"product cannot go from {self.status} to {new}")
        self.status = new


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
    # None: the vendor's low_stock_threshold applies.
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)
    # The "was" price shown struck through (same currency as price_minor); None: no sale.
    compare_at_minor: Mapped[int | None] = mapped_column(BigInteger)
    weight_grams: Mapped[int | None] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="variants")
    stock_levels: Mapped[list[StockLevel]] = relationship(back_populates="variant")

    __table_args__ = (
        UniqueConstraint("vendor_id", "sku", name="uq_variants_vendor_sku"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold_not_negative"),
        CheckConstraint("compare_at_minor >= 0", name="compare_at_not_negative"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )


class ProductTranslation(db.Model):
    """A product's title and description in one locale other than the default.

    The product's own ``title`` and ``description`` are the default locale's
    (``BABEL_DEFAULT_LOCALE``); a locale without a row falls back to them.
    """

    __tablename__ = "product_translations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    product: Mapped[Product] = relationship(back_populates="translations")

    __table_args__ = (
        UniqueConstraint("product_id", "locale", name="uq_product_translations_product_locale"),
    )


class ProductImage(db.Model):
    """A product photo, re-encoded on upload (no metadata) into a full size and a thumbnail.

    The bytes live in the database so that every web machine serves them; ``digest`` (the
    SHA-256 of the full-size bytes) is the ETag, and the URL carries it, so the route can
    answer with an immutable, year-long cache header.
    """

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    content_type: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    thumb_data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    alt: Mapped[str] = mapped_column(String(200), default="")
    # A photo added to a live product waits for review with the product's pending revision;
    # buyers don't see it until a moderator approves that revision.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_product_images_product_position", "product_id", "position"),
        CheckConstraint("width > 0 AND height > 0", name="size_positive"),
    )


class RevisionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ProductRevision(db.Model):
    """An edit of a live (approved) product, waiting for moderation.

    The approved version stays on sale unchanged until an admin approves the revision, which
    applies ``data`` (the edit, as the catalog service validated it) to the product.
    """

    __tablename__ = "product_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    status: Mapped[RevisionStatus] = mapped_column(
        enum_column(RevisionStatus, name="revision_status"), default=RevisionStatus.PENDING
    )
    data: Mapped[dict] = mapped_column(JSONType)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    product: Mapped[Product] = relationship()

    __table_args__ = (
        Index("ix_product_revisions_product_status", "product_id", "status"),
        Index("ix_product_revisions_status_id", "status", "id"),
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


class MovementReason(enum.StrEnum):
    """Why a stock level changed.

    ``sale`` is a paid order taking reserved units off the shelf; ``order_cancelled`` puts a
    cancelled, not yet shipped sub-order's units back (migration 0007 added both).
    """

    RECEIVED = "received"
    DAMAGED = "damaged"
    COUNT_CORRECTION = "count_correction"
    SALE = "sale"
    ORDER_CANCELLED = "order_cancelled"


# The reasons a person may give for an adjustment; the others are recorded by orders only.
MANUAL_REASONS = (MovementReason.RECEIVED, MovementReason.DAMAGED,
                  MovementReason.COUNT_CORRECTION)


class StockMovement(db.Model):
    """One change of one stock level: append-only history, never updated or deleted.

    ``on_hand_after`` is the level right after this change, read back from the same UPDATE
    that applied it, so the history can be replayed and checked. A count correction that
    confirms the figure has a delta of 0 and is still recorded (it says when stock was
    counted).
    """

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    # RESTRICT: a variant or location with history is archived, not deleted with its past.
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="RESTRICT"))
    location_id: Mapped[int] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    delta: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[MovementReason] = mapped_column(
        enum_column(MovementReason, name="movement_reason")
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    # Who made it: a member in the portal or an API token (the other is None).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("vendor_api_tokens.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    variant: Mapped[Variant] = relationship()
    location: Mapped[StockLocation] = relationship()
    user: Mapped[User | None] = relationship()
    token: Mapped[VendorApiToken | None] = relationship()

    __table_args__ = (
        CheckConstraint("on_hand_after >= 0", name="on_hand_after_not_negative"),
        Index("ix_stock_movements_vendor_id", "vendor_id", "id"),
        Index("ix_stock_movements_variant_id", "variant_id", "id"),
        Index("ix_stock_movements_location_id", "location_id", "id"),
    )


@event.listens_for(StockMovement, "before_update")
@event.listens_for(StockMovement, "before_delete")
def _movements_are_append_only(mapper, connection, target: StockMovement) -> None:
    raise TypeError("stock movements are append-only history: record a new movement instead")


class VendorInvitation(db.Model):
    """An emailed invitation to join a vendor with a role; the link carries a secret token
    whose SHA-256 hash is stored, so the database alone can't be used to accept it."""

    __tablename__ = "vendor_invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole, name="member_role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    vendor: Mapped[Vendor] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    __table_args__ = (Index("ix_vendor_invitations_vendor_email", "vendor_id", "email"),)

    def is_pending(self, now: dt.datetime) -> bool:
        """Neither accepted nor revoked, and not expired at ``now``."""
        if self.accepted_at is not None or self.revoked_at is not None:
            return False
        return _aware(self.expires_at) > now


class VendorApiToken(db.Model):
    """A vendor's API token for its integrations: scopes, and the SHA-256 of the secret.

    The secret is shown once when the token is created; only ``prefix`` (its first characters,
    to recognise it in a list) and the hash are kept. Revoking sets ``revoked_at``; every
    request checks it, so revocation takes effect on the next request.
    """

    __tablename__ = "vendor_api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSONType, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    created_by: Mapped[User | None] = relationship()


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
