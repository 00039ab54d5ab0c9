"""The cart: one per buyer across every vendor, or one per guest found by a cookie token.

A signed-in buyer has one cart (``carts.user_id``). A guest's cart is found by the SHA-256 of
a random token kept in the ``cart`` cookie (the database alone can't be used to open it) and
is merged into the account's cart at sign-in: quantities of the same variant are summed and
clamped to what is in stock.

Each line remembers the vendor's price the buyer last saw. Every time the cart is read
(:func:`review`), each line is checked again against the database: the price, the stock
(on hand minus reserved), whether the product is still approved and the shop still selling
(not suspended, not on vacation). A line that fails a check carries a message and blocks
checkout until the buyer fixes it; nothing is ever bought at a price or from a shop the
buyer didn't see.

Every change locks the cart row first (:func:`lock`), so concurrent changes of one cart
queue instead of losing an update or inserting one variant twice.

Functions flush and never commit; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from buyers.models import Cart, CartLine
from marketplace.db import MAX_ID, utcnow
from marketplace.extensions import db
from marketplace.fx import MissingRate, convert
from marketplace.money import Money
from vendors.models import Product, ProductStatus, StockLevel, Variant, Vendor, VendorStatus
from vendors.order_models import ReservationStatus, StockReservation

# One line holds at most this many units; more is a typo or a reseller.
MAX_LINE_QUANTITY = 99
# A cart holds at most this many different variants.
MAX_LINES = 100


class CartError(Exception):
    """A cart change that can't be made; ``message`` is safe to show, ``field`` names the
    input at fault, ``status`` is the HTTP status the API answers with."""

    status = 422

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownItem(CartError):
    """The variant or cart line id names nothing this buyer can buy or holds."""

    status = 404


class NotForSale(CartError):
    """The variant exists but can't be bought now (stock, shop status)."""

    status = 409


# --- Finding the cart ----------------------------------------------------------------------


def new_guest_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_cart(*, user_id: int | None = None, guest_token: str | None = None) -> Cart | None:
    if user_id is not None:
        return db.session.scalar(select(Cart).where(Cart.user_id == user_id))
    if guest_token:
        return db.session.scalar(select(Cart).where(Cart.token_hash == hash_token(guest_token)))
    return None


def get_or_create_cart(*, user_id: int | None = None, guest_token: str | None = None) -> Cart:
    """The buyer's (or guest's) cart, created when there is none.

    INSERT ... ON CONFLICT DO NOTHING, so two first adds racing end up in one cart.
    """
    if user_id is None and not guest_token:
        raise ValueError("a cart belongs to a user or a guest token")
    cart = find_cart(user_id=user_id, guest_token=guest_token)
    if cart is not None:
        return cart
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    values = {"created_at": now, "updated_at": now}
    if user_id is not None:
        values["user_id"] = user_id
        target = ["user_id"]
    else:
        values["token_hash"] = hash_token(guest_token)
        target = ["token_hash"]
    db.session.execute(insert(Cart).values(**values).on_conflict_do_nothing(
        index_elements=target))
    return find_cart(user_id=user_id, guest_token=guest_token)


# --- Changing the cart ---------------------------------------------------------------------


def lock(cart: Cart) -> None:
    """Hold the cart row until commit, so changes to one cart happen one after the other
    (two first adds of a variant make one line, quantities add up, the line limit holds).
    An UPDATE: a row lock on PostgreSQL, the database's write lock on SQLite."""
    db.session.execute(update(Cart).where(Cart.id == cart.id)
                       .values(updated_at=utcnow())
                       .execution_options(synchronize_session=False))


def available_units(variant_ids: list[int]) -> dict[int, int]:
    """Units that can be bought now per variant (on hand minus reserved, all locations).

    Units held by reservations past their expiry count as available: the order holding them
    is released by the expiry sweep, or by the checkout that finds the stock short
    (``buyers.payment_events.release_expired_for_variants``), before anything is refused.
    """
    if not variant_ids:
        return {}
    overdue = (
        select(StockReservation.stock_level_id,
               func.sum(StockReservation.quantity).label("units"))
        .where(StockReservation.status == ReservationStatus.ACTIVE,
               StockReservation.expires_at < utcnow(),
               StockReservation.stock_level_id.in_(
                   select(StockLevel.id).where(StockLevel.variant_id.in_(variant_ids))))
        .group_by(StockReservation.stock_level_id)
        .subquery()
    )
    rows = db.session.execute(
        select(StockLevel.variant_id,
               func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved
                                      + func.coalesce(overdue.c.units, 0)), 0))
        .join(Variant, (Variant.id == StockLevel.variant_id)
              & (Variant.vendor_id == StockLevel.vendor_id))
        .outerjoin(overdue, overdue.c.stock_level_id == StockLevel.id)
        .where(StockLevel.variant_id.in_(variant_ids))
        .group_by(StockLevel.variant_id)
    ).all()
    found = {variant_id: max(int(units), 0) for variant_id, units in rows}
    return {variant_id: found.get(variant_id, 0) for variant_id in variant_ids}


