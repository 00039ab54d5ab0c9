"""Placing an order: one Order, one SubOrder per vendor, lines, stock reserved, one payment.

:func:`place_order` prices the buyer's cart on the server (``buyers.pricing``), writes the
order and reserves its stock all-or-nothing (``vendors.allocation``) in the caller's
transaction; :func:`ensure_payment_intent` then opens the provider's PaymentIntent for it in
a transaction of its own, so the stock rows are never locked while a payment provider
answers.

Idempotency: an order is unique per (buyer, idempotency key) (a database constraint). A
repeated submit finds the existing order before doing anything (and is refused when it asks
for something else than the request that placed it: ``orders.request_fingerprint``); two
submits racing both try
to insert it, the database lets one through and the other's insert fails once the first
commits, and :func:`place_order_once` answers it with the winner's order. The PaymentIntent's
own idempotency key is derived from the order id, and the order row is locked while it is
created, so one order has one intent whatever the retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from buyers import cart as carts
from buyers.models import Address
from buyers.payment_events import release_expired_for_variants
from buyers.pricing import PricingError, Quote, price_order
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.fx import load_rates
from marketplace.models import User
from marketplace.money import Money, currency_exponent
from marketplace.payments import PaymentIntentInfo, PaymentProviderError, provider
from vendors.allocation import LineDemand, OutOfStock, reserve_order
from vendors.order_models import Order, OrderLine, OrderStatus, SubOrder

__all__ = [
    "CartNotReady", "CheckoutError", "Expected", "KeyReused", "OrderNotPayable", "OutOfStock",
    "Placed", "PricingError", "QuoteChanged", "ensure_payment_intent", "find_order",
    "minimum_charge", "place_order", "place_order_once", "request_fingerprint",
]

ORDER_NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class CheckoutError(Exception):
    status = 422

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class CartNotReady(CheckoutError):
    """The cart is empty or has lines that can't be bought as they are."""

    status = 409


class QuoteChanged(CheckoutError):
    """The order priced now is not the one the buyer reviewed (cart, currency or prices
    changed since): nothing was placed; show the review again."""

    status = 409


class KeyReused(CheckoutError):
    """The idempotency key already placed an order for a different request."""

    status = 422


@dataclass(frozen=True)
class Expected:
    """What the review page showed: the order is placed only if it still costs this."""

    currency: str
    total_minor: int


@dataclass(frozen=True)
class Placed:
    order: Order
    # False when the idempotency key had placed this order before.
    created: bool


def new_order_number() -> str:
    """Short, unguessable, unambiguous to read aloud (no 0/O, 1/I)."""
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(10))


def minimum_charge(currency: str) -> Money:
    """The smallest total a card payment may have: half a unit of the currency (50 cents,
    50 pence), or 50 units of a currency without decimals (50 JPY); below it the payment
    provider refuses the charge."""
    exponent = currency_exponent(currency)
    return Money(50 if exponent == 0 else 5 * 10 ** (exponent - 1), currency)


