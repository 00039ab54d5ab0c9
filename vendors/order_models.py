"""Orders as vendors fulfil them: one order per checkout, one sub-order per vendor, the lines,
and the stock reservations that hold units while the buyer pays.

The checkout (``buyers/``) creates these rows; the vendor portal reads and moves its own
sub-orders; the payouts work reads the lines. They live in ``vendors`` because the import
direction is marketplace <- vendors <- buyers <- payouts and the vendor portal must read them.

Money on every row is integer minor units of the order's currency (the buyer's currency at
checkout); each line also keeps the vendor's own unit price and currency, and the order keeps
the exchange rates it was converted with, so the books can always be explained.

Totals are stored, not derived on read, and the CHECK constraints keep each row's parts adding
up: ``total = net + tax`` on a line, ``total = items + shipping`` on a sub-order.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import BigId, JSONType, Timestamped, utcnow
from marketplace.extensions import db
from marketplace.models import enum_column
from vendors.models import InvalidTransition

if TYPE_CHECKING:
    from marketplace.models import User
    from vendors.models import StockLevel, Variant, Vendor


class OrderStatus(enum.StrEnum):
    """Where the buyer's payment stands. Each vendor's part has its own SubOrderStatus."""

    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    # Reservations ran out before the payment completed; the stock went back on sale.
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.AWAITING_PAYMENT: frozenset({
        OrderStatus.PAID, OrderStatus.PAYMENT_FAILED, OrderStatus.EXPIRED,
        OrderStatus.CANCELLED,
    }),
    # A payment that succeeds after the order gave up its stock is still recorded as paid
    # (the money moved); the checkout then cancels and refunds what can't be fulfilled.
    OrderStatus.PAYMENT_FAILED: frozenset({OrderStatus.PAID, OrderStatus.EXPIRED}),
    OrderStatus.EXPIRED: frozenset({OrderStatus.PAID}),
    OrderStatus.PAID: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.CANCELLED: frozenset(),
}


class SubOrderStatus(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    ACCEPTED = "accepted"
    READY_TO_SHIP = "ready_to_ship"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # The order's payment failed or expired; nothing of this part will happen.
    VOID = "void"


SUB_ORDER_TRANSITIONS: dict[SubOrderStatus, frozenset[SubOrderStatus]] = {
    SubOrderStatus.AWAITING_PAYMENT: frozenset({SubOrderStatus.PAID, SubOrderStatus.VOID}),
    SubOrderStatus.VOID: frozenset({SubOrderStatus.PAID}),
    SubOrderStatus.PAID: frozenset({
        SubOrderStatus.ACCEPTED, SubOrderStatus.REJECTED, SubOrderStatus.CANCELLED,
    }),
    SubOrderStatus.ACCEPTED: frozenset({
        SubOrderStatus.READY_TO_SHIP, SubOrderStatus.CANCELLED,
    }),
    # The shipping issue moves a ready sub-order on to shipped and delivered.
    SubOrderStatus.READY_TO_SHIP: frozenset({SubOrderStatus.CANCELLED}),
    SubOrderStatus.REJECTED: frozenset(),
    SubOrderStatus.CANCELLED: frozenset(),
}


class ReservationStatus(enum.StrEnum):
    ACTIVE = "active"
    # The order was paid: the units left the shelf (on_hand and reserved both went down).
    COMMITTED = "committed"
    # Payment failed, expired or the sub-order was rejected before payment completed.
    RELEASED = "released"
    # A committed (sold) reservation whose units went back on the shelf: the sub-order was
    # cancelled or rejected after payment, before it shipped.
    RESTOCKED = "restocked"


def is_order_number(text: str) -> bool:
    """Whether ``text`` can be an order number (1-20 ASCII letters, digits, dashes): anything
    else, e.g. a path with a NUL byte, is looked up as nothing instead of sent to SQL."""
    return re.fullmatch(r"[A-Za-z0-9-]{1,20}", text) is not None


class Order(Timestamped, db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # What buyers and vendors quote: short, unguessable, unique.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The key the checkout form or the API's Idempotency-Key header carried: one order per key.
    idempotency_key: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, name="order_status"), default=OrderStatus.AWAITING_PAYMENT
    )
    currency: Mapped[str] = mapped_column(String(3))
    items_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # Whether the shown prices included tax (the destination's custom), for the receipt.
    tax_inclusive: Mapped[bool] = mapped_column(default=False)
    # {currency: per_base_micro} of every currency converted from or to, as used.
    fx_rates: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The delivery address as entered, kept with the order (later edits of a saved address
    # don't move a placed order).
    shipping_address: Mapped[dict] = mapped_column(JSONType, default=dict)
    payment_provider: Mapped[str | None] = mapped_column(String(16))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    transfer_group: Mapped[str | None] = mapped_column(String(64))
    # Unpaid orders give their reserved stock back after this moment.
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # SHA-256 of what the placing request asked for (currency, address, shipping choices,
    # cart lines): a reused idempotency key with another request is refused.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The provider's message for the last declined attempt, shown on the pay page while the
    # buyer may still try another card (cleared when a payment succeeds).
    last_payment_error: Mapped[str | None] = mapped_column(String(500))

    buyer: Mapped[User] = relationship()
    sub_orders: Mapped[list[SubOrder]] = relationship(
        back_populates="order", order_by="SubOrder.id"
    )

    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key", name="uq_orders_buyer_idempotency"),
        Index("ix_orders_buyer_id", "buyer_id", "id"),
        Index("ix_orders_status_expires", "status", "expires_at"),
        CheckConstraint("items_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0",
                        name="amounts_not_negative"),
        CheckConstraint("total_minor >= items_minor + shipping_minor",
                        name="total_covers_parts"),
    )

    def set_status(self, new: OrderStatus) -> None:
        """Move to ``new``; raises InvalidTransition when the lifecycle forbids it."""
        if new not in ORDER_TRANSITIONS[self.status]:
            raise InvalidTransition(f"order cannot go from {self.status} to {new}")
        self.status = new


class SubOrder(Timestamped, db.Model):
    """One vendor's part of an order: its lines, shipping, tax and its own status."""

    __tablename__ = "sub_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    status: Mapped[SubOrderStatus] = mapped_column(
        enum_column(SubOrderStatus, name="sub_order_status"),
        default=SubOrderStatus.AWAITING_PAYMENT,
    )
    currency: Mapped[str] = mapped_column(String(3))
    # Items and shipping as charged (tax included where the destination shows it included,
    # added on top elsewhere); ``tax_minor`` is the tax inside them or added to them.
    items_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # The shipping method as chosen: {"method_id", "name", "handling_days", ...}.
    shipping_method: Mapped[dict] = mapped_column(JSONType, default=dict)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )

    order: Mapped[Order] = relationship(back_populates="sub_orders")
    vendor: Mapped[Vendor] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="sub_order", order_by="OrderLine.id"
    )

    __table_args__ = (
        UniqueConstraint("order_id", "vendor_id", name="uq_sub_orders_order_vendor"),
        Index("ix_sub_orders_vendor_status", "vendor_id", "status", "id"),
        Index("ix_sub_orders_vendor_id", "vendor_id", "id"),
        CheckConstraint("items_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0",
                        name="amounts_not_negative"),
        CheckConstraint("total_minor >= items_minor + shipping_minor",
                        name="total_covers_parts"),
    )

    def set_status(self, new: SubOrderStatus) -> None:
        """Move to ``new``; raises InvalidTransition when the lifecycle forbids it."""
        if new not in SUB_ORDER_TRANSITIONS[self.status]:
            raise InvalidTransition(f"sub-order cannot go from {self.status} to {new}")
        self.status = new
        self.status_changed_at = utcnow()


