"""The cart's and the checkout's input and output shapes (forms and the JSON API).

Input carries only what a buyer chooses: variant ids and quantities, a delivery address, a
shipping method per vendor. Anything else a client sends (prices, currency, totals) is
dropped unread (``unknown = EXCLUDE``): the server prices orders from the database.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from buyers.cart import MAX_LINE_QUANTITY
from buyers.schemas import MoneySchema
from marketplace.db import MAX_ID
from marketplace.schemas import CleanString
from vendors.countries import country_codes


class WholeNumber(fields.Integer):
    """An integer and nothing else: no bool, no float (2.0 or 2.5), no "2" in JSON.

    With ``from_text`` (form posts) a string of digits is read too.
    """

    def __init__(self, *args: Any, from_text: bool = False, **kwargs: Any):
        super().__init__(*args, strict=True, **kwargs)
        self.from_text = from_text

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if self.from_text and isinstance(value, str) and value.strip().isdecimal() \
                and len(value.strip()) <= 12:
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError([str(_l("Enter a whole number."))])
        return super()._deserialize(value, attr, data, **kwargs)


def _quantity(from_text: bool = False) -> WholeNumber:
    return WholeNumber(required=True, from_text=from_text, validate=validate.Range(
        min=1, max=MAX_LINE_QUANTITY,
        error=_l("Enter a whole number from 1 to {max}.").format(max=MAX_LINE_QUANTITY)))


def _id(from_text: bool = False) -> WholeNumber:
    return WholeNumber(required=True, from_text=from_text, validate=validate.Range(
        min=1, max=MAX_ID, error=_l("Not a valid id.")))


class AddLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    variant_id = _id()
    quantity = _quantity()


class AddLineFormSchema(AddLineSchema):
    variant_id = _id(from_text=True)
    quantity = _quantity(from_text=True)


class QuantitySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    quantity = _quantity()


class QuantityFormSchema(QuantitySchema):
    quantity = _quantity(from_text=True)


def _text(max_len: int, *, required: bool = True) -> CleanString:
    too_long = validate.Length(max=max_len, error=_l("Use at most {max} characters."))
    if not required:
        return CleanString(load_default="", validate=too_long)
    return CleanString(required=True, validate=[
        validate.Length(min=1, error=_l("This field is required.")), too_long])


def _check_country(value: str) -> None:
    if value not in country_codes():
        raise ValidationError(str(_l("Choose a country.")))  # a str: one message, not letters


class AddressSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = _text(120)
    line1 = _text(200)
    line2 = _text(200, required=False)
    city = _text(120)
    region = _text(120, required=False)
    postal_code = _text(20)
    country = CleanString(required=True, validate=lambda value: _check_country(value))
    phone = _text(40, required=False)

    @pre_load
    def _strip(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            cleaned[key] = " ".join(value.split()) if isinstance(value, str) else value
        if isinstance(cleaned.get("country"), str):
            cleaned["country"] = cleaned["country"].upper()
        return cleaned


class ShippingChoiceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    vendor_id = _id()
    method_id = _id()


class CheckoutSchema(Schema):
    """POST /api/v1/checkout. The currency is the buyer's selected one; the amounts are the
    server's; fields with other names are ignored."""

    class Meta:
        unknown = EXCLUDE

    address = fields.Nested(AddressSchema, required=True)
    shipping = fields.List(fields.Nested(ShippingChoiceSchema), load_default=list,
                           validate=validate.Length(max=100))


class PlaceOrderFormSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    idempotency_key = CleanString(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{8,100}$", error=_l("Reload the page and try again.")))
    # What the review page showed: the order is placed only if it still costs this.
    currency = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{3}$", error=_l("Reload the page and try again.")))
    total_minor = WholeNumber(required=True, from_text=True, validate=validate.Range(
        min=0, error=_l("Reload the page and try again.")))


IDEMPOTENCY_KEY = validate.Regexp(r"^[\x21-\x7e]{1,100}$")


# --- Output ----------------------------------------------------------------------------------


class CartLineSchema(Schema):
    id = fields.Integer(attribute="line_id")
    variant_id = fields.Integer()
    product_id = fields.Integer()
    title = fields.String()
    sku = fields.String()
    attributes = fields.Dict()
    quantity = fields.Integer()
    available = fields.Integer()
    vendor_price = fields.Nested(MoneySchema)
    unit_price = fields.Nested(MoneySchema, allow_none=True)
    line_total = fields.Nested(MoneySchema, allow_none=True)
    problem = fields.String(allow_none=True, metadata={
        "description": "Why the line can't be checked out as it is (null: it can)."})


class CartVendorGroupSchema(Schema):
    vendor_id = fields.Integer()
    vendor_name = fields.String()
    lines = fields.List(fields.Nested(CartLineSchema))
    subtotal = fields.Nested(MoneySchema)


class CartSchema(Schema):
    currency = fields.String()
    groups = fields.List(fields.Nested(CartVendorGroupSchema))
    total = fields.Nested(MoneySchema)
    count = fields.Integer()
    ok = fields.Boolean(metadata={"description": "Whether the cart can be checked out."})


class PlacedSubOrderSchema(Schema):
    id = fields.Integer()
    vendor_id = fields.Integer()
    status = fields.String()
    items_minor = fields.Integer()
    shipping_minor = fields.Integer()
    tax_minor = fields.Integer()
    total_minor = fields.Integer()
    shipping_method = fields.Dict()


class PlacedOrderSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    currency = fields.String()
    items_minor = fields.Integer()
    shipping_minor = fields.Integer()
    tax_minor = fields.Integer()
    total_minor = fields.Integer()
    tax_inclusive = fields.Boolean()
    expires_at = fields.DateTime()
    sub_orders = fields.List(fields.Nested(PlacedSubOrderSchema))
    payment = fields.Dict(metadata={
        "description": "provider, intent_id, client_secret and pay_url of the payment."})