def request_fingerprint(currency: str, address: dict[str, str], choices: dict[int, int],
                        lines: dict[int, int]) -> str:
    """SHA-256 of what a placing request asks for, canonical (sorted keys, no spaces):
    the currency, the address, the shipping method per vendor and the cart's
    ``{variant_id: quantity}``."""
    canonical = json.dumps({
        "currency": currency,
        "address": {name: address.get(name) or "" for name in ADDRESS_FIELDS},
        "shipping": sorted([int(vendor), int(method)] for vendor, method in choices.items()),
        "lines": sorted([int(variant), int(quantity)] for variant, quantity in lines.items()),
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _ordered_units(order: Order) -> dict[int, int]:
    units: dict[int, int] = defaultdict(int)
    for variant_id, quantity in db.session.execute(
            select(OrderLine.variant_id, OrderLine.quantity)
            .where(OrderLine.order_id == order.id)).all():
        units[variant_id or 0] += quantity
    return dict(units)


def _check_replay(existing: Order, currency: str, address: dict[str, str],
                  choices: dict[int, int]) -> None:
    """A repeated key must repeat the request. Placing emptied the cart of what it ordered,
    so an empty cart now stands for the lines the order took; lines in the cart mean the
    request is for them. Raises KeyReused."""
    if existing.request_fingerprint is None:
        return
    cart = carts.find_cart(user_id=existing.buyer_id)
    lines = carts.units_by_variant(cart) if cart is not None else {}
    fingerprint = request_fingerprint(currency, address, choices,
                                      lines or _ordered_units(existing))
    if fingerprint != existing.request_fingerprint:
        raise KeyReused(_("This Idempotency-Key was already used for a different request."),
                        field="Idempotency-Key")


def find_order(buyer_id: int, idempotency_key: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.buyer_id == buyer_id,
                                                 Order.idempotency_key == idempotency_key))


def quote_cart(buyer_id: int, currency: str, country: str,
               choices: dict[int, int]) -> tuple[carts.CartView, Quote]:
    """The buyer's cart checked again and priced. Raises CartNotReady, PricingError."""
    rates = load_rates()
    view = carts.review(carts.find_cart(user_id=buyer_id), currency, rates)
    if view.is_empty:
        raise CartNotReady(_("Your cart is empty."), field="cart")
    if view.problems:
        first = view.problems[0]
        raise CartNotReady(_("%(item)s: %(problem)s", item=first.title, problem=first.problem),
                           field="cart")
    return view, price_order(view, country, choices, rates)


def place_order(buyer: User, *, idempotency_key: str, currency: str, address: dict[str, str],
                choices: dict[int, int], expected: Expected | None = None) -> Placed:
    """Create the order for the buyer's cart and reserve its stock, in the caller's
    transaction (flushes; the caller commits). The cart's lines are removed.

    ``address`` is a cleaned delivery address (``country`` an ISO code); ``choices`` maps
    vendor id to shipping method id; ``currency`` is the buyer's selected currency;
    ``expected`` what the buyer reviewed (the checkout page), if anything.

    A key that placed an order before answers with that order when the request is the same
    (:func:`request_fingerprint`) and raises KeyReused when it differs. Raises CartNotReady,
    PricingError, QuoteChanged (not the ``expected`` currency and total), CheckoutError (a
    total below :func:`minimum_charge`), OutOfStock (naming the variant). On any of them the
    caller rolls back and nothing was written.
    """
    cart = carts.find_cart(user_id=buyer.id)
    if cart is not None:
        # Lock order: the cart, the new order, its stock levels. A cart change or a second
        # checkout of this cart waits here, then sees what this one left (a twin submit of
        # the same key finds the order just placed).
        carts.lock(cart)
    existing = find_order(buyer.id, idempotency_key)
    if existing is not None:
        _check_replay(existing, currency, address, choices)
        return Placed(existing, created=False)
    view, quote = quote_cart(buyer.id, currency, address["country"], choices)
    if expected is not None and (expected.currency, expected.total_minor) != \
            (quote.currency, quote.total.amount_minor):
        raise QuoteChanged(_("Your order changed since you reviewed it. Check it again."),
                           field="cart")
    if quote.total < minimum_charge(quote.currency):
        raise CheckoutError(
            _("The order total must be at least %(minimum)s to be paid by card.",
              minimum=minimum_charge(quote.currency).format()), field="cart")
    fingerprint = request_fingerprint(
        currency, address, choices, {line.variant_id: line.quantity for line in view.lines})
    minutes = current_app.config["CHECKOUT_RESERVATION_MINUTES"]
    expires_at = utcnow() + dt.timedelta(minutes=minutes)
    number = new_order_number()
    order = Order(
        number=number, buyer_id=buyer.id, idempotency_key=idempotency_key, email=buyer.email,
        status=OrderStatus.AWAITING_PAYMENT, currency=quote.currency,
        items_minor=quote.items.amount_minor, shipping_minor=quote.shipping.amount_minor,
        tax_minor=quote.tax_total.amount_minor, total_minor=quote.total.amount_minor,
        tax_inclusive=quote.tax.inclusive, fx_rates=quote.rates_used,
        shipping_address=dict(address), transfer_group=f"order-{number}",
        expires_at=expires_at, request_fingerprint=fingerprint,
    )
    db.session.add(order)
    # The unique (buyer, key) insert: a concurrent twin waits here for the first to finish.
    db.session.flush()
    demands = []
    for part in quote.parts:
        sub = SubOrder(order_id=order.id, vendor_id=part.vendor_id, currency=quote.currency,
                       items_minor=part.items.amount_minor,
                       shipping_minor=part.shipping.amount_minor,
                       tax_minor=part.tax.amount_minor, total_minor=part.total.amount_minor,
                       shipping_method=part.shipping_method)
        db.session.add(sub)
        db.session.flush()
        for line in part.lines:
            row = OrderLine(
                order_id=order.id, sub_order_id=sub.id, vendor_id=line.vendor_id,
                variant_id=line.variant_id, product_id=line.product_id,
                title=line.title[:200], sku=line.sku, attributes=line.attributes,
                quantity=line.quantity,
                vendor_unit_price_minor=line.vendor_unit_price.amount_minor,
                vendor_currency=line.vendor_unit_price.currency,
                unit_price_minor=line.unit_price.amount_minor, net_minor=line.net_minor,
                tax_minor=line.tax_minor, total_minor=line.total_minor,
                tax_rate_bp=line.tax_rate_bp,
            )
            db.session.add(row)
            db.session.flush()
            demands.append(LineDemand(row.id, line.vendor_id, line.variant_id, line.quantity))
    reserve_order(order.id, demands, expires_at)
    carts.empty(carts.find_cart(user_id=buyer.id), [line.variant_id for line in view.lines])
    return Placed(order, created=True)


def place_order_once(buyer: User, **kwargs: Any) -> Placed:
    """:func:`place_order` and commit; a twin submit that lost the race on the idempotency
    key gets the order the winner placed. A variant found short is tried once more after
    the overdue orders holding it have expired. Rolls back and re-raises the domain errors.
    """
    try:
        return _place_and_commit(buyer, **kwargs)
    except OutOfStock as short:
        if release_expired_for_variants([short.variant_id]) == 0:
            raise
    return _place_and_commit(buyer, **kwargs)


def _place_and_commit(buyer: User, **kwargs: Any) -> Placed:
    try:
        placed = place_order(buyer, **kwargs)
        db.session.commit()
        return placed
    except IntegrityError:
        db.session.rollback()
        existing = find_order(buyer.id, kwargs["idempotency_key"])
        if existing is None:
            raise
        _check_replay(existing, kwargs["currency"], kwargs["address"], kwargs["choices"])
        return Placed(existing, created=False)
    except (CheckoutError, PricingError, OutOfStock):
        db.session.rollback()
        raise


class OrderNotPayable(CheckoutError):
    """The order is no longer awaiting payment (expired, cancelled or already paid)."""

    status = 409


def intent_key(order: Order) -> str:
    return f"order-{order.id}-intent"


def ensure_payment_intent(order_id: int) -> PaymentIntentInfo:
    """The order's PaymentIntent, opened at the provider on first call, and commits.

    The order row is locked meanwhile, so concurrent calls open one intent; the provider's
    idempotency key (from the order id) covers a retry after a lost answer. The status is
    read again under the lock: an order that expired, was cancelled or paid meanwhile gets
    no new intent (raises OrderNotPayable). Raises PaymentProviderError (the order stays
    without an intent: call again later).
    """
    query = select(Order).where(Order.id == order_id).execution_options(
        populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    else:
        # SQLite: take the write lock first, so the check and the write are one step.
        db.session.execute(update(Order).where(Order.id == order_id)
                           .values(updated_at=Order.updated_at))
    order = db.session.scalars(query).one()
    if order.status != OrderStatus.AWAITING_PAYMENT:
        # It expired, was cancelled or paid while the caller looked: no new payment.
        db.session.commit()
        raise OrderNotPayable(_("This order can't be paid any more: it is no longer "
                                "awaiting payment."))
    gateway = provider()
    if order.payment_intent_id:
        db.session.commit()
        return gateway.retrieve_payment_intent(order.payment_intent_id)
    try:
        intent = gateway.create_payment_intent(
            amount_minor=order.total_minor, currency=order.currency,
            transfer_group=order.transfer_group or f"order-{order.number}",
            idempotency_key=intent_key(order),
            metadata={"order_id": str(order.id), "order_number": order.number},
        )
    except PaymentProviderError:
        db.session.rollback()
        raise
    order.payment_intent_id = intent.id
    order.payment_provider = gateway.name
    db.session.commit()
    return intent


# --- Addresses -----------------------------------------------------------------------------


ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country",
                  "phone")


def saved_address(user_id: int) -> dict[str, str] | None:
    """The buyer's default address (the last one used at checkout)."""
    row = db.session.scalar(select(Address).where(Address.user_id == user_id)
                            .order_by(Address.is_default.desc(), Address.id.desc()).limit(1))
    if row is None:
        return None
    return {name: getattr(row, name) or "" for name in ADDRESS_FIELDS}


def remember_address(user_id: int, address: dict[str, str]) -> Address:
    """Keep ``address`` as the buyer's default (one saved address, updated in place)."""
    row = db.session.scalar(select(Address).where(Address.user_id == user_id)
                            .order_by(Address.is_default.desc(), Address.id.desc()).limit(1))
    if row is None:
        row = Address(user_id=user_id)
        db.session.add(row)
    for name in ADDRESS_FIELDS:
        setattr(row, name, address.get(name) or "")
    row.is_default = True
    db.session.flush()
    return row
