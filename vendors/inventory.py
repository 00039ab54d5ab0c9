"""Inventory rules: stock locations, stock levels, adjustments and the movement history.

Every query starts from ``vendor_select``; every id that comes in as input is looked up within
the acting vendor, so another vendor's variant or location is "unknown", exactly like one that
does not exist.

Adjustments change a level with one conditional UPDATE computed in SQL (``on_hand = on_hand +
delta WHERE on_hand + delta >= reserved``), so concurrent adjustments never lose each other's
changes and a decrease below what is reserved is refused rather than left to the CHECK
constraint. Each adjustment writes its :class:`~vendors.models.StockMovement` in the same
transaction and asks for the product to be reindexed after commit, since the storefront's
"in stock" comes from these numbers.

Functions flush and never commit; the caller commits (or rolls back after an exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import MAX_ID, utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.scoping import vendor_select
from vendors.access import Actor, Permission
from vendors.countries import country_codes
from vendors.errors import InsufficientStock, InvalidInput, UnknownReference
from vendors.models import (
    MANUAL_REASONS,
    MovementReason,
    Product,
    ProductStatus,
    StockLevel,
    StockLocation,
    StockMovement,
    Variant,
    Vendor,
)

# One adjustment moves at most this many units; more is a typo, not a delivery.
MAX_ADJUSTMENT = 1_000_000
# A level never holds more than this (the column is a 32-bit integer; this leaves headroom).
MAX_ON_HAND = 100_000_000
MAX_PRIORITY = 1_000
MAX_THRESHOLD = 1_000_000
MAX_NOTE = 500
MAX_LOCATION_NAME = 120
MAX_ADDRESS = 1_000

REINDEX_PRODUCTS = "vendors.search.reindex_products"


# --- Stock locations -----------------------------------------------------------------------


@dataclass(frozen=True)
class LocationInput:
    name: str
    country: str
    address: str = ""
    priority: int = 0


def locations_select(vendor_id: int) -> Select[tuple[StockLocation]]:
    """The vendor's locations, in allocation order (priority, then name)."""
    return vendor_select(StockLocation, vendor_id).order_by(
        StockLocation.priority, StockLocation.name, StockLocation.id
    )


def create_location(actor: Actor, data: LocationInput) -> StockLocation:
    """Add a stock location. Raises PermissionDenied, InvalidInput (naming the field)."""
    actor.require(Permission.MANAGE_LOCATIONS)
    clean = _clean_location(actor.vendor_id, data, exclude_id=None)
    location = StockLocation(vendor_id=actor.vendor_id, **clean)
    db.session.add(location)
    db.session.flush()
    return location


def update_location(actor: Actor, location_id: int, changes: dict[str, Any]) -> StockLocation:
    """Change some of a location's fields (``name``, ``country``, ``address``, ``priority``).

    Raises PermissionDenied, UnknownReference (``location_id``), InvalidInput.
    """
    actor.require(Permission.MANAGE_LOCATIONS)
    location = _owned_location(actor.vendor_id, location_id)
    current = LocationInput(location.name, location.country, location.address,
                            location.priority)
    merged = LocationInput(**{**current.__dict__, **changes})
    for key, value in _clean_location(actor.vendor_id, merged, exclude_id=location.id).items():
        setattr(location, key, value)
    db.session.flush()
    return location


def _clean_location(vendor_id: int, data: LocationInput, exclude_id: int | None) -> dict:
    name = (data.name or "").strip()
    if not name:
        raise InvalidInput(_("Give the location a name."), field="name")
    if len(name) > MAX_LOCATION_NAME:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_LOCATION_NAME),
                           field="name")
    country = (data.country or "").strip().upper()
    if country not in country_codes():
        raise InvalidInput(_("Choose a country (a two-letter ISO code such as DE)."),
                           field="country")
    address = (data.address or "").strip()
    if len(address) > MAX_ADDRESS:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_ADDRESS),
                           field="address")
    priority = data.priority
    if not isinstance(priority, int) or isinstance(priority, bool) or not (
            0 <= priority <= MAX_PRIORITY):
        raise InvalidInput(_("Use a whole number from 0 to %(max)d.", max=MAX_PRIORITY),
                           field="priority")
    same_name = vendor_select(StockLocation, vendor_id).where(
        func.lower(StockLocation.name) == name.lower())
    if exclude_id is not None:
        same_name = same_name.where(StockLocation.id != exclude_id)
    if db.session.scalar(same_name.limit(1)) is not None:
        raise InvalidInput(_("You already have a location with this name."), field="name")
    return {"name": name, "country": country, "address": address, "priority": priority}


