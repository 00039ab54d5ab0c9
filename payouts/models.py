"""Money after the sale: commission rules, the double-entry ledger, and payouts.

The ledger
----------
``ledger_accounts`` are per owner (the platform or one vendor), kind and currency.
``ledger_transactions`` are money events (a payment captured, a settlement, a payout...), each
with a unique ``idempotency_key`` so an event retried or run twice posts once.
``ledger_postings`` are the lines of a transaction. A posting moves ``amount_minor`` from one
account to another: it debits ``debit_account_id`` and credits ``credit_account_id`` by the
same positive amount in ``currency``, and both accounts must hold that currency (composite
foreign keys to ``ledger_accounts(id, currency)``). Every transaction therefore sums to zero
per currency *by construction of the schema*: PostgreSQL can't store an unbalanced one. (SQLite
runs without foreign-key enforcement in this app, so ``payouts.ledger.post`` checks the
accounts' currencies too, and ``flask marketplace check-books`` reports any mismatch.)

Postings and transactions are immutable: the migration installs triggers that refuse UPDATE
(and DELETE on PostgreSQL), and the ORM refuses both. A mistake is corrected by a new
``adjustment`` transaction.

Balances are derived from postings, never stored: credits minus debits for the accounts the
platform owes (vendor pending/available/paid out, commission revenue, tax payable), debits
minus credits for what it holds (cash at the payment provider).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import BigId, Timestamped, utcnow
from marketplace.extensions import db
from marketplace.models import enum_column


class AccountKind(enum.StrEnum):
    # The platform's
    PROVIDER_CASH = "provider_cash"  # money held at the payment provider (an asset)
    COMMISSION_REVENUE = "commission_revenue"
    TAX_PAYABLE = "tax_payable"
    REFUNDS = "refunds"
    DISPUTES = "disputes"
    FX = "fx"
    # A vendor's (what the platform owes them)
    VENDOR_PENDING = "vendor_pending"  # earned, still in the hold period
    VENDOR_AVAILABLE = "vendor_available"  # may be paid out
    VENDOR_PAID_OUT = "vendor_paid_out"  # sent to the vendor's payout account


VENDOR_KINDS = frozenset({AccountKind.VENDOR_PENDING, AccountKind.VENDOR_AVAILABLE,
                          AccountKind.VENDOR_PAID_OUT})
# Accounts whose balance is debits minus credits; every other is credits minus debits.
DEBIT_NORMAL = frozenset({AccountKind.PROVIDER_CASH, AccountKind.REFUNDS, AccountKind.DISPUTES})


class TransactionKind(enum.StrEnum):
    PAYMENT_CAPTURED = "payment_captured"
    COMMISSION_EARNED = "commission_earned"
    TAX_COLLECTED = "tax_collected"
    REFUND = "refund"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    SETTLEMENT_RELEASE = "settlement_release"
    PAYOUT_SENT = "payout_sent"
    PAYOUT_FAILED = "payout_failed"
    TRANSFER_REVERSAL = "transfer_reversal"
    ADJUSTMENT = "adjustment"


class CommissionRule(Timestamped, db.Model):
    """What the platform keeps of a line: ``rate_bp`` basis points of the line's net amount
    plus ``fixed_minor`` per line, at least ``minimum_minor`` (fixed and minimum in
    ``currency``, converted at the order's snapshot rates for other currencies).

    The most specific valid rule wins: vendor, then category, then the platform default.
    A rule is never edited in place once used: a change closes it (``valid_until``) and adds a
    new row with ``version`` + 1, and order lines keep the id, version and terms they matched.
    """

    __tablename__ = "commission_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)
    rate_bp: Mapped[int] = mapped_column(Integer)
    fixed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    minimum_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_in_range"),
        CheckConstraint("fixed_minor >= 0 AND minimum_minor >= 0", name="amounts_not_negative"),
        CheckConstraint("vendor_id IS NULL OR category_id IS NULL", name="one_scope"),
        CheckConstraint("valid_until IS NULL OR valid_until > valid_from",
                        name="valid_period"),
        Index("ix_commission_rules_scope", "vendor_id", "category_id", "valid_from"),
    )


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "platform" or "vendor-<id>": one key for the uniqueness of (owner, kind, currency).
    owner: Mapped[str] = mapped_column(String(40))
    vendor_id: Mapped[int | None] = mapped_column(
        ForeignKey("vendors.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, name="ledger_account_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("owner", "kind", "currency", name="uq_ledger_accounts_owner_kind"),
        # The target of the postings' composite keys: a posting's currency is its accounts'.
        UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        CheckConstraint(
            "(vendor_id IS NULL AND owner = 'platform') OR "
            "(vendor_id IS NOT NULL AND owner <> 'platform')", name="owner_matches_vendor"),
    )


class LedgerTransaction(db.Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[TransactionKind] = mapped_column(
        enum_column(TransactionKind, name="ledger_transaction_kind")
    )
    # e.g. "capture:sub_order:12", "settle:sub_order:12", "payout:7": one posting per event.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"),
                                                 index=True)
    sub_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("sub_orders.id", ondelete="RESTRICT"), index=True
    )
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"),
                                                  index=True)
    # The refund or dispute a transaction records (migration 0011).
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="RESTRICT"),
                                                  index=True)
    dispute_id: Mapped[int | None] = mapped_column(
        ForeignKey("disputes.id", ondelete="RESTRICT"), index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    postings: Mapped[list[LedgerPosting]] = relationship(back_populates="transaction")

    __table_args__ = (
        Index("ix_ledger_transactions_vendor_id", "vendor_id", "id"),
    )


class LedgerPosting(db.Model):
    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    debit_account_id: Mapped[int] = mapped_column(BigId)
    credit_account_id: Mapped[int] = mapped_column(BigId)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="postings")

    __table_args__ = (
        ForeignKeyConstraint(["debit_account_id", "currency"],
                             ["ledger_accounts.id", "ledger_accounts.currency"],
                             name="fk_ledger_postings_debit_account", ondelete="RESTRICT"),
        ForeignKeyConstraint(["credit_account_id", "currency"],
                             ["ledger_accounts.id", "ledger_accounts.currency"],
                             name="fk_ledger_postings_credit_account", ondelete="RESTRICT"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        Index("ix_ledger_postings_debit", "debit_account_id", "id"),
        Index("ix_ledger_postings_credit", "credit_account_id", "id"),
    )


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"  # created; its money left the available balance
    PROCESSING = "processing"  # claimed by a worker, the provider call may be in flight
    PAID = "paid"
    FAILED = "failed"  # money returned to the available balance


class Payout(Timestamped, db.Model):
    """One transfer of a vendor's available balance in one currency. The row is the source
    of truth: a worker claims it (pending -> processing) before calling the provider with an
    idempotency key derived from its id, and completes it after; a reconciler finishes rows
    left in processing by a crash by asking the provider, never by sending again."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[PayoutStatus] = mapped_column(enum_column(PayoutStatus, name="payout_status"),
                                                 default=PayoutStatus.PENDING)
    provider: Mapped[str | None] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(255))
    transfer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_payouts_vendor_id", "vendor_id", "id"),
        Index("ix_payouts_status", "status", "id"),
    )

    @property
    def idempotency_key(self) -> str:
        return f"payout-{self.id}"


