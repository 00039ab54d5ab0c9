"""Vendors' shipping profiles: where they ship (a zone of countries) and the methods they
offer there (flat or by weight, free above a threshold), in the vendor's own currency.

At checkout the buyer picks one method per vendor among the active methods of the vendor's
profiles whose countries include the destination.
"""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import BigId, JSONType, Timestamped
from marketplace.extensions import db
from marketplace.models import enum_column


class RateKind(enum.StrEnum):
    # One price per vendor parcel.
    FLAT = "flat"
    # base + per started kilogram of the parcel's total weight.
    WEIGHT = "weight"


class ShippingProfile(Timestamped, db.Model):
    __tablename__ = "shipping_profiles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    # ISO 3166 alpha-2 codes of the destinations this profile serves.
    countries: Mapped[list] = mapped_column(JSONType, default=list)
    # Working days between payment and hand-over to the carrier.
    handling_days: Mapped[int] = mapped_column(Integer, default=1)

    methods: Mapped[list[ShippingMethod]] = relationship(
        back_populates="profile", order_by="ShippingMethod.id"
    )

    __table_args__ = (
        CheckConstraint("handling_days >= 0 AND handling_days <= 90",
                        name="handling_days_in_range"),
    )


class ShippingMethod(Timestamped, db.Model):
    __tablename__ = "shipping_methods"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_profiles.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[RateKind] = mapped_column(enum_column(RateKind, name="shipping_rate_kind"),
                                           default=RateKind.FLAT)
    currency: Mapped[str] = mapped_column(String(3))
    base_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    per_kg_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Items subtotal (in ``currency``) from which this method costs nothing; None: never free.
    free_over_minor: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    profile: Mapped[ShippingProfile] = relationship(back_populates="methods")

    __table_args__ = (
        CheckConstraint("base_minor >= 0 AND per_kg_minor >= 0", name="rates_not_negative"),
        CheckConstraint("free_over_minor >= 0", name="free_over_not_negative"),
    )