def _sellable_variant(variant_id: int) -> Variant:
    """The variant, if it may be put in a cart (approved product of a selling shop)."""
    variant = None
    if isinstance(variant_id, int) and 0 < variant_id <= MAX_ID:
        variant = db.session.get(Variant, variant_id)
    if variant is None or variant.product.status != ProductStatus.APPROVED \
            or variant.product.vendor.status != VendorStatus.APPROVED:
        raise UnknownItem(_("There is no product variant with this id for sale."),
                          field="variant_id")
    vendor = variant.product.vendor
    if vendor.on_vacation:
        raise NotForSale(_("%(shop)s is on vacation and not taking orders right now.",
                           shop=vendor.name), field="variant_id")
    return variant


def _check_quantity(variant: Variant, quantity: int) -> None:
    if quantity > MAX_LINE_QUANTITY:
        raise CartError(_("You can buy at most %(max)d of one item at a time.",
                          max=MAX_LINE_QUANTITY), field="quantity")
    available = available_units([variant.id])[variant.id]
    if available <= 0:
        raise NotForSale(_("This item is sold out."), field="quantity")
    if quantity > available:
        raise NotForSale(_("Only %(available)d left in stock.", available=available),
                         field="quantity")


def add_item(cart: Cart, variant_id: int, quantity: int) -> CartLine:
    """Put ``quantity`` more of a variant in the cart (a line per variant).

    Raises UnknownItem (``variant_id``: unknown, unapproved, shop not selling), NotForSale
    (on vacation, not enough stock), CartError (``quantity`` beyond the limit, too many lines).
    """
    variant = _sellable_variant(variant_id)
    lock(cart)
    line = db.session.scalar(select(CartLine).where(CartLine.cart_id == cart.id,
                                                    CartLine.variant_id == variant.id)
                             .execution_options(populate_existing=True))
    total = quantity + (line.quantity if line else 0)
    _check_quantity(variant, total)
    if line is None:
        count = db.session.scalar(select(func.count()).where(CartLine.cart_id == cart.id))
        if count >= MAX_LINES:
            raise CartError(_("A cart holds at most %(max)d different items.", max=MAX_LINES),
                            field="variant_id")
        line = CartLine(cart_id=cart.id, variant_id=variant.id, quantity=total,
                        added_at=utcnow())
        db.session.add(line)
    line.quantity = total
    _see_price(line, variant)
    cart.updated_at = utcnow()
    db.session.flush()
    return line


def _see_price(line: CartLine, variant: Variant) -> None:
    line.unit_price_minor = variant.price_minor
    line.currency = variant.currency


def cart_line(cart: Cart, line_id: int) -> CartLine:
    """A line of this cart; raises UnknownItem for anything else (another cart's line too)."""
    line = None
    if isinstance(line_id, int) and 0 < line_id <= MAX_ID:
        line = db.session.scalar(select(CartLine).where(CartLine.id == line_id,
                                                        CartLine.cart_id == cart.id)
                                 .execution_options(populate_existing=True))
    if line is None:
        raise UnknownItem(_("Your cart has no line with this id."), field="line_id")
    return line


def set_quantity(cart: Cart, line_id: int, quantity: int) -> CartLine:
    """Change a line's quantity; the buyer sees the current price, so it is accepted too.

    Raises UnknownItem, NotForSale, CartError like :func:`add_item`.
    """
    lock(cart)
    line = cart_line(cart, line_id)
    variant = _sellable_variant(line.variant_id)
    _check_quantity(variant, quantity)
    line.quantity = quantity
    _see_price(line, variant)
    cart.updated_at = utcnow()
    db.session.flush()
    return line


def remove_line(cart: Cart, line_id: int) -> None:
    """Take a line out of the cart. Raises UnknownItem."""
    lock(cart)
    line = cart_line(cart, line_id)
    db.session.delete(line)
    cart.updated_at = utcnow()
    db.session.flush()


def empty(cart: Cart, variant_ids: list[int] | None = None) -> None:
    """Remove every line (or those of ``variant_ids``): an order was placed from them."""
    for line in list(cart.lines):
        if variant_ids is None or line.variant_id in variant_ids:
            cart.lines.remove(line)
    db.session.flush()


def merge_guest_cart(guest_token: str, user_id: int) -> int:
    """Move a guest's lines into the account's cart and delete the guest cart.

    Quantities of a variant in both are summed and clamped to the line limit and to what is
    in stock (at least 1: a sold-out line stays, flagged, so the buyer sees what happened).
    Returns how many lines were moved or merged.
    """
    guest = find_cart(guest_token=guest_token)
    if guest is None or guest.user_id is not None:
        return 0
    lock(guest)
    db.session.refresh(guest, ["lines"])
    lines = list(guest.lines)
    if not lines:
        db.session.delete(guest)
        db.session.flush()
        return 0
    cart = get_or_create_cart(user_id=user_id)
    lock(cart)
    db.session.refresh(cart, ["lines"])
    mine = {line.variant_id: line for line in cart.lines}
    stock = available_units([line.variant_id for line in lines])
    for line in lines:
        current = mine.get(line.variant_id)
        wanted = line.quantity + (current.quantity if current else 0)
        quantity = max(1, min(wanted, MAX_LINE_QUANTITY, stock[line.variant_id]))
        if current is None:
            cart.lines.append(CartLine(variant_id=line.variant_id, quantity=quantity,
                                       unit_price_minor=line.unit_price_minor,
                                       currency=line.currency, added_at=line.added_at))
        else:
            current.quantity = quantity
    db.session.delete(guest)
    cart.updated_at = utcnow()
    db.session.flush()
    return len(lines)


