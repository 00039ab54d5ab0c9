"""The vendor API's JSON shapes: what it loads (with field-named errors) and what it answers.

Loading checks shape and bounds so a bad request is refused before any service runs; the
services check the rules again (ownership, stock), so nothing depends on a schema alone.
Integers are strict: ``"5"``, ``5.0`` and ``true`` are not quantities.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from marketplace.db import MAX_ID
from marketplace.pagination import PageQuerySchema
from vendors.countries import country_codes
from vendors.inventory import (
    MAX_ADDRESS,
    MAX_ADJUSTMENT,
    MAX_LOCATION_NAME,
    MAX_NOTE,
    MAX_PRIORITY,
    MAX_THRESHOLD,
)
from vendors.models import MANUAL_REASONS, MovementReason, ProductStatus


def _country(value: str) -> None:
    if value.upper() not in country_codes():
        # gettext, not lazy: marshmallow takes a message that isn't a str for a list of them.
        raise ValidationError(_("Use a two-letter ISO country code such as DE."))


def _id(*, strict: bool = True, **kwargs) -> fields.Integer:
    """An object id: a whole number from 1 (query strings are text, so not strict there)."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class StrictBody(Schema):
    """JSON bodies: an unknown key is an error (a typo must not be silently ignored)."""

    class Meta:
        unknown = RAISE


class StockLocationSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LOCATION_NAME))
    country = fields.String(required=True, validate=_country,
                            metadata={"description": "ISO 3166 alpha-2 code."})
    address = fields.String(load_default="", validate=validate.Length(max=MAX_ADDRESS))
    priority = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=0, max=MAX_PRIORITY),
        metadata={"description": "Lower numbers are used first when stock is allocated."},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class StockLevelSchema(Schema):
    id = fields.Integer(dump_only=True)
    variant_id = fields.Integer(dump_only=True)
    sku = fields.String(dump_only=True, attribute="variant.sku")
    location_id = fields.Integer(dump_only=True)
    on_hand = fields.Integer(dump_only=True)
    reserved = fields.Integer(dump_only=True,
                              metadata={"description": "Held for orders not yet shipped."})
    available = fields.Integer(dump_only=True, metadata={"description": "on_hand - reserved"})
    updated_at = fields.DateTime(dump_only=True)


class StockAdjustmentSchema(StrictBody):
    variant_id = _id(required=True)
    location_id = _id(required=True)
    # Sales and cancellations move stock through orders, never through an adjustment.
    reason = fields.String(required=True, validate=validate.OneOf(
        [r.value for r in MANUAL_REASONS],
        error="Must be one of: " + ", ".join(r.value for r in MANUAL_REASONS) + "."))
    quantity = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=MAX_ADJUSTMENT),
        metadata={"description": "Units received or damaged (at least 1), or for a "
                                 "count_correction the quantity counted (the new on-hand)."},
    )
    note = fields.String(load_default="", validate=validate.Length(max=MAX_NOTE))


class StockMovementSchema(Schema):
    id = fields.Integer(dump_only=True)
    variant_id = fields.Integer(dump_only=True)
    sku = fields.String(dump_only=True, attribute="variant.sku")
    location_id = fields.Integer(dump_only=True)
    reason = fields.Enum(MovementReason, by_value=True, dump_only=True)
    delta = fields.Integer(dump_only=True)
    on_hand_after = fields.Integer(dump_only=True)
    note = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True, allow_none=True)
    token_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class AdjustmentResultSchema(Schema):
    movement = fields.Nested(StockMovementSchema, dump_only=True)
    level = fields.Nested(StockLevelSchema, dump_only=True)


class ThresholdSchema(StrictBody):
    threshold = fields.Integer(
        strict=True, required=True, allow_none=True,
        validate=validate.Range(min=0, max=MAX_THRESHOLD),
        metadata={"description": "null: the shop's default threshold applies."},
    )


class VendorVariantSchema(Schema):
    id = fields.Integer(dump_only=True)
    product_id = fields.Integer(dump_only=True)
    sku = fields.String(dump_only=True)
    price_minor = fields.Integer(dump_only=True,
                                 metadata={"description": "Price in the currency's minor unit."})
    currency = fields.String(dump_only=True)
    compare_at_minor = fields.Integer(dump_only=True, allow_none=True)
    weight_grams = fields.Integer(dump_only=True, allow_none=True)
    attributes = fields.Dict(dump_only=True)
    low_stock_threshold = fields.Integer(dump_only=True, allow_none=True)


class VendorProductSchema(Schema):
    id = fields.Integer(dump_only=True)
    category_id = fields.Integer(dump_only=True)
    title = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    status = fields.Enum(ProductStatus, by_value=True, dump_only=True)
    variants = fields.List(fields.Nested(VendorVariantSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class LowStockSchema(Schema):
    variant_id = fields.Integer(dump_only=True)
    sku = fields.String(dump_only=True)
    product_id = fields.Integer(dump_only=True)
    product_title = fields.String(dump_only=True)
    on_hand = fields.Integer(dump_only=True)
    reserved = fields.Integer(dump_only=True)
    available = fields.Integer(dump_only=True)
    threshold = fields.Integer(dump_only=True)


# --- Query strings (lists) -----------------------------------------------------------------


class FilterQuerySchema(PageQuerySchema):
    """A list's filters from a query string. An empty parameter is no filter: a portal filter
    form sends its "All" choice as ``?status=`` or ``?location_id=``."""

    @pre_load
    def _empty_is_absent(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value != ""}


class LevelQuerySchema(FilterQuerySchema):
    class Meta:
        unknown = EXCLUDE

    variant_id = _id(strict=False, load_default=None)
    location_id = _id(strict=False, load_default=None)


class MovementQuerySchema(LevelQuerySchema):
    reason = fields.Enum(MovementReason, by_value=True, load_default=None)


class ProductQuerySchema(PageQuerySchema):
    status = fields.Enum(ProductStatus, by_value=True, load_default=None)


class VariantQuerySchema(PageQuerySchema):
    product_id = _id(strict=False, load_default=None)


class StockQuerySchema(FilterQuerySchema):
    """The portal's stock list: a location filter and a search box (SKU or title)."""

    location_id = _id(strict=False, load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    low = fields.Boolean(load_default=False)