@event.listens_for(LedgerPosting, "before_update")
@event.listens_for(LedgerPosting, "before_delete")
@event.listens_for(LedgerTransaction, "before_update")
@event.listens_for(LedgerTransaction, "before_delete")
def _ledger_is_append_only(mapper, connection, target) -> None:
    raise TypeError("the ledger is append-only: post an adjustment instead")


# --- Refunds, transfer reversals, disputes (migration 0011) ----------------------------------


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # the buyer asked; waits for the vendor or an admin
    APPROVED = "approved"  # to be sent to the provider (the job is queued)
    PROCESSING = "processing"  # claimed by a worker; the provider call may be in flight
    SUCCEEDED = "succeeded"  # the money is back with the buyer and the ledger posted it
    FAILED = "failed"  # the provider refused; nothing was posted
    DECLINED = "declined"  # the vendor or an admin said no


class RefundInitiator(enum.StrEnum):
    BUYER = "buyer"
    VENDOR = "vendor"
    ADMIN = "admin"
    SYSTEM = "system"  # e.g. a paid part cancelled because its stock was gone


class Refund(Timestamped, db.Model):
    """Money given back to the buyer for (part of) one vendor's sub-order.

    The parts are frozen when the refund is created, from the lines' own figures and their
    frozen commission, and always sum to what the buyer gets back:
    ``amount = vendor_share + commission + tax`` (checked by the table). ``shipping_minor``
    is the part of the amount that is shipping (tax included where it was charged).
    The row is the source of truth for the provider call, like a payout: claimed
    (approved -> processing) before the call, which carries the idempotency key
    ``refund-<id>``, and completed (succeeded + ledger posting) after it.
    """

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    sub_order_id: Mapped[int] = mapped_column(ForeignKey("sub_orders.id", ondelete="RESTRICT"),
                                              index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, name="refund_status"),
                                                 default=RefundStatus.REQUESTED)
    initiated_by: Mapped[RefundInitiator] = mapped_column(
        enum_column(RefundInitiator, name="refund_initiator"))
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")
    decision_note: Mapped[str | None] = mapped_column(Text)
    # The parts, in minor units of ``currency`` (the order's).
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    vendor_share_minor: Mapped[int] = mapped_column(BigInteger)
    commission_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[RefundLine]] = relationship(back_populates="refund",
                                                   order_by="RefundLine.id")

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("vendor_share_minor >= 0 AND commission_minor >= 0 AND tax_minor >= 0 "
                        "AND shipping_minor >= 0", name="parts_not_negative"),
        CheckConstraint("amount_minor = vendor_share_minor + commission_minor + tax_minor",
                        name="parts_sum_to_amount"),
        CheckConstraint("shipping_minor <= amount_minor", name="shipping_within_amount"),
        Index("ix_refunds_vendor_id", "vendor_id", "id"),
        Index("ix_refunds_order_id", "order_id", "id"),
        Index("ix_refunds_status", "status", "id"),
    )

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.id}"


