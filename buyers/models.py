"""Buyer-side tables: carts and saved addresses. Orders live in ``vendors.order_models``,
because the vendor portal (which may not import ``buyers``) reads them too.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import BigId, Timestamped, utcnow
from marketplace.extensions import db

if TYPE_CHECKING:
    from vendors.models import Variant


class Cart(Timestamped, db.Model):
    """One cart across every vendor. A signed-in buyer has at most one; a guest's cart is
    found by the SHA-256 of the random token in their cookie and merged into the account at
    sign-in."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", order_by="CartLine.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("user_id IS NOT NULL OR token_hash IS NOT NULL", name="has_owner"),
    )


class CartLine(db.Model):
    __tablename__ = "cart_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    # The vendor's price when the buyer last saw it: a change is flagged, never bought blind.
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()

    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id", name="uq_cart_lines_cart_variant"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class Address(Timestamped, db.Model):
    """A buyer's saved delivery address (orders keep their own copy)."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(120), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str] = mapped_column(String(40), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