# --- Adjustments ---------------------------------------------------------------------------


def adjust_stock(actor: Actor, *, variant_id: Any, location_id: Any, reason: Any,
                 quantity: Any, note: str = "") -> StockMovement:
    """Change one variant's stock at one location and record the movement.

    ``reason`` says what ``quantity`` means: units ``received`` (added) or ``damaged``
    (removed), both at least 1, or for a ``count_correction`` the quantity counted, which
    becomes the new on-hand figure (the difference is recorded, 0 included).

    Raises PermissionDenied; InvalidInput naming ``reason``, ``quantity`` or ``note``;
    UnknownReference naming ``variant_id`` or ``location_id``; InsufficientStock when the
    level would drop below zero or below the reserved units (nothing is written then).
    """
    actor.require(Permission.ADJUST_STOCK)
    reason = _reason(reason)
    quantity = _quantity(reason, quantity)
    note = _note(note)
    variant = _owned_variant(actor.vendor_id, variant_id)
    location = _owned_location(actor.vendor_id, location_id)
    level_id = _ensure_level(actor.vendor_id, variant.id, location.id)

    if reason == MovementReason.COUNT_CORRECTION:
        delta, on_hand_after = _set_counted(level_id, quantity, location)
    else:
        delta = quantity if reason == MovementReason.RECEIVED else -quantity
        on_hand_after = _apply_delta(level_id, delta, location)

    movement = StockMovement(
        vendor_id=actor.vendor_id, variant_id=variant.id, location_id=location.id,
        delta=delta, on_hand_after=on_hand_after, reason=reason, note=note,
        user_id=actor.user_id, token_id=actor.token_id, created_at=utcnow(),
    )
    db.session.add(movement)
    db.session.flush()
    enqueue_after_commit("search", REINDEX_PRODUCTS, [variant.product_id])
    return movement


def _reason(raw: Any) -> MovementReason:
    try:
        reason = MovementReason(raw)
    except ValueError:
        reason = None
    if reason not in MANUAL_REASONS:
        raise InvalidInput(
            _("Choose received, damaged or count correction."), field="reason"
        )
    return reason


def _quantity(reason: MovementReason, raw: Any) -> int:
    lowest = 0 if reason == MovementReason.COUNT_CORRECTION else 1
    if not isinstance(raw, int) or isinstance(raw, bool) or not lowest <= raw <= MAX_ADJUSTMENT:
        raise InvalidInput(
            _("Enter a whole number from %(low)d to %(high)s.", low=lowest,
              high=f"{MAX_ADJUSTMENT:,}"),
            field="quantity",
        )
    return raw


def _note(raw: Any) -> str:
    note = (raw or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_NOTE), field="note")
    return note


def _owned_variant(vendor_id: int, variant_id: Any) -> Variant:
    variant = _owned(Variant, vendor_id, variant_id)
    if variant is None:
        raise UnknownReference(_("You have no variant with this id."), field="variant_id")
    return variant


def _owned_location(vendor_id: int, location_id: Any) -> StockLocation:
    location = _owned(StockLocation, vendor_id, location_id)
    if location is None:
        raise UnknownReference(_("You have no stock location with this id."),
                               field="location_id")
    return location


def _owned(model: Any, vendor_id: int, object_id: Any) -> Any:
    if not isinstance(object_id, int) or isinstance(object_id, bool) or not (
            0 < object_id <= MAX_ID):
        return None
    return db.session.scalar(vendor_select(model, vendor_id).where(model.id == object_id))


