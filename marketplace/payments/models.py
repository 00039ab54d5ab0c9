"""Tables of the offline sandbox provider: what Stripe would hold when there is no Stripe."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import utcnow
from marketplace.extensions import db


class SandboxAccount(db.Model):
    """A connected payout account opened with the sandbox provider.

    In the database rather than in memory so every web process and worker sees the same
    accounts, like they would see Stripe's.
    """

    __tablename__ = "payment_sandbox_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    business_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(254))
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