# --- Reading the cart ----------------------------------------------------------------------


@dataclass
class LineView:
    line_id: int
    variant_id: int
    vendor_id: int
    product_id: int
    title: str
    slug: str
    sku: str
    attributes: dict
    quantity: int
    available: int
    vendor_price: Money
    # In the buyer's currency (None when there is no exchange rate for it).
    unit_price: Money | None
    line_total: Money | None
    weight_grams: int
    problem: str | None = None


@dataclass
class VendorGroup:
    vendor_id: int
    vendor_name: str
    vendor_slug: str
    lines: list[LineView] = field(default_factory=list)
    subtotal: Money | None = None

    @property
    def ok(self) -> bool:
        return all(line.problem is None for line in self.lines)


@dataclass
class CartView:
    currency: str
    groups: list[VendorGroup]
    total: Money

    @property
    def lines(self) -> list[LineView]:
        return [line for group in self.groups for line in group.lines]

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_empty(self) -> bool:
        return not self.groups

    @property
    def problems(self) -> list[LineView]:
        return [line for line in self.lines if line.problem]

    @property
    def ok(self) -> bool:
        return not self.is_empty and not self.problems


def review(cart: Cart | None, currency: str, rates: dict[str, int]) -> CartView:
    """The cart grouped by vendor (in the order vendors were first added), every line checked
    again, prices and subtotals in ``currency`` at ``rates``. Four queries."""
    if cart is None:
        return CartView(currency, [], Money.zero(currency))
    rows = db.session.execute(
        select(CartLine, Variant, Product, Vendor)
        .join(Variant, Variant.id == CartLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(CartLine.cart_id == cart.id)
        .order_by(CartLine.added_at, CartLine.id)
    ).all()
    stock = available_units([variant.id for _, variant, _, _ in rows])
    groups: dict[int, VendorGroup] = {}
    for line, variant, product, vendor in rows:
        vendor_price = Money(variant.price_minor, variant.currency)
        try:
            unit = convert(vendor_price, currency, rates)
        except MissingRate:
            unit = None
        view = LineView(
            line_id=line.id, variant_id=variant.id, vendor_id=vendor.id, product_id=product.id,
            title=product.title, slug=product.slug, sku=variant.sku,
            attributes=dict(variant.attributes or {}), quantity=line.quantity,
            available=stock[variant.id], vendor_price=vendor_price, unit_price=unit,
            line_total=unit * line.quantity if unit else None,
            weight_grams=variant.weight_grams or 0,
        )
        view.problem = _problem(line, variant, product, vendor, view)
        group = groups.get(vendor.id)
        if group is None:
            group = groups[vendor.id] = VendorGroup(vendor.id, vendor.name, vendor.slug)
        group.lines.append(view)
    total = Money.zero(currency)
    for group in groups.values():
        subtotal = Money.zero(currency)
        for line in group.lines:
            if line.line_total is not None:
                subtotal += line.line_total
        group.subtotal = subtotal
        total += subtotal
    return CartView(currency, list(groups.values()), total)


def _problem(line: CartLine, variant: Variant, product: Product, vendor: Vendor,
             view: LineView) -> str | None:
    if product.status != ProductStatus.APPROVED or vendor.status != VendorStatus.APPROVED:
        return _("This item is no longer for sale. Remove it to continue.")
    if vendor.on_vacation:
        note = (vendor.vacation_message or "").strip()
        if note:
            return _("%(shop)s is on vacation: %(message)s", shop=vendor.name, message=note)
        return _("%(shop)s is on vacation and not taking orders right now.", shop=vendor.name)
    if view.available <= 0:
        return _("Sold out. Remove it to continue.")
    if line.quantity > view.available:
        return _("Only %(available)d left in stock. Lower the quantity to continue.",
                 available=view.available)
    if (line.unit_price_minor, line.currency) != (variant.price_minor, variant.currency):
        before = Money(line.unit_price_minor, line.currency)
        return _("The price changed from %(before)s to %(now)s. Update the line to accept it.",
                 before=before.format(), now=view.vendor_price.format())
    if view.unit_price is None:
        return _("This price can't be shown in your currency right now.")
    return None


def line_count(cart: Cart | None) -> int:
    """Units in the cart, for the header's cart link (one query)."""
    if cart is None:
        return 0
    return db.session.scalar(select(func.coalesce(func.sum(CartLine.quantity), 0))
                             .where(CartLine.cart_id == cart.id)) or 0


def units_by_variant(cart: Cart) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for line in cart.lines:
        totals[line.variant_id] += line.quantity
    return dict(totals)