def _ensure_level(vendor_id: int, variant_id: int, location_id: int) -> int:
    """The id of the level row for this pair, inserting an empty one if there is none.

    INSERT ... ON CONFLICT DO NOTHING, so two first adjustments racing both end up on the
    one row instead of one of them failing on the unique constraint.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    db.session.execute(
        insert(StockLevel)
        .values(vendor_id=vendor_id, variant_id=variant_id, location_id=location_id,
                on_hand=0, reserved=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id"])
    )
    return db.session.scalar(
        vendor_select(StockLevel, vendor_id)
        .with_only_columns(StockLevel.id)
        .where(StockLevel.variant_id == variant_id, StockLevel.location_id == location_id)
    )


def _apply_delta(level_id: int, delta: int, location: StockLocation) -> int:
    """Add ``delta`` in SQL; the WHERE refuses what would break a rule. Returns on_hand."""
    new_on_hand = db.session.scalar(
        update(StockLevel)
        .where(StockLevel.id == level_id,
               StockLevel.on_hand + delta >= StockLevel.reserved,
               StockLevel.on_hand + delta <= MAX_ON_HAND)
        .values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow())
        .returning(StockLevel.on_hand)
        .execution_options(synchronize_session="fetch")
    )
    if new_on_hand is None:
        on_hand, reserved = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.id == level_id)
        ).one()
        raise _refusal(location, on_hand, reserved, delta)
    return new_on_hand


def _set_counted(level_id: int, counted: int, location: StockLocation) -> tuple[int, int]:
    """Set on_hand to what was counted; returns (delta, on_hand).

    The row is locked first (an UPDATE takes the row lock on PostgreSQL and the write lock
    on SQLite), so the figure the delta is computed from can't change before it is written.
    """
    db.session.execute(
        update(StockLevel).where(StockLevel.id == level_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    on_hand, reserved = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.id == level_id)
    ).one()
    if counted < reserved:
        raise InsufficientStock(
            _("%(reserved)d units at %(location)s are reserved for orders, so the count can't "
              "be lower than that. Count again, or release the orders first.",
              reserved=reserved, location=location.name),
            field="quantity",
        )
    db.session.execute(
        update(StockLevel).where(StockLevel.id == level_id)
        .values(on_hand=counted)
        .execution_options(synchronize_session="fetch")
    )
    return counted - on_hand, counted


def _refusal(location: StockLocation, on_hand: int, reserved: int, delta: int) -> Exception:
    if delta > 0:
        return InvalidInput(
            _("That would put more than %(max)s units on hand at %(location)s.",
              max=f"{MAX_ON_HAND:,}", location=location.name),
            field="quantity",
        )
    if reserved:
        return InsufficientStock(
            _("%(location)s has %(on_hand)d on hand and %(reserved)d of them are reserved for "
              "orders, so at most %(available)d can be removed.",
              location=location.name, on_hand=on_hand, reserved=reserved,
              available=on_hand - reserved),
            field="quantity",
        )
    return InsufficientStock(
        _("%(location)s has only %(on_hand)d on hand, so at most %(on_hand)d can be removed.",
          location=location.name, on_hand=on_hand),
        field="quantity",
    )


# --- Thresholds ----------------------------------------------------------------------------


def set_variant_threshold(actor: Actor, variant_id: Any, threshold: int | None) -> Variant:
    """Set a variant's own low-stock threshold (None: the shop's default applies).

    Raises PermissionDenied, UnknownReference (``variant_id``), InvalidInput (``threshold``).
    """
    actor.require(Permission.MANAGE_THRESHOLDS)
    variant = _owned_variant(actor.vendor_id, variant_id)
    variant.low_stock_threshold = None if threshold is None else _threshold(threshold)
    db.session.flush()
    return variant


def set_default_threshold(actor: Actor, threshold: int) -> Vendor:
    """Set the shop's default low-stock threshold. Raises PermissionDenied, InvalidInput."""
    actor.require(Permission.MANAGE_THRESHOLDS)
    vendor = db.session.get(Vendor, actor.vendor_id)
    vendor.low_stock_threshold = _threshold(threshold)
    db.session.flush()
    return vendor


