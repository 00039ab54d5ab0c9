"""The catalog's JSON shapes: what creating or editing a product loads (portal and API alike),
and what the vendor API answers about products, revisions and images.

Loading checks shape and bounds (types, lengths, price ranges) with messages naming the
field; ``vendors.catalog`` checks the rules that need the database or the whole product.
"""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validate, validates_schema

from vendors.catalog import (
    MAX_ATTRIBUTES,
    MAX_OPTION_TYPES,
    MAX_OPTION_VALUES,
    MAX_PRICE_MINOR,
    MAX_SKU,
    MAX_TITLE,
    MAX_VARIANTS,
    MAX_WEIGHT_GRAMS,
)
from vendors.image_views import public_url
from vendors.models import ProductStatus, RevisionStatus
from vendors.rich_text import MAX_DESCRIPTION
from vendors.schemas import FilterQuerySchema, StrictBody, _id

_price = {"strict": True, "validate": validate.Range(min=0, max=MAX_PRICE_MINOR)}


class TextSchema(StrictBody):
    title = fields.String(load_default="", validate=validate.Length(max=MAX_TITLE))
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION),
                                metadata={"description": "HTML: p, br, strong, em, ul, ol, "
                                                         "li, a[href]; anything else is "
                                                         "removed."})


class OptionTypeSchema(StrictBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    values = fields.List(fields.String(validate=validate.Length(min=1, max=60)), required=True,
                         validate=validate.Length(min=1, max=MAX_OPTION_VALUES))


class VariantInputSchema(StrictBody):
    id = _id(load_default=None, metadata={"description": "An existing variant to change; "
                                                         "without it the SKU picks one."})
    sku = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SKU))
    price_minor = fields.Integer(required=True, **_price, metadata={
        "description": "In the shop's currency's minor unit (cents)."})
    compare_at_minor = fields.Integer(load_default=None, allow_none=True, **_price, metadata={
        "description": "The former price shown struck through; higher than the price."})
    weight_grams = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=MAX_WEIGHT_GRAMS))
    options = fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                          values=fields.String(validate=validate.Length(max=60)),
                          load_default=dict, metadata={
                              "description": "One value per option type: {\"size\": \"M\"}."})


class VariantDefaultsSchema(StrictBody):
    """Generate one variant per combination of the option types."""

    sku_prefix = fields.String(required=True, validate=validate.Length(min=1, max=30))
    price_minor = fields.Integer(required=True, **_price)
    compare_at_minor = fields.Integer(load_default=None, allow_none=True, **_price)
    weight_grams = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=MAX_WEIGHT_GRAMS))


class ProductInputSchema(StrictBody):
    """A product to create (``partial=True``: the fields to change)."""

    category_id = _id(required=True)
    texts = fields.Dict(keys=fields.String(validate=validate.Length(max=16)),
                        values=fields.Nested(TextSchema), required=True, metadata={
                            "description": "Title and description per locale; the default "
                                           "locale's title is required."})
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=40)),
                             values=fields.String(validate=validate.Length(max=60)),
                             validate=validate.Length(max=MAX_ATTRIBUTES))
    option_types = fields.List(fields.Nested(OptionTypeSchema),
                               validate=validate.Length(max=MAX_OPTION_TYPES))
    variants = fields.List(fields.Nested(VariantInputSchema),
                           validate=validate.Length(max=MAX_VARIANTS))
    generate_variants = fields.Nested(VariantDefaultsSchema, load_only=True, metadata={
        "description": "Instead of `variants`: one variant per combination of "
                       "`option_types`, SKUs made from the prefix and the values."})

    @validates_schema
    def _one_way_to_give_variants(self, data, **kwargs):
        if "variants" in data and "generate_variants" in data:
            raise ValidationError(_("Send either variants or generate_variants."),
                                  "generate_variants")


class ReasonSchema(StrictBody):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2_000))


class CatalogVariantSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    sku = fields.String(dump_only=True)
    price_minor = fields.Integer(dump_only=True)
    compare_at_minor = fields.Integer(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True)
    weight_grams = fields.Integer(dump_only=True, allow_none=True)
    attributes = fields.Dict(dump_only=True)


class ImageSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    position = fields.Integer(dump_only=True)
    content_type = fields.String(dump_only=True)
    width = fields.Integer(dump_only=True)
    height = fields.Integer(dump_only=True)
    url = fields.Method("_url", dump_only=True, metadata={
        "description": "The public address, served once the product is live."})
    thumbnail_url = fields.Method("_thumb", dump_only=True)

    def _url(self, image) -> str:
        return public_url(image, "full", _external=True)

    def _thumb(self, image) -> str:
        return public_url(image, "thumb", _external=True)


class RevisionSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    status = fields.Enum(RevisionStatus, by_value=True, dump_only=True)
    data = fields.Dict(dump_only=True, metadata={
        "description": "Only what the edit changes in the live product: the changed keys, "
                       "locales of `texts`, and per variant its `id` with the changed "
                       "fields (new variants in full). Approving applies just these, so "
                       "prices changed meanwhile (an import) stay."})
    rejection_reason = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)


class CatalogProductSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    category_id = fields.Integer(dump_only=True)
    title = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    status = fields.Enum(ProductStatus, by_value=True, dump_only=True)
    rejection_reason = fields.String(dump_only=True, allow_none=True)
    attributes = fields.Dict(dump_only=True, allow_none=True)
    option_types = fields.List(fields.Dict(), dump_only=True, allow_none=True)
    translations = fields.Method("_translations", dump_only=True)
    variants = fields.List(fields.Nested(CatalogVariantSchema), dump_only=True)
    images = fields.List(fields.Nested(ImageSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _translations(self, product) -> dict:
        return {t.locale: {"title": t.title, "description": t.description}
                for t in product.translations}


class EditResultSchema(StrictBody):
    """What an edit did: ``applied`` (the product changed) or ``pending_review`` (a live
    product's edit waits as a revision; the product shown is still the live version)."""

    result = fields.String(dump_only=True)
    product = fields.Nested(CatalogProductSchema, dump_only=True)
    revision = fields.Nested(RevisionSchema, dump_only=True, allow_none=True)


class CatalogQuerySchema(FilterQuerySchema):
    status = fields.Enum(ProductStatus, by_value=True, load_default=None)
