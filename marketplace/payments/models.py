"""Tables of the payment layer.

- The offline sandbox provider's tables (``payment_sandbox_*``): what Stripe would hold when
  there is no Stripe: payout accounts, payment intents, refunds, transfers, reversals and the
  idempotency keys it has seen.
- ``payment_events``: every provider event (Stripe webhooks and the sandbox's own), stored
  once by event id and processed by a job (see :mod:`marketplace.payments.events`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import BigId, JSONType, utcnow
from marketplace.extensions import db
from marketplace.models import enum_column


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


class IntentStatus(enum.StrEnum):
    """The PaymentIntent states the sandbox uses: Stripe's names, a subset of Stripe's set."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class SandboxPaymentIntent(db.Model):
    """A payment the sandbox holds, as Stripe holds a PaymentIntent.

    ``charge_id`` is set when it succeeds (Stripe's ``latest_charge``): refunds are counted
    against it and transfers may name it as their ``source_transaction``.
    """

    __tablename__ = "payment_sandbox_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_secret: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    transfer_group: Mapped[str] = mapped_column(String(128))
    # "metadata" is taken on declarative classes; the column keeps Stripe's name.
    meta: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    status: Mapped[IntentStatus] = mapped_column(
        enum_column(IntentStatus, name="payment_sandbox_intent_status"),
        default=IntentStatus.REQUIRES_PAYMENT_METHOD,
    )
    charge_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                    onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount_minor",
                        name="refund_within_amount"),
    )


class SandboxRefund(db.Model):
    __tablename__ = "payment_sandbox_refunds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(
        ForeignKey("payment_sandbox_intents.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)


class SandboxTransfer(db.Model):
    """Money moved from the platform to a seller's sandbox account (a Stripe Transfer)."""

    __tablename__ = "payment_sandbox_transfers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(
        ForeignKey("payment_sandbox_accounts.id", ondelete="RESTRICT"), index=True
    )
    transfer_group: Mapped[str] = mapped_column(String(128), index=True)
    source_transaction: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict] = mapped_column("metadata", JSONType, default=dict)
    amount_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("amount_reversed >= 0 AND amount_reversed <= amount_minor",
                        name="reversal_within_amount"),
    )


class SandboxTransferReversal(db.Model):
    __tablename__ = "payment_sandbox_transfer_reversals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    transfer_id: Mapped[str] = mapped_column(
        ForeignKey("payment_sandbox_transfers.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)


class SandboxIdempotencyKey(db.Model):
    """An idempotency key the sandbox has seen: what was asked (a hash) and what it made.

    One table for every kind of request, like Stripe's keys: a key reused for a different
    request (other parameters, or another endpoint) is refused.
    """

    __tablename__ = "payment_sandbox_idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentEvent(db.Model):
    """A provider event (a verified Stripe webhook, or one the sandbox emitted), stored once.

    ``event_id`` is unique, so a second delivery of the same event finds the row and does
    nothing. ``processed_at`` is set in the same transaction as the handlers' effects; until
    then a job (re)tries it. ``attempts`` and ``last_error`` tell the operator about failures.
    """

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[dict] = mapped_column(JSONType)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
