"""Orders as JSON and as input: the vendor's view of a sub-order, the list's query, the
rejection body. The buyers' API (``buyers/order_api.py``) dumps its own projection of the same
rows with these schemas' ``only=``."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from marketplace.pagination import PageQuerySchema
from vendors.order_models import SubOrderStatus
from vendors.orders import MAX_REASON, MIN_REASON, VENDOR_STATUSES
from vendors.schemas import StrictBody


def _vendor_status(value: SubOrderStatus) -> None:
    if value not in VENDOR_STATUSES:
        raise ValidationError(_("Use one of: %(list)s.",
                                list=", ".join(s.value for s in VENDOR_STATUSES)))


class SubOrderQuerySchema(PageQuerySchema):
    """``?status=&page=&per_page=``; no status: every order the vendor sees."""

    class Meta:
        unknown = EXCLUDE

    status = fields.Enum(SubOrderStatus, by_value=True, load_default=None,
                         validate=_vendor_status)


class RejectSchema(StrictBody):
    reason = fields.String(required=True, validate=validate.Length(
        min=MIN_REASON, max=MAX_REASON, error=_l("Tell the buyer why, in {min} to {max} "
                                                 "characters.")),
                           metadata={"description": "Shown to the buyer."})


class RejectFormSchema(RejectSchema):
    class Meta:
        unknown = EXCLUDE


class OrderLineSchema(Schema):
    id = fields.Integer()
    variant_id = fields.Integer(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    title = fields.String()
    sku = fields.String()
    attributes = fields.Dict()
    quantity = fields.Integer()
    unit_price_minor = fields.Integer(metadata={"description": "In the order's currency."})
    net_minor = fields.Integer()
    tax_minor = fields.Integer()
    total_minor = fields.Integer()
    tax_rate_bp = fields.Integer()
    vendor_unit_price_minor = fields.Integer(
        metadata={"description": "The vendor's own price when bought."})
    vendor_currency = fields.String()


class AddressSchema(Schema):
    name = fields.String()
    line1 = fields.String()
    line2 = fields.String()
    city = fields.String()
    region = fields.String()
    postal_code = fields.String()
    country = fields.String()
    phone = fields.String()


class SubOrderSchema(Schema):
    """One vendor's part of an order; amounts in the order's currency (``currency``)."""

    id = fields.Integer()
    order_id = fields.Integer()
    number = fields.String(attribute="order.number",
                           metadata={"description": "The order number the buyer quotes."})
    vendor_id = fields.Integer()
    vendor_name = fields.String(attribute="vendor.name")
    status = fields.Enum(SubOrderStatus, by_value=True)
    currency = fields.String()
    items_minor = fields.Integer()
    shipping_minor = fields.Integer()
    tax_minor = fields.Integer()
    total_minor = fields.Integer()
    shipping_method = fields.Method("_shipping_method")
    shipping_address = fields.Function(lambda sub: AddressSchema().dump(
        sub.order.shipping_address or {}))
    rejection_reason = fields.String(allow_none=True)
    placed_at = fields.DateTime(attribute="created_at")
    status_changed_at = fields.DateTime()
    lines = fields.List(fields.Nested(OrderLineSchema))

    def _shipping_method(self, sub: Any) -> dict:
        method = sub.shipping_method or {}
        return {"method_id": method.get("method_id"), "name": method.get("name", ""),
                "handling_days": method.get("handling_days")}


LIST_FIELDS = ("id", "order_id", "number", "status", "currency", "items_minor",
               "shipping_minor", "tax_minor", "total_minor", "placed_at", "status_changed_at")