def _threshold(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_THRESHOLD:
        raise InvalidInput(_("Enter a whole number from 0 to %(max)s.",
                             max=f"{MAX_THRESHOLD:,}"), field="threshold")
    return raw


# --- Reading -------------------------------------------------------------------------------


def stock_overview(vendor_id: int, *, location_id: int | None = None,
                   search: str | None = None, low_only: bool = False) -> Select:
    """One row per variant: ``variant_id, sku, product_id, product_title, on_hand, reserved,
    available, threshold`` (summed over all locations, or over ``location_id`` only).

    ``threshold`` is the variant's own or the shop's default. ``low_only`` keeps variants of
    non-archived products whose total available is at or below it (a location filter does
    not change what counts as low: stock can be moved between warehouses).
    """
    default = select(Vendor.low_stock_threshold).where(Vendor.id == vendor_id).scalar_subquery()
    threshold = func.coalesce(Variant.low_stock_threshold, default)
    level_join = and_(StockLevel.variant_id == Variant.id, StockLevel.vendor_id == vendor_id)
    if location_id is not None and not low_only:
        level_join = and_(level_join, StockLevel.location_id == location_id)
    on_hand = func.coalesce(func.sum(StockLevel.on_hand), 0)
    reserved = func.coalesce(func.sum(StockLevel.reserved), 0)
    stmt = (
        vendor_select(Variant, vendor_id)
        .with_only_columns(
            Variant.id.label("variant_id"), Variant.sku.label("sku"),
            Product.id.label("product_id"), Product.title.label("product_title"),
            on_hand.label("on_hand"), reserved.label("reserved"),
            (on_hand - reserved).label("available"), threshold.label("threshold"),
        )
        .join(Product, and_(Product.id == Variant.product_id, Product.vendor_id == vendor_id))
        .outerjoin(StockLevel, level_join)
        .group_by(Variant.id, Variant.sku, Product.id, Product.title,
                  Variant.low_stock_threshold)
    )
    if search:
        stmt = stmt.where(Variant.sku.icontains(search, autoescape=True)
                          | Product.title.icontains(search, autoescape=True))
    if low_only:
        return (stmt.where(Product.status != ProductStatus.ARCHIVED)
                .having((on_hand - reserved) <= threshold)
                .order_by(on_hand - reserved, Variant.sku, Variant.id))
    return stmt.order_by(Product.title, Variant.sku, Variant.id)


def low_stock_count(vendor_id: int) -> int:
    """How many variants :func:`stock_overview` lists as low on stock."""
    low = stock_overview(vendor_id, low_only=True).order_by(None).subquery()
    return db.session.scalar(select(func.count()).select_from(low)) or 0


@dataclass(frozen=True)
class LocationStock:
    location: StockLocation
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def variant_stock(vendor_id: int, variant_id: int) -> list[LocationStock]:
    """The variant's stock at every one of the vendor's locations (zeros where none)."""
    levels = {
        level.location_id: level
        for level in db.session.scalars(
            vendor_select(StockLevel, vendor_id).where(StockLevel.variant_id == variant_id)
        )
    }
    result = []
    for location in db.session.scalars(locations_select(vendor_id)):
        level = levels.get(location.id)
        result.append(LocationStock(location, level.on_hand if level else 0,
                                    level.reserved if level else 0))
    return result


def levels_select(vendor_id: int, *, variant_id: int | None = None,
                  location_id: int | None = None) -> Select[tuple[StockLevel]]:
    stmt = vendor_select(StockLevel, vendor_id)
    if variant_id is not None:
        stmt = stmt.where(StockLevel.variant_id == variant_id)
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    return stmt.order_by(StockLevel.variant_id, StockLevel.location_id, StockLevel.id)


def movements_select(vendor_id: int, *, variant_id: int | None = None,
                     location_id: int | None = None,
                     reason: MovementReason | None = None) -> Select[tuple[StockMovement]]:
    """The vendor's movement history, newest first, optionally narrowed."""
    stmt = vendor_select(StockMovement, vendor_id)
    if variant_id is not None:
        stmt = stmt.where(StockMovement.variant_id == variant_id)
    if location_id is not None:
        stmt = stmt.where(StockMovement.location_id == location_id)
    if reason is not None:
        stmt = stmt.where(StockMovement.reason == reason)
    return stmt.order_by(StockMovement.id.desc())


def products_select(vendor_id: int, *, status: ProductStatus | None = None) -> Select:
    stmt = vendor_select(Product, vendor_id)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    return stmt.order_by(Product.title, Product.id)


def variants_select(vendor_id: int, *, product_id: int | None = None) -> Select:
    stmt = vendor_select(Variant, vendor_id)
    if product_id is not None:
        stmt = stmt.where(Variant.product_id == product_id)
    return stmt.order_by(Variant.product_id, Variant.sku, Variant.id)