class RefundLine(db.Model):
    """Units of one order line in a refund, with their share of the line's frozen figures."""

    __tablename__ = "refund_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"),
                                           index=True)
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    commission_minor: Mapped[int] = mapped_column(BigInteger)

    refund: Mapped[Refund] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("net_minor >= 0 AND tax_minor >= 0 AND commission_minor >= 0 "
                        "AND commission_minor <= net_minor", name="amounts_in_range"),
        UniqueConstraint("refund_id", "order_line_id", name="uq_refund_lines_line"),
    )


class ReversalStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class TransferReversal(Timestamped, db.Model):
    """Money taken back from a payout already sent, for a refund or a lost dispute whose
    vendor share the vendor's balance can't cover. Idempotency key ``reversal-<id>``."""

    __tablename__ = "transfer_reversals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"),
                                           index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="RESTRICT"),
                                                  index=True)
    dispute_id: Mapped[int | None] = mapped_column(
        ForeignKey("disputes.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ReversalStatus] = mapped_column(
        enum_column(ReversalStatus, name="reversal_status"), default=ReversalStatus.PENDING)
    provider_reversal_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_transfer_reversals_vendor_id", "vendor_id", "id"),
    )

    @property
    def idempotency_key(self) -> str:
        return f"reversal-{self.id}"


class DisputeStatus(enum.StrEnum):
    OPEN = "open"  # the provider took the disputed amount from the platform's balance
    WON = "won"  # ... and gave it back
    LOST = "lost"  # the buyer keeps it; the vendor's share, commission and tax are reversed


class Dispute(Timestamped, db.Model):
    """A buyer's chargeback on an order's payment, as the provider reports it
    (``charge.dispute.created`` / ``charge.dispute.closed``)."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"),
                                          index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[DisputeStatus] = mapped_column(
        enum_column(DisputeStatus, name="dispute_status"), default=DisputeStatus.OPEN)
    reason: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_disputes_status", "status", "id"),
    )