class OrderLine(db.Model):
    """One variant bought: what it was called and cost when bought, whatever happens later."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    sub_order_id: Mapped[int] = mapped_column(
        ForeignKey("sub_orders.id", ondelete="CASCADE"), index=True
    )
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"),
                                           index=True)
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("variants.id", ondelete="SET NULL"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)
    quantity: Mapped[int] = mapped_column(Integer)
    # The vendor's own price, as listed when bought.
    vendor_unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    vendor_currency: Mapped[str] = mapped_column(String(3))
    # In the order's currency: the converted unit price as shown, and the line's parts.
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    # The commission rule the line matched at checkout and its terms, frozen (migration
    # 0010): later rule changes never move a past order. ``commission_minor`` is in the
    # order's currency.
    commission_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("commission_rules.id", ondelete="RESTRICT")
    )
    commission_rule_version: Mapped[int | None] = mapped_column(Integer)
    commission_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    commission_fixed_minor: Mapped[int] = mapped_column(BigInteger, default=0,
                                                        server_default="0")
    commission_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    sub_order: Mapped[SubOrder] = relationship(back_populates="lines")
    variant: Mapped[Variant | None] = relationship()

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("net_minor >= 0 AND tax_minor >= 0", name="amounts_not_negative"),
        CheckConstraint("total_minor = net_minor + tax_minor", name="total_is_net_plus_tax"),
        CheckConstraint("tax_rate_bp >= 0", name="tax_rate_not_negative"),
        CheckConstraint("commission_minor >= 0 AND commission_minor <= net_minor",
                        name="commission_within_net"),
    )


class StockReservation(db.Model):
    """Units of one stock level held for one order line until it is paid, released or expired.

    While ACTIVE its quantity is counted in ``stock_levels.reserved``; every change of status
    moves that counter in the same transaction, so ``reserved`` always equals the sum of the
    active reservations of its level.
    """

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    stock_level_id: Mapped[int] = mapped_column(
        ForeignKey("stock_levels.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReservationStatus] = mapped_column(
        enum_column(ReservationStatus, name="reservation_status"),
        default=ReservationStatus.ACTIVE,
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    stock_level: Mapped[StockLevel] = relationship()

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_reservations_status_expires", "status", "expires_at"),
    )
